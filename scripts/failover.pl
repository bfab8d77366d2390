#!/usr/bin/env perl
# Failover under load, for scripts/bench.sh.
#
#   failover.pl GATEWAY_PORT AGENT_ID AGENT_PID [SECONDS]
#
# Drives GET /work?ms=5 through the gateway with wrk for SECONDS (default
# 8); after a quarter of that, SIGKILLs the agent; measures how long until
# the gateway's farm_status shows it out (down or open), and reports the
# requests wrk sent, the non-2xx answers and socket errors it saw, and its
# p99 latency.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my ($port, $id, $pid, $seconds) = @ARGV;
die "usage: $0 GATEWAY_PORT AGENT_ID AGENT_PID [SECONDS]\n" unless $pid;
$seconds //= 8;

sub state_of {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or return '';
    print $s "GET /farm HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    my ($body) = $r =~ /\r\n\r\n(.*)\z/s or return '';
    my $st = eval { decode_json($body) } or return '';
    for my $a (@{ $st->{farms}[0]{agents} }) {
        return $a->{state} if $a->{id} eq $id;
    }
    return 'gone';
}

my $out = "/tmp/farm-failover-$$.txt";
my $wrk = fork // die "fork: $!\n";
if (!$wrk) {
    open STDOUT, '>', $out or die;
    open STDERR, '>&', \*STDOUT;
    exec 'wrk', '-t1', '-c8', "-d${seconds}s", '--latency',
         "http://127.0.0.1:$port/work?ms=5";
    die "exec wrk: $!\n";
}

sleep $seconds / 4;

my $t0 = time;
kill 'KILL', $pid;
my $eject = undef;
while (time - $t0 < $seconds) {
    my $state = state_of();
    if ($state =~ /^(down|open|gone)$/) {
        $eject = time - $t0;
        last;
    }
    sleep 0.01;
}

waitpid $wrk, 0;
open my $fh, '<', $out or die "$out: $!\n";
my $text = do { local $/; <$fh> };
unlink $out;

my ($total) = $text =~ /(\d+) requests in/;
my ($non2xx) = $text =~ /Non-2xx or 3xx responses: (\d+)/;
my ($errors) = $text =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
    ? ($1 + $2 + $3 + $4) : 0;
my ($p99) = $text =~ /^\s+99%\s+(\S+)/m;

printf "requests %d, non-2xx %d, socket errors %d, p99 %s, %s\n",
       $total // 0, $non2xx // 0, $errors, $p99 // '?',
       defined $eject ? sprintf('taken out after %.0f ms', $eject * 1000)
                      : "not taken out within ${seconds}s";
