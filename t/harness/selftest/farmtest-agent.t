# Self-test of FarmTest's farm-agent helpers against the real agent binary
# ($FARM_AGENT_BINARY or build/farm-agent) and a real redis-server.
use strict;
use warnings;
use Test::More;
use FarmTest;

my $bin = $ENV{FARM_AGENT_BINARY} // repo_root() . '/build/farm-agent';
plan skip_all => "no agent binary at $bin" unless -x $bin;
plan skip_all => 'redis-server not installed'
    unless grep { -x "$_/redis-server" } split(/:/, $ENV{PATH}), '/usr/bin';

local $ENV{FARM_REGISTRY} = 'redis://127.0.0.1:1';    # must not leak into agents

my $r = start_redis();
my $a1 = start_agent(id => 'a1', registry => $r->{url}, region => 'eu',
                     cap => ['gpu', 'x'], weight => 3, max_conns => 4,
                     ttl => '2s', grace => '1s');
ok($a1->{pid} && $a1->{port}, "agent a1 runs (pid $a1->{pid}, port $a1->{port})");
ok(-f $a1->{log}, 'agent log file');
is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:a1'), 1, 'start_agent waited for registration');

my ($st, $h) = http_get($a1, '/health');
is($st, 200, 'GET /health');
is($h->{'x-farm-agent'}, 'a1', 'X-Farm-Agent header');
($st) = http_get("127.0.0.1:$a1->{port}", '/work?ms=5');
is($st, 200, 'GET /work');

my $a2 = start_agent(service => 'other');    # no registry, no id
ok(defined $a2->{id} && length $a2->{id}, "id taken from X-Farm-Agent ($a2->{id})");
is(redis_cmd($r, 'EXISTS', "farm:other:agent:$a2->{id}"), 0, 'FARM_REGISTRY did not leak');

is(stop_signal($a1, 'STOP'), 1, 'stop_signal STOP');
{
    local $FarmTest::HttpTimeout = 0.3;
    ok(!defined((http_get($a1, '/health'))[0]), 'a stopped agent does not answer');
}
stop_signal($a1, 'CONT');
wait_until(sub { (http_get($a1, '/health'))[0] }, 3, 'a1 to answer after CONT');

is(stop_agent($a1), 0, 'stop_agent: SIGTERM, exit code 0');
is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:a1'), 0, 'record removed on SIGTERM');

my $a3 = start_agent(id => 'a3', registry => $r->{url}, ttl => '1s');
is(kill_agent($a3), 137, 'kill_agent: 128 + SIGKILL');
my $t = wait_until(sub { !redis_cmd($r, 'EXISTS', 'farm:agents:agent:a3') }, 5,
                   'record of the killed agent to expire');
ok($t < 3, 'it expired within its ttl');

ok(!eval { start_agent(id => 'bad', extra => ['--weight', '0']); 1 },
   'start_agent dies when the agent exits at startup');
like($@, qr/exited during startup \(exit code \d+\).*--weight/s, '... with its log tail');

done_testing();
