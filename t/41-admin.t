# farm_admin: the admin API.  Bearer token, 405 on GET of a change, modes
# (draining, maintenance), weight, ejection for a time; the overrides live
# in the zone, so they survive a reload and an agent that registers again;
# every change is logged with the client's address.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use JSON::PP ();

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_ADMIN_TOKEN} = temp_file('admin.token', "s3cret-token\n");
$ENV{TEST_NGINX_EMPTY_TOKEN} = temp_file('empty.token', "\n");

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# an admin call with the right token; returns ($status, \%headers, $decoded)
sub admin {
    my ($method, $path, $body, %headers) = @_;
    $headers{Authorization} //= 'Bearer s3cret-token';
    $headers{'Content-Type'} //= 'application/json' if defined $body;
    my ($code, $h, $text) = http_request(gateway_port(), $method,
                                         "/farm/admin$path",
                                         defined $body
                                         ? JSON::PP::encode_json($body) : undef,
                                         %headers);
    my $json = eval { JSON::PP::decode_json($text // '') };
    return ($code, $h, $json);
}

sub set_mode {
    my ($id, $mode) = @_;
    my ($code, undef, $a) = admin('PATCH', "/pools/agents/agents/$id",
                                  { mode => $mode });
    Test::More::is($code, 200, "PATCH $id mode=$mode answers 200");
    Test::More::is($a->{mode}, $mode, "the answer shows $id in mode $mode");
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
        farm_admin token_file=$TEST_NGINX_ADMIN_TOKEN;
    }
_EOC_
});

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: no token, a wrong token: 401 with WWW-Authenticate; the right one: the pools
--- init
main::agents(a1 => {});
my ($code, $h) = main::admin('GET', '/pools', undef, Authorization => '');
Test::More::is($code, 401, 'no token: 401');
Test::More::like($h->{'www-authenticate'} // '', qr/^Bearer realm="farm"/,
                 'WWW-Authenticate: Bearer');
($code) = main::admin('GET', '/pools', undef,
                      Authorization => 'Bearer s3cret-tokem');
Test::More::is($code, 401, 'a wrong token of the same length: 401');
($code) = main::admin('GET', '/pools', undef,
                      Authorization => 'Bearer s3cret-token-and-more');
Test::More::is($code, 401, 'the right token with more after it: 401');
($code) = main::admin('PATCH', '/pools/agents/agents/a1', { mode => 'draining' },
                      Authorization => 'Bearer nope');
Test::More::is($code, 401, 'a change with a wrong token: 401');
Test::More::is(FarmTest::agent_state('a1'), 'up', 'and a1 was not changed');
--- request
GET /farm/admin/pools
--- more_headers
Authorization: Bearer s3cret-token
--- error_code: 200
--- response_body_like: ^\{"pools":\[\{"name":"agents","service":"agents","agents":1,"up":1,
--- no_error_log
[error]


=== TEST 2: GET on a change is 405 with Allow
--- init
main::agents(a1 => {});
--- request eval
["GET /farm/admin/pools/agents/agents/a1", "GET /farm/admin/pools/agents/agents/a1/eject"]
--- more_headers
Authorization: Bearer s3cret-token
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: PATCH", "Allow: POST, DELETE"]
--- no_error_log
[error]


=== TEST 3: bad changes: 415 without JSON, 400 naming the field, 404 unknown agent or pool; nothing changes
--- init
main::agents(a1 => {});
my ($code, undef, $e) = main::admin('PATCH', '/pools/agents/agents/a1', undef,
                                    'Content-Type' => 'text/plain');
Test::More::is($code, 415, 'text/plain: 415');
($code, undef, $e) = main::admin('PATCH', '/pools/agents/agents/a1',
                                 { mode => 'asleep' });
Test::More::is($code, 400, 'an unknown mode: 400');
Test::More::like($e->{error}, qr/^mode: /, 'the error names "mode"');
($code, undef, $e) = main::admin('PATCH', '/pools/agents/agents/a1',
                                 { weight => 5000 });
Test::More::like($e->{error}, qr/^weight: /, 'a weight out of range: 400 naming "weight"');
($code, undef, $e) = main::admin('POST', '/pools/agents/agents/a1/eject',
                                 { seconds => 0 });
Test::More::like($e->{error}, qr/^seconds: /, 'seconds=0: 400 naming "seconds"');
($code) = main::admin('PATCH', '/pools/agents/agents/nobody', { mode => 'draining' });
Test::More::is($code, 404, 'an agent not registered: 404');
($code) = main::admin('PATCH', '/pools/other/agents/a1', { mode => 'draining' });
Test::More::is($code, 404, 'an unknown pool: 404');
Test::More::is(FarmTest::agent_state('a1'), 'up', 'a1 is still up');
--- request
GET /farm
--- response_body_like: "id":"a1".*"state":"up","mode":"active","ejected_until_ms":0,
--- no_error_log
[error]


=== TEST 4: draining: no new requests to it, its request in flight finishes
--- init
main::agents(d1 => {});
my $bg = FarmTest::background('a slow request on d1', 'curl', '-s', '-o', '/dev/null',
                              '-w', '%{http_code} %header{x-farm-agent}',
                              '--max-time', '60',
                              'http://127.0.0.1:' . FarmTest::gateway_port()
                              . '/work?ms=2000');
FarmTest::wait_until(sub { FarmTest::farm_agents()->{d1}{active} == 1 }, 10,
                     'the slow request in flight on d1');
main::agents(d1 => {}, d2 => {});
main::set_mode('d1', 'draining');
Test::More::is(FarmTest::spread_text(10), 'd2=10', 'every new request went to d2');
my ($rc, $out) = FarmTest::finish($bg, 30);
Test::More::is($out, '200 d1', 'the request in flight on d1 finished with 200');
main::set_mode('d1', 'active');
--- request
GET /farm
--- response_body_like: "id":"d1".*"state":"up","mode":"active"
--- error_log eval
qr/farm admin: client 127\.0\.0\.1 set agent "d1" of pool "agents": mode active -> draining, weight 0 -> 0/
--- no_error_log
[error]


=== TEST 5: maintenance: out of rotation and not health-checked; back to active after a passed check
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_health_check interval=200ms timeout=1s rise=1 fall=2;
    }
--- init
main::agents(m1 => {}, m2 => {});
FarmTest::wait_until(sub { FarmTest::agent_state('m1') eq 'up'
                           && FarmTest::agent_state('m2') eq 'up' }, 10,
                     'm1 and m2 up');
main::set_mode('m1', 'maintenance');
Test::More::is(FarmTest::agent_state('m1'), 'maintenance', 'm1 shows "maintenance"');
my $checks = FarmTest::farm_agents()->{m1}{health}{checks};
my $other = FarmTest::farm_agents()->{m2}{health}{checks};
FarmTest::wait_until(sub { FarmTest::farm_agents()->{m2}{health}{checks} >= $other + 3 },
                     20, 'three more checks of m2');
# a check already sent when the mode changed may still land
Test::More::cmp_ok(FarmTest::farm_agents()->{m1}{health}{checks}, '<=', $checks + 1,
                   'm1 was not checked while in maintenance');
Test::More::is(FarmTest::spread_text(8), 'm2=8', 'no request went to m1');
main::set_mode('m1', 'active');
FarmTest::wait_until(sub { FarmTest::agent_state('m1') eq 'up' }, 20,
                     'm1 up again after a check');
Test::More::cmp_ok(FarmTest::farm_agents()->{m1}{health}{checks}, '>', $checks,
                   'm1 was checked again once active');
my $c = FarmTest::spread(8);
Test::More::ok(($c->{m1} // 0) > 0, 'm1 takes requests again');
--- request
GET /farm?state=maintenance
--- response_body_like: "agents":\[\],"total":0,
--- no_error_log
[error]


=== TEST 6: a weight override changes the spread; null gives the agent its own back
--- init
main::agents(w1 => {}, w2 => {});
Test::More::is(FarmTest::spread_text(20), 'w1=10,w2=10', 'equal weights: 10 and 10');
my ($code, undef, $a) = main::admin('PATCH', '/pools/agents/agents/w1', { weight => 3 });
Test::More::is($code, 200, 'PATCH weight=3: 200');
Test::More::is($a->{weight}, 3, 'the answer shows weight 3');
my $c = FarmTest::spread(40);
Test::More::cmp_ok(abs($c->{w1} - 30), '<=', 1, "w1 served $c->{w1} of 40 (weight 3 of 4)");
Test::More::cmp_ok(abs($c->{w2} - 10), '<=', 1, "w2 served $c->{w2} of 40 (weight 1 of 4)");
($code, undef, $a) = main::admin('PATCH', '/pools/agents/agents/w1', { weight => undef });
Test::More::is($a->{weight}, 1, 'weight null: the registered weight again');
--- request
GET /farm
--- response_body_like: "total":2,"overrides":0,
--- error_log
set agent "w1" of pool "agents": mode active -> active, weight 0 -> 3
--- no_error_log
[error]


=== TEST 7: ejected for 1 s, then back by itself; DELETE ends an ejection early
--- init
main::agents(e1 => {}, e2 => {});
my ($code, undef, $a) = main::admin('POST', '/pools/agents/agents/e1/eject',
                                    { seconds => 1 });
Test::More::is($code, 200, 'POST eject: 200');
Test::More::is($a->{state}, 'ejected', 'the answer shows e1 ejected');
Test::More::cmp_ok($a->{ejected_until_ms}, '>', time * 1000 - 5000,
                   'ejected_until_ms is a wall clock time');
Test::More::is(FarmTest::spread_text(6), 'e2=6', 'no request to e1 while ejected');
FarmTest::wait_until(sub { FarmTest::agent_state('e1') eq 'up' }, 20,
                     'e1 back after its ejection');
Test::More::is(FarmTest::farm_agents()->{e1}{ejected_until_ms}, 0,
               'ejected_until_ms is 0 again');
($code, undef, $a) = main::admin('POST', '/pools/agents/agents/e1/eject',
                                 { seconds => 3600 });
Test::More::is($a->{state}, 'ejected', 'ejected for an hour');
($code, undef, $a) = main::admin('DELETE', '/pools/agents/agents/e1/eject');
Test::More::is($code, 200, 'DELETE eject: 200');
Test::More::is($a->{state}, 'up', 'e1 is up at once');
my $c = FarmTest::spread(6);
Test::More::ok(($c->{e1} // 0) > 0, 'e1 takes requests again');
--- request
GET /farm
--- response_body_like: "total":2,"overrides":0,
--- error_log eval
[qr/farm admin: client 127\.0\.0\.1 ejected agent "e1" of pool "agents" for 1 s/,
 qr/ejection\(s\) in pool "agents" ended/,
 qr/farm admin: client 127\.0\.0\.1 ended the ejection of agent "e1"/]
--- no_error_log
[error]


=== TEST 8: an override survives nginx -s reload and the agent registering again
--- init
main::agents(s1 => {}, s2 => {});
main::set_mode('s1', 'maintenance');
FarmTest::nginx_reload();
Test::More::is(FarmTest::agent_state('s1'), 'maintenance', 'still in maintenance after a reload');
FarmTest::stop_agent(delete $main::Agent{s1});
FarmTest::wait_until(sub { FarmTest::agent_state('s1') eq 'absent' }, 20,
                     's1 gone from the registry');
main::agents(s1 => {}, s2 => {});
Test::More::is(FarmTest::agent_state('s1'), 'maintenance',
               'registered again: still in maintenance');
Test::More::is(FarmTest::spread_text(6), 's2=6', 'and it gets no request');
main::set_mode('s1', 'active');
--- request
GET /farm
--- response_body_like: "id":"s1".*"mode":"active"
--- no_error_log
[error]


=== TEST 9: hash consistent: the keys of a draining agent move to others, the rest stay, all come back
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_balance hash $arg_k consistent;
    }
--- init
main::agents(h1 => {}, h2 => {}, h3 => {});
my $where = sub {
    my %at;
    for my $k (1 .. 30) {
        my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), "/work?ms=0&k=$k");
        $at{$k} = $code == 200 ? $h->{'x-farm-agent'} : "status-$code";
    }
    return \%at;
};
my $home = $where->();
my $victim = $home->{1};
main::set_mode($victim, 'draining');
my $now = $where->();
Test::More::is(scalar(grep { $now->{$_} eq $victim } keys %$now), 0,
               "no key goes to $victim while it drains");
Test::More::is(scalar(grep { $home->{$_} ne $victim && $now->{$_} ne $home->{$_} }
                      keys %$now), 0, 'the keys of the other agents stay where they were');
main::set_mode($victim, 'active');
Test::More::is_deeply($where->(), $home, 'active again: every key back home');
--- request
GET /farm
--- response_body_like: "balance":"hash consistent"
--- no_error_log
[error]


=== TEST 10: hash: a weight override reaches the hash table; null restores it
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=60s;
        farm_balance hash $arg_k;
    }
--- init
main::agents(k1 => {}, k2 => {});
my $where = sub {
    my %at;
    for my $k (1 .. 40) {
        my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), "/work?ms=0&k=$k");
        $at{$k} = $code == 200 ? $h->{'x-farm-agent'} : "status-$code";
    }
    return \%at;
};
my $home = $where->();
my ($code) = main::admin('PATCH', '/pools/agents/agents/k1', { weight => 1000 });
Test::More::is($code, 200, 'k1 weight 1000');
FarmTest::wait_until(sub { (grep { $_ eq 'k1' } values %{ $where->() }) >= 38 }, 20,
                     'nearly every key on k1 (weight 1000 to 1)');
main::admin('PATCH', '/pools/agents/agents/k1', { weight => undef });
FarmTest::wait_until(sub {
    my $now = $where->();
    return !grep { $now->{$_} ne $home->{$_} } keys %$home;
}, 20, 'every key back where it was with equal weights');
--- request
GET /farm
--- response_body_like: "balance":"hash"
--- no_error_log
[error]


=== TEST 11: farm_admin without token_file= or with an empty token file fails the configuration
--- config
    location /farm/admin/ {
        farm_admin token_file=$TEST_NGINX_EMPTY_TOKEN;
    }
--- request
GET /farm/admin/pools
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_admin: token_file "\S+empty\.token" is empty in \S+nginx\.conf:\d+/
