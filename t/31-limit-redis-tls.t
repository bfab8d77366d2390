# farm_limit's Redis backend over TLS: farm_limit policy=redis with a
# rediss:// URL, and farm_kong's rate-limiting with redis.ssl (and the flat
# redis_ssl shorthands), against a redis-server that speaks TLS only, with
# a throw-away CA.  A certificate that does not verify (untrusted CA, wrong
# name) is a Redis failure: fault_tolerant lets the request through and the
# log names the verification error.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis_tls();
our %Agent = (a => start_agent(id => 'a'));
our $A = $Agent{a}{port};
our $RedisPort = $Redis->{port};
our $Gw = free_port();      # a reuseport listener: both workers accept
our $HugeBulk = FarmTest::start_huge_redis(kind => 'bulk');
our $HugeArray = FarmTest::start_huge_redis(kind => 'array');
our $HugeNested = FarmTest::start_huge_redis(kind => 'nested');

$ENV{TEST_NGINX_TLS_REDIS_PORT} = $RedisPort;
$ENV{TEST_NGINX_TLS_CA} = $Redis->{tls}{ca};
$ENV{TEST_NGINX_TLS_GW_PORT} = $Gw;
$ENV{TEST_NGINX_HUGE_BULK_PORT} = $HugeBulk->{port};
$ENV{TEST_NGINX_HUGE_ARRAY_PORT} = $HugeArray->{port};
$ENV{TEST_NGINX_HUGE_NESTED_PORT} = $HugeNested->{port};

sub day_key {
    my ($zone, $key) = @_;
    my $now = time;
    return "farm:limit:{$zone:$key}:day:" . ($now - $now % 86400);
}

# The workers' first connection fails at their start, before a request:
# its one log line (one per interval) is looked for in the whole error.log.
sub logged {
    my ($re) = @_;
    my $seen = eval {
        FarmTest::wait_until(sub {
            open my $fh, '<', FarmTest::nginx_error_log() or return 0;
            local $/;
            return <$fh> =~ $re;
        }, 20, 'the log line');
        1;
    };
    Test::More::ok($seen, "error.log: $re");
}

# a block without a config of its own is a farm_kong block
add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
_EOC_
});

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: farm_limit over rediss://, verified against the CA file: both workers count in the one TLS Redis, the limit holds, then 429
--- http_config
    farm_limit_redis_trusted_certificate $TEST_NGINX_TLS_CA;

    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_GW_PORT reuseport;

        location = /t {
            farm_limit zone=tls key=$remote_addr day=30 policy=redis
                       timeout=5s
                       redis=rediss://127.0.0.1:$TEST_NGINX_TLS_REDIS_PORT;
            add_header X-Pid $pid always;
            empty_gif;
        }
    }
--- config
    location = /t {
        farm_limit zone=tls key=$remote_addr day=30 policy=redis timeout=5s
                   redis=rediss://127.0.0.1:$TEST_NGINX_TLS_REDIS_PORT;
        empty_gif;
    }
--- init
FarmTest::redis_cli($main::Redis, 'FLUSHALL');
my (%pids, @remaining, @codes);
my $n = 0;
while ($n < 29) {
    my ($code, $h) = FarmTest::http_get($main::Gw, '/t');
    $n++;
    push @codes, $code // 'none';
    push @remaining, $h->{'x-ratelimit-remaining-day'} // 'none';
    $pids{ $h->{'x-pid'} // 'none' } = 1;
    last if $n >= 4 && keys %pids == 2;
}
Test::More::is(join(',', sort keys %pids) =~ /none/ ? 0 : scalar(keys %pids), 2,
               "both workers answered, over $n requests");
Test::More::is("@codes", join(' ', ('200') x $n), 'all admitted');
Test::More::is("@remaining", join(' ', map { 30 - $_ } 1 .. $n),
               'one count over both workers');
FarmTest::http_get($main::Gw, '/t') for $n + 1 .. 29;
my ($code, $h) = FarmTest::http_get($main::Gw, '/t');
Test::More::is("$code $h->{'x-ratelimit-remaining-day'}", '200 0', 'the 30th is the last admitted');
my $key = main::day_key('tls', '127.0.0.1');
Test::More::is(FarmTest::redis_cli($main::Redis, 'GET', $key), 30,
               "$key holds 30, read with redis-cli --tls");
--- request
GET /t
--- error_code: 429
--- response_body chop
{"message":"API rate limit exceeded"}
--- response_headers
X-RateLimit-Remaining-Day: 0
--- no_error_log
[error]



=== TEST 2: Kong rate-limiting with redis {ssl: true, ssl_verify: true, server_name: localhost}: counted in the TLS Redis, the third gets 429
--- http_config
    farm_limit_redis_trusted_certificate $TEST_NGINX_TLS_CA;
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - name: r
    paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config:
        day: 2
        policy: redis
        redis: {host: 127.0.0.1, port: $main::RedisPort, ssl: true, ssl_verify: true, server_name: localhost}
"
--- init
FarmTest::redis_cli($main::Redis, 'FLUSHALL');
my @r = map { [ FarmTest::http_get(FarmTest::gateway_port(), '/echo') ] } 1 .. 2;
Test::More::is("$r[0][0] $r[1][0]", '200 200', 'two admitted');
Test::More::is("$r[0][1]{'x-ratelimit-remaining-day'} $r[1][1]{'x-ratelimit-remaining-day'}",
               '1 0', 'remaining counts down');
my @keys = split /\n/, FarmTest::redis_cli($main::Redis, 'KEYS', 'farm:limit:*') // '';
Test::More::is(scalar(@keys), 1, "one counter in the TLS Redis (@keys)");
Test::More::is(FarmTest::redis_cli($main::Redis, 'GET', $keys[0] // 'none'), 2,
               'it holds 2, read with redis-cli --tls');
--- request
GET /echo
--- more_headers
Accept: application/json
--- error_code: 429
--- response_headers
RateLimit-Remaining: 0
--- response_body_like: "message":\s*"API rate limit exceeded"
--- no_error_log
[error]



=== TEST 3: the flat redis_ssl, redis_ssl_verify, redis_server_name shorthands work the same way
--- http_config
    farm_limit_redis_trusted_certificate $TEST_NGINX_TLS_CA;
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config:
        day: 1
        policy: redis
        redis_host: 127.0.0.1
        redis_port: $main::RedisPort
        redis_ssl: true
        redis_ssl_verify: true
        redis_server_name: localhost
"
--- init
FarmTest::redis_cli($main::Redis, 'FLUSHALL');
--- request eval
["GET /echo", "GET /echo"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-RateLimit-Remaining-Day: 0", "RateLimit-Remaining: 0"]
--- no_error_log
[error]



=== TEST 4: the flat redis_ssl alone, with Kong's default redis_ssl_verify false: loads (refused at load before Redis over TLS landed) and counts over TLS
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config: {day: 1, policy: redis, redis_host: 127.0.0.1, redis_port: $main::RedisPort, redis_ssl: true}
"
--- init
FarmTest::redis_cli($main::Redis, 'FLUSHALL');
--- request eval
["GET /echo", "GET /echo"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-RateLimit-Remaining-Day: 0", "RateLimit-Remaining: 0"]
--- no_error_log
[error]



=== TEST 5: ssl_verify with a name the certificate does not hold: the handshake is refused, fault_tolerant proxies, the log names the error
--- http_config
    farm_limit_redis_trusted_certificate $TEST_NGINX_TLS_CA;
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config:
        day: 1
        policy: redis
        redis: {host: 127.0.0.1, port: $main::RedisPort, ssl: true, ssl_verify: true, server_name: wrong.example}
"
--- init
main::logged(qr/farm_limit: redis rediss:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(TLS certificate verify failed: the certificate does not match "wrong\.example"\)/);
--- request eval
["GET /echo", "GET /echo"]
--- error_code eval
[200, 200]
--- response_headers eval
["!X-RateLimit-Remaining-Day", "!X-RateLimit-Remaining-Day"]
--- error_log
farm_kong: rate-limiting: failed to get usage



=== TEST 6: a CA the gateway does not trust (no CA file: the system's CAs): refused, the request passes (fault_tolerant=on), the log names the error
--- config
    location = /t {
        farm_limit zone=untrusted key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=rediss://127.0.0.1:$TEST_NGINX_TLS_REDIS_PORT;
        empty_gif;
    }
--- init
main::logged(qr/farm_limit: redis rediss:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(TLS certificate verify failed: (?:unable to get local issuer certificate|self-signed certificate in certificate chain)\)/);
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 200]
--- response_headers eval
["!X-RateLimit-Remaining-Day", "!X-RateLimit-Remaining-Day"]



=== TEST 7: ?ssl_verify=off: the same untrusted server counts
--- config
    location = /t {
        farm_limit zone=noverify key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=rediss://127.0.0.1:$TEST_NGINX_TLS_REDIS_PORT/0?ssl_verify=off;
        empty_gif;
    }
--- init
FarmTest::redis_cli($main::Redis, 'FLUSHALL');
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]
--- response_headers eval
["X-RateLimit-Remaining-Day: 0", "X-RateLimit-Remaining-Day: 0"]
--- no_error_log
[error]



=== TEST 8: a plain redis:// URL to the TLS port: the connection fails, the request passes (the plain path is the same code, t/31-limit-redis.t)
--- config
    location = /t {
        farm_limit zone=plain key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=redis://127.0.0.1:$TEST_NGINX_TLS_REDIS_PORT;
        empty_gif;
    }
--- init
main::logged(qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable/);
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Remaining-Day



=== TEST 9: an unknown rediss:// option fails the configuration, naming it
--- config
    location = /t {
        farm_limit zone=bad key=$remote_addr day=1 policy=redis
                   redis=rediss://127.0.0.1:6380/0?ssl_verify=maybe;
        empty_gif;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "redis=": the rediss:\/\/ option "ssl_verify" is not one of ssl_verify=on\|off, server_name=NAME, ssl_trusted_certificate=FILE/



=== TEST 10: the registry's Redis stays plain: farm_registry refuses rediss:// with a clear message
--- http_config
    upstream agents {
        farm_registry rediss://127.0.0.1:6380 service=agents;
    }
--- config
    location / { proxy_pass http://agents; }
--- must_die
--- error_log eval
qr/\[emerg\] .*registry URL: rediss:\/\/ \(Redis over TLS\) is not supported for a registry or consumers \(only by farm_limit's redis= and Kong rate-limiting\)/



=== TEST 11: the reply bounds hold on the new connection: a 6 MB bulk reply ends the connection at 4 MB, the request passes
--- config
    location = /t {
        farm_limit zone=hugebulk key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=redis://127.0.0.1:$TEST_NGINX_HUGE_BULK_PORT;
        empty_gif;
    }
--- init
main::logged(qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(reply too large: more than 4194304 bytes\)/);
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Remaining-Day



=== TEST 12: ... and an array of 5000000 elements is refused when its header arrives, with the reason
--- config
    location = /t {
        farm_limit zone=hugearray key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=redis://127.0.0.1:$TEST_NGINX_HUGE_ARRAY_PORT;
        empty_gif;
    }
--- init
main::logged(qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(reply too large: more than 1048576 elements\)/);
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Remaining-Day



=== TEST 13: ... and so is a reply whose nested arrays pass 1048576 elements together, none of them alone
--- config
    location = /t {
        farm_limit zone=hugenested key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=redis://127.0.0.1:$TEST_NGINX_HUGE_NESTED_PORT;
        empty_gif;
    }
--- init
main::logged(qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(reply too large: more than 1048576 elements\)/);
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Remaining-Day



=== TEST 14: a TLS handshake that fails names OpenSSL's reason (here a server that does not speak TLS)
--- config
    location = /t {
        farm_limit zone=notls key=$remote_addr day=1 policy=redis
                   timeout=5s
                   redis=rediss://127.0.0.1:$TEST_NGINX_HUGE_ARRAY_PORT;
        empty_gif;
    }
--- init
main::logged(qr/farm_limit: redis rediss:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(TLS handshake failed: [a-z][a-z ]+\)/);
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Remaining-Day
