#!/usr/bin/perl
# slow_listener.pl PORT DELAY PEAKFILE -- a TCP listener on 127.0.0.1:PORT
# playing a slow or hung agent, for the tests (FarmTest::start_listener) and
# make bench.  It accepts every connection and answers "HTTP/1.0 200 OK"
# with {"status":"up"} DELAY seconds later, or never (DELAY "never": it
# holds the connection until the peer closes it).  PEAKFILE gets the most
# connections held at once, rewritten whenever that grows.  Core Perl only.
use strict; use warnings;
use IO::Select; use IO::Socket::INET; use Time::HiRes qw(time);
my ($port, $delay, $peakfile) = @ARGV;
$delay = undef if $delay eq 'never';
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Listen => 1024, ReuseAddr => 1)
    or die "listen 127.0.0.1:$port: $!\n";
my $sel = IO::Select->new($l);
my (%due, %sock);
my $peak = 0;
while (1) {
    my $wait = 1;
    for my $t (values %due) {
        $wait = $t - time if $t - time < $wait;
    }
    $wait = 0 if $wait < 0;
    # closed connections first, so that the count is not one behind
    for my $s (sort { ($a == $l) <=> ($b == $l) } $sel->can_read($wait)) {
        if ($s == $l) {
            my $c = $l->accept or next;
            $sel->add($c);
            $sock{fileno $c} = $c;
            $due{fileno $c} = time + $delay if defined $delay;
            if (keys %sock > $peak) {
                $peak = keys %sock;
                open my $fh, '>', "$peakfile.tmp" or die;
                print $fh "$peak\n";
                close $fh;
                rename "$peakfile.tmp", $peakfile;
            }
            next;
        }
        next if sysread($s, my $buf, 4096);
        delete $due{fileno $s};
        delete $sock{fileno $s};
        $sel->remove($s);
        close $s;
    }
    for my $fd (grep { $due{$_} <= time } keys %due) {
        my $c = delete $sock{$fd};
        delete $due{$fd};
        syswrite $c, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                     . "Connection: close\r\n\r\n{\"status\":\"up\"}\n";
        $sel->remove($c);
        close $c;
    }
}
