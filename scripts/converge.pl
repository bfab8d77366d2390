#!/usr/bin/env perl
# Convergence: how long from an agent's registration to the first request
# the gateway sends it.  Used by scripts/bench.sh.
#
#   converge.pl REDIS_PORT GATEWAY_PORT PATH SERVICE AGENT_PORT [N]
#   converge.pl --consul CONSUL_PORT GATEWAY_PORT PATH SERVICE AGENT_PORT [N]
#
# N times (default 50): register a new agent the way an agent does (Redis:
# SET, SADD, PUBLISH; Consul: PUT /v1/agent/service/register through its
# HTTP API), then request PATH from the gateway every millisecond until the
# answer comes from that agent (the gateway's $farm_agent in
# X-Gateway-Agent); then deregister it and wait until the gateway forgets
# it.  Every registration points at the same real agent (AGENT_PORT).
# Prints p50, p99 and max in milliseconds.  Core Perl only.

use strict;
use warnings;

use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $consul = (@ARGV && $ARGV[0] eq '--consul') ? shift @ARGV : undef;
my ($reg_port, $gw_port, $path, $service, $agent_port, $n) = @ARGV;
die "usage: $0 [--consul] REGISTRY_PORT GATEWAY_PORT PATH SERVICE "
    . "AGENT_PORT [N]\n" unless defined $agent_port;
$n //= 50;

my ($register, $deregister);

if ($consul) {
    my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
    my $base = "http://127.0.0.1:$reg_port/v1/agent/service";

    my $put = sub {
        my ($url, $body) = @_;
        my $res = $http->request('PUT', $url,
                                 defined $body ? { content => $body } : {});
        die "converge: consul: $res->{status} $res->{content}\n"
            unless $res->{success};
    };

    $register = sub {
        my ($id) = @_;
        $put->("$base/register",
               qq({"ID":"$id","Name":"$service","Address":"127.0.0.1",)
               . qq("Port":$agent_port,"Weights":{"Passing":1,"Warning":1}}));
    };
    $deregister = sub { $put->("$base/deregister/$_[0]") };

} else {
    my $redis = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$reg_port")
        or die "converge: redis: $!\n";

    my $resp = sub {
        my $out = '';
        for my $cmd (@_) {
            $out .= '*' . @$cmd . "\r\n";
            $out .= '$' . length($_) . "\r\n$_\r\n" for @$cmd;
        }
        print $redis $out;
        for (@_) {                 # one line per reply (all are simple here)
            my $line = <$redis>;
            die "converge: redis closed\n" unless defined $line;
            die "converge: redis: $line" if $line =~ /^-/;
        }
    };

    $register = sub {
        my ($id) = @_;
        my $rec = qq({"id":"$id","service":"$service","address":"127.0.0.1",)
                . qq("port":$agent_port,"weight":1});
        $resp->(["SET", "farm:$service:agent:$id", $rec, "PX", "60000"],
                ["SADD", "farm:$service:agents", $id],
                ["PUBLISH", "farm:$service:events", "register $id"]);
    };
    $deregister = sub {
        my ($id) = @_;
        $resp->(["DEL", "farm:$service:agent:$id"],
                ["SREM", "farm:$service:agents", $id],
                ["PUBLISH", "farm:$service:events", "deregister $id"]);
    };
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
    my $t0 = time;
    $register->($id);
    wait_for(sub { agent_of() eq $id }, "$id to be routed");
    push @ms, (time - $t0) * 1000;

    $deregister->($id);
    wait_for(sub { agent_of() ne $id }, "$id to leave");
}

@ms = sort { $a <=> $b } @ms;
my $pct = sub { $ms[ int($_[0] * $#ms + 0.5) ] };
printf "%d registrations: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
       scalar @ms, $pct->(0.50), $pct->(0.99), $ms[-1];
