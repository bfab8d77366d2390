# The master's startup read of a Redis registry has one deadline for the
# whole read (timeout=, at most 2 s), not one per reply: with a registry
# that answers every batch of reads 400 ms late, it stops at the deadline
# with the agents read so far, and the workers read the rest.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Port = free_port();
our $Slow = background('slow redis', $^X, repo_root() . '/t/lib/slow_redis.pl',
                       $Port, 'agents', 2000, 400);

wait_until(sub { (eval { redis_cmd($Port, 'PING') } // '') eq 'PONG' }, 5,
           'the slow redis');

$ENV{TEST_NGINX_SLOW_PORT} = $Port;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_SLOW_PORT service=agents
                      resync=1h timeout=2s max_agents=4096;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location = /farm {
        farm_status;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: the startup read stops at timeout= with what it read; the workers read the rest
--- init
my $all = eval {
    FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{totals}{agents} == 2000 },
                         20, 'the workers to read every agent');
    1;
};
Test::More::ok($all, 'the gateway knows the 2000 agents');
--- request
GET /farm
--- error_code: 200
--- error_log eval
qr/\[warn\] .*farm: the startup read of redis:\/\/127\.0\.0\.1:\d+\/0 for upstream "agents" stopped after 2000 ms with \d+ of 2000 records read; the workers read the rest/
--- no_error_log
[error]
