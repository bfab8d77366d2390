# A Consul with ACLs (default policy deny): the gateway's token= is
# required and honoured, and never shows in a log or in farm_status.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Consul = start_consul(acl => 1);
our %Agent;

$ENV{TEST_NGINX_CONSUL_PORT} = $Consul->{port};
$ENV{TEST_NGINX_CONSUL_TOKEN} = $FarmTest::ConsulToken;

sub agents {
    ensure_agents($Consul, \%Agent, @_);
}

add_block_preprocessor(sub {
    my $block = shift;

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

=== TEST 1: with token= the agents are found and routed
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      token=$TEST_NGINX_CONSUL_TOKEN resync=2s;
    }
--- init
main::agents(secure => {});
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: secure
--- no_error_log
[error]



=== TEST 2: the token never shows in farm_status or the log
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      token=$TEST_NGINX_CONSUL_TOKEN resync=2s;
    }
--- init
main::agents(secure => {});
--- request
GET /farm
--- response_body_like: "registry":"consul://127\.0\.0\.1:\d+"
--- response_body_unlike: f4a1c7e2
--- no_error_log
f4a1c7e2
[error]



=== TEST 3: without token= Consul hides the service: nginx says why and answers 503
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s;
    }
--- init
# still registered from the blocks before; only the gateway cannot see it
Test::More::is((FarmTest::consul_api($main::Consul, 'GET',
                '/v1/agent/service/secure'))[0], 200, 'secure is in Consul');
--- request
GET /work?ms=0
--- error_code: 503
--- response_body
{"error":"no agents registered","upstream":"agents","service":"agents","agents":0}
--- error_log eval
qr/farm: registry consul:\/\/127\.0\.0\.1:\d+ of upstream "agents" has ACLs with default policy "deny" and no token= is set: Consul hides service "agents" from anonymous queries, so no agent can be found; set token= to an ACL token with service:read and node:read/



=== TEST 4: a token Consul does not know: HTTP 403 is logged clearly, nginx answers 503
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      token=00000000-0000-0000-0000-000000000000 resync=2s;
    }
--- init
# still registered from the blocks before; only the gateway cannot see it
Test::More::is((FarmTest::consul_api($main::Consul, 'GET',
                '/v1/agent/service/secure'))[0], 200, 'secure is in Consul');
--- request
GET /work?ms=0
--- error_code: 503
--- error_log eval
[qr/farm: registry consul:\/\/127\.0\.0\.1:\d+ of upstream "agents" unreachable at start \(HTTP 403 ACL not found\)/,
 qr/farm: registry consul:\/\/127\.0\.0\.1:\d+ refused the query of upstream "agents" for service "agents": HTTP 403 ACL not found; token= must name an ACL token with service:read and node:read/]
--- no_error_log
00000000-0000



=== TEST 5: a token is checked at nginx -t without being echoed
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      "token=sec ret";
    }
--- must_die
--- error_log eval
qr/invalid "farm_registry" parameter "token=\.\.\.": expected 1-255 printable characters without spaces/
--- no_error_log
sec ret
