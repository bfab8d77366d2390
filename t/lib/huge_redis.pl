#!/usr/bin/perl
# huge_redis.pl PORT KIND -- a fake Redis on 127.0.0.1:PORT whose first
# reply on every connection is too big for the gateway's reply bounds
# (FarmTest::start_huge_redis): KIND "bulk" is a 6 MB bulk string, KIND
# "array" the header of an array of 5000000 elements, KIND "nested" an
# array of two arrays of 1000000 integers each (every array under 4194304
# elements, the reply's elements together past 1048576).  Connections are
# served one after the other; a peer that hangs up ends its own.  Core Perl
# only.
use strict; use warnings;
use IO::Socket::INET;
my ($port, $kind) = @ARGV;
$SIG{PIPE} = 'IGNORE';
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 128, ReuseAddr => 1)
    or die "listen 127.0.0.1:$port: $!\n";
while (1) {
    my $c = $l->accept or next;
    my $got = '';
    sysread($c, $got, 65536) or next;     # the first command, whatever it is
    if ($kind eq 'array') {
        syswrite($c, "*5000000\r\n");
        sysread($c, $got, 65536);         # until the peer hangs up
        next;
    }
    if ($kind eq 'nested') {
        my $ints = ':1' . "\r\n";
        $ints x= 1000000;
        my $reply = "*2\r\n*1000000\r\n$ints*1000000\r\n$ints";
        for (my $at = 0; $at < length $reply; $at += 65536) {
            defined syswrite($c, $reply, 65536, $at) or last;
        }
        sysread($c, $got, 65536);         # until the peer hangs up
        next;
    }
    my $size = 6 * 1024 * 1024;
    syswrite($c, "\$$size\r\n") or next;
    my $chunk = 'x' x 65536;
    for (1 .. $size / 65536) {
        defined syswrite($c, $chunk) or last;
    }
}
