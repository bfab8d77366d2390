# Consul over https://: the gateway verifies Consul's certificate against
# ca=, and refuses it (with the reason in the log) against the system's CAs.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Consul = start_consul(tls => 1);
our %Agent;

$ENV{TEST_NGINX_CONSUL_HTTPS_PORT} = $Consul->{https_port};
$ENV{TEST_NGINX_CONSUL_CA} = $Consul->{ca_file};

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

=== TEST 1: https:// with ca=: the agents are found and routed
--- http_config
    upstream agents {
        farm_registry https://localhost:$TEST_NGINX_CONSUL_HTTPS_PORT service=agents
                      ca=$TEST_NGINX_CONSUL_CA resync=2s;
    }
--- init
FarmTest::ensure_agents($main::Consul, \%main::Agent, t1 => {});
--- request
GET /farm
--- response_body_like: "registry":"https://localhost:\d+".*"id":"t1"
--- no_error_log
[error]



=== TEST 2: https:// without ca=: Consul's certificate is refused and nginx says why
--- http_config
    upstream agents {
        farm_registry https://localhost:$TEST_NGINX_CONSUL_HTTPS_PORT service=agents
                      resync=2s;
    }
--- request
GET /work?ms=0
--- error_code: 503
--- error_log eval
qr/farm: registry https:\/\/localhost:\d+ of upstream "agents" unreachable at start \(SSL certificate problem: [^)]+\)/
