#!/usr/bin/env perl
# Convergence: how long from an agent's registration in Redis to the first
# request the gateway sends it.  Used by scripts/bench.sh.
#
#   converge.pl REDIS_PORT GATEWAY_PORT PATH SERVICE AGENT_PORT [N]
#
# N times (default 50): write the record of a new agent (SET, SADD, PUBLISH,
# as an agent does), then request PATH from the gateway every millisecond
# until the answer comes from that agent (the gateway's $farm_agent in
# X-Gateway-Agent); then deregister it and wait until the gateway forgets
# it.  Prints p50, p99 and max in milliseconds.

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my ($redis_port, $gw_port, $path, $service, $agent_port, $n) = @ARGV;
die "usage: $0 REDIS_PORT GATEWAY_PORT PATH SERVICE AGENT_PORT [N]\n"
    unless defined $agent_port;
$n //= 50;

my $redis = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$redis_port")
    or die "converge: redis: $!\n";

sub resp {
    my $out = '';
    for my $cmd (@_) {
        $out .= '*' . @$cmd . "\r\n";
        $out .= '$' . length($_) . "\r\n$_\r\n" for @$cmd;
    }
    print $redis $out;
    for (@_) {                     # one line per reply (all are simple here)
        my $line = <$redis>;
        die "converge: redis closed\n" unless defined $line;
        die "converge: redis: $line" if $line =~ /^-/;
    }
}

sub agent_of {                     # X-Gateway-Agent of one request, or ''
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$gw_port")
        or return '';
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    return $r =~ m{^HTTP/1\.\d 200}s && $r =~ /^X-Gateway-Agent: (\S+)/mi
           ? $1 : '';
}

sub wait_for {
    my ($want, $what) = @_;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if $want->();
        sleep 0.001;
    }
    die "converge: timed out waiting for $what\n";
}

my @ms;
for my $i (1 .. $n) {
    my $id = sprintf "conv-%03d", $i;
    my $rec = qq({"id":"$id","service":"$service","address":"127.0.0.1",)
            . qq("port":$agent_port,"weight":1});
    my $t0 = time;
    resp(["SET", "farm:$service:agent:$id", $rec, "PX", "60000"],
         ["SADD", "farm:$service:agents", $id],
         ["PUBLISH", "farm:$service:events", "register $id"]);
    wait_for(sub { agent_of() eq $id }, "$id to be routed");
    push @ms, (time - $t0) * 1000;

    resp(["DEL", "farm:$service:agent:$id"],
         ["SREM", "farm:$service:agents", $id],
         ["PUBLISH", "farm:$service:events", "deregister $id"]);
    wait_for(sub { agent_of() ne $id }, "$id to leave");
}

@ms = sort { $a <=> $b } @ms;
my $pct = sub { $ms[ int($_[0] * $#ms + 0.5) ] };
printf "%d registrations: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
       scalar @ms, $pct->(0.50), $pct->(0.99), $ms[-1];
