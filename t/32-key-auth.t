# farm_consumers and farm_key_auth: missing, unknown and valid keys, in a
# header or the query; what the upstream sees (a farm-agent's /echo):
# X-Consumer-Username, and no key with hide=on; $farm_consumer and
# $farm_tier; limits per consumer and per tier.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();
use Time::HiRes ();

our $Agent = start_agent(id => 'echo');

our $Dir = File::Temp::tempdir('keyauth-XXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$Dir/consumers.json" or die "$Dir: $!\n";
print $fh <<'_JSON_';
{"consumers": [
    {"name": "alice", "tier": "gold", "keys": ["alice-key-1", "alice-key-2"]},
    {"name": "bob", "tier": "free", "keys": ["bob-key"]},
    {"name": "carol", "keys": ["carol key/+%"]}
]}
_JSON_
close $fh;

$ENV{TEST_NGINX_CONSUMERS} = "$Dir/consumers.json";
$ENV{TEST_NGINX_AGENT_PORT} = $Agent->{port};

# see t/30-limit.t
sub fresh_second {
    FarmTest::wait_until(sub {
        my $t = Time::HiRes::time();
        return $t - int($t) < 0.25 && int($t) % 60 < 58;
    }, 5, 'the start of a second');
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    farm_consumers $TEST_NGINX_CONSUMERS;
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: no key: 401, WWW-Authenticate: Key, Kong's message
--- config
    location /echo {
        farm_key_auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request
GET /echo
--- error_code: 401
--- response_headers
WWW-Authenticate: Key
Content-Type: application/json; charset=utf-8
--- response_body chop
{"message":"No API key found in request"}
--- error_log
farm_key_auth: no API key in the request
--- no_error_log
[error]



=== TEST 2: an unknown key: 401 Unauthorized, and the key is not logged
--- config
    location /echo {
        farm_key_auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- log_level: info
--- request
GET /echo
--- more_headers
apikey: wrong-key-4711
--- error_code: 401
--- response_headers
WWW-Authenticate: Key
--- response_body chop
{"message":"Unauthorized"}
--- error_log
farm_key_auth: unknown API key
--- no_error_log
[error]
wrong-key-4711



=== TEST 3: a valid key in the apikey header: the upstream sees the consumer; $farm_consumer and $farm_tier are set
--- config
    location /echo {
        farm_key_auth;
        add_header X-Consumer $farm_consumer always;
        add_header X-Tier $farm_tier always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request
GET /echo
--- more_headers
apikey: alice-key-2
--- error_code: 200
--- response_headers
X-Consumer: alice
X-Tier: gold
--- response_body_like eval
qr{^GET /echo HTTP/1\.0\n(?:.*\n)*apikey: alice-key-2\n(?:.*\n)*X-Consumer-Username: alice\n}
--- no_error_log
[error]



=== TEST 4: a valid key in the query, percent-encoded; a consumer without a tier has an empty $farm_tier
--- config
    location /echo {
        farm_key_auth;
        add_header X-Consumer $farm_consumer always;
        add_header X-Tier "[$farm_tier]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request
GET /echo?x=1&apikey=carol%20key%2F%2B%25
--- error_code: 200
--- response_headers
X-Consumer: carol
X-Tier: []
--- response_body_like eval
qr{^GET /echo\?x=1&apikey=carol%20key%2F%2B%25 HTTP/1\.0\n(?:.*\n)*X-Consumer-Username: carol\n}
--- no_error_log
[error]



=== TEST 5: hide=on: the key header does not reach the upstream
--- config
    location /echo {
        farm_key_auth hide=on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request
GET /echo?keep=1
--- more_headers
apikey: bob-key
X-Other: stays
--- error_code: 200
--- response_body_like eval
qr{^GET /echo\?keep=1 HTTP/1\.0\n(?:.*\n)*X-Other: stays\n(?:.*\n)*X-Consumer-Username: bob\n}
--- response_body_unlike
(?i)apikey|bob-key
--- no_error_log
[error]



=== TEST 6: hide=on: the key argument is removed from the request line (with and without a URI in proxy_pass)
--- config
    location /echo {
        farm_key_auth hide=on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
    location /other {
        farm_key_auth hide=on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT/echo;
    }
--- request eval
["GET /echo?a=1&apikey=bob-key&b=2", "GET /echo?apikey=bob-key", "GET /other?apikey=bob-key&b=2"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr{^GET /echo\?a=1&b=2 HTTP/1\.0\n}, qr{^GET /echo HTTP/1\.0\n}, qr{^GET /echo\?b=2 HTTP/1\.0\n}]
--- response_body_unlike eval
[qr/bob-key/, qr/bob-key/, qr/bob-key/]
--- no_error_log
[error]



=== TEST 7: a client's own X-Consumer-Username never reaches the upstream
--- config
    location /echo {
        farm_key_auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request
GET /echo
--- more_headers
X-Consumer-Username: admin
apikey: bob-key
x-consumer-username: root
--- error_code: 200
--- response_body_like eval
qr{\nX-Consumer-Username: bob\n\z}
--- response_body_unlike eval
qr/admin|root/
--- no_error_log
[error]



=== TEST 8: the same key header twice: 401
--- config
    location /echo {
        farm_key_auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request
GET /echo
--- more_headers
apikey: bob-key
apikey: alice-key-1
--- error_code: 401
--- response_body chop
{"message":"Duplicate API key found"}
--- no_error_log
[error]



=== TEST 9: header= and query= name where keys are looked for; nothing else counts
--- config
    location /echo {
        farm_key_auth header=X-API-Key query=token;
        add_header X-Consumer $farm_consumer always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- request eval
["GET /echo?token=bob-key", "GET /echo", "GET /echo?apikey=bob-key"]
--- more_headers eval
["", "X-API-Key: alice-key-1", "apikey: bob-key"]
--- error_code eval
[200, 200, 401]
--- response_headers eval
["X-Consumer: bob", "X-Consumer: alice", "WWW-Authenticate: Key"]
--- no_error_log
[error]



=== TEST 10: farm_key_auth at server level, "farm_key_auth off" in a public location
--- config
    farm_key_auth;
    location /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
    location = /public {
        farm_key_auth off;
        empty_gif;
    }
--- request eval
["GET /echo", "GET /public"]
--- error_code eval
[401, 200]
--- no_error_log
[error]



=== TEST 11: key auth runs before the limit: a request without a key is refused and not counted
--- config
    location /echo {
        farm_key_auth;
        farm_limit zone=c:1m key=$farm_consumer minute=1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- init
main::fresh_second();
--- request eval
["GET /echo", "GET /echo?apikey=bob-key", "GET /echo?apikey=bob-key"]
--- error_code eval
[401, 200, 429]
--- response_headers eval
["!X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute: 0", "X-RateLimit-Remaining-Minute: 0"]
--- no_error_log
[error]



=== TEST 12: a limit keyed by $farm_consumer: one quota for all of a consumer's keys
--- config
    location /echo {
        farm_key_auth;
        farm_limit zone=c:1m key=$farm_consumer minute=2;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- init
main::fresh_second();
--- request eval
["GET /echo?apikey=alice-key-1", "GET /echo?apikey=alice-key-2", "GET /echo?apikey=alice-key-1", "GET /echo?apikey=bob-key"]
--- error_code eval
[200, 200, 429, 200]
--- no_error_log
[error]



=== TEST 13: limits per tier: a map turns $farm_tier into the key of the tier's limit
--- http_config
    farm_consumers $TEST_NGINX_CONSUMERS;
    map $farm_tier $gold_key { gold $farm_consumer; default ""; }
    map $farm_tier $free_key { gold ""; default $farm_consumer; }
--- config
    location /echo {
        farm_key_auth;
        farm_limit zone=gold:1m key=$gold_key minute=3;
        farm_limit zone=free:1m key=$free_key minute=1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- init
main::fresh_second();
--- request eval
["GET /echo?apikey=bob-key", "GET /echo?apikey=bob-key", "GET /echo?apikey=alice-key-1", "GET /echo?apikey=alice-key-1"]
--- error_code eval
[200, 429, 200, 200]
--- response_headers eval
["X-RateLimit-Limit-Minute: 1", "X-RateLimit-Limit-Minute: 1", "X-RateLimit-Limit-Minute: 3", "X-RateLimit-Remaining-Minute: 1"]
--- no_error_log
[error]



=== TEST 14: after an internal redirect the consumer is still known and the hidden key is not asked for again
--- config
    location = /t {
        farm_key_auth hide=on;
        error_page 404 = /fallback;
        try_files /no-such-file =404;
    }
    location = /fallback {
        farm_key_auth hide=on;
        add_header X-Consumer $farm_consumer always;
        empty_gif;
    }
--- request
GET /t
--- more_headers
apikey: alice-key-1
--- error_code: 200
--- response_headers
X-Consumer: alice
--- no_error_log
[error]



=== TEST 15: "satisfy any" with an allow that matches does not skip the key check
--- config
    location = /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        farm_key_auth;
        empty_gif;
    }
--- request eval
["GET /t", "GET /t?apikey=bob-key"]
--- error_code eval
[401, 200]
--- no_error_log
[error]



=== TEST 16: hide=on keeps a query key out of $request and of error log lines too
--- config
    location /echo {
        farm_key_auth hide=on;
        farm_limit zone=h:1m key=$farm_consumer minute=1;
        add_header X-Request $request always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- log_level: info
--- init
main::fresh_second();
my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/echo?apikey=bob-key&x=1');
Test::More::is($code, 200, 'first request admitted');
--- request
GET /echo?apikey=bob-key&x=2
--- error_code: 429
--- response_headers
X-Request: GET /echo?x=2 HTTP/1.1
--- error_log
request: "GET /echo?x=2 HTTP/1.1"
--- no_error_log
bob-key



=== TEST 17: hide=on: a refused query key stays out of the logs too
--- config
    location /echo {
        farm_key_auth hide=on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AGENT_PORT;
    }
--- log_level: info
--- request
GET /echo?apikey=not-a-key-0815&x=1
--- error_code: 401
--- error_log
request: "GET /echo?x=1 HTTP/1.1"
--- no_error_log
not-a-key-0815
[error]
