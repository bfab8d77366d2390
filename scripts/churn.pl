#!/usr/bin/env perl
# Registry churn: agents registering and deregistering as fast as asked,
# each id used once, through Redis or through the gateway's built-in
# registry (farm_registry_api).  Used by t/24-registry-churn.t (and, on the
# built-in registry, t/55-builtin-churn.t) and scripts/bench-registry.sh.
#
#   churn.pl REGISTRY SERVICE SECONDS [RATE] [LIVE] [PREFIX] [PORT]
#
# REGISTRY is a Redis port, or the URL of a farm_registry_api location
# (http://127.0.0.1:PORT/farm/registry) with the service's token in the
# file $FARM_TOKEN_FILE names (as farm-agent takes it).
#
# Registers RATE ids per second (0: as fast as the registry takes them) for
# SECONDS, the way docs/registry.md says an agent does (Redis: SET <key>
# <record> PX 60000, SADD <index> <id>, PUBLISH <events> "register <id>";
# built-in: PUT <url>/<service>/agents/<id>?ttl=60s), and deregisters
# (Redis: DEL, SREM, PUBLISH "deregister <id>"; built-in: DELETE) the id
# registered LIVE (default 8) earlier, so about LIVE churned records exist
# at any moment; at the end it deregisters those too.  Commands go out in
# pipelined batches of 50 registrations on one connection (the built-in
# registry's on a new connection every few hundred requests, below
# nginx's keepalive_requests).  Every answer is checked: a refused
# registration or deregistration (a 429 from rate=, a 503 from a full
# zone, a 404) stops the churn with the answer.  Records point at
# 127.0.0.1:PORT, or by default at 20000-20999, below Linux's ephemeral
# port range, where nothing listens.  Ids are PREFIX (default "c<pid>-")
# and a number.  Prints "registered N deregistered N seconds S rate R/s".
# Core Perl only.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($registry, $service, $seconds, $rate, $live, $prefix, $target) = @ARGV;
die "usage: $0 REDIS_PORT|http://HOST:PORT/PATH SERVICE SECONDS [RATE] "
    . "[LIVE] [PREFIX] [PORT]\n"
    unless defined $seconds;
$rate //= 0;
$live //= 8;
$prefix //= 'c' . $$ . '-';

my $batch = 50;

# the registry: where it listens, how a registration and a deregistration
# are written, and how many answers each takes
my ($host, $port, $path, $token);
if ($registry =~ m{^http://([^/:]+):(\d+)(/.*)?$}) {
    ($host, $port, $path) = ($1, $2, $3 // '');
    $path =~ s{/+$}{};
    my $file = $ENV{FARM_TOKEN_FILE}
        or die "churn: FARM_TOKEN_FILE must name the service's token file\n";
    open my $fh, '<', $file or die "churn: $file: $!\n";
    $token = <$fh> // '';
    close $fh;
    $token =~ s/\r?\n\z//;
} elsif ($registry =~ /^\d+$/) {
    ($host, $port) = ('127.0.0.1', $registry);
} else {
    die "churn: REGISTRY must be a Redis port or an http:// URL, not "
        . "\"$registry\"\n";
}
my $http = defined $token;

my ($sock, $sel, $buf, $used);
sub connect_registry {
    close $sock if $sock;
    $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "churn: cannot connect to the registry at $host:$port: $!\n";
    $sock->autoflush(1);
    $sel = IO::Select->new($sock);
    $buf = '';
    $used = 0;
}
connect_registry();

my $index = "farm:$service:agents";
my $events = "farm:$service:events";

sub resp {
    my $out = '*' . @_ . "\r\n";
    $out .= '$' . length($_) . "\r\n$_\r\n" for @_;
    return $out;
}

sub request {
    my ($method, $where, $body) = @_;
    my $out = "$method $path/$service/agents/$where HTTP/1.1\r\n"
            . "Host: $host:$port\r\nAuthorization: Bearer $token\r\n";
    $out .= "Content-Type: application/json\r\n" if defined $body;
    $out .= 'Content-Length: ' . length($body // '') . "\r\n\r\n";
    return $out . ($body // '');
}

# (bytes, answers) of one registration, one deregistration
sub register {
    my ($id, $rec) = @_;
    return (request('PUT', "$id?ttl=60s", $rec), 1) if $http;
    return (resp('SET', "farm:$service:agent:$id", $rec, 'PX', 60000)
            . resp('SADD', $index, $id)
            . resp('PUBLISH', $events, "register $id"), 3);
}

sub deregister {
    my ($id) = @_;
    return (request('DELETE', $id), 1) if $http;
    return (resp('DEL', "farm:$service:agent:$id") . resp('SREM', $index, $id)
            . resp('PUBLISH', $events, "deregister $id"), 3);
}

sub more {
    die "churn: the registry did not answer\n" unless $sel->can_read(10);
    my $got = sysread $sock, $buf, 1 << 20, length $buf;
    die "churn: the registry closed the connection\n" unless $got;
}

# reads n answers: Redis's (each one line: +OK, :1; $-1 never comes back
# here), or HTTP responses, each a 200 or 201 with a Content-Length body
sub replies {
    my ($n) = @_;
    while ($n > 0) {
        if (!$http) {
            while ($buf =~ s/^[+:\-][^\r\n]*\r\n//) {
                $n--;
                last if $n == 0;
            }
            more() if $n > 0;
            next;
        }
        my $end = index $buf, "\r\n\r\n";
        if ($end < 0) {
            more();
            next;
        }
        my $head = substr $buf, 0, $end + 4;
        my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})}
            or die "churn: not an HTTP response: " . substr($head, 0, 80) . "\n";
        my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
        $len //= 0;
        if (length($buf) < $end + 4 + $len) {
            more();
            next;
        }
        my $body = substr $buf, $end + 4, $len;
        substr($buf, 0, $end + 4 + $len) = '';
        die "churn: the registry answered $status: $body\n"
            unless $status == 200 || $status == 201;
        $n--;
    }
}

# sends a batch and reads its answers; the built-in registry's connection
# is renewed before nginx would close it (keepalive_requests, 1000 by
# default)
sub send_batch {
    my ($out, $n) = @_;
    connect_registry() if $http && $used + $n > 500;
    print {$sock} $out;
    replies($n);
    $used += $n;
}

my @ids;
my ($reg, $dereg) = (0, 0);

my $start = time;
my $n = 0;
while (time - $start < $seconds) {
    my $out = '';
    my $answers = 0;
    for (1 .. $batch) {
        my $id = sprintf '%s%07d', $prefix, $n;
        my $rec = sprintf '{"id":"%s","service":"%s","address":"127.0.0.1",'
                        . '"port":%d}', $id, $service,
                        $target || 20000 + $n % 1000;
        $n++;
        my ($bytes, $k) = register($id, $rec);
        $out .= $bytes;
        $answers += $k;
        $reg++;
        push @ids, $id;
        if (@ids > $live) {
            ($bytes, $k) = deregister(shift @ids);
            $out .= $bytes;
            $answers += $k;
            $dereg++;
        }
    }
    send_batch($out, $answers);
    if ($rate > 0) {
        my $due = $start + $reg / $rate;
        my $now = time;
        sleep($due - $now) if $due > $now;
    }
}

my $out = '';
my $answers = 0;
while (@ids) {
    my ($bytes, $k) = deregister(shift @ids);
    $out .= $bytes;
    $answers += $k;
    $dereg++;
}
send_batch($out, $answers) if $answers;

my $took = time - $start;
printf "registered %d deregistered %d seconds %.2f rate %d/s\n",
    $reg, $dereg, $took, $reg / $took;
