# A registry host given by name is resolved without blocking the agent
# (review finding A16): while the DNS server does not answer, /health is
# still served at once, and the failure is logged as a resolution failure.
#
# The agent runs in a private mount namespace whose /etc/resolv.conf names
# a DNS server on 127.0.0.2 that never answers (root and unshare needed).
# A name from /etc/hosts (localhost) still registers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp ();
use IO::Socket::INET ();
use Test::More;
use Time::HiRes qw(time sleep);
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();
plan skip_all => 'needs root and unshare -m (a private /etc/resolv.conf)'
    unless $> == 0
        && system('unshare -m true >/dev/null 2>&1') == 0;

my $r = start_redis();

# a name in /etc/hosts resolves (no DNS query) and registers

{
    my $a = start_agent(id => 'dns0',
                        registry => "redis://localhost:$r->{port}");
    is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:dns0'), 1,
       'redis://localhost:PORT: registered');
    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# a DNS server that never answers

my $dir = File::Temp::tempdir('farmdns-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $dns = IO::Socket::INET->new(LocalAddr => '127.0.0.2', LocalPort => 53,
                                Proto => 'udp');
plan skip_all => "cannot bind 127.0.0.2:53: $!" unless $dns;
close $dns;

my $dns_pid = FarmTest::_spawn('silent dns', "$dir/dns.log", {}, $^X, '-e', q{
    use IO::Socket::INET;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.2', LocalPort => 53,
                                  Proto => 'udp') or die "bind: $!";
    while (1) { $s->recv(my $q, 512); print STDERR "query\n"; }
});

open my $rc, '>', "$dir/resolv.conf" or die;
print {$rc} "nameserver 127.0.0.2\noptions timeout:5 attempts:1\n";
close $rc;

open my $w, '>', "$dir/agent" or die;
print {$w} "#!/bin/sh\nexec unshare -m sh -c "
         . "'mount --bind \"\$1\" /etc/resolv.conf && shift && exec \"\$@\"' "
         . "sh $dir/resolv.conf " . agent_binary() . ' "$@"' . "\n";
close $w;
chmod 0755, "$dir/agent";

{
    my $a = start_agent(id => 'dns1', binary => "$dir/agent",
                        registry => "redis://redis-farm.test:$r->{port}",
                        wait_registered => 0, timeout => 20);

    # three seconds of /health, each allowed one second
    my ($slow, $n, $worst) = (0, 0, 0);
    my $end = time + 3;
    while (time < $end) {
        local $FarmTest::HttpTimeout = 1;
        my $t = time;
        my ($st) = http_get($a, '/health');
        my $took = time - $t;
        $worst = $took if $took > $worst;
        $n++;
        $slow++ unless defined $st && $st == 200;
        sleep 0.1;
    }

    is($slow, 0, sprintf('while the DNS does not answer, no /health of %d '
                         . 'took over 1 s (slowest %.3f s)', $n, $worst));
    wait_until(sub { log_has($a, qr/cannot resolve redis-farm\.test/) }, 10,
               'the resolution failure in the log');
    ok(log_has($a, qr/warn: cannot reach redis:\/\/redis-farm\.test:\d+\/0: cannot resolve redis-farm\.test/),
       'log: cannot reach ...: cannot resolve redis-farm.test');
    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

FarmTest::_stop_pid($dns_pid, 'TERM', 5);
stop_redis($r);

done_testing();
