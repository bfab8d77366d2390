# The built-in registry's own side: farm_registry_api's answers (201, 200,
# 404, 401, 400 naming the field, 405, 413, 415, 429), heartbeats and TTLs,
# a reload, the state file across a restart, two gateways each with its own
# registry, static agents (farm_agent) and the configuration's errors.
# Register/deregister/expiry as the Redis form has them: t/51.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();
use JSON::PP ();

our $Dir = File::Temp::tempdir('farm-builtin-XXXX', TMPDIR => 1, CLEANUP => 1);
our $Reg = FarmTest::builtin_registry(token => 'agents-t0ken-52');
our $Billing = FarmTest::builtin_registry(token => 'billing-t0ken-52');
our (%Agent, @Gateways, $Racer);

{
    open my $f, '>', "$Dir/empty.token" or die "$Dir/empty.token: $!\n";
    print {$f} "\n";
}

$ENV{TEST_NGINX_TOKEN_FILE} = $Reg->{token_file};
$ENV{TEST_NGINX_BILLING_TOKEN_FILE} = $Billing->{token_file};
$ENV{TEST_NGINX_DIR} = $Dir;
$ENV{TEST_NGINX_G1_PORT} = FarmTest::free_port();
$ENV{TEST_NGINX_G2_PORT} = FarmTest::free_port();
$ENV{TEST_NGINX_S1_PORT} = FarmTest::free_port();
$ENV{TEST_NGINX_DEAD_PORT} = FarmTest::free_port();

# A record of service "agents" as JSON, fields of %rec over the defaults.
sub rec {
    my (%rec) = @_;
    return JSON::PP->new->canonical->encode({ service => 'agents',
        address => '127.0.0.1', port => 9, %rec });
}

# The ids the gateway at $port lists in its built-in registry.
sub listed {
    my ($reg) = @_;
    my ($code, $body) = FarmTest::registry_call($reg, 'GET', 'agents/agents');
    return '' unless $code == 200;
    return join ',', map { $_->{id} } @{ JSON::PP::decode_json($body)->{agents} };
}

# The ids in a state file, with an expiry.
sub saved {
    my ($file) = @_;
    open my $f, '<', $file or return '';
    my $list = eval { JSON::PP::decode_json(do { local $/; <$f> }) } or return '';
    return join ',', sort map { $_->{id} } grep { $_->{expires_at} } @$list;
}

# A gateway of its own (for the restart and two-gateway blocks).
sub gateway {
    my ($name, $port, $extra) = @_;
    my $reg = FarmTest::builtin_registry(port => $port, token => 'agents-t0ken-52');
    push @main::Gateways, FarmTest::start_nginx(name => $name, port => $port,
        workers => 2, http => <<"_EOC_");
    upstream agents {
        farm_registry builtin service=agents token_file=$reg->{token_file} $extra;
    }
    server {
        listen 127.0.0.1:\$PORT;
        location / { proxy_pass http://agents; }
        location /farm/registry/ { farm_registry_api; }
    }
_EOC_
    return $reg;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry builtin service=agents token_file=$TEST_NGINX_TOKEN_FILE
                      ttl=30s max_ttl=2m;
    }
    upstream billing {
        farm_registry builtin service=billing
                      token_file=$TEST_NGINX_BILLING_TOKEN_FILE;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
    location /farm/registry/ {
        farm_registry_api max_body=4k rate=100000r/s;
    }
    location /slow/registry/ {
        farm_registry_api rate=1r/s;
    }
    location /g1/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_G1_PORT/;
    }
    location /g2/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_G2_PORT/;
    }
_EOC_
});

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: PUT registers (201), PUT again replaces (200), with the TTL
--- request eval
my $r = main::rec(id => 'a1');
["PUT /farm/registry/agents/agents/a1?ttl=10s\n$r",
 "PUT /farm/registry/agents/agents/a1\n$r"]
--- more_headers
Authorization: Bearer agents-t0ken-52
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
['{"id":"a1","service":"agents","ttl_ms":10000}',
 '{"id":"a1","service":"agents","ttl_ms":30000}']
--- no_error_log
[error]



=== TEST 2: GET lists the agents with their records and what is left of their TTL; the agent is in farm_status
--- init
FarmTest::put_record($main::Reg, id => 'a1', port => 9, region => 'eu', caps => ['gpu'], -ttl => '90s');
--- request eval
["GET /farm/registry/agents/agents", "GET /farm"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- response_body_like eval
[qr/^\{"service":"agents","agents":\[\{"id":"a1","ttl_ms_left":\d{5},"record":\{"id":"a1","service":"agents","address":"127\.0\.0\.1","port":9,"weight":1,"region":"eu","caps":\["gpu"\],"max_conns":0,"backup":false\}\}\]\}$/,
 qr/"registry":"builtin",.*"agents":\[\{"id":"a1","address":"127\.0\.0\.1:9","region":"eu","caps":\["gpu"\]/]
--- no_error_log
[error]



=== TEST 3: a heartbeat renews; an unknown id's heartbeat is a 404 (register again)
--- init
FarmTest::put_record($main::Reg, id => 'a1', port => 9);
--- request eval
["POST /farm/registry/agents/agents/a1/heartbeat?ttl=1500ms",
 "POST /farm/registry/agents/agents/zz/heartbeat"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- error_code eval
[200, 404]
--- response_body eval
['{"id":"a1","ttl_ms":1500}',
 '{"error":"agent \"zz\" is not registered; register it again with PUT"}']
--- no_error_log
[error]



=== TEST 4: DELETE deregisters at once
--- init
FarmTest::put_record($main::Reg, id => 'a1', port => 9);
--- request
DELETE /farm/registry/agents/agents/a1
--- more_headers
Authorization: Bearer agents-t0ken-52
--- response_body_like: ^\{"id":"a1","deregistered":true\}$
--- error_log
farm: agent "a1" left upstream "agents" (deregistered)
--- no_error_log
[error]



=== TEST 4b: after a DELETE the agent is gone from routing; a second DELETE is a 404
--- init
FarmTest::put_record($main::Reg, id => 'a1', port => 9);
FarmTest::deregister($main::Reg, 'a1');
--- request eval
["DELETE /farm/registry/agents/agents/a1", "GET /farm"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- error_code eval
[404, 200]
--- response_body_like eval
[qr/not registered/,
 qr/"upstream":"agents","service":"agents","registry":"builtin","balance":"round_robin","agents":\[\]/]
--- no_error_log
[error]



=== TEST 5: no token, a wrong token, another service's token: 401 with WWW-Authenticate
--- request eval
["GET /farm/registry/agents/agents",
 "GET /farm/registry/agents/agents",
 "GET /farm/registry/agents/agents",
 "GET /farm/registry/billing/agents"]
--- more_headers eval
["", "Authorization: Bearer nope", "Authorization: Bearer billing-t0ken-52",
 "Authorization: Bearer billing-t0ken-52"]
--- error_code eval
[401, 401, 401, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="farm"', 'WWW-Authenticate: Bearer realm="farm"',
 'WWW-Authenticate: Bearer realm="farm"', '!WWW-Authenticate']
--- response_body eval
['{"error":"no bearer token"}', '{"error":"wrong token"}', '{"error":"wrong token"}',
 '{"service":"billing","agents":[]}']
--- no_error_log
[error]



=== TEST 6: a bad record or TTL is a 400 naming the field; nothing is registered
--- request eval
my @bad = (
    main::rec(id => 'b1', port => 0),
    main::rec(id => 'b1', address => 'localhost'),
    main::rec(id => 'other'),
    main::rec(id => 'b1', service => 'billing'),
    '{"id":"b1",',
    main::rec(id => 'b1', address => '169.254.169.254'),
    main::rec(id => 'b1', weight => 'heavy'),
);
[(map { "PUT /farm/registry/agents/agents/b1\n$_" } @bad),
 "PUT /farm/registry/agents/agents/b1?ttl=0s\n" . main::rec(id => 'b1'),
 "PUT /farm/registry/agents/agents/b1?ttl=1h\n" . main::rec(id => 'b1'),
 "PUT /farm/registry/agents/agents/b%20x\n" . main::rec(id => 'b1'),
 "GET /farm/registry/agents/agents"]
--- more_headers
Authorization: Bearer agents-t0ken-52
Content-Type: application/json
--- error_code eval
[(400) x 10, 200]
--- response_body eval
['{"error":"port: must be an integer from 1 to 65535"}',
 '{"error":"address: \"localhost\" is not an IPv4 or IPv6 address"}',
 '{"error":"id: must be the id of the path, \"b1\""}',
 '{"error":"service: must be the service of the path, \"agents\""}',
 '{"error":"record: invalid JSON at line 1 column 11: string or \'}\' expected near end of file"}',
 '{"error":"address: 169.254.169.254 is a link-local or cloud metadata address; farm_registry allow= must list it to be used"}',
 '{"error":"weight: must be an integer from 1 to 1000"}',
 '{"error":"ttl: must be a time from 1s to 120000ms, as in 10s or 1500ms"}',
 '{"error":"ttl: must be a time from 1s to 120000ms, as in 10s or 1500ms"}',
 '{"error":"id: must be 1-128 of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit"}',
 '{"service":"agents","agents":[]}']
--- no_error_log
[error]



=== TEST 7: the wrong method is a 405 with Allow
--- request eval
["GET /farm/registry/agents/agents/a1", "PUT /farm/registry/agents/agents\n{}",
 "GET /farm/registry/agents/agents/a1/heartbeat"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- error_code eval
[405, 405, 405]
--- response_headers eval
["Allow: PUT, DELETE", "Allow: GET, HEAD", "Allow: POST"]
--- response_body_like eval
[qr/"method GET is not allowed here; use PUT, DELETE"/, qr/use GET, HEAD/, qr/use POST/]
--- no_error_log
[error]



=== TEST 8: a body over max_body is a 413; a body that is not JSON by its type a 415; unknown services and paths 404
--- request eval
["PUT /farm/registry/agents/agents/big\n" . main::rec(id => 'big', meta => { pad => 'x' x 5000 }),
 "PUT /farm/registry/agents/agents/a1\n" . main::rec(id => 'a1'),
 "GET /farm/registry/nosuch/agents",
 "GET /farm/registry/agents/workers"]
--- more_headers eval
["Authorization: Bearer agents-t0ken-52\nContent-Type: application/json",
 "Authorization: Bearer agents-t0ken-52\nContent-Type: text/plain",
 "Authorization: Bearer agents-t0ken-52",
 "Authorization: Bearer agents-t0ken-52"]
--- error_code eval
[413, 415, 404, 404]
--- response_body eval
['{"error":"record: larger than max_body=4096 bytes"}',
 '{"error":"Content-Type: the record must be application/json"}',
 '{"error":"service: no upstream here takes registrations for \"nosuch\""}',
 '{"error":"no such registry call: use <service>/agents[/<id>[/heartbeat]]"}']
--- no_error_log
[error]



=== TEST 9: over rate= a client address gets 429 with Retry-After, before its token is looked at
--- request eval
["GET /slow/registry/agents/agents", "GET /slow/registry/agents/agents"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- error_code eval
[200, 429]
--- response_headers eval
["", "Retry-After: 1"]
--- response_body eval
['{"service":"agents","agents":[]}',
 '{"error":"too many requests from this address: at most 1 a second"}']
--- no_error_log
[error]



=== TEST 10: an agent registered with a real address is routed at once
--- init
$main::Agent{e1} = FarmTest::start_agent(id => 'e1');
FarmTest::put_record($main::Reg, id => 'e1', port => $main::Agent{e1}{port}, -ttl => '30s');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: e1
--- no_error_log
[error]



=== TEST 11: ... and without heartbeats it leaves when its TTL runs out
--- init
FarmTest::put_record($main::Reg, id => 'e1', port => $main::Agent{e1}{port}, -ttl => '1s');
FarmTest::wait_until(sub { main::listed($main::Reg) eq '' }, 10, 'e1 to expire');
--- request
GET /work?ms=0
--- error_code: 503
--- error_log
farm: agent "e1" left upstream "agents" (its TTL ran out)



=== TEST 12: heartbeats keep an agent with a short TTL registered
--- init
FarmTest::put_record($main::Reg, id => 'e1', port => $main::Agent{e1}{port}, -ttl => '2s');
for (1 .. 6) {
    Time::HiRes::sleep(0.5);    # the heartbeat interval, not a wait for a result
    my ($code) = FarmTest::registry_call($main::Reg, 'POST', 'agents/agents/e1/heartbeat?ttl=2s');
    die "heartbeat answered $code\n" unless $code == 200;
}
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: e1
--- no_error_log
[error]



=== TEST 13: nginx -s reload keeps the registrations (they live in the zone)
--- init
FarmTest::put_record($main::Reg, id => 'e1', port => $main::Agent{e1}{port}, -ttl => '60s');
FarmTest::nginx_reload();
FarmTest::wait_until(sub { main::listed($main::Reg) eq 'e1' }, 10, 'e1 listed after the reload');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: e1
--- no_error_log
[error]



=== TEST 14: the state file keeps the registrations across a stop and a start, with what was left of their TTL; one whose TTL ran out meanwhile is not restored
--- init
FarmTest::stop_nginx($_) for splice @main::Gateways;
my $state = "$main::Dir/g1.state";
my $g = main::gateway('g1', $ENV{TEST_NGINX_G1_PORT}, "state=$state");
FarmTest::put_record($g, id => 'e1', port => $main::Agent{e1}{port}, -ttl => '90s');
FarmTest::put_record($g, id => 'short', port => 9, -ttl => '1s');
FarmTest::wait_until(sub { main::saved($state) eq 'e1,short' }, 10, 'the state file');
FarmTest::stop_nginx(pop @main::Gateways);
Time::HiRes::sleep(1.2);        # short's TTL runs out while g1 is stopped
$g = main::gateway('g1', $ENV{TEST_NGINX_G1_PORT}, "state=$state");
--- request eval
["GET /g1/work?ms=0", "GET /g1/farm/registry/agents/agents"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- response_headers eval
["X-Farm-Agent: e1", ""]
--- response_body_like eval
[qr/"id":"e1"/, qr/^(?!.*"id":"short")\{"service":"agents","agents":\[\{"id":"e1","ttl_ms_left":\d+,/s]
--- no_error_log
[error]



=== TEST 15: two gateways, each with its own registry: an agent registers with both, and leaves one
--- init
FarmTest::stop_nginx($_) for splice @main::Gateways;
my $g1 = main::gateway('two1', $ENV{TEST_NGINX_G1_PORT}, '');
my $g2 = main::gateway('two2', $ENV{TEST_NGINX_G2_PORT}, '');
FarmTest::put_record($_, id => 'e1', port => $main::Agent{e1}{port}) for $g1, $g2;
FarmTest::deregister($g1, 'e1');
--- request eval
["GET /g1/work?ms=0", "GET /g2/work?ms=0", "GET /g2/work?ms=0"]
--- error_code eval
[503, 200, 200]
--- response_headers eval
["", "X-Farm-Agent: e1", "X-Farm-Agent: e1"]
--- no_error_log
[error]



=== TEST 16: static agents alone, with health checks: the dead one is taken out
--- http_config
    upstream statics {
        farm_agent 127.0.0.1:$TEST_NGINX_S1_PORT id=s1 region=eu weight=2 caps=gpu,browser max_conns=10;
        farm_agent 127.0.0.1:$TEST_NGINX_DEAD_PORT id=dead;
        farm_health_check uri=/health interval=200ms timeout=1s rise=1 fall=1;
    }
--- config
    location / { proxy_pass http://statics; }
    location = /farm { farm_status; }
--- init
FarmTest::stop_nginx($_) for splice @main::Gateways;
$main::Agent{s1} = FarmTest::start_agent(id => 's1', listen => "127.0.0.1:$ENV{TEST_NGINX_S1_PORT}");
FarmTest::wait_until(sub { FarmTest::agent_state('dead') eq 'down'
                           && FarmTest::agent_state('s1') eq 'up' }, 15,
                     's1 up and dead down');
--- request eval
[("GET /work?ms=0") x 3, "GET /farm"]
--- response_headers eval
[("X-Farm-Agent: s1") x 3, ""]
--- response_body_like eval
[("") x 3, qr/"registry":"static".*"id":"s1","address":"127\.0\.0\.1:\d+","region":"eu","caps":\["gpu","browser"\],"weight":\d+,"registered_weight":2,"max_conns":10/]
--- no_error_log
[error]



=== TEST 17: static agents beside the built-in registry: both routed; a static agent cannot be deregistered
--- http_config
    upstream agents {
        farm_registry builtin service=agents token_file=$TEST_NGINX_TOKEN_FILE;
        farm_agent 127.0.0.1:$TEST_NGINX_S1_PORT id=s1;
    }
--- init
FarmTest::put_record($main::Reg, id => 'e1', port => $main::Agent{e1}{port});
--- request eval
["DELETE /farm/registry/agents/agents/s1", "GET /farm"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- error_code eval
[404, 200]
--- response_body_like eval
[qr/not registered/, qr/"agents":\[\{"id":"s1".*\{"id":"e1"/]
--- no_error_log
[error]



=== TEST 18: farm_registry builtin without token_file= is refused: there is no default token
--- http_config
    upstream agents {
        farm_registry builtin service=agents;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry builtin" needs "token_file=FILE": there is no default token, and registrations are never taken without one in \S+nginx\.conf:\d+/



=== TEST 19: an empty token file is refused
--- http_config
    upstream agents {
        farm_registry builtin service=agents token_file=$TEST_NGINX_DIR/empty.token;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*token_file "\S+empty\.token" of "farm_registry builtin" must hold one token of 1-255 printable characters without spaces/



=== TEST 20: a bad farm_agent line names what is wrong
--- http_config
    upstream agents {
        farm_agent localhost:9001;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_agent" address "localhost:9001": expected an IP address and a port/



=== TEST 21: PUTs and DELETEs of the same ids racing in both workers leave the zone and the registry agreeing: no agent without a registration (it would never expire)
--- init
my $code = <<'_PL_';
use HTTP::Tiny;
my ($port, $token, $seconds) = @ARGV;
my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
my $end = time + $seconds;
my $n = 0;
while (time < $end) {
    for my $id (map { "r$_" } 1 .. 4) {
        my $url = "http://127.0.0.1:$port/farm/registry/agents/agents/$id";
        my %h = (Authorization => "Bearer $token", 'Content-Type' => 'application/json');
        $http->request('PUT', "$url?ttl=60s", { headers => \%h,
            content => qq({"id":"$id","service":"agents","address":"127.0.0.1","port":9,"weight":@{[1 + $n % 3]}}) });
        $http->request('DELETE', $url, { headers => \%h }) if $n++ % 2;
    }
}
print "done $n\n";
_PL_
my @racers = map { FarmTest::background("racer $_", $^X, '-e', $code,
                                        FarmTest::gateway_port(), 'agents-t0ken-52', 3) } 1 .. 4;
$main::Racer = $code;
for (@racers) {
    my ($status, $out) = FarmTest::finish($_, 60);
    die "a racer failed ($status): $out\n" unless $status == 0;
}
my $zone = join ',', sort keys %{ FarmTest::farm_agents() };
my $reg = join ',', sort split /,/, main::listed($main::Reg);
die "the zone has $zone, the registry $reg\n" unless $zone eq $reg;
FarmTest::deregister($main::Reg, $_) for split /,/, $reg;
--- request eval
["GET /farm", "GET /farm/registry/agents/agents"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- response_body_like eval
[qr/"registry":"builtin","balance":"round_robin","agents":\[\]/,
 qr/^\{"service":"agents","agents":\[\]\}$/]
--- no_error_log
[error]



=== TEST 22: a worker killed while registrations go on leaves the registry neither locked nor holding an agent without a registration
--- init
my @racers = map { FarmTest::background("racer $_", $^X, '-e', $main::Racer,
                                        FarmTest::gateway_port(), 'agents-t0ken-52', 3) } 1 .. 4;
FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{totals}{agents} > 0 }, 10,
                     'registrations to start');
my @before = FarmTest::worker_pids();
kill 'KILL', $before[0];
FarmTest::finish($_, 60) for @racers;
FarmTest::wait_until(sub { my @now = FarmTest::worker_pids();
                           @now >= @before && !grep { $_ == $before[0] } @now },
                     10, "worker $before[0] replaced (workers: @before)");
# a lease may have lost its agent to the kill (it runs out, or the next
# heartbeat's 404 has it registered again); no agent may lack a lease
my %reg = map { $_ => 1 } split /,/, main::listed($main::Reg);
my @orphans = grep { !$reg{$_} } keys %{ FarmTest::farm_agents() };
die "agents without a registration: @orphans\n" if @orphans;
FarmTest::deregister($main::Reg, $_) for keys %reg;
FarmTest::put_record($main::Reg, id => 'after', port => 9);
--- request eval
["GET /farm/registry/agents/agents", "DELETE /farm/registry/agents/agents/after"]
--- more_headers
Authorization: Bearer agents-t0ken-52
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"service":"agents","agents":\[\{"id":"after",/, qr/"deregistered":true/]
--- no_error_log
[emerg]
