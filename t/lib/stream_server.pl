#!/usr/bin/perl
# stream_server.pl PORT DIR -- an HTTP/1.x server on 127.0.0.1:PORT for the
# tests of streaming through a gateway (FarmTest::start_streamer).  Each
# connection is served by a child process, closed after its answer.
#
#   GET /stream...  answers 200 with Content-Length 11: "first\n" at once,
#                   then waits until the file DIR/go exists (at most 60 s),
#                   then "rest\n" (a chunked answer would not show nginx's
#                   buffering: its chunked parser passes pieces on).  A
#                   client that reads "first" before it creates DIR/go has
#                   seen the body before the service finished.
#   anything else   reads the request body (Content-Length or chunked) and
#                   appends each piece as it arrives to DIR/body, then
#                   answers 200 with the decoded body.
#
# Core Perl only.
use strict; use warnings;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

my ($port, $dir) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 128, ReuseAddr => 1)
    or die "listen 127.0.0.1:$port: $!\n";
$SIG{PIPE} = 'IGNORE';

# the children go with the server
my %kids;
$SIG{CHLD} = sub { while ((my $k = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$k} } };
$SIG{TERM} = sub { kill 'TERM', keys %kids; exit 0 };

sub line {
    my ($c) = @_;
    my $s = <$c>;
    return undef unless defined $s;
    $s =~ s/\r?\n\z//;
    return $s;
}

sub seen {    # what the service has received of the body so far
    my ($data) = @_;
    open my $fh, '>>', "$dir/body" or die "$dir/body: $!\n";
    syswrite $fh, $data;
    close $fh;
}

sub exact {    # buffered, as line() is
    my ($c, $len) = @_;
    my $b = '';
    while (length($b) < $len) {
        my $n = read($c, $b, $len - length($b), length $b);
        last unless $n;
    }
    return $b;
}

sub serve {
    my ($c) = @_;
    my $reqline = line($c);
    return unless defined $reqline && length $reqline;
    my %h;
    while (defined(my $s = line($c))) {
        last if $s eq '';
        my ($n, $v) = split /:\s*/, $s, 2;
        $h{lc $n} //= $v // '';
    }

    if ($reqline =~ m{^GET /stream}) {
        syswrite $c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   . "Content-Length: 11\r\nConnection: close\r\n\r\n"
                   . "first\n";
        my $deadline = time + 60;
        Time::HiRes::sleep(0.02) until -e "$dir/go" || time > $deadline;
        syswrite $c, "rest\n";
        return;
    }

    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (defined(my $size = line($c))) {
            $size = hex((split /;/, $size)[0]);
            last if $size == 0;
            my $piece = exact($c, $size);
            seen($piece);
            $body .= $piece;
            line($c);
        }
        while (defined(my $s = line($c))) { last if $s eq '' }
    } elsif (my $len = $h{'content-length'}) {
        $body = exact($c, $len);
        seen($body);
    }
    syswrite $c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
               . "Content-Length: " . length($body) . "\r\n"
               . "Connection: close\r\n\r\n$body";
}

while (1) {
    my $c = $l->accept or next;    # EINTR from SIGCHLD
    my $pid = fork;
    next if !defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = 'DEFAULT';
        close $l;
        $c->timeout(60);
        serve($c);
        close $c;
        exit 0;
    }
    $kids{$pid} = 1;
    close $c;
}
