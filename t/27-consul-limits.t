# Bounds on what the gateway reads from Consul: an answer larger than 8 KB
# per max_agents= (at least 256 KB, at most 128 MB) without max_answer= is
# refused, named in the log with the parameter that raises it, and the
# known agents keep serving; records pointing at a metadata address are
# refused as with Redis.  A real Consul dev agent, real farm-agent processes.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Consul = start_consul();
our %Agent;

$ENV{TEST_NGINX_CONSUL_PORT} = $Consul->{port};

sub put_service {
    my ($json) = @_;
    my ($st, $body) = consul_api($Consul, 'PUT', '/v1/agent/service/register',
                                 $json);
    die "register: $st $body\n" unless $st == 200;
}

sub error_log_has {
    my ($re) = @_;
    open my $fh, '<', nginx_error_log() or return 0;
    local $/;
    return <$fh> =~ $re;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=1s max_agents=8;
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

=== TEST 1: an answer larger than the cap is refused with a line saying so; the known agent keeps serving
--- init
FarmTest::ensure_agents($main::Consul, \%main::Agent, a => {});
# 12 entries with 64 meta values of 500 bytes each: about 400 KB in all
my $meta = join ',', map { sprintf '"k%02d":"%s"', $_, 'v' x 500 } 1 .. 64;
main::put_service(qq({"ID":"fat-$_","Name":"agents","Address":"127.0.0.1","Port":9,"Meta":{$meta}}))
    for 1 .. 12;
my $ok = eval {
    FarmTest::wait_until(sub { main::error_log_has(qr/larger than 256k/) }, 10, 'the refusal');
    1;
};
Test::More::ok($ok, 'the answer is refused');
FarmTest::consul_api($main::Consul, 'PUT', "/v1/agent/service/deregister/fat-$_") for 1 .. 12;
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/\[error\] .*farm: registry consul:\/\/127\.0\.0\.1:\d+ of upstream "agents" is unreachable \(the answer is larger than 256k, the limit without max_answer= \(8k per max_agents=, 128m at most\); raise it with max_answer=\); routing to the 1 last known agents/



=== TEST 2: a Consul entry at a cloud metadata address is refused, naming the entry and the address
--- init
FarmTest::ensure_agents($main::Consul, \%main::Agent, a => {});
main::put_service('{"ID":"imds","Name":"agents","Address":"169.254.169.254","Port":80}');
my $ok = eval {
    FarmTest::wait_until(sub { main::error_log_has(qr/agents\/imds/) }, 10, 'the refusal');
    1;
};
Test::More::ok($ok, 'the entry is refused');
Test::More::ok(!FarmTest::farm_agents()->{imds}, 'imds is not an agent');
FarmTest::consul_api($main::Consul, 'PUT', '/v1/agent/service/deregister/imds');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
skipping registry record "agents/imds" of upstream "agents": address: 169.254.169.254 is a link-local or cloud metadata address
