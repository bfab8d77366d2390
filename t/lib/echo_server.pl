#!/usr/bin/perl
# echo_server.pl PORT -- an HTTP/1.x server on 127.0.0.1:PORT that answers
# every request 200 with what it received, for the tests that check what a
# gateway sends upstream (FarmTest::start_echo): the request line, each
# header line as it came, in order, an empty line, then the body (read by
# Content-Length or chunked).  A request header "X-Echo-Set-NAME: VALUE"
# adds "NAME: VALUE" to the answer's headers.  One connection at a time,
# each closed after its answer.  Core Perl only.
use strict; use warnings;
use IO::Socket::INET;

my ($port) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 128, ReuseAddr => 1)
    or die "listen 127.0.0.1:$port: $!\n";
$SIG{PIPE} = 'IGNORE';

sub line {
    my ($c) = @_;
    my $s = <$c>;
    return undef unless defined $s;
    $s =~ s/\r?\n\z//;
    return $s;
}

sub body {
    my ($c, $len) = @_;
    my $b = '';
    while (length($b) < $len) {
        my $n = read($c, $b, $len - length($b), length $b);
        last unless $n;
    }
    return $b;
}

while (my $c = $l->accept) {
    $c->timeout(10);
    my $reqline = line($c);
    next unless defined $reqline && length $reqline;
    my (@h, %h);
    while (defined(my $s = line($c))) {
        last if $s eq '';
        push @h, $s;
        my ($n, $v) = split /:\s*/, $s, 2;
        $h{lc $n} //= $v // '';
    }
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (defined(my $size = line($c))) {
            $size = hex((split /;/, $size)[0]);
            last if $size == 0;
            $body .= body($c, $size);
            line($c);
        }
        while (defined(my $s = line($c))) { last if $s eq '' }
    } elsif ($h{'content-length'}) {
        $body = body($c, $h{'content-length'});
    }
    my $out = join("\n", $reqline, @h) . "\n\n" . $body;
    my $extra = '';
    for (@h) {
        $extra .= "$1: $2\r\n" if /^X-Echo-Set-([^:]+):\s*(.*)$/i;
    }
    print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n$extra"
             . "Content-Length: " . length($out) . "\r\nConnection: close\r\n\r\n"
             . $out;
    close $c;
}
