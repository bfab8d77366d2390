#!/usr/bin/env perl
# A fake Redis registry that answers value reads slowly, for the tests of
# the master's startup read deadline (t/28-registry-deadline.t).
#
#   slow_redis.pl PORT SERVICE N DELAY_MS
#
# Listens on 127.0.0.1:PORT.  The index <farm>:SERVICE:agents holds N ids
# (s00000, s00001, ...), each with a valid record pointing at 127.0.0.1:9.
# Every batch of commands a client sends that reads values (GET, GETRANGE,
# MGET) is answered DELAY_MS after it arrived; everything else at once:
# PING, AUTH, SELECT, INFO (a fixed run_id), SMEMBERS, SSCAN (pages of
# COUNT, the cursor being an offset), TYPE, SREM, HGETALL (empty: no
# farm_admin overrides hash),
# SUBSCRIBE and PSUBSCRIBE (confirmed, nothing is ever published).  Core
# Perl only; exits when its parent goes.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, $service, $n, $delay) = @ARGV;
die "usage: $0 PORT SERVICE N DELAY_MS\n" unless defined $delay;

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $port, Listen => 64,
                                   ReuseAddr => 1, Proto => 'tcp')
    or die "slow_redis: cannot listen on $port: $!\n";
$listen->blocking(0);

my $sel = IO::Select->new($listen);
my %client;     # fileno => { sock, in, out, queue => [[due, text]] }
my $parent = getppid;

sub bulk { my ($s) = @_; return defined $s ? '$' . length($s) . "\r\n$s\r\n" : "\$-1\r\n" }

sub record {
    my ($key) = @_;
    return undef unless $key =~ /:agent:(s\d{5})$/ && substr($1, 1) < $n;
    return qq({"id":"$1","service":"$service","address":"127.0.0.1","port":9});
}

# one command: (reply, slow)
sub answer {
    my (@a) = @_;
    my $cmd = uc($a[0] // '');
    return ("+PONG\r\n", 0) if $cmd eq 'PING';
    return ("+OK\r\n", 0) if $cmd eq 'AUTH' || $cmd eq 'SELECT';
    return (bulk("# Server\r\nrun_id:" . ('f' x 40) . "\r\n"), 0) if $cmd eq 'INFO';
    if ($cmd eq 'SMEMBERS') {
        return ('*' . $n . "\r\n" . join('', map { bulk(sprintf 's%05d', $_) } 0 .. $n - 1), 0);
    }
    if ($cmd eq 'SSCAN') {
        # SSCAN key cursor COUNT n: members [cursor, cursor + n)
        my ($from, $count) = ($a[2], $a[4] // 10);
        my $to = $from + $count < $n ? $from + $count : $n;
        return ("*2\r\n" . bulk($to < $n ? $to : 0) . '*' . ($to - $from) . "\r\n"
                . join('', map { bulk(sprintf 's%05d', $_) } $from .. $to - 1), 0);
    }
    return (bulk(record($a[1])), 1) if $cmd eq 'GET' || $cmd eq 'GETRANGE';
    if ($cmd eq 'MGET') {
        shift @a;
        return ('*' . @a . "\r\n" . join('', map { bulk(record($_)) } @a), 1);
    }
    return ("*0\r\n", 0) if $cmd eq 'HGETALL';    # no overrides hash
    return ("+string\r\n", 0) if $cmd eq 'TYPE';
    return (":0\r\n", 0) if $cmd eq 'SREM';
    if ($cmd eq 'SUBSCRIBE' || $cmd eq 'PSUBSCRIBE') {
        return ('*3' . "\r\n" . bulk(lc $cmd) . bulk($a[1]) . ":1\r\n", 0);
    }
    return ("+OK\r\n", 0);
}

# parses the complete commands at the start of $$buf (RESP arrays)
sub commands {
    my ($buf) = @_;
    my @cmds;
    while ($$buf =~ /^\*(\d+)\r\n/) {
        my ($count, $pos) = ($1, length("*$1\r\n"));
        my @args;
        for (1 .. $count) {
            last unless substr($$buf, $pos) =~ /^\$(\d+)\r\n/;
            my $len = $1;
            my $start = $pos + length("\$$len\r\n");
            last if length($$buf) < $start + $len + 2;
            push @args, substr($$buf, $start, $len);
            $pos = $start + $len + 2;
        }
        last if @args < $count;
        push @cmds, \@args;
        substr($$buf, 0, $pos, '');
    }
    return @cmds;
}

while (1) {
    exit 0 if getppid != $parent;
    my $now = time;
    my $wait = 0.05;
    for my $c (values %client) {
        while (@{ $c->{queue} } && $c->{queue}[0][0] <= $now) {
            $c->{out} .= (shift @{ $c->{queue} })->[1];
        }
        $wait = 0.005 if @{ $c->{queue} };
        if (length $c->{out}) {
            my $w = syswrite $c->{sock}, $c->{out};
            substr($c->{out}, 0, $w, '') if $w;
        }
    }
    for my $s ($sel->can_read($wait)) {
        if ($s == $listen) {
            my $new = $listen->accept or next;
            $new->blocking(0);
            $sel->add($new);
            $client{ fileno $new } = { sock => $new, in => '', out => '', queue => [] };
            next;
        }
        my $c = $client{ fileno $s };
        my $got = sysread $s, $c->{in}, 1 << 16, length $c->{in};
        if (!$got) {
            $sel->remove($s);
            delete $client{ fileno $s };
            close $s;
            next;
        }
        my $due = time + $delay / 1000;
        for my $cmd (commands(\$c->{in})) {
            my ($reply, $slow) = answer(@$cmd);
            # replies keep their order: a fast one waits behind a slow one
            my $at = ($slow || @{ $c->{queue} }) ? $due : 0;
            push @{ $c->{queue} }, [$at, $reply];
        }
    }
}
