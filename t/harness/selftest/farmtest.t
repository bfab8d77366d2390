# Self-test of t/lib/FarmTest.pm against the real redis-server:
#   PERL5LIB=t/harness:t/lib prove t/harness/selftest/
use strict;
use warnings;
use Test::More;
use FarmTest;

# A process is gone when kill 0 fails or it is a zombie (on this machine pid 1
# does not reap orphans, so an orphaned process may linger as a zombie).
sub gone {
    my ($pid) = @_;
    return 1 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    return <$fh> =~ /\)\s+[ZX]\s/;
}

plan skip_all => 'redis-server not installed'
    unless grep { -x "$_/redis-server" } split(/:/, $ENV{PATH}), '/usr/bin';

# free_port: distinct, bindable
my %seen;
my @ports = map { free_port() } 1 .. 20;
$seen{$_}++ for @ports;
is(scalar(keys %seen), 20, 'free_port never returns the same port twice');
ok(IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ports[0],
                         Proto => 'tcp', Listen => 1, ReuseAddr => 1),
   'a free_port can be bound');

# start_redis / redis_cmd
my $r = start_redis(extra => ['--notify-keyspace-events', 'Kx']);
ok($r->{pid} && kill(0, $r->{pid}), "redis-server runs (pid $r->{pid}, port $r->{port})");
ok(-d $r->{dir}, 'redis has its own data dir');
is(redis_cmd($r, 'PING'), 'PONG', 'PING -> PONG (simple string)');
is(redis_cmd($r->{port}, 'SET', 'k', "a b\r\nc"), 'OK', 'SET by port');
is(redis_cmd("127.0.0.1:$r->{port}", 'GET', 'k'), "a b\r\nc", 'GET bulk with CRLF inside');
is(redis_cmd($r->{url}, 'GET', 'missing'), undef, 'nil bulk -> undef');
is(redis_cmd($r, 'INCRBY', 'n', 41), 41, 'integer reply');
is(redis_cmd($r, 'INCR', 'n') + 0, 42, 'integer reply is a number');
redis_cmd($r, 'RPUSH', 'l', $_) for qw(x y z);
is_deeply(redis_cmd($r, 'LRANGE', 'l', 0, -1), [qw(x y z)], 'array reply');
is_deeply(redis_cmd($r, 'LRANGE', 'nolist', 0, -1), [], 'empty array');
like(redis_cmd($r, 'NOSUCHCOMMAND'), qr/^ERR:ERR unknown command/, 'error reply -> "ERR:..."');
like(redis_cmd($r, 'LPUSH', 'k', 'x'), qr/^ERR:WRONGTYPE/, 'WRONGTYPE error reply');
is(redis_cmd($r, 'CONFIG', 'GET', 'notify-keyspace-events')->[1], 'xK',
   'extra args reach redis-server');
is(redis_cmd($r, 'CONFIG', 'GET', 'save')->[1], '', 'persistence off');
is_deeply(redis_cmd($r, 'HGETALL', 'nohash'), [], 'HGETALL empty');
redis_cmd($r, 'HSET', 'h', 'f', 'v');
is_deeply(redis_cmd($r, 'HGETALL', 'h'), ['f', 'v'], 'HGETALL');

# restart_redis: same port, new pid, data lost
my ($old_pid, $port) = ($r->{pid}, $r->{port});
restart_redis($r);
is($r->{port}, $port, 'restart keeps the port');
isnt($r->{pid}, $old_pid, 'restart gives a new process');
ok(gone($old_pid), 'old redis process is gone');
is(redis_cmd($r, 'GET', 'k'), undef, 'data lost after restart');

# stop_redis
my $pid = $r->{pid};
is(stop_redis($r), 0, 'stop_redis returns exit code 0');
ok(gone($pid), 'redis process is gone after stop_redis');
ok(!eval { redis_cmd($port, 'PING'); 1 }, 'redis_cmd dies when redis is down');
like($@, qr/cannot connect to redis/, '... with a clear message');

# wait_until
my $t0 = time;
my $n = 0;
my $elapsed = wait_until(sub { ++$n >= 3 }, 2, 'three polls');
ok($elapsed >= 0.03 && $elapsed < 1, "wait_until returns elapsed seconds ($elapsed)");
ok(!eval { wait_until(sub { 0 }, 0.2, 'nothing'); 1 }, 'wait_until dies on timeout');
like($@, qr/^timed out after 0\.2s waiting for nothing/, '... with the expected message');
ok(!eval { wait_until(sub { die "boom\n" }, 0.1, 'x'); 1 }, 'a dying probe counts as false');
like($@, qr/last error: boom/, '... and its error is reported');

# http_get against a one-shot local server (chunked body, repeated headers)
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5,
                                Proto => 'tcp', ReuseAddr => 1) or die $!;
my $hport = $srv->sockport;
my $kid = fork // die;
if (!$kid) {
    my $c = $srv->accept;
    my $req = '';
    sysread($c, $req, 4096, length $req) until $req =~ /\r\n\r\n/;
    my ($path) = $req =~ /^GET (\S+)/;
    print $c "HTTP/1.1 201 Created\r\nX-A: 1\r\nX-A: 2\r\nTransfer-Encoding: chunked\r\n"
           . "Connection: close\r\n\r\n3\r\nabc\r\n" . sprintf("%x", length $path)
           . "\r\n$path\r\n0\r\n\r\n";
    close $c;
    POSIX::_exit(0);
}
my ($st, $h, $body) = http_get("http://127.0.0.1:$hport/p?q=1");
waitpid $kid, 0;
is($st, 201, 'http_get status');
is($h->{'x-a'}, '1, 2', 'repeated headers joined, names lower-cased');
is($body, 'abc/p?q=1', 'chunked body decoded, path from URL');
close $srv;
my @r = http_get($hport, '/');
ok(!defined $r[0], 'http_get returns undef status when nothing listens');
like($FarmTest::HttpError, qr/connect/, '... and sets $FarmTest::HttpError');

# servroot helpers
is(servroot(), $ENV{TEST_NGINX_SERVROOT} || "".Cwd::getcwd()."/t/servroot", 'servroot');
like(nginx_error_log(), qr{/logs/error\.log$}, 'nginx_error_log');

# start_agent fails cleanly when the binary is missing
{
    local $ENV{FARM_AGENT_BINARY} = '/nonexistent/farm-agent';
    ok(!eval { start_agent(id => 'x'); 1 }, 'start_agent dies without a binary');
    like($@, qr/not found or not executable/, '... with a clear message');
}

# everything is cleaned up at exit, even when the test dies: check in a child
my $script = <<'PERL';
use FarmTest;
my $r = start_redis();
print "$r->{pid}\n";
die "dying on purpose\n";
PERL
my $out = `$^X -I$INC[0] -e '$script' 2>/dev/null`;
my ($child_redis) = $out =~ /(\d+)/;
ok($child_redis, "child test started redis $child_redis");
ok(gone($child_redis), 'redis of a dying test file is stopped by END');

# ... and on SIGTERM
my $pidfile = "/tmp/farmtest-selftest-$$";
my $tk = fork // die;
if (!$tk) {
    exec $^X, (map { "-I$_" } @INC[0 .. 1]), '-MFarmTest', '-e',
        "my \$r = start_redis(); open my \$f, '>', '$pidfile'; print \$f \$r->{pid}; close \$f; sleep 30";
}
wait_until(sub { -s $pidfile }, 10, 'child to start redis');
my $term_redis = do { open my $f, '<', $pidfile; <$f> };
unlink $pidfile;
kill TERM => $tk;
waitpid $tk, 0;
is($? >> 8, 143, 'SIGTERMed test exits with 128+15');
ok(gone($term_redis), "redis $term_redis of a SIGTERMed test is stopped");

# ... and on SIGKILL (PR_SET_PDEATHSIG)
$tk = fork // die;
if (!$tk) {
    exec $^X, (map { "-I$_" } @INC[0 .. 1]), '-MFarmTest', '-e',
        "my \$r = start_redis(); open my \$f, '>', '$pidfile'; print \$f \$r->{pid}; close \$f; sleep 30";
}
wait_until(sub { -s $pidfile }, 10, 'child to start redis');
my $kill_redis = do { open my $f, '<', $pidfile; <$f> };
unlink $pidfile;
kill KILL => $tk;
waitpid $tk, 0;
wait_until(sub { gone($kill_redis) }, 5, 'redis to die with its SIGKILLed parent');
pass("redis $kill_redis of a SIGKILLed test is gone");

done_testing();
