# state=: the last known agents are saved to a file, and a gateway that
# starts while its registry is down routes to them.  Consul and Redis.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();
use JSON::PP ();

our $Consul = start_consul();
our $Redis = start_redis();
our (%Agent, %RAgent);

our $Dir = File::Temp::tempdir('farm-state-XXXX', TMPDIR => 1, CLEANUP => 1);

$ENV{TEST_NGINX_CONSUL_PORT} = $Consul->{port};
$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_STATE_DIR} = $Dir;

{
    open my $f, '>', "$Dir/broken.json" or die "$Dir/broken.json: $!\n";
    print {$f} '{"id":"not a list"';
}

# The ids in a state file, or undef if there is none (or it is not JSON).
sub saved_ids {
    my ($name) = @_;
    open my $f, '<', "$Dir/$name" or return undef;
    my $list = eval { JSON::PP::decode_json(do { local $/; <$f> }) }
        or return undef;
    return join ',', sort map { $_->{id} } @$list;
}

sub routed_to {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    return ($code // 0) == 200 ? $h->{'x-farm-agent'} : '';
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=500ms
                      state=$TEST_NGINX_STATE_DIR/consul.json;
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

=== TEST 1: the sync owner saves the agents after a full sync that changed them; Consul goes down, routing goes on
--- init
FarmTest::ensure_agents($main::Consul, \%main::Agent, a => {});
FarmTest::wait_until(sub { (main::saved_ids('consul.json') // '') eq 'a' }, 10,
                     'the state file to list a');
FarmTest::stop_consul($main::Consul);
FarmTest::wait_until(sub { !FarmTest::farm_status()->{farms}[0]{sync}{registry_up} },
                     10, 'the gateway to notice');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/farm: saved 1 agents of upstream "agents" to "\S+\/consul\.json"/



=== TEST 2: a gateway started while Consul is down routes to the agents of the state file
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
[qr/farm: registry consul:\/\/127\.0\.0\.1:\d+ of upstream "agents" unreachable at start \(.*\); trying the state file/,
 qr/farm: upstream "agents" starts with 1 agents from the state file "\S+\/consul\.json" \(0 skipped\) until registry consul:\/\/127\.0\.0\.1:\d+ answers/]



=== TEST 3: Consul comes back: the agents register again, a new one joins, and the file follows
--- init
FarmTest::restart_consul($main::Consul);
FarmTest::ensure_agents($main::Consul, \%main::Agent, a => {}, b => {});
FarmTest::wait_until(sub { (main::saved_ids('consul.json') // '') eq 'a,b' }, 10,
                     'the state file to list a and b');
my %seen;
FarmTest::wait_until(sub { $seen{ main::routed_to() }++; $seen{a} && $seen{b} },
                     10, 'both agents to be routed');
--- request
GET /farm
--- response_body_like: "registry_up":true
--- error_log eval
qr/farm: saved 2 agents of upstream "agents"/



=== TEST 4: a Redis registry saves its agents too
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms timeout=500ms
                      state=$TEST_NGINX_STATE_DIR/redis.json;
    }
--- init
FarmTest::ensure_agents($main::Redis, \%main::RAgent, r1 => {});
FarmTest::wait_until(sub { (main::saved_ids('redis.json') // '') eq 'r1' }, 10,
                     'the state file to list r1');
FarmTest::stop_redis($main::Redis);
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: r1



=== TEST 5: a gateway started while Redis is down routes to the agents of the state file
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms timeout=500ms
                      state=$TEST_NGINX_STATE_DIR/redis.json;
    }
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: r1
--- error_log eval
qr/farm: upstream "agents" starts with 1 agents from the state file "\S+\/redis\.json"/



=== TEST 6: a broken state file is reported and ignored; nginx starts and answers 503
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      timeout=500ms state=$TEST_NGINX_STATE_DIR/broken.json;
    }
--- request
GET /work?ms=0
--- error_code: 503
--- error_log eval
qr/farm: state file "\S+\/broken\.json" is not a JSON array of records: .*; ignored/
