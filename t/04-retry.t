# proxy_next_upstream with farm upstreams: a retry goes to another agent,
# so a killed agent costs idempotent requests nothing.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_balance round_robin;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_next_upstream error timeout http_502 http_503;
        add_header X-Tried $upstream_addr always;
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

=== TEST 1: an agent killed with SIGKILL (still registered) costs no request: each goes to the live one
--- init
main::agents(alive => { ttl => '30s' }, dead => { ttl => '30s' });
FarmTest::kill_agent(delete $main::Agent{dead});   # its record stays for 30s
Test::More::ok(FarmTest::farm_agents()->{dead}, 'the dead agent is still registered');
for my $i (1 .. 6) {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    Test::More::is("$code $h->{'x-farm-agent'}", '200 alive', "request $i answered by alive");
}
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: alive
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 2: the retry is counted as a failure of the dead agent and never goes back to it
--- init
FarmTest::deregister($main::Redis, 'dead');
main::agents(alive => { ttl => '30s' }, dead => { ttl => '30s' });
FarmTest::kill_agent(delete $main::Agent{dead});
my $fails = 0;
for (1 .. 10) {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    $fails++ if $code != 200;
    # never two tries of the same agent in one request
    my @tried = split /, /, $h->{'x-tried'};
    my %seen;
    Test::More::ok(!(grep { $seen{$_}++ } @tried), "tried each address once: $h->{'x-tried'}");
}
Test::More::is($fails, 0, 'no request failed');
--- request
GET /farm
--- response_body_like: "id":"dead".*"failures":[1-9]
--- error_log
connect() failed (111: Connection refused)



=== TEST 3: an agent answering 503 is retried elsewhere with http_503 in proxy_next_upstream
--- init
FarmTest::deregister($main::Redis, 'dead');
main::agents(alive => { ttl => '30s' }, busy => { ttl => '30s', max_conns => 1 });
# "busy" answers 503 itself while it has a request in flight (--max-conns 1),
# bypassing the gateway's own accounting: send it one directly
$main::Slow = FarmTest::background_get($main::Agent{busy}{port}, '/work?ms=2500');
FarmTest::wait_until(sub {
    my (undef, undef, $b) = FarmTest::http_get($main::Agent{busy}{port}, '/health');
    $b =~ /"inflight":1\b/;
}, 5, 'busy to be busy');
--- request eval
[("GET /work?ms=0") x 4]
--- error_code eval
[(200) x 4]
--- response_headers eval
[("X-Farm-Agent: alive") x 4]
--- no_error_log
[alert]



=== TEST 4: with every agent dead, the request fails after trying each once
--- init
FarmTest::wait_until(sub { FarmTest::finished($main::Slow) }, 10, 'slow request') if $main::Slow;
main::agents(d1 => { ttl => '30s' }, d2 => { ttl => '30s' });
FarmTest::kill_agent(delete $main::Agent{$_}) for qw(d1 d2);
--- request
GET /work?ms=0
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_body
{"error":"no healthy agent available","upstream":"agents","service":"agents","agents":2}
--- error_log
connect() failed (111: Connection refused)
no live upstreams



=== TEST 5: 25 registered agents refuse connections and one answers: every request reaches the live one (more than the old cap of 20 tries)
--- init
FarmTest::deregister($main::Redis, $_) for qw(d1 d2);
main::agents(alive => { ttl => '60s' });
FarmTest::put_record($main::Redis, id => "refuse$_", port => FarmTest::free_port()) for 1 .. 25;
FarmTest::wait_until(sub { keys %{ FarmTest::farm_agents() } == 26 }, 10, '26 agents');
my $c = FarmTest::spread(30);
Test::More::is($c->{alive}, 30, 'all 30 requests answered by the live agent')
    or Test::More::diag(Test::More::explain($c));
FarmTest::deregister($main::Redis, "refuse$_") for 1 .. 25;
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: alive
--- error_log
connect() failed (111: Connection refused)



=== TEST 6: when more agents refuse than a request may try, it gets the JSON refusal, not nginx's 502 page
--- init
main::agents();
FarmTest::put_record($main::Redis, id => "refuse$_", port => FarmTest::free_port()) for 1 .. 70;
FarmTest::wait_until(sub { keys %{ FarmTest::farm_agents() } == 70 }, 10, '70 agents');
--- request
GET /work?ms=0
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 1
--- response_body
{"error":"no agent could take the request: every agent tried failed","tries":64,"upstream":"agents","service":"agents","agents":70}
--- error_log
connect() failed (111: Connection refused)
