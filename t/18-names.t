# Region and capability names are counted by the agents using them: after
# agents with many distinct names come and go, a new name is accepted as
# long as the names in use at once stay within the limits (255 regions, 64
# capabilities per service).

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

# registers $n records at once through one function, waits until the gateway
# knows them all, deregisters them and waits until they are gone
sub churn_batch {
    my ($tag, $n, $make) = @_;
    my @ids = map { "$tag-$_" } 1 .. $n;
    put_record($Redis, id => $_, port => 9, $make->($_)) for @ids;
    wait_until(sub { my $k = farm_agents(); !grep { !$k->{$_} } @ids },
               10, "batch $tag to register");
    deregister($Redis, $_) for @ids;
    wait_until(sub { my $k = farm_agents(); !grep { $k->{$_} } @ids },
               10, "batch $tag to leave");
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_region $http_x_region;
        farm_require $http_x_farm_capability;
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

=== TEST 1: 96 capability names come and go (30 at a time); then a new one is accepted and routed to
--- init
for my $b (1 .. 3) {
    main::churn_batch("capgen$b", 1, sub {
        (caps => [ map { "model-v$b-$_" } 1 .. 30 ]) });
    main::churn_batch("capone$b", 1, sub { (caps => ["solo-$b"]) });
}
main::ensure_agents($main::Redis, \%main::Agent, fresh => { cap => 'fresh-cap', ttl => '60s' });
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: fresh-cap
--- error_code: 200
--- response_headers
X-Farm-Agent: fresh
--- no_error_log
[error]
distinct capabilities



=== TEST 2: 300 region names come and go (60 at a time); then a new one is accepted and routed to
--- init
for my $b (1 .. 5) {
    main::churn_batch("reggen$b", 60, sub { (region => "region-$_[0]") });
}
main::ensure_agents($main::Redis, \%main::Agent, fresh => { region => 'fresh-region', ttl => '60s' });
--- request
GET /work?ms=0
--- more_headers
X-Region: fresh-region
--- error_code: 200
--- response_headers
X-Farm-Agent: fresh
--- no_error_log
[error]
distinct regions
