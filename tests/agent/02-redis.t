# farm-agent's registration in a real redis-server: the record, its TTL,
# the index set, events, heartbeats, and recovery when Redis loses the
# record, restarts, is down at start, or stops answering.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $r = start_redis();
my $key = 'farm:agents:agent:rd1';
my $sub = subscribe($r, 'farm:agents:events');

my $a = start_agent(id => 'rd1', registry => $r->{url}, region => 'eu',
                    cap => 'gpu,ssd', weight => 4, max_conns => 8,
                    backup => 1, ttl => '2s',
                    extra => ['--meta', 'rack=r7', '--meta', 'os=linux',
                              '--advertise', '127.0.0.2']);

# the record

my $rec = json_of(redis_cmd($r, 'GET', $key));
ok($rec, 'the record is JSON') or diag redis_cmd($r, 'GET', $key);
is($rec->{id}, 'rd1', 'record: id');
is($rec->{service}, 'agents', 'record: service');
is($rec->{address}, '127.0.0.2', 'record: address from --advertise');
is($rec->{port}, $a->{port}, 'record: port is the listen port');
is($rec->{region}, 'eu', 'record: region');
is_deeply($rec->{caps}, ['gpu', 'ssd'], 'record: caps');
is($rec->{weight}, 4, 'record: weight');
is($rec->{max_conns}, 8, 'record: max_conns');
ok($rec->{backup}, 'record: backup');
is_deeply($rec->{meta}, { rack => 'r7', os => 'linux' }, 'record: meta');

my $pttl = redis_cmd($r, 'PTTL', $key);
ok($pttl > 0 && $pttl <= 2000, "PTTL $pttl is within --ttl 2s");
is(redis_cmd($r, 'SISMEMBER', 'farm:agents:agents', 'rd1'), 1,
   'the id is in the index set');
is(next_message($sub, 5), 'register rd1', '"register rd1" published');

ok(log_has($a, qr/info: registered rd1 as 127\.0\.0\.2:$a->{port} in redis:\/\/127\.0\.0\.1:$r->{port}\/0/),
   'log: registered <id> as <addr>:<port> in <url>');

my $j = json_of((http_get($a, '/health'))[2]);
ok($j->{registered}, '/health: registered true');
like((http_get($a, '/metrics'))[2], qr/^farm_agent_registered 1$/m,
     '/metrics: registered 1');

# heartbeats keep the record past its 2 s TTL

my $until = time + 3;
my $missing = 0;
while (time < $until) {
    $missing++ unless redis_cmd($r, 'EXISTS', $key);
    sleep 0.05;
}
is($missing, 0, 'heartbeats keep the record alive for 3 s with --ttl 2s');
$pttl = redis_cmd($r, 'PTTL', $key);
ok($pttl > 0 && $pttl <= 2000, "PTTL $pttl still within --ttl");

# FLUSHALL: registered again within a heartbeat (ttl/3)

is(redis_cmd($r, 'FLUSHALL'), 'OK', 'FLUSHALL');
ok(eval { wait_until(sub { redis_cmd($r, 'EXISTS', $key) }, 5,
                     'the record to come back after FLUSHALL') },
   'registered again after FLUSHALL');
is(redis_cmd($r, 'SISMEMBER', 'farm:agents:agents', 'rd1'), 1,
   'back in the index set');
is(next_message($sub, 3), 'register rd1', '"register rd1" published again');
ok(log_has($a, qr/warn: record farm:agents:agent:rd1 is gone .*registering again/),
   'log: the lost record is noticed');

# Redis restart: registered again

close $sub->{sock};
restart_redis($r);
wait_until(sub { redis_cmd($r, 'EXISTS', $key) }, 10,
           'the record after a Redis restart');
pass('registered again after a Redis restart');
is(redis_cmd($r, 'SISMEMBER', 'farm:agents:agents', 'rd1'), 1,
   'back in the index set after the restart');
ok(log_has($a, qr/warn: lost connection to redis:\/\/127\.0\.0\.1:$r->{port}\/0/),
   'log: the lost connection');
ok(log_has($a, qr/info: reached redis:\/\/127\.0\.0\.1:$r->{port}\/0 again/),
   'log: the recovery');

# Redis stops answering (SIGSTOP): the 2 s reply watchdog reconnects

stop_signal($r, 'STOP');
wait_until(sub { log_has($a, qr/no reply within 2 s/) }, 8,
           'the reply watchdog');
pass('a Redis that does not answer is given up on');
my ($st) = http_get($a, '/health');
is($st, 200, 'the agent serves while Redis hangs');
stop_signal($r, 'CONT');
redis_cmd($r, 'DEL', $key);
wait_until(sub { redis_cmd($r, 'EXISTS', $key) }, 10,
           'the record after Redis answers again');
pass('registered again once Redis answers');

is(stop_agent($a), 0, 'exit status 0 after SIGTERM');
is(redis_cmd($r, 'EXISTS', $key), 0, 'the record is gone after SIGTERM');
check_agent_log($a);

# Redis down at start: serve unregistered, register once it is up

my $port = free_port();
my $url = "redis://127.0.0.1:$port";
my $b = start_agent(id => 'rd2', registry => $url, wait_registered => 0,
                    ttl => '3s');
($st, undef, my $body) = http_get($b, '/health');
is($st, 200, 'Redis down: the agent serves');
ok(!json_of($body)->{registered}, 'Redis down: /health registered false');
wait_until(sub { log_has($b, qr/cannot reach redis:\/\/127\.0\.0\.1:$port\/0: Connection refused; serving unregistered, retrying/) },
           5, 'the first failure to be logged');
pass('log: cannot reach <url>: Connection refused; serving unregistered');

my $r2 = start_redis(port => $port);
wait_until(sub { redis_cmd($r2, 'EXISTS', 'farm:agents:agent:rd2') }, 10,
           'registration once Redis is up');
pass('registered once Redis came up');
wait_until(sub { json_of((http_get($b, '/health'))[2])->{registered} }, 5,
           '/health registered true');
pass('/health: registered true');
my @fails = do {
    open my $f, '<', $b->{log};
    grep { /cannot reach/ } <$f>;
};
ok(@fails <= 2, 'the failure was not logged on every retry (' . @fails . ' lines)');

is(stop_agent($b), 0, 'exit status 0 after SIGTERM');
check_agent_log($b);

# credentials and database from the URL

my $r3 = start_redis();
is(redis_cmd($r3, 'ACL', 'SETUSER', 'farm', 'on', '>s3cret', '~*', '&*',
             '+@all'), 'OK', 'a Redis user "farm"');

# EXISTS key in database db, authenticated as @auth
my $exists = sub {
    my ($db, $key, @auth) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$r3->{port}") or die $!;
    my $req = '';
    for my $c (['AUTH', @auth], ['SELECT', $db], ['EXISTS', $key]) {
        $req .= '*' . @$c . "\r\n"
                . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$c);
    }
    print {$s} $req;
    my $buf = '';
    my $sel = IO::Select->new($s);
    while ($buf !~ /\A\+OK\r\n\+OK\r\n:\d+\r\n/ && $sel->can_read(2)) {
        sysread($s, $buf, 65536, length $buf) or last;
    }
    close $s;
    return $buf =~ /\A\+OK\r\n\+OK\r\n:(\d+)\r\n/ ? $1 : undef;
};

my $c = start_agent(id => 'rd3', wait_registered => 0,
                    registry => "redis://farm:s3cret\@127.0.0.1:$r3->{port}/2");
wait_until(sub { ($exists->(2, 'farm:agents:agent:rd3', 'farm', 's3cret') // 0) == 1 },
           5, 'registration as user farm in database 2');
pass('AUTH user password and SELECT from the URL');
is($exists->(0, 'farm:agents:agent:rd3', 'farm', 's3cret'), 0,
   'nothing written to database 0');
is(stop_agent($c), 0, 'exit status 0 after SIGTERM');
check_agent_log($c);

my $d = start_agent(id => 'rd4', wait_registered => 0,
                    registry => "redis://farm:wrong\@127.0.0.1:$r3->{port}");
wait_until(sub { log_has($d, qr/warn: cannot reach redis:\/\/127\.0\.0\.1:$r3->{port}\/0: AUTH failed: WRONGPASS/) },
           5, 'the AUTH failure to be logged');
pass('a wrong password is logged clearly');
is(redis_cmd($r3, 'EXISTS', 'farm:agents:agent:rd4'), 0,
   'nothing registered behind a failed AUTH');
ok(!log_has($d, qr/wrong/), 'the password is not logged');
is(stop_agent($d), 0, 'exit status 0 after SIGTERM');
check_agent_log($d);

# password only: AUTH <password> for the default user
is(redis_cmd($r3, 'CONFIG', 'SET', 'requirepass', 'pw0'), 'OK',
   'requirepass');
my $e = start_agent(id => 'rd5', wait_registered => 0,
                    registry => "redis://:pw0\@127.0.0.1:$r3->{port}");
wait_until(sub { ($exists->(0, 'farm:agents:agent:rd5', 'pw0') // 0) == 1 },
           5, 'registration with a password only');
pass('AUTH password from redis://:password@host');
is(stop_agent($e), 0, 'exit status 0 after SIGTERM');
check_agent_log($e);

# --load-meta: the record's meta carries the load, written again each time

{
    my $sub2 = subscribe($r, 'farm:agents:events');
    my $m = start_agent(id => 'rd-load', registry => $r->{url},
                        extra => ['--meta', 'rack=r9', '--load-meta',
                                  '200ms']);
    my $rec = json_of(redis_cmd($r, 'GET', 'farm:agents:agent:rd-load'));
    is($rec->{meta}{rack}, 'r9', '--load-meta keeps the --meta keys');
    like($rec->{meta}{load1} // '', qr/^\d+\.\d\d$/, 'meta: load1');
    like($rec->{meta}{cpus} // '', qr/^[1-9]\d*$/, 'meta: cpus');
    like($rec->{meta}{mem_available_mb} // '', qr/^\d+$/,
         'meta: mem_available_mb');
    is(next_message($sub2, 5), 'register rd-load', 'registered');
    is(next_message($sub2, 5), 'register rd-load',
       'the record is written again with fresh figures');
    is(stop_agent($m), 0, 'exit status 0 after SIGTERM');
    check_agent_log($m);
}

done_testing();
