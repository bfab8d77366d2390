# farm_admin write=registry: an override written to the registry reaches
# every gateway in front of it within one full sync, survives a restart of
# nginx, and a write that fails is a 502 that changes nothing.  Redis (a
# hash beside the agent records) with two gateways; the built-in registry
# (the overrides file beside its state file) across a restart; Consul (one
# KV key per agent under <prefix>/<service>/overrides/) with two gateways,
# across a restart, down, with ACLs, and silent (the worker keeps serving
# while the write waits).

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();
use JSON::PP ();
use POSIX ();

our $Redis = start_redis();
our $Consul = start_consul();
our $AclConsul = start_consul(acl => 1);
our $Hung = FarmTest::start_listener();       # a "Consul" that accepts and never answers
our (%Agent, $B);
our $Dir = File::Temp::tempdir('farm-admin-reg-XXXX', TMPDIR => 1, CLEANUP => 1);

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_CONSUL_PORT} = $Consul->{port};
$ENV{TEST_NGINX_ACL_CONSUL_PORT} = $AclConsul->{port};
$ENV{TEST_NGINX_HUNG_PORT} = $Hung->{port};
$ENV{TEST_NGINX_HUNG_STATE} = temp_file('hung.state',
    '[{"id":"h1","service":"cagents","address":"127.0.0.1","port":9}]' . "\n");
$ENV{TEST_NGINX_ADMIN_TOKEN} = temp_file('admin.token', "s3cret-token\n");

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# the Consul pool, beside the Redis one: on A (blocks that name it) and B
our $ConsulPool = <<"_EOC_";
    upstream cpool {
        farm_registry consul://127.0.0.1:$ENV{TEST_NGINX_CONSUL_PORT} service=cagents
                      prefix=ops resync=1s timeout=3s;
    }
_EOC_

our $ConsulConf = <<"_EOC_";
    upstream agents {
        farm_registry redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} service=agents
                      resync=300ms;
    }
$ConsulPool
_EOC_

# registers the ids in Consul (a port nothing listens on: no traffic
# goes to them here) and waits until gateway A knows them
sub consul_agents {
    for my $id (@_) {
        my ($st, $body) = consul_api($Consul, 'PUT', '/v1/agent/service/register',
            qq({"ID":"$id","Name":"cagents","Address":"127.0.0.1","Port":9}));
        die "register $id: $st $body\n" unless $st == 200;
    }
    for my $id (@_) {
        wait_until(sub { agent_on(gateway_port(), $id)->{id} }, 30,
                   "the gateway knows $id");
    }
}

# the value of agent $id's key in Consul's KV store ('' when absent)
sub kv {
    my ($id, $consul) = @_;
    my ($st, $body) = consul_api($consul // $Consul, 'GET',
                                 "/v1/kv/ops/cagents/overrides/$id?raw");
    return $st == 200 ? $body : '';
}

# an ACL token of $AclConsul with the secret $secret and these rules
sub acl_token {
    my ($name, $secret, $rules) = @_;
    my ($st, $body) = consul_api($AclConsul, 'PUT', '/v1/acl/policy',
        JSON::PP::encode_json({ Name => $name, Rules => $rules }));
    die "policy $name: $st $body\n" unless $st == 200;
    ($st, $body) = consul_api($AclConsul, 'PUT', '/v1/acl/token',
        JSON::PP::encode_json({ SecretID => $secret, Policies => [{ Name => $name }] }));
    die "token $name: $st $body\n" unless $st == 200;
    return $secret;
}

my $reads = qq(service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\n);
$ENV{TEST_NGINX_READ_TOKEN} = acl_token('gw-read', '0b7e4c1a-2f3d-4e5a-9b6c-7d8e9f0a1b2c',
    $reads . qq(key_prefix "ops/cagents/overrides/" { policy = "read" }\n));
$ENV{TEST_NGINX_WRITE_TOKEN} = acl_token('gw-write', '1c8f5d2b-3a4e-4f6b-8c7d-8e9f0a1b2c3d',
    $reads . qq(key_prefix "ops/cagents/overrides/" { policy = "write" }\n));

# an admin call to the gateway at $port; returns ($status, $decoded)
sub admin_on {
    my ($port, $method, $path, $body) = @_;
    my %headers = (Authorization => 'Bearer s3cret-token');
    $headers{'Content-Type'} = 'application/json' if defined $body;
    my ($code, undef, $text) = http_request($port, $method, $path,
                                            defined $body
                                            ? JSON::PP::encode_json($body)
                                            : undef, %headers);
    return ($code, eval { JSON::PP::decode_json($text // '') });
}

sub admin {
    my ($method, $path, $body) = @_;
    return admin_on(gateway_port(), $method, "/farm/admin$path", $body);
}

# agent $id as the farm_status of the gateway at $port shows it ({} if absent)
sub agent_on {
    my ($port, $id) = @_;
    my ($code, undef, $body) = http_get($port, '/farm');
    return {} unless defined $code && $code == 200;
    for my $farm (@{ JSON::PP::decode_json($body)->{farms} }) {
        for my $a (@{ $farm->{agents} }) {
            return $a if $a->{id} eq $id;
        }
    }
    return {};
}

# the second gateway: the same Redis and Consul, nothing else shared
sub gateway_b {
    $main::B = start_nginx(name => 'gw-b', workers => 2, port => $main::B
                           ? $main::B->{port} : undef, http => <<"_EOC_");
    upstream agents {
        farm_registry redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}
                      service=agents resync=300ms;
    }
$main::ConsulPool
    server {
        listen 127.0.0.1:\$PORT;
        location / { proxy_pass http://agents; }
        location = /farm { farm_status; }
    }
_EOC_
    return $main::B;
}

# Two gateways in front of one registry: a drain with weight $w of $x and
# an ejection of $y, set on A through write=registry in pool $pool, reach
# B, and so do their ends.  $stored->($id): the agent's entry in the
# registry ('' when absent), which is $where; $drained->($b) runs while B
# shows $x draining.
sub through_two_gateways {
    my ($pool, $x, $y, $w, $stored, $where, $drained) = @_;
    gateway_b() unless $main::B;
    my $b = $main::B->{port};
    wait_until(sub { agent_on($b, $x)->{state} eq 'up'
                     && agent_on($b, $y)->{state} eq 'up' }, 30,
               "B knows $x and $y");
    my ($code, $a) = admin('PATCH', "/pools/$pool/agents/$x",
                           { mode => 'draining', weight => $w });
    Test::More::is($code, 200, 'PATCH on A: 200');
    Test::More::is($a->{mode}, 'draining', "A answers with $x draining");
    Test::More::like($stored->($x), qr/"mode":"draining","weight":$w,/,
                     "the override is in $where");
    wait_until(sub { agent_on($b, $x)->{mode} eq 'draining' }, 30,
               "B shows $x draining");
    Test::More::is(agent_on($b, $x)->{weight_override}, $w, "and its weight $w");
    $drained->($b) if $drained;
    ($code, $a) = admin('POST', "/pools/$pool/agents/$y/eject", { seconds => 600 });
    Test::More::is($a->{state}, 'ejected', "A ejects $y");
    wait_until(sub { agent_on($b, $y)->{state} eq 'ejected' }, 30,
               "B shows $y ejected");
    Test::More::cmp_ok(abs(agent_on($b, $y)->{ejected_until_ms}
                           - $a->{ejected_until_ms}), '<', 2000,
                       'until the same time');
    ($code) = admin('DELETE', "/pools/$pool/agents/$y/eject");
    Test::More::is($code, 200, 'DELETE eject on A: 200');
    ($code) = admin('PATCH', "/pools/$pool/agents/$x", { mode => 'active', weight => 0 });
    Test::More::is($code, 200, "$x active again on A");
    Test::More::is($stored->($x) . $stored->($y), '', "both entries left $where");
    wait_until(sub { agent_on($b, $x)->{mode} eq 'active'
                     && agent_on($b, $y)->{state} eq 'up' }, 30,
               "B shows $x active and $y up");
}

# B restarted (a new zone) has the registry's override of $x (maintenance,
# through write=registry) from its first request; $y, drained on A through
# the location without write=registry, stays A's
sub across_restart {
    my ($pool, $x, $y, $stored) = @_;
    gateway_b() unless $main::B;
    my ($code) = admin('PATCH', "/pools/$pool/agents/$x", { mode => 'maintenance' });
    Test::More::is($code, 200, "$x in maintenance, through the registry");
    ($code) = admin_on(gateway_port(), 'PATCH', "/farm/local/pools/$pool/agents/$y",
                       { mode => 'draining' });
    Test::More::is($code, 200, "$y draining on A only");
    Test::More::is($stored->($y), '', 'which is not in the registry');
    stop_nginx($main::B);
    gateway_b();
    my $b = $main::B->{port};
    Test::More::is(agent_on($b, $x)->{state}, 'maintenance',
                   "the new B shows $x in maintenance from its first request "
                   . '(the master read the overrides with the agents)');
    Test::More::is(agent_on($b, $y)->{mode}, 'active',
                   "$y, drained on A without write=registry, is active on B");
    Test::More::is(agent_on(gateway_port(), $y)->{mode}, 'draining',
                   'and still draining on A');
    ($code) = admin('PATCH', "/pools/$pool/agents/$x", { mode => 'active' });
    Test::More::is($code, 200, "$x active again");
    ($code) = admin_on(gateway_port(), 'PATCH', "/farm/local/pools/$pool/agents/$y",
                       { mode => 'active' });
    Test::More::is($code, 200, "$y active again");
    wait_until(sub { agent_on($b, $x)->{mode} eq 'active' }, 30, "B shows $x active");
}

# the ids in a state file
sub saved_ids {
    my ($file) = @_;
    open my $f, '<', $file or return '';
    my $list = eval { JSON::PP::decode_json(do { local $/; <$f> }) } or return '';
    return join ',', sort map { $_->{id} } @$list;
}

sub stored {
    my ($id) = @_;
    return redis_cmd($Redis, 'HGET', 'farm:agents:overrides', $id) // '';
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
    location /farm/admin/ {
        farm_admin token_file=$TEST_NGINX_ADMIN_TOKEN write=registry;
    }
    location /farm/local/ {
        farm_admin token_file=$TEST_NGINX_ADMIN_TOKEN;
    }
_EOC_
});

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: two gateways, one Redis: a drain, a weight and an ejection set on A reach B within a sync, and their ends too
--- init
main::agents(a1 => {}, a2 => {});
main::through_two_gateways('agents', 'a1', 'a2', 7, \&main::stored, 'Redis', sub {
    my ($b) = @_;
    my %to;
    for (1 .. 4) {
        my ($c, $h) = FarmTest::http_get($b, '/work?ms=0');
        $to{$h->{'x-farm-agent'} // "status-$c"}++;
    }
    Test::More::is(join(',', map { "$_=$to{$_}" } sort keys %to), 'a2=4',
                   'B sends a1 nothing');
});
--- request
GET /farm
--- response_body_like: "total":2,"overrides":0,
--- error_log eval
[qr/farm admin: client 127\.0\.0\.1 set agent "a1" of pool "agents": mode active -> draining, weight 0 -> 7, written to the registry/]
--- no_error_log
[error]


=== TEST 2: B restarted (a new zone) has the registry's overrides from its first request; A's local overrides stay A's
--- init
main::agents(a1 => {}, a2 => {});
main::across_restart('agents', 'a1', 'a2', \&main::stored);
--- request
GET /farm
--- response_body_like: "total":2,"overrides":0,
--- no_error_log
[error]


=== TEST 3: an override removed from Redis (another gateway, an operator) ends on A within a sync; a bad one is skipped with a line
--- init
main::agents(a1 => {}, a2 => {});
my ($code) = main::admin('PATCH', '/pools/agents/agents/a1', { mode => 'draining' });
Test::More::is($code, 200, 'a1 draining');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:agents:overrides', 'a1');
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:agents:overrides', 'a2',
                    '{"mode":"asleep"}');
FarmTest::wait_until(sub { FarmTest::agent_state('a1') eq 'up' }, 30,
                     'a1 active again on A');
Test::More::is(FarmTest::agent_state('a2'), 'up', 'a2 untouched');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:agents:overrides', 'a2');
--- request
GET /farm
--- response_body_like: "total":2,"overrides":0,
--- error_log eval
[qr/override of agent "a2": mode: must be active, draining or maintenance/,
 qr/1 override\(s\) removed from registry redis:\/\/127\.0\.0\.1:\d+\S* ended/]


=== TEST 4: a write Redis does not take in time, or cannot take, is a 502 and changes nothing
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms timeout=1s;
    }
--- init
main::agents(a1 => {}, a2 => {});
FarmTest::redis_cmd($main::Redis, 'CLIENT', 'PAUSE', '4000', 'WRITE');
my ($code, $e) = main::admin('PATCH', '/pools/agents/agents/a1', { mode => 'draining' });
Test::More::is($code, 502, 'Redis paused: 502');
Test::More::is($e->{error}, 'registry: timed out; nothing changed', 'the error says why');
Test::More::is(FarmTest::agent_state('a1'), 'up', 'a1 is still up');
FarmTest::redis_cmd($main::Redis, 'CLIENT', 'UNPAUSE');
FarmTest::redis_cmd($main::Redis, 'ACL', 'SETUSER', 'default', '-hset');
($code, $e) = main::admin('PATCH', '/pools/agents/agents/a1', { mode => 'draining' });
FarmTest::redis_cmd($main::Redis, 'ACL', 'SETUSER', 'default', '+@all');
Test::More::is($code, 502, 'HSET refused: 502');
Test::More::is($e->{error}, 'registry: the registry refused the write; nothing changed',
               'the error says so');
Test::More::is(FarmTest::agent_state('a1'), 'up', 'a1 is still up');
Test::More::is(main::stored('a1'), '', 'and not in Redis');
--- request
GET /farm
--- response_body_like: "total":2,"overrides":0,
--- error_log eval
[qr/farm admin: registry redis:\/\/127\.0\.0\.1:\d+\S*: timed out/,
 qr/farm admin: registry redis:\/\/127\.0\.0\.1:\d+\S*: the registry refused the write: NOPERM/,
 qr/the change of agent "a1" of pool "agents" was not written to registry .*: nothing changed/]


=== TEST 5: the built-in registry: an override with write=registry goes to <state>.overrides and survives a restart of nginx
--- init
main::agents(a1 => {}, a2 => {});
FarmTest::stop_nginx($main::B) if $main::B;
$main::B = undef;
my $port = FarmTest::free_port();
my $reg = FarmTest::builtin_registry(port => $port, token => 'agents-t0ken-41');
my $state = "$main::Dir/agents.state";
my $conf = <<"_EOC_";
    upstream agents {
        farm_registry builtin service=agents token_file=$reg->{token_file}
                      state=$state;
    }
    server {
        listen 127.0.0.1:\$PORT;
        location / { proxy_pass http://agents; }
        location = /farm { farm_status; }
        location /farm/registry/ { farm_registry_api; }
        location /farm/admin/ {
            farm_admin token_file=$ENV{TEST_NGINX_ADMIN_TOKEN} write=registry;
        }
    }
_EOC_
my $g = FarmTest::start_nginx(name => 'gw-builtin', port => $port, http => $conf);
FarmTest::put_record($reg, id => 'e1', port => $main::Agent{a1}{port}, -ttl => '60s');
FarmTest::put_record($reg, id => 'e2', port => $main::Agent{a2}{port}, -ttl => '60s');
my ($code, $a) = main::admin_on($port, 'PATCH', '/farm/admin/pools/agents/agents/e1',
                                { mode => 'draining' });
Test::More::is($code, 200, 'e1 draining');
open my $f, '<', "$state.overrides" or die "$state.overrides: $!\n";
my $saved = JSON::PP::decode_json(do { local $/; <$f> });
close $f;
Test::More::is($saved->{e1}{mode}, 'draining', 'the overrides file holds it');
FarmTest::wait_until(sub { main::saved_ids($state) eq 'e1,e2' }, 30,
                     'e1 and e2 in the state file');
FarmTest::stop_nginx($g);
$g = FarmTest::start_nginx(name => 'gw-builtin', port => $port, http => $conf);
Test::More::is(main::agent_on($port, 'e1')->{mode}, 'draining',
               'after a restart e1 is still draining');
Test::More::is(main::agent_on($port, 'e2')->{mode}, 'active', 'e2 active');
($code) = main::admin_on($port, 'PATCH', '/farm/admin/pools/agents/agents/e1',
                         { mode => 'active' });
Test::More::is($code, 200, 'e1 active again');
FarmTest::stop_nginx($g);
$g = FarmTest::start_nginx(name => 'gw-builtin', port => $port, http => $conf);
Test::More::is(main::agent_on($port, 'e1')->{mode}, 'active',
               'and so after the next restart');
FarmTest::stop_nginx($g);
--- request
GET /farm
--- error_code: 200
--- no_error_log
[error]


=== TEST 6: two gateways, one Consul: a drain and an ejection set on A go to the KV store and reach B, and their ends too (this was a 501)
--- http_config eval
$::ConsulConf
--- init
main::consul_agents('c1', 'c2');
main::through_two_gateways('cpool', 'c1', 'c2', 5, \&main::kv, 'the KV store');
--- request
GET /farm
--- response_body_like: "id":"c1".*"mode":"active"
--- error_log eval
[qr/farm admin: client 127\.0\.0\.1 set agent "c1" of pool "cpool": mode active -> draining, weight 0 -> 5, written to the registry/,
 qr/farm admin: client 127\.0\.0\.1 ejected agent "c2" of pool "cpool" for 600 s \(was not ejected\), written to the registry/]
--- no_error_log
[error]


=== TEST 7: Consul: B restarted (a new zone) has the KV store's overrides from its first request; A's local overrides stay A's
--- http_config eval
$::ConsulConf
--- init
main::consul_agents('c1', 'c2');
main::across_restart('cpool', 'c1', 'c2', \&main::kv);
--- request
GET /farm
--- response_body_like: "id":"c1".*"mode":"active"
--- no_error_log
[error]


=== TEST 8: Consul: an override removed from the KV store (another gateway, an operator) ends on A within a blocking query; a bad one is skipped with a line
--- http_config eval
$::ConsulConf
--- init
main::consul_agents('c1', 'c2');
my ($code) = main::admin('PATCH', '/pools/cpool/agents/c1', { mode => 'draining' });
Test::More::is($code, 200, 'c1 draining');
FarmTest::consul_api($main::Consul, 'DELETE', '/v1/kv/ops/cagents/overrides/c1');
FarmTest::consul_api($main::Consul, 'PUT', '/v1/kv/ops/cagents/overrides/c2',
                     '{"mode":"asleep"}');
FarmTest::wait_until(sub { main::agent_on(FarmTest::gateway_port(), 'c1')->{mode}
                           eq 'active' }, 30, 'c1 active again on A');
Test::More::is(main::agent_on(FarmTest::gateway_port(), 'c2')->{mode}, 'active',
               'c2 untouched');
FarmTest::consul_api($main::Consul, 'DELETE', '/v1/kv/ops/cagents/overrides/c2');
--- request
GET /farm
--- response_body_like: "id":"c1".*"mode":"active"
--- error_log eval
[qr/override of agent "c2": mode: must be active, draining or maintenance/,
 qr/1 override\(s\) removed from registry consul:\/\/127\.0\.0\.1:\d+ ended/]


=== TEST 9: Consul down: a write=registry change is a 502 naming it, and nothing changes on A
--- http_config eval
$::ConsulConf
--- init
main::consul_agents('c1');
FarmTest::stop_consul($main::Consul);
my ($code, $e) = main::admin('PATCH', '/pools/cpool/agents/c1', { mode => 'draining' });
Test::More::is($code, 502, 'Consul down: 502');
Test::More::is($e->{error}, 'registry: cannot connect; nothing changed', 'the error says why');
Test::More::is(main::agent_on(FarmTest::gateway_port(), 'c1')->{mode}, 'active',
               'c1 is still active on A');
FarmTest::restart_consul($main::Consul);
Test::More::is(main::kv('c1'), '', 'and nothing is in the KV store');
--- request
GET /farm
--- response_body_like: "id":"c1".*"mode":"active"
--- error_log eval
[qr/farm admin: registry consul:\/\/127\.0\.0\.1:\d+: cannot connect: /,
 qr/the change of agent "c1" of pool "cpool" was not written to registry consul:\S+ \(cannot connect\): nothing changed/]



=== TEST 10: Consul with ACLs: a token without key:write is refused (502 naming it, nothing changed); one with it writes, and the reader sees the change
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
    }
    upstream cread {
        farm_registry consul://127.0.0.1:$TEST_NGINX_ACL_CONSUL_PORT service=cagents
                      prefix=ops token=$TEST_NGINX_READ_TOKEN resync=1s timeout=3s;
    }
    upstream cwrite {
        farm_registry consul://127.0.0.1:$TEST_NGINX_ACL_CONSUL_PORT service=cagents
                      prefix=ops token=$TEST_NGINX_WRITE_TOKEN resync=1s timeout=3s;
    }
--- init
my ($st, $body) = FarmTest::consul_api($main::AclConsul, 'PUT', '/v1/agent/service/register',
    '{"ID":"c1","Name":"cagents","Address":"127.0.0.1","Port":9}');
die "register: $st $body\n" unless $st == 200;
my $farm = sub {
    my ($pool) = @_;
    my (undef, undef, $text) = FarmTest::http_get(FarmTest::gateway_port(), '/farm');
    my ($f) = grep { $_->{upstream} eq $pool }
              @{ JSON::PP::decode_json($text)->{farms} };
    my ($a) = grep { $_->{id} eq 'c1' } @{ $f->{agents} };
    return $a || {};
};
FarmTest::wait_until(sub { $farm->('cread')->{id} && $farm->('cwrite')->{id} }, 30,
                     'both pools know c1');
my ($code, $e) = main::admin('PATCH', '/pools/cread/agents/c1', { mode => 'draining' });
Test::More::is($code, 502, 'a token with key:read only: 502');
Test::More::is($e->{error}, 'registry: the registry refused the write; nothing changed',
               'the error says so');
Test::More::is($farm->('cread')->{mode}, 'active', 'c1 is still active in that pool');
Test::More::is(main::kv('c1', $main::AclConsul), '', 'and not in the KV store');
($code) = main::admin('PATCH', '/pools/cwrite/agents/c1', { mode => 'draining' });
Test::More::is($code, 200, 'a token with key:write: 200');
Test::More::like(main::kv('c1', $main::AclConsul), qr/"mode":"draining"/, 'in the KV store');
FarmTest::wait_until(sub { $farm->('cread')->{mode} eq 'draining' }, 30,
                     'the reading pool sees c1 draining');
($code) = main::admin('PATCH', '/pools/cwrite/agents/c1', { mode => 'active' });
Test::More::is($code, 200, 'c1 active again');
FarmTest::wait_until(sub { $farm->('cread')->{mode} eq 'active' }, 30,
                     'and so in the reading pool');
--- request
GET /farm
--- response_body_like: "upstream":"cread"
--- error_log eval
[qr/farm admin: registry consul:\/\/127\.0\.0\.1:\d+: the registry refused the write: HTTP 403 /,
 qr/the change of agent "c1" of pool "cread" was not written to registry consul:\S+ \(the registry refused the write\): nothing changed/]
--- no_error_log
cannot read the overrides



=== TEST 11: a Consul that never answers: the write is a 502 after timeout=, nothing changes, and the worker serves other requests meanwhile
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
    }
    upstream chung {
        farm_registry consul://127.0.0.1:$TEST_NGINX_HUNG_PORT service=cagents
                      state=$TEST_NGINX_HUNG_STATE resync=1s timeout=6s;
    }
--- init
FarmTest::wait_until(sub { main::agent_on(FarmTest::gateway_port(), 'h1')->{id} }, 30,
                     'the gateway knows h1 from its state file');
my $out = "$main::Dir/hung-patch.out";
unlink $out;
# the write, from a child: its answer waits for timeout=
my $pid = fork // die "fork: $!\n";
if ($pid == 0) {
    local $FarmTest::HttpTimeout = 60;
    my ($code, $e) = main::admin('PATCH', '/pools/chung/agents/h1', { mode => 'draining' });
    open my $f, '>', "$out.tmp" or POSIX::_exit(1);
    print {$f} ($code // 'none'), ' ', (($e || {})->{error} // ''), "\n";
    close $f;
    rename "$out.tmp", $out;
    POSIX::_exit(0);
}
my ($farm, $held);
eval {
    # the catalog's and the overrides' queries hold two; the write a third
    FarmTest::wait_until(sub { FarmTest::listener_peak($main::Hung) >= 3 }, 30,
                         'the write to hold a connection to the silent Consul');
    $farm = main::agent_on(FarmTest::gateway_port(), 'h1');
    $held = !-e $out;
    1;
} or do { kill 'KILL', $pid; waitpid $pid, 0; die $@ };
Test::More::ok($held, 'the worker answered farm_status while the write waited');
Test::More::is($farm->{mode}, 'active', 'h1 is active meanwhile');
waitpid $pid, 0;
open my $f, '<', $out or die "$out: $!\n";
Test::More::is(scalar <$f>, "502 registry: timed out; nothing changed\n",
               'the write: 502, timed out');
Test::More::is(main::agent_on(FarmTest::gateway_port(), 'h1')->{mode}, 'active',
               'h1 is still active');
--- request
GET /farm
--- response_body_like: "id":"h1"
--- error_log eval
[qr/farm admin: registry consul:\/\/127\.0\.0\.1:\d+: timed out: /,
 qr/the change of agent "h1" of pool "chung" was not written to registry consul:\S+ \(timed out\): nothing changed/]
