# farm_queue with several workers: an agent freed in one worker goes to a
# request waiting in another (woken through its eventfd).

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub farm { farm_status()->{farms}[0] }

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: eight requests on one agent that takes one at a time: all served, in turn, across two workers
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_queue max=20 timeout=20s;
    }
--- config
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, one => { max_conns => 1 });
my @bg = map { FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=150') } 1 .. 8;
FarmTest::wait_until(sub { FarmTest::finished($_) }, 30, 'every request') for @bg;
my $q = main::farm()->{queue};
Test::More::is($q->{timed_out}, 0, 'none timed out');
Test::More::cmp_ok($q->{dispatched}, '>=', 6, "$q->{dispatched} dispatched from the queue");
Test::More::is($q->{waiting}, 0, 'none left waiting');
Test::More::is(main::farm()->{totals}{active}, 0, 'nothing left taken');
Test::More::is(FarmTest::farm_agents()->{one}{requests}, 8, 'the agent served all 8');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]
