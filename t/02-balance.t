# How requests spread over the agents: weights, least_conn, max_conns,
# backup agents, and the 503 when no agent can take a request.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;
our @Background;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# n sequential requests through the gateway: { agent id => count }

# leave n slow requests in flight, and wait until the gateway counts them
sub in_flight {
    my ($n, $ms) = @_;
    my $before = farm_status()->{farms}[0]{totals}{active};
    push @Background, background_get(gateway_port(), "/work?ms=$ms") for 1 .. $n;
    wait_until(sub { farm_status()->{farms}[0]{totals}{active} >= $before + $n },
               5, "$n requests in flight");
}

sub settle {
    for my $pid (@Background) {
        wait_until(sub { finished($pid) }, 30, "background request $pid");
    }
    @Background = ();
}

add_block_preprocessor(sub {
    my $block = shift;
    my $balance = $block->balance // 'round_robin';
    chomp $balance;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_balance $balance;
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

=== TEST 1: round_robin honours weights: 1:3 over 40 requests
--- init
main::settle();
main::agents(w1 => { weight => 1 }, w3 => { weight => 3 });
my $c = FarmTest::spread(40);
Test::More::cmp_ok(abs($c->{w1} - 10), '<=', 1, "w1 served $c->{w1} of 40 (weight 1 of 4)");
Test::More::cmp_ok(abs($c->{w3} - 30), '<=', 1, "w3 served $c->{w3} of 40 (weight 3 of 4)");
--- request
GET /farm
--- response_body_like: "totals":\{"agents":2,"available":2,"active":0,"requests":40,"no_agent":0,
--- no_error_log
[error]


=== TEST 2: round_robin interleaves equal agents evenly
--- init
main::settle();
main::agents(r1 => {}, r2 => {}, r3 => {});
my $c = FarmTest::spread(30);
Test::More::is(join(',', map { $c->{$_} // 0 } qw(r1 r2 r3)), '10,10,10',
               'each of three equal agents served 10 of 30');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]


=== TEST 3: least_conn sends new requests to the agent that is not busy
--- balance
least_conn
--- init
main::settle();
main::agents(slow => {});
main::in_flight(3, 2500);      # three long requests, all on "slow"
main::agents(slow => {}, fast => {});
--- request eval
[("GET /work?ms=0") x 4]
--- response_headers eval
[("X-Farm-Agent: fast") x 4]
--- no_error_log
[error]


=== TEST 4: least_conn compares load relative to weight
--- balance
least_conn
--- init
main::settle();
main::agents(heavy => { weight => 4 });
main::in_flight(3, 2500);      # heavy: 3 in flight, 3/4 per unit of weight
main::agents(heavy => { weight => 4 }, light => { weight => 1 });
main::in_flight(1, 2500);      # light gets it (0 < 3/4); then 1/1 > 3/4
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: heavy
--- no_error_log
[error]


=== TEST 5: an agent at max_conns gets no more requests; the others do
--- init
main::settle();
main::agents(one => { max_conns => 1 });
main::in_flight(1, 2500);      # "one" is now full
main::agents(one => { max_conns => 1 }, spare => {});
Test::More::is(FarmTest::farm_agents()->{one}{state}, 'full', '"one" shows as full');
--- request eval
[("GET /work?ms=0") x 3]
--- response_headers eval
[("X-Farm-Agent: spare") x 3]
--- no_error_log
[error]


=== TEST 6: every agent full: 503 with a JSON body and Retry-After, not nginx's 502 page
--- init
main::settle();
main::agents(one => { max_conns => 1 });
main::in_flight(1, 2500);
--- request
GET /work?ms=0
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 1
--- response_body
{"error":"no healthy agent available","upstream":"agents","service":"agents","agents":1}
--- error_log
no live upstreams


=== TEST 7: no agent registered at all: 503 "no agents registered"
--- init
main::settle();
main::agents();
--- request
GET /anything
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body
{"error":"no agents registered","upstream":"agents","service":"agents","agents":0}
--- error_log
no live upstreams


=== TEST 8: a backup agent takes traffic only when no primary can
--- init
main::settle();
main::agents(primary => {}, reserve => { backup => 1 });
my $c = FarmTest::spread(10);
Test::More::is($c->{primary}, 10, 'the primary served all 10 while it could');
main::agents(reserve => { backup => 1 });
$c = FarmTest::spread(5);
Test::More::is($c->{reserve}, 5, 'the backup served all 5 once the primary left');
--- request
GET /farm
--- response_body_like: "id":"reserve".*"backup":true,"state":"up"
--- no_error_log
[error]


=== TEST 9: an error_page for 502 still wins over the JSON refusal
--- config
    location / {
        proxy_pass http://agents;
        error_page 502 = /sorry;
    }
    location = /sorry {
        return 200 "sorry\n";
    }
    location = /farm {
        farm_status;
    }
--- init
main::settle();
main::agents();
--- request
GET /x
--- response_body
sorry
--- error_log
no live upstreams
