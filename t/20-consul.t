# Agents come and go through Consul; the gateway watches the service with
# blocking queries and routes to the agents whose checks pass.  A real
# Consul dev agent, real farm-agent processes.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Consul = start_consul();
our %Agent;

$ENV{TEST_NGINX_CONSUL_PORT} = $Consul->{port};

sub agents {
    ensure_agents($Consul, \%Agent, @_);
}

# Registers a service entry directly, as some other tool might.
sub put_service {
    my ($json) = @_;
    my ($st, $body) = FarmTest::consul_api($Consul, 'PUT',
                                           '/v1/agent/service/register', $json);
    die "register: $st $body\n" unless $st == 200;
}

sub routed_to {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    return ($code // 0) == 200 ? $h->{'x-farm-agent'} : '';
}

master_on();
workers(2);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=1s;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        add_header X-Gateway-Agent $farm_agent always;
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

=== TEST 1: an agent registered in Consul is routed
--- init
main::agents(a => {});
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
X-Gateway-Agent: a
--- error_log eval
qr/farm: worker \d+ syncs upstream "agents" from consul:\/\/127\.0\.0\.1:\d+ service "agents"/
--- no_error_log
[error]



=== TEST 2: an agent that registers while nginx runs is routed; one that deregisters is not
--- init
main::agents(a => {});
main::agents(a => {}, b => {});     # b registers: the blocking query returns
main::agents(b => {});              # a leaves: SIGTERM deregisters it
Test::More::is(main::routed_to(), 'b', "request $_ goes to b") for 1 .. 3;
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: b
--- error_log
farm: agent "a" left upstream "agents" (no longer in the registry)
--- no_error_log
[error]



=== TEST 3: an agent killed without deregistering: its check goes critical, it is no longer routed
--- init
main::agents(a => {}, k => { ttl => '1s' });
FarmTest::kill_agent(delete $main::Agent{k});
FarmTest::wait_until(sub { !FarmTest::farm_agents()->{k} }, 10,
                     "k's check to go critical");
Test::More::is(main::routed_to(), 'a', "request $_ goes to a") for 1 .. 3;
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
farm: agent "k" left upstream "agents" (its Consul checks are critical)
--- no_error_log
[error]



=== TEST 4: Tags, Meta and Weights map to the agent's record
--- init
main::agents(w => { weight => 3, cap => 'gpu,pdf', region => 'eu-central',
                    max_conns => 9, backup => 1,
                    extra => ['--meta', 'rack=r12'] });
--- request
GET /farm
--- response_body_like: "registry":"consul://127\.0\.0\.1:\d+".*"id":"w","address":"127\.0\.0\.1:\d+","region":"eu-central","caps":\["gpu","pdf"\],"weight":3,"registered_weight":3,"max_conns":9,"backup":true,"state":"up".*"meta":\{"rack":"r12","version":"[\d.]+"\}
--- no_error_log
[error]



=== TEST 5: malformed service entries are skipped with one line naming them; good agents stay
--- init
main::agents(a => {});
main::put_service($_) for
    '{"ID":"bad-host","Name":"agents","Address":"consul.example","Port":9001}',
    '{"ID":"bad-tag","Name":"agents","Address":"127.0.0.1","Port":9001,"Tags":["not valid!"]}',
    '{"ID":"bad-conns","Name":"agents","Address":"127.0.0.1","Port":9001,"Meta":{"max_conns":"lots"}}',
    '{"ID":"bad-weight","Name":"agents","Address":"127.0.0.1","Port":9001,"Weights":{"Passing":5000,"Warning":1}}',
    '{"ID":"bad id","Name":"agents","Address":"127.0.0.1","Port":9001}';
FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{sync}{bad_records} == 5 },
                     10, "five bad records");
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
[qr/farm: skipping registry record "agents\/bad-host" of upstream "agents": Address: "consul\.example" is not an IPv4 or IPv6 address/,
 qr/skipping registry record "agents\/bad-tag" .*: Tags\[0\]: must be a capability name/,
 qr/skipping registry record "agents\/bad-conns" .*: Meta\.max_conns: must be an integer from 0 to 1000000/,
 qr/skipping registry record "agents\/bad-weight" .*: Weights\.Passing: must be an integer from 1 to 1000/,
 qr/skipping registry record "agents\[\d+\]" .*: ID: must be 1-128 of/]
--- grep_error_log eval: qr/skipping registry record "agents\/bad-host"/
--- grep_error_log_out
skipping registry record "agents/bad-host"



=== TEST 6: the master's startup read skips the bad entries too; removing them clears the count
--- init
main::agents(a => {});
FarmTest::consul_api($main::Consul, 'PUT', "/v1/agent/service/deregister/$_")
    for 'bad-host', 'bad-tag', 'bad-conns', 'bad-weight', 'bad%20id';
FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{sync}{bad_records} == 0 },
                     10, "no bad records");
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
skipping registry record "agents/bad-host" of upstream "agents"
--- no_error_log
[alert]
[crit]



=== TEST 7: Consul restarted (it forgets everything): the gateway keeps routing, the agents register again, nothing is restarted
--- init
main::agents(a => {}, b => {});
FarmTest::restart_consul($main::Consul);
my %seen;
for my $i (1 .. 10) {
    my $agent = main::routed_to();
    Test::More::ok($agent eq 'a' || $agent eq 'b',
                   "request $i right after the restart is routed ($agent)");
}
FarmTest::wait_until(sub {
    my ($st, $body) = FarmTest::consul_api($main::Consul, 'GET',
                                           '/v1/health/service/agents?passing');
    $st == 200 && $body =~ /"ID":\s*"a"/ && $body =~ /"ID":\s*"b"/;
}, 15, 'both agents back in Consul');
FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{sync}{registry_up} },
                     10, 'the gateway to read Consul again');
FarmTest::wait_until(sub { $seen{ main::routed_to() }++; $seen{a} && $seen{b} },
                     10, 'both agents to be routed');
--- request
GET /work?ms=0
--- error_code: 200
--- error_log eval
qr/farm: registry consul:\S+ of upstream "agents" (?:restarted|is back after an outage); keeping the 2 known agents for 10000 ms while they register again/



=== TEST 8: a reload keeps the agents and the watch
--- init
main::agents(a => {});
kill 'HUP', FarmTest::nginx_pid();
FarmTest::wait_until(sub {
    open my $f, '<', FarmTest::nginx_error_log() or return 0;
    my $n = grep { /syncs upstream "agents" from consul/ } <$f>;
    $n >= 2;
}, 10, 'the new worker to take over the watch');
for my $i (1 .. 5) {
    Test::More::is(main::routed_to(), 'a', "request $i after the reload");
}
main::agents(a => {}, c => {});
--- request
GET /farm
--- response_body_like: "id":"a".*"id":"c"|"id":"c".*"id":"a"
--- no_error_log
[error]



=== TEST 9: tag= routes only to the agents with that capability; dc= names the datacenter
--- http_config
    upstream gpus {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      tag=gpu dc=dc1 resync=2s;
    }
--- config
    location / {
        proxy_pass http://gpus;
    }
    location = /farm {
        farm_status;
    }
--- init
# a and c (from the block before) have no gpu
$main::Agent{g} = FarmTest::start_agent(id => 'g', registry => $main::Consul->{url},
                                        ttl => '5s', cap => 'gpu');
FarmTest::wait_until(sub { FarmTest::farm_agents()->{g} }, 10, 'g in the gpu farm');
Test::More::is(join(',', sort keys %{ FarmTest::farm_agents() }), 'g',
               'the gpu farm has only g');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: g
--- no_error_log
[error]



=== TEST 10: a datacenter Consul does not know: the refusal is logged, nginx answers 503
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      dc=mars resync=2s;
    }
--- request
GET /work?ms=0
--- error_code: 503
--- error_log eval
qr/farm: registry consul:\/\/127\.0\.0\.1:\d+ refused the query of upstream "agents" for service "agents": HTTP 500 No path to datacenter/
