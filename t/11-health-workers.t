# Active health checks with several workers: each agent is checked once per
# interval by the gateway, not once per worker.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};


add_block_preprocessor(sub {
    my $block = shift;
    my $check = $block->check // 'interval=200ms timeout=300ms rise=2 fall=2';
    chomp $check;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_health_check $check;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_read_timeout 2s;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

master_on();
workers(4);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: one check per interval per gateway, not one per worker
--- check
interval=1h jitter=0 timeout=300ms
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, a => { ttl => '60s' });
my $one = FarmTest::start_agent(id => 'once');       # not registered yet
my $count = sub {
    my (undef, undef, $m) = FarmTest::http_get($one->{port}, '/metrics');
    return $m =~ /^farm_agent_requests_total\{code="200"\} (\d+)/m ? $1 : 0;
};
my $before = $count->();
FarmTest::put_record($main::Redis, id => 'once', port => $one->{port});
FarmTest::wait_until(sub { (FarmTest::farm_agents()->{once}{health}{checks} // 0) == 1 }, 5,
                     'the first check');
# the other workers would check within their next scan (10 ms): give them 30 of those
Time::HiRes::sleep(0.3);
Test::More::is($count->() - $before - 1, 1, 'the agent saw exactly one check from 4 workers');
Test::More::is(FarmTest::farm_agents()->{once}{health}{checks}, 1, 'the gateway counted one');
--- request
GET /farm
--- response_body_like: "id":"once".*"state":"up"
--- no_error_log
[error]
