# farm-agent -- COMMAND: the agent starts the worker (tests/agent/lib/
# app.pl), reports it down and restarts it with a growing delay when it
# dies, and stops it after draining on SIGTERM (SIGKILL when it ignores
# that).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $port = free_port();
my $a = start_agent(id => 'sv1',
                    extra => ['--app', "http://127.0.0.1:$port",
                              '--app-health', '/health',
                              '--app-health-interval', '100ms',
                              '--', $^X, "$FindBin::Bin/lib/app.pl", $port]);

sub health { (http_get($a, '/_farm/health'))[0] // 0 }

# the pid of the newest worker, from the agent's log
sub worker_pid {
    open my $f, '<', $a->{log} or return 0;
    my $pid = 0;
    while (<$f>) {
        $pid = $1 if /info: worker started: \S+ \(pid (\d+)\)/;
    }
    return $pid;
}

wait_until(sub { health() == 200 }, 10, 'the worker to be up');
my $pid1 = worker_pid();
ok($pid1 > 1, "the agent started the worker (pid $pid1)");
is((http_get($a, '/ppid'))[2], "$pid1\n", 'the app is that process');
is((http_get($a, '/hello'))[2], "hello from app\n",
   'requests reach the supervised worker');

$pid1 > 1 or BAIL_OUT('no worker pid');
kill 'KILL', $pid1;
wait_until(sub { log_has($a, qr/warn: worker \S+ \(pid $pid1\) killed by signal 9 after [\d.]+ s; restarting in 500 ms/) },
           5, 'the exit in the log');
pass('log: killed by signal 9, restarting in 500 ms');
wait_until(sub { worker_pid() != $pid1 }, 10, 'a new worker');
my $pid2 = worker_pid();
pass("restarted (pid $pid2)");
wait_until(sub { health() == 200 }, 5, 'the app up again');
pass('/_farm/health 200 again');

$pid2 > 1 or BAIL_OUT('no worker pid');
kill 'KILL', $pid2;
wait_until(sub { log_has($a, qr/pid $pid2\) killed by signal 9 after [\d.]+ s; restarting in 1000 ms/) },
           5, 'the second exit in the log');
pass('a second death: the delay doubles to 1000 ms');
wait_until(sub { worker_pid() != $pid2 }, 10, 'a third worker');
my $pid3 = worker_pid();

is(stop_agent($a), 0, 'SIGTERM: exit 0');
ok(log_has($a, qr/info: stopping the worker \(pid $pid3\): SIGTERM/),
   'log: the worker is stopped after the drain');
ok(!kill(0, $pid3), 'the worker is gone');
check_agent_log($a);

# a worker that ignores SIGTERM is killed (SIGKILL, 10 s after the
# SIGTERM) and the agent still exits 0

my $port2 = free_port();
my $b = start_agent(id => 'sv2', env => { APP_IGNORE_TERM => 1 },
                    extra => ['--app', "http://127.0.0.1:$port2",
                              '--app-health', '/health',
                              '--app-health-interval', '100ms',
                              '--', $^X, "$FindBin::Bin/lib/app.pl", $port2]);
wait_until(sub { ((http_get($b, '/_farm/health'))[0] // 0) == 200 }, 10,
           'the stubborn worker to be up');
my $stubborn = 0;
{
    open my $f, '<', $b->{log} or die "$b->{log}: $!";
    while (<$f>) {
        $stubborn = $1 if /info: worker started: \S+ \(pid (\d+)\)/;
    }
}
ok($stubborn > 1, "the agent started a worker that ignores SIGTERM "
                  . "(pid $stubborn)");
is(stop_agent($b), 0, 'SIGTERM: exit 0, though the worker ignored SIGTERM');
ok(log_has($b, qr/warn: worker \(pid $stubborn\) still running after SIGTERM: SIGKILL/),
   'log: still running after SIGTERM, SIGKILL');
ok(log_has($b, qr/info: worker \S+ \(pid $stubborn\) killed by signal 9/),
   'log: the worker was killed by signal 9');
ok($stubborn > 1 && !kill(0, $stubborn), 'the worker is gone');
kill 'KILL', $stubborn if $stubborn > 1 && kill(0, $stubborn);
check_agent_log($b);

# bad use

my ($code, undef, $err) = run_agent(args => ['--', 'true']);
is($code, 2, 'a command without --app: exit 2');
like($err, qr/-- true: a worker to supervise needs --app/,
     '... and the reason');

done_testing();
