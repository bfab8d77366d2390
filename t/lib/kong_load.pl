#!/usr/bin/perl
# A steady load for reload tests: kong_load.pl PORT PATH CLIENTS STOPFILE.
# CLIENTS forked clients each send GET PATH to 127.0.0.1:PORT, one request
# per connection (Connection: close), until STOPFILE exists; then every
# answer is printed as counts, one "<what> <count>" line each, where what
# is "status <code> <X-Target>" or "error <reason>" (no connection, no
# complete response).  A client also stops when its parent is gone.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;

my ($port, $path, $clients, $stop) = @ARGV;
die "usage: kong_load.pl PORT PATH CLIENTS STOPFILE\n" unless defined $stop;

my $parent = $$;
my @kids;

for my $n (1 .. $clients) {
    pipe(my $r, my $w) or die "pipe: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        close $r;
        my %count;
        while (!-e $stop && getppid() == $parent) {
            $count{ one() }++;
        }
        print {$w} "$_\t$count{$_}\n" for sort keys %count;
        close $w;
        exit 0;
    }
    close $w;
    push @kids, [$pid, $r];
}

my %total;
for my $k (@kids) {
    my ($pid, $r) = @$k;
    while (my $line = <$r>) {
        chomp $line;
        my ($what, $n) = split /\t/, $line;
        $total{$what} += $n;
    }
    waitpid $pid, 0;
}
print "$_\t$total{$_}\n" for sort keys %total;

# one request; what it got
sub one {
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 30)
        or return "error connect";
    local $SIG{PIPE} = 'IGNORE';
    print {$sock} "GET $path HTTP/1.1\r\nHost: load.test\r\nConnection: close\r\n\r\n"
        or return "error write";
    my $sel = IO::Select->new($sock);
    my $raw = '';
    while (1) {
        return "error timeout" unless $sel->can_read(30);
        my $got = sysread $sock, $raw, 65536, length $raw;
        return "error read" unless defined $got;
        last if $got == 0;
    }
    close $sock;
    my ($head, $body) = $raw =~ /\A(.*?)\r\n\r\n(.*)\z/s
        or return "error incomplete";
    my ($code) = $head =~ m{\AHTTP/1\.\d (\d{3})} or return "error status line";
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    return "error short body" if defined $len && length $body < $len;
    my ($target) = $head =~ /^X-Target:\s*(\S+)/mi;
    return "status $code " . ($target // '-');
}
