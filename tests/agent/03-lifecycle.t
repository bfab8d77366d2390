# farm-agent's lifecycle: SIGTERM drains (deregister first, finish in-flight
# work, exit 0), a second signal exits at once, --grace cuts off, SIGUSR1
# drains without exiting and SIGUSR2 undoes it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $r = start_redis();

sub inflight {
    my ($h) = @_;
    my (undef, undef, $body) = http_get($h, '/health');
    my $j = json_of($body);
    return $j ? $j->{inflight} : -1;
}

# SIGTERM: deregister first, keep serving, finish in-flight work, exit 0

{
    my $sub = subscribe($r, 'farm:agents:events');
    my $a = start_agent(id => 'lc1', registry => $r->{url});
    is(next_message($sub, 5), 'register lc1', 'registered');

    my $work = http_start($a, '/work?ms=1000');
    wait_until(sub { inflight($a) == 1 }, 5, '/work in flight');

    stop_signal($a, 'TERM');

    is(next_message($sub, 5), 'deregister lc1',
       'SIGTERM: "deregister lc1" published');
    is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc1'), 0,
       'SIGTERM: the record is deleted');
    is(redis_cmd($r, 'SISMEMBER', 'farm:agents:agents', 'lc1'), 0,
       'SIGTERM: the id left the index set');
    ok(http_pending($work), 'the in-flight /work is still running');

    my ($st, $h, $body) = http_get($a, '/health');
    is($st, 503, 'draining: /health 503');
    is(json_of($body)->{status}, 'draining', 'draining: status "draining"');
    ($st) = http_get($a, '/echo');
    is($st, 200, 'draining: new requests are still served');

    ($st, $h, $body) = http_finish($work, 10);
    is($st, 200, 'the in-flight /work?ms=1000 completes with 200');
    is(json_of($body)->{ms}, 1000, '... with its body');

    is(wait_exit($a, 10), 0, 'then the agent exits 0 on its own');
    ok(log_has($a, qr/info: SIGTERM: draining/), 'log: SIGTERM');
    ok(log_has($a, qr/info: deregistered lc1 from redis:/),
       'log: deregistered');
    ok(log_has($a, qr/info: drained: no request in progress, exiting/),
       'log: drained');
    check_agent_log($a);
}

# SIGTERM with nothing in flight: exits soon after deregistering

{
    my $a = start_agent(id => 'lc2', registry => $r->{url});
    stop_signal($a, 'TERM');
    is(wait_exit($a, 10), 0, 'idle agent: exit 0');
    is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc2'), 0,
       'idle agent: record deleted');
    check_agent_log($a);
}

# after deregistering, a draining agent still serves requests that arrive
# (a gateway may not have heard of the deregistration yet)

{
    my $a = start_agent(id => 'lc2b', registry => $r->{url});
    my $work = http_start($a, '/work?ms=3000');      # keeps it draining
    wait_until(sub { inflight($a) == 1 }, 5, '/work in flight');
    stop_signal($a, 'TERM');
    wait_until(sub { redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc2b') == 0 },
               5, 'deregistration');
    my ($code) = http_get($a, '/work?ms=0');
    is($code, 200, 'a request arriving after deregistration is served');
    my ($st) = http_finish($work, 10);
    is($st, '200', 'the request in flight at SIGTERM completes');
    is(wait_exit($a, 10), 0, 'then the agent exits 0');
    check_agent_log($a);
}

# a second SIGTERM exits at once

{
    my $a = start_agent(id => 'lc3', registry => $r->{url});
    my $work = http_start($a, '/work?ms=20000');
    wait_until(sub { inflight($a) == 1 }, 5, '/work in flight');
    stop_signal($a, 'TERM');
    wait_until(sub { redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc3') == 0 },
               5, 'deregistration');
    stop_signal($a, 'TERM');
    is(wait_exit($a, 5), 1, 'second SIGTERM: exits at once, status 1');
    ok(log_has($a, qr/warn: SIGTERM again: exiting now, cutting off 1 request/),
       'log: second SIGTERM and the cut-off count');
    my ($st) = http_finish($work, 2);
    ok(!defined $st || $st ne '200', 'the cut-off request got no 200');
    check_agent_log($a);
}

# --grace expires: cut off, exit 0

{
    my $a = start_agent(id => 'lc4', registry => $r->{url}, grace => '500ms');
    my $work = http_start($a, '/work?ms=20000');
    wait_until(sub { inflight($a) == 1 }, 5, '/work in flight');
    stop_signal($a, 'TERM');
    is(wait_exit($a, 10), 0,
       '--grace 500ms: exit 0, long before the 20 s /work would end');
    ok(log_has($a, qr/warn: grace period of 500 ms is over: cutting off 1 request/),
       'log: grace over, 1 request cut off');
    http_finish($work, 1);
    check_agent_log($a);
}

# SIGINT behaves like SIGTERM

{
    my $a = start_agent(id => 'lc5', registry => $r->{url});
    stop_signal($a, 'INT');
    is(wait_exit($a, 5), 0, 'SIGINT: exit 0');
    is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc5'), 0,
       'SIGINT: record deleted');
    check_agent_log($a);
}

# SIGUSR1 drains without exiting; SIGUSR2 undoes it

{
    my $sub = subscribe($r, 'farm:agents:events');
    my $a = start_agent(id => 'lc6', registry => $r->{url});
    is(next_message($sub, 5), 'register lc6', 'registered');

    stop_signal($a, 'USR1');
    is(next_message($sub, 5), 'deregister lc6',
       'SIGUSR1: "deregister lc6" published');
    is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc6'), 0,
       'SIGUSR1: record deleted');
    my ($st, $h, $body) = http_get($a, '/health');
    is($st, 503, 'SIGUSR1: /health 503');
    is(json_of($body)->{status}, 'draining', 'SIGUSR1: status draining');
    ok(!json_of($body)->{registered}, 'SIGUSR1: registered false');
    like((http_get($a, '/metrics'))[2], qr/^farm_agent_draining 1$/m,
         'SIGUSR1: farm_agent_draining 1');
    ($st) = http_get($a, '/work?ms=1');
    is($st, 200, 'SIGUSR1: still serving work');

    stop_signal($a, 'USR2');
    is(next_message($sub, 5), 'register lc6',
       'SIGUSR2: "register lc6" published');
    is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:lc6'), 1,
       'SIGUSR2: record back');
    wait_until(sub { (http_get($a, '/health'))[0] == 200 }, 5, '/health 200');
    pass('SIGUSR2: /health 200 again');
    like((http_get($a, '/metrics'))[2],
         qr/^farm_agent_registrations_total 2$/m,
         'SIGUSR2: farm_agent_registrations_total 2');

    is(stop_agent($a), 0, 'exit status 0 after SIGTERM');
    check_agent_log($a);
}

# Redis unreachable at SIGTERM: deregistration gives up after ~1 s

{
    my $r2 = start_redis();
    my $a = start_agent(id => 'lc7', registry => $r2->{url});
    stop_redis($r2);
    wait_until(sub { log_has($a, qr/lost connection to/) }, 5,
               'the agent to notice Redis is gone');
    stop_signal($a, 'TERM');
    is(wait_exit($a, 10), 0, 'Redis down at SIGTERM: exit 0');
    ok(log_has($a, qr/could not deregister lc7 .* within 1000 ms; the record expires by its TTL/),
       'log: the deregistration could not be confirmed');
    check_agent_log($a);
}

# standalone: SIGTERM exits 0 at once

{
    my $a = start_agent(id => 'lc8');
    stop_signal($a, 'TERM');
    is(wait_exit($a, 5), 0, 'standalone: SIGTERM exit 0');
    check_agent_log($a);
}

done_testing();
