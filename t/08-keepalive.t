# nginx's keepalive works on a farm upstream: requests reuse connections to
# the agents instead of opening one each.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# connections the agent has accepted so far
sub connections {
    my ($id) = @_;
    my (undef, undef, $body) = http_get($Agent{$id}{port}, '/metrics');
    return $body =~ /^farm_agent_connections_total (\d+)/m ? $1 : -1;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
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

=== TEST 1: with keepalive, 20 requests through the gateway use one connection
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        farm_balance least_conn;
        keepalive 4;
    }
--- init
main::agents(k => {});
my $before = main::connections('k');
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 20;
my $opened = main::connections('k') - $before - 1;    # - our /metrics
Test::More::is($opened, 1, "20 requests opened $opened connection(s) to the agent");
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: k
--- no_error_log
[error]



=== TEST 2: without keepalive every request opens a connection (the control case)
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        farm_balance least_conn;
    }
--- init
main::agents(k => {});
my $before = main::connections('k');
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 20;
my $opened = main::connections('k') - $before - 1;
Test::More::is($opened, 20, "20 requests opened $opened connections to the agent");
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: k
--- no_error_log
[error]



=== TEST 3: a cached connection to an agent that left is not used for another agent
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        keepalive 4;
    }
--- init
main::agents(k => {});
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 3;
main::agents(m => {});
--- request eval
[("GET /work?ms=0") x 3]
--- response_headers eval
[("X-Farm-Agent: m") x 3]
--- no_error_log
[error]
