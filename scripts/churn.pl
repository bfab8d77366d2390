#!/usr/bin/env perl
# Registry churn: agents registering and deregistering through Redis as fast
# as asked, each id used once.  Used by t/24-registry-churn.t and
# scripts/bench-registry.sh.
#
#   churn.pl REDIS_PORT SERVICE SECONDS [RATE] [LIVE] [PREFIX] [PORT]
#
# Registers RATE ids per second (0: as fast as Redis takes them) for
# SECONDS, the way docs/registry.md says an agent does (SET <key> <record>
# PX 60000, SADD <index> <id>, PUBLISH <events> "register <id>"), and
# deregisters (DEL, SREM, PUBLISH "deregister <id>") the id registered LIVE
# (default 8) earlier, so about LIVE churned records exist at any moment;
# at the end it deregisters those too.  Commands go out in pipelined
# batches of 50 registrations on one connection.  Records point at
# 127.0.0.1:PORT, or by default at 20000-20999, below Linux's ephemeral
# port range, where nothing listens.  Ids are PREFIX (default "c<pid>-")
# and a number.  Prints "registered N deregistered N seconds S rate R/s".
# Core Perl only.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($port, $service, $seconds, $rate, $live, $prefix, $target) = @ARGV;
die "usage: $0 REDIS_PORT SERVICE SECONDS [RATE] [LIVE] [PREFIX] [PORT]\n"
    unless defined $seconds;
$rate //= 0;
$live //= 8;
$prefix //= 'c' . $$ . '-';

my $batch = 50;
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 5)
    or die "churn: cannot connect to redis at $port: $!\n";
$sock->autoflush(1);

my $index = "farm:$service:agents";
my $events = "farm:$service:events";

sub resp {
    my $out = '*' . @_ . "\r\n";
    $out .= '$' . length($_) . "\r\n$_\r\n" for @_;
    return $out;
}

# reads n replies (each one line: +OK, :1, $-1 never comes back here)
my $buf = '';
my $sel = IO::Select->new($sock);
sub replies {
    my ($n) = @_;
    while ($n > 0) {
        while ($buf =~ s/^[+:\-][^\r\n]*\r\n//) {
            $n--;
            last if $n == 0;
        }
        last if $n == 0;
        die "churn: redis did not answer\n" unless $sel->can_read(10);
        my $got = sysread $sock, $buf, 1 << 20, length $buf;
        die "churn: redis closed the connection\n" unless $got;
    }
}

my @ids;
my ($reg, $dereg) = (0, 0);

sub deregister {
    my ($id) = @_;
    $dereg++;
    return resp('DEL', "farm:$service:agent:$id") . resp('SREM', $index, $id)
           . resp('PUBLISH', $events, "deregister $id");
}

my $start = time;
my $n = 0;
while (time - $start < $seconds) {
    my $out = '';
    my $cmds = 0;
    for (1 .. $batch) {
        my $id = sprintf '%s%07d', $prefix, $n;
        my $rec = sprintf '{"id":"%s","service":"%s","address":"127.0.0.1",'
                        . '"port":%d}', $id, $service,
                        $target || 20000 + $n % 1000;
        $n++;
        $out .= resp('SET', "farm:$service:agent:$id", $rec, 'PX', 60000)
              . resp('SADD', $index, $id)
              . resp('PUBLISH', $events, "register $id");
        $cmds += 3;
        $reg++;
        push @ids, $id;
        if (@ids > $live) {
            $out .= deregister(shift @ids);
            $cmds += 3;
        }
    }
    print {$sock} $out;
    replies($cmds);
    if ($rate > 0) {
        my $due = $start + $reg / $rate;
        my $now = time;
        sleep($due - $now) if $due > $now;
    }
}

my $out = '';
my $cmds = 0;
while (@ids) {
    $out .= deregister(shift @ids);
    $cmds += 3;
}
print {$sock} $out;
replies($cmds);

my $took = time - $start;
printf "registered %d deregistered %d seconds %.2f rate %d/s\n",
    $reg, $dereg, $took, $reg / $took;
