# Active health checks: an agent that stops answering is taken out after
# fall= failed checks and comes back after rise= passed ones; an agent that
# says it drains gets no new requests; a reported weight is honoured; a new
# agent is checked before it takes traffic.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;
our %Loose;          # agents not registered by themselves (id => handle)

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

# like ensure_agents, and waits until every one passed its first check
sub agents {
    my (%want) = @_;
    ensure_agents($Redis, \%Agent, %want);
    for my $id (keys %want) {
        wait_until(sub { agent_state($id) ne 'checking' }, 5, "$id checked");
    }
}

# An agent that serves but does not register; the test writes its record.
sub loose_agent {
    my ($id, %opt) = @_;
    my $rec = delete $opt{record} // {};
    $Loose{$id} //= start_agent(id => $id, %opt);
    put_record($Redis, id => $id, port => $Loose{$id}{port}, %$rec);
    return $Loose{$id};
}

sub drop_loose {
    for my $id (keys %Loose) {
        deregister($Redis, $id);
        stop_agent(delete $Loose{$id});
    }
}


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

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: an agent that dies is taken out after fall= failed checks, and comes back after rise= passed ones
--- init
main::agents(a => { ttl => '60s' }, b => { ttl => '60s' });
my $port = $main::Agent{b}{port};
FarmTest::kill_agent(delete $main::Agent{b});          # its record stays
FarmTest::wait_until(sub { FarmTest::agent_state('b') eq 'down' }, 5, 'b down');
my $c = FarmTest::spread(6);
Test::More::is($c->{a}, 6, 'while b is down, a serves everything');
# b comes back on the same address and id
$main::Agent{b} = FarmTest::start_agent(id => 'b', registry => $main::Redis->{url},
                                        listen => "127.0.0.1:$port", ttl => '60s');
$main::Agent{b}{want} = JSON::PP->new->canonical->encode({ ttl => '60s' });
FarmTest::wait_until(sub { FarmTest::agent_state('b') eq 'up' }, 5, 'b up');
$c = FarmTest::spread(10);
Test::More::cmp_ok($c->{b} // 0, '>=', 4, 'b serves again');
--- request
GET /farm
--- response_body_like: "id":"b".*"state":"up".*"health":\{"checks":\d+,"failed":[1-9]\d*,"passes":\d+,"fails":0,"last_check":\d+,"last_error":"connection refused","reported":\{"draining":false,"weight":1,"inflight":0\}\}
--- error_log eval
[qr/farm: agent "b" \(127\.0\.0\.1:\d+\) of upstream "agents" is down: 2 checks failed, the last: connection refused/,
 qr/farm: agent "b" \(127\.0\.0\.1:\d+\) of upstream "agents" is up: 2 checks passed/]
--- no_error_log
[error]


=== TEST 2: an agent that says it drains gets no new requests, and its requests in flight finish
--- init
main::agents(a => { ttl => '60s' });
main::loose_agent('d');
FarmTest::wait_until(sub { FarmTest::agent_state('d') eq 'up' }, 5, 'd up');
$main::Flight = FarmTest::background_get($main::Loose{d}{port}, '/work?ms=1500');
FarmTest::stop_signal($main::Loose{d}, 'USR1');       # drain, keep serving
FarmTest::wait_until(sub { FarmTest::agent_state('d') eq 'draining' }, 5, 'd draining');
my $c = FarmTest::spread(6);
Test::More::is($c->{a}, 6, 'a draining agent gets no new request');
FarmTest::wait_until(sub { FarmTest::finished($main::Flight) }, 10, 'the request in flight');
FarmTest::stop_signal($main::Loose{d}, 'USR2');       # stop draining
FarmTest::wait_until(sub { FarmTest::agent_state('d') eq 'up' }, 5, 'd back');
$c = FarmTest::spread(10);
Test::More::cmp_ok($c->{d} // 0, '>=', 4, 'd takes requests again');
--- request
GET /farm
--- response_body_like: "id":"d".*"state":"up"
--- error_log eval
[qr/farm: agent "d" \(127\.0\.0\.1:\d+\) of upstream "agents" is draining: no new requests/,
 qr/farm: agent "d" \(127\.0\.0\.1:\d+\) of upstream "agents" stopped draining/]
--- no_error_log
[error]


=== TEST 3: the weight an agent reports replaces the registered one
--- init
main::drop_loose();
main::agents(a => { ttl => '60s' });
main::loose_agent('heavy', weight => 3, record => { weight => 1 });
FarmTest::wait_until(sub { (FarmTest::farm_agents()->{heavy}{weight} // 0) == 3 }, 5,
                     'the reported weight');
my $c = FarmTest::spread(40);
Test::More::cmp_ok(abs(($c->{heavy} // 0) - 30), '<=', 1, "heavy served $c->{heavy} of 40 (3 of 4)");
--- request
GET /farm
--- response_body_like: "id":"heavy".*"weight":3,"registered_weight":1,
--- no_error_log
[error]


=== TEST 4: a new agent that fails its first check never takes traffic
--- init
main::drop_loose();
main::agents(a => { ttl => '60s' });
my $nowhere = FarmTest::free_port();
FarmTest::redis_cmd($main::Redis, 'SET', 'farm:agents:agent:ghost',
    qq({"id":"ghost","service":"agents","address":"127.0.0.1","port":$nowhere}), 'PX', 600000);
FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', 'ghost');
FarmTest::redis_cmd($main::Redis, 'PUBLISH', 'farm:agents:events', 'register ghost');
FarmTest::wait_until(sub { FarmTest::agent_state('ghost') eq 'down' }, 5, 'ghost checked');
my $c = FarmTest::spread(10);
Test::More::is($c->{a}, 10, 'every request went to the healthy agent');
FarmTest::deregister($main::Redis, 'ghost');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/farm: new agent "ghost" \(127\.0\.0\.1:\d+\) of upstream "agents" failed its first check \(connection refused\): it waits for 2 passed checks/
--- no_error_log
[error]


=== TEST 5: body= must match: an agent whose answer does not match is down
--- check
interval=200ms timeout=2s rise=1 fall=1 body=~"region":"eu-
--- init
main::drop_loose();
main::agents(eu => { ttl => '60s', region => 'eu-west' }, us => { ttl => '60s', region => 'us-east' });
FarmTest::wait_until(sub { FarmTest::agent_state('us') eq 'down' }, 5, 'us down');
my $c = FarmTest::spread(6);
Test::More::is($c->{eu}, 6, 'only the agent whose /health matches serves');
--- request
GET /farm
--- response_body_like: "id":"us".*"state":"down".*"last_error":"body does not match body="
--- no_error_log
[error]


=== TEST 6: every agent down: 503 with a JSON body and Retry-After; traffic resumes when one returns
--- init
main::agents(a => { ttl => '60s' });
my $port = $main::Agent{a}{port};
FarmTest::kill_agent(delete $main::Agent{a});
FarmTest::wait_until(sub { FarmTest::agent_state('a') eq 'down' }, 5, 'a down');
my ($code, $h, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
Test::More::is($code, 503, 'all down: 503');
Test::More::is($h->{'retry-after'}, 1, 'Retry-After: 1');
Test::More::is($body, qq({"error":"no healthy agent available","upstream":"agents","service":"agents","agents":1}\n), 'the JSON body');
$main::Agent{a} = FarmTest::start_agent(id => 'a', registry => $main::Redis->{url},
                                        listen => "127.0.0.1:$port", ttl => '60s');
$main::Agent{a}{want} = JSON::PP->new->canonical->encode({ ttl => '60s' });
FarmTest::wait_until(sub { FarmTest::agent_state('a') eq 'up' }, 5, 'a back');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
no live upstreams

