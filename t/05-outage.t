# The registry goes away: at start nginx still starts and refuses clearly;
# later the gateway keeps routing to the agents it knows; a restarted, empty
# Redis does not empty the farm while the agents register again.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $RedisPort = free_port();
our $Redis;                       # not running at first
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $RedisPort;

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms timeout=500ms hold=10s;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: Redis down at start: nginx starts and answers 503 with a clear body
--- request
GET /work?ms=0
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 1
--- response_body
{"error":"no agents registered","upstream":"agents","service":"agents","agents":0}
--- error_log eval
[qr/farm: registry redis:\/\/127.0.0.1:\d+\/0 of upstream "agents" unreachable at start \(Connection refused\); no agents until it answers/,
 qr/farm: registry redis:\/\/127.0.0.1:\d+\/0 of upstream "agents" is unreachable \(Connection refused\); routing to the 0 last known agents/]



=== TEST 2: Redis comes up, an agent registers: the gateway finds it by itself
--- init
$main::Redis = FarmTest::start_redis(port => $main::RedisPort);
main::agents(a => {});
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
is reachable again



=== TEST 3: Redis goes down: the gateway keeps routing to the agents it knows
--- init
main::agents(a => {});
FarmTest::stop_redis($main::Redis);
FarmTest::wait_until(sub { !FarmTest::farm_status()->{farms}[0]{sync}{registry_up} },
                     5, 'the gateway to notice');
for my $i (1 .. 5) {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    Test::More::is("$code $h->{'x-farm-agent'}", '200 a', "request $i still routed to a");
}
--- request
GET /farm
--- response_body_like: "agents":\[\{"id":"a".*"registry_up":false
--- error_log eval
qr/farm: registry redis:\/\/127.0.0.1:\d+\/0 of upstream "agents" is unreachable \(.*\); routing to the 1 last known agents/



=== TEST 4: nginx restarted while Redis is down has no agents, and recovers when Redis returns
--- init
Test::More::is(FarmTest::farm_status()->{farms}[0]{totals}{agents}, 0, 'no agents known');
$main::Redis = FarmTest::restart_redis($main::Redis);
main::agents(a => {});
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
unreachable at start



=== TEST 5: Redis restarts empty: no request fails while the agents register again
--- init
main::agents(a => { ttl => '2s' }, b => { ttl => '2s' });
$main::Redis = FarmTest::restart_redis($main::Redis);     # all data lost
my $fails = 0;
my $until = Time::HiRes::time() + 3;
while (Time::HiRes::time() < $until) {
    my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    $fails++ if !defined $code || $code != 200;
    Time::HiRes::sleep(0.02);
}
Test::More::is($fails, 0, 'no request failed across the Redis restart');
FarmTest::wait_until(sub {
    FarmTest::redis_cmd($main::Redis, 'SCARD', 'farm:agents:agents') == 2
}, 5, 'both agents to register again');
--- request
GET /farm
--- response_body_like: "totals":\{"agents":2,
--- error_log eval
qr/farm: registry redis:\/\/127.0.0.1:\d+\/0 of upstream "agents" (?:restarted|lists no agents); keeping the \d known agents for 10000 ms while they register again/
