# Agents come and go through Redis; the gateway routes to exactly the agents
# the registry lists.  Real redis-server, real farm-agent processes.

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
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        add_header X-Gateway-Agent $farm_agent always;
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

=== TEST 1: a registered agent is routed
--- init
main::agents(a => {});
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
X-Gateway-Agent: a
--- response_body_like: "id":"a"
--- no_error_log
[error]



=== TEST 2: an agent that registers while nginx runs is routed; one that deregisters is not
--- init
main::agents(a => {});
main::agents(a => {}, b => {});     # b registers: PUBLISH "register b"
main::agents(b => {});              # a leaves: SIGTERM, PUBLISH "deregister a"
--- request eval
["GET /work?ms=0", "GET /work?ms=0", "GET /work?ms=0"]
--- response_headers eval
["X-Farm-Agent: b", "X-Farm-Agent: b", "X-Farm-Agent: b"]
--- no_error_log
[error]



=== TEST 3: a deregistered agent gets no more requests
--- init
main::agents(a => {}, b => {});
FarmTest::stop_agent(delete $main::Agent{b});
FarmTest::wait_until(sub { !FarmTest::farm_agents()->{b} }, 5, "b to leave");
--- request eval
[("GET /work?ms=0") x 4]
--- response_headers eval
[("X-Farm-Agent: a") x 4]
--- no_error_log
[error]



=== TEST 4: malformed records are skipped with one line naming the key; good agents stay
--- init
main::agents(a => {});
my %bad = (
    badjson  => '{"id":"badjson",',
    port0    => '{"id":"port0","service":"agents","address":"127.0.0.1","port":0}',
    noport   => '{"id":"noport","service":"agents","address":"127.0.0.1"}',
    strport  => '{"id":"strport","service":"agents","address":"127.0.0.1","port":"9001"}',
    bigport  => '{"id":"bigport","service":"agents","address":"127.0.0.1","port":65536}',
    hostname => '{"id":"hostname","service":"agents","address":"localhost","port":9001}',
    other    => '{"id":"other","service":"billing","address":"127.0.0.1","port":9001}',
    huge     => '{"id":"huge","service":"agents","address":"127.0.0.1","port":9001,"meta":{"x":"' . ('x' x 1048576) . '"}}',
    notobj   => '[1,2,3]',
);
for my $id (sort keys %bad) {
    FarmTest::redis_cmd($main::Redis, 'SET', "farm:agents:agent:$id", $bad{$id}, 'PX', 60000);
    FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', $id);
    FarmTest::redis_cmd($main::Redis, 'PUBLISH', 'farm:agents:events', "register $id");
}
# a record that is not a string, and an id that does not match its key
FarmTest::redis_cmd($main::Redis, 'RPUSH', 'farm:agents:agent:alist', 'x');
FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', 'alist');
FarmTest::redis_cmd($main::Redis, 'SET', 'farm:agents:agent:mismatch',
    '{"id":"someone-else","service":"agents","address":"127.0.0.1","port":9001}', 'PX', 60000);
FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', 'mismatch');
my $syncs = FarmTest::farm_status()->{farms}[0]{sync}{full_syncs};
FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{sync}{full_syncs} >= $syncs + 2 },
                     5, "two full syncs");
--- request
GET /farm
--- response_body_like eval
qr/^(?!.*"id":"(?:port0|noport|strport|bigport|hostname|other|huge|badjson|notobj|alist|mismatch)").*"agents":\[\{"id":"a".*"bad_records":11\b/s
--- error_log eval
[qr/skipping registry record "farm:agents:agent:port0" of upstream "agents": port: must be an integer from 1 to 65535/,
 qr/skipping registry record "farm:agents:agent:noport" .*: port: missing/,
 qr/skipping registry record "farm:agents:agent:strport" .*: port: must be an integer/,
 qr/skipping registry record "farm:agents:agent:bigport" .*: port: must be an integer/,
 qr/skipping registry record "farm:agents:agent:hostname" .*: address: "localhost" is not an IPv4 or IPv6 address/,
 qr/skipping registry record "farm:agents:agent:other" .*: service: "billing" is not the upstream's service/,
 qr/skipping registry record "farm:agents:agent:huge" .*: record: larger than 64k/,
 qr/skipping registry record "farm:agents:agent:badjson" .*: record: invalid JSON/,
 qr/skipping registry record "farm:agents:agent:notobj" .*: record: must be a JSON object/,
 qr/skipping registry record "farm:agents:agent:alist" .*: record: a Redis list, not a string/,
 qr/skipping registry record "farm:agents:agent:mismatch" .*: id: "someone-else" does not match its key/]
--- grep_error_log eval: qr/skipping registry record "farm:agents:agent:port0"/
--- grep_error_log_out
skipping registry record "farm:agents:agent:port0"



=== TEST 5: the master's startup read skips the bad records too; deleting them clears the count
--- init
main::agents(a => {});
for my $id (qw(badjson port0 noport strport bigport hostname other huge notobj alist mismatch)) {
    FarmTest::redis_cmd($main::Redis, 'DEL', "farm:agents:agent:$id");
    FarmTest::redis_cmd($main::Redis, 'SREM', 'farm:agents:agents', $id);
}
FarmTest::wait_until(sub { FarmTest::farm_status()->{farms}[0]{sync}{bad_records} == 0 },
                     5, "no bad records");
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
skipping registry record "farm:agents:agent:port0" of upstream "agents": port: must be an integer from 1 to 65535
--- no_error_log
[alert]
[crit]



=== TEST 6: an agent killed without deregistering disappears when its TTL expires
--- init
main::agents(a => {}, k => { ttl => '1s' });
FarmTest::kill_agent(delete $main::Agent{k});
FarmTest::wait_until(sub { !FarmTest::farm_agents()->{k} }, 5, "k to expire");
--- request eval
[("GET /work?ms=0") x 3]
--- response_headers eval
[("X-Farm-Agent: a") x 3]
--- no_error_log
[error]



=== TEST 7: a changed record (new weight, region, caps, meta) is applied
--- init
main::agents(a => {});
my $rec = '{"id":"a","service":"agents","address":"127.0.0.1","port":'
        . $main::Agent{a}{port} . ',"weight":7,"region":"eu-central",'
        . '"caps":["gpu","pdf"],"max_conns":9,"meta":{"rack":"r12"}}';
FarmTest::redis_cmd($main::Redis, 'SET', 'farm:agents:agent:a', $rec, 'PX', 60000);
FarmTest::redis_cmd($main::Redis, 'PUBLISH', 'farm:agents:events', 'register a');
FarmTest::wait_until(sub { FarmTest::farm_agents()->{a}{weight} == 7 }, 5, "weight 7");
--- request
GET /farm
--- response_body_like: "id":"a","address":"127\.0\.0\.1:\d+","region":"eu-central","caps":\["gpu","pdf"\],"weight":7,"registered_weight":7,"max_conns":9,"backup":false,"state":"up".*"meta":\{"rack":"r12"\}
--- no_error_log
[error]



=== TEST 8: farm_status describes the upstream, its registry and its totals
--- init
main::agents(a => {});
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 3;
--- request
GET /farm?upstream=agents
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"version":"[\d.]+","time":\d+,"farms":\[\{"upstream":"agents","service":"agents","registry":"redis://127\.0\.0\.1:\d+/0","balance":"round_robin","agents":\[\{"id":"a".*"requests":3,.*"totals":\{"agents":1,"available":1,"active":0,"requests":3,"no_agent":0,"reclaimed":0\},"zone":\{"pages":\d+,"free_pages":\d+\},"sync":\{"registry_up":true,"last_full_sync":\d+,"full_syncs":\d+,"errors":0,"bad_records":0\}\}\],"total":1,"summary":\{"workers":\{"total":1,
--- no_error_log
[error]



=== TEST 9: farm_status for an unknown upstream lists no farm
--- request
GET /farm?upstream=nope
--- response_body_like: "farms":\[\]
--- no_error_log
[error]
