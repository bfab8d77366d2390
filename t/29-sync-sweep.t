# The sweep at the end of a full sync: agents the registry no longer lists
# (their records gone without a notification) are removed by the sync
# owner in bounded steps, one per turn of its event loop, and every one of
# them goes while every listed agent stays and keeps serving.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

# records for @ids, all at the agent's port, written silently (no
# notification: only a full sync finds them), 500 per command
sub put_silently {
    my ($port, @ids) = @_;
    while (my @chunk = splice @ids, 0, 500) {
        redis_cmd($Redis, 'MSET', map {
            ("farm:agents:agent:$_",
             qq({"id":"$_","address":"127.0.0.1","port":$port,"service":"agents"}))
        } @chunk);
        redis_cmd($Redis, 'SADD', 'farm:agents:agents', @chunk);
    }
}

sub drop_silently {
    my @ids = @_;
    while (my @chunk = splice @ids, 0, 500) {
        redis_cmd($Redis, 'DEL', map { "farm:agents:agent:$_" } @chunk);
        redis_cmd($Redis, 'SREM', 'farm:agents:agents', @chunk);
    }
}

sub total { farm_status('/farm?limit=1')->{total} }

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms max_agents=4096;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        add_header X-Chosen $farm_agent always;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: 2,700 of 3,001 agents leave the registry silently: the sweep removes exactly them, over many steps
--- init
main::ensure_agents($main::Redis, \%main::Agent, w => {});
my $port = $main::Agent{w}{port};
my @ids = map { sprintf 's%04d', $_ } 0 .. 2999;
main::put_silently($port, @ids);
FarmTest::wait_until(sub { main::total() == 3001 }, 30, 'the full sync to add 3,000 agents');
Test::More::is(main::total(), 3001, 'w and 3,000 silent agents');
my @gone = grep { !/7$/ } @ids;                     # 2,700 of them
main::drop_silently(@gone);
my @kept = ('w', grep { /7$/ } @ids);
FarmTest::wait_until(sub { main::total() == @kept }, 30, 'the sweep to end');
my %known = %{ FarmTest::farm_agents() };
Test::More::is(join(',', sort keys %known), join(',', sort @kept),
               'exactly the listed agents are left');
my %seen;
for (1 .. 20) {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    $seen{ $code == 200 && $known{ $h->{'x-chosen'} } ? 'listed' : "other-$code" }++;
}
Test::More::is(join(',', sort keys %seen), 'listed', 'requests go to listed agents');
main::drop_silently(grep { /7$/ } @ids);
FarmTest::wait_until(sub { main::total() == 1 }, 30, 'the last silent agents to go');
--- request
GET /work?ms=0
--- response_headers
X-Chosen: w
--- error_log
(no longer in the registry)
--- no_error_log
[error]
