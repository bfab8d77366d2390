# farm_balance hash: the same key goes to the same agent; with "consistent",
# an agent leaving moves only its own keys, and they come back with it.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;
our %Before;          # key => agent, with every agent up

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# key => agent for n keys
sub mapping {
    my ($n) = @_;
    my %map;
    for my $i (1 .. $n) {
        my ($code, $h) = http_get(gateway_port(), "/work?ms=0&key=user-$i");
        $map{"user-$i"} = $code == 200 ? $h->{'x-farm-agent'} : "status-$code";
    }
    return \%map;
}

add_block_preprocessor(sub {
    my $block = shift;
    my $balance = $block->balance // 'hash $arg_key consistent';
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

=== TEST 1: a key always reaches the same agent, and the keys spread over all agents
--- init
main::agents(map { ("h$_" => {}) } 1 .. 5);
%main::Before = %{ main::mapping(200) };
my $again = main::mapping(200);
Test::More::is_deeply($again, \%main::Before, '200 keys map to the same agents twice');
my %per;
$per{$_}++ for values %main::Before;
Test::More::is(scalar(keys %per), 5, 'all 5 agents own keys');
Test::More::cmp_ok($per{$_}, '>=', 15, "$_ owns $per{$_} of 200 keys") for sort keys %per;
--- request
GET /work?ms=0&key=user-1
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: one of five agents leaves: only its keys move, about a fifth
--- init
main::agents(map { ("h$_" => {}) } 1 .. 5);
main::agents(map { ("h$_" => {}) } 1 .. 4);          # h5 leaves
my $after = main::mapping(200);
my ($moved, $wrong) = (0, 0);
for my $k (sort keys %main::Before) {
    next if $after->{$k} eq $main::Before{$k};
    $moved++;
    $wrong++ if $main::Before{$k} ne 'h5';
}
my $owned = grep { $_ eq 'h5' } values %main::Before;
Test::More::is($wrong, 0, 'no key of a remaining agent moved');
Test::More::is($moved, $owned, "exactly h5's $owned keys moved");
Test::More::cmp_ok($moved / 200, '<', 0.35, sprintf('%.0f%% of keys moved (about 1/5)', 100 * $moved / 200));
--- request
GET /farm
--- response_body_like: "balance":"hash consistent"
--- no_error_log
[error]



=== TEST 3: the agent comes back and gets exactly its keys back
--- init
main::agents(map { ("h$_" => {}) } 1 .. 5);
# the ring is rebuilt by the sync owner shortly after the agent is listed
my $now;
eval {
    FarmTest::wait_until(sub {
        $now = main::mapping(200);
        !grep { $now->{$_} ne $main::Before{$_} } keys %main::Before;
    }, 5, 'the ring with h5 back');
};
Test::More::is_deeply($now, \%main::Before,
                      'with h5 back, all 200 keys map as at first');
--- request
GET /work?ms=0&key=user-2
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: plain hash (not consistent) is stable too while the agents stay
--- balance
hash $arg_key
--- init
main::agents(map { ("h$_" => {}) } 1 .. 5);
my $one = main::mapping(100);
Test::More::is_deeply(main::mapping(100), $one, '100 keys map the same twice');
--- request
GET /farm
--- response_body_like: "balance":"hash"
--- no_error_log
[error]



=== TEST 5: a key whose agent is full goes to another agent, then comes back
--- init
main::agents(map { ("h$_" => { max_conns => 1 }) } 1 .. 3);
my $home = main::mapping(1)->{'user-1'};
my $pid = FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=2000&key=user-1');
FarmTest::wait_until(sub { FarmTest::farm_agents()->{$home}{active} == 1 }, 5, "$home busy");
my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&key=user-1');
Test::More::isnt($h->{'x-farm-agent'}, $home, "while $home is full, user-1 goes elsewhere");
FarmTest::wait_until(sub { FarmTest::finished($pid) }, 10, 'the slow request');
($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&key=user-1');
Test::More::is($h->{'x-farm-agent'}, $home, "once $home is free, user-1 is back on it");
--- request
GET /farm
--- response_body_like: "totals":\{"agents":3,"available":3,"active":0
--- no_error_log
[error]
