# farm_kong's rate-limiting with policy redis and sync_rate (Kong's periodic
# sync): the counts are kept in the gateway's shared memory and sent to Redis
# every sync_rate seconds by worker 0 (INCRBY + EXPIRE, the keys of the
# synchronous path), so two gateways on one Redis converge; Redis down is
# fault_tolerant's case; a killed worker 0's successor goes on syncing.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our %Agent = (a => start_agent(id => 'a'));
our $A = $Agent{a}{port};
our $Redis = start_redis();
our $RedisPort = $Redis->{port};
our $Down = start_redis();      # stopped by the tests about Redis down
our $DownPort = $Down->{port};

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

sub get {
    my ($port) = @_;
    return FarmTest::http_get($port // FarmTest::gateway_port(), '/echo');
}

# the day counter of the plugin in Redis (one key: one route, one client)
sub day_count {
    my ($redis) = @_;
    my $keys = FarmTest::redis_cmd($redis // $main::Redis, 'KEYS', 'farm:limit:*:day:*');
    return 0 unless ref $keys && @$keys;
    die "more than one day key: @$keys\n" if @$keys > 1;
    return FarmTest::redis_cmd($redis // $main::Redis, 'GET', $keys->[0]) // 0;
}

sub wait_count {
    my ($n, $what, $redis) = @_;
    FarmTest::wait_until(sub { day_count($redis) == $n }, 20, $what // "$n counted in Redis");
}

# the pid of the worker that syncs: the last one that said so, a worker of
# this nginx
sub syncing_worker {
    my $pid;
    FarmTest::wait_until(sub {
        open my $fh, '<', FarmTest::nginx_error_log() or return 0;
        while (<$fh>) {
            $pid = $1 if /worker (\d+) sends the counts to redis/;
        }
        return defined $pid && grep { $_ == $pid } FarmTest::nginx_workers();
    }, 20, 'the syncing worker');
    return $pid;
}

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: sync_rate 10 with policy redis loads (it was refused at load); worker 0 syncs
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
      config: {day: 5, policy: redis, sync_rate: 10, redis: {host: 127.0.0.1, port: $main::RedisPort}}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
--- request
GET /echo
--- error_code: 200
--- response_headers
X-RateLimit-Limit-Day: 5
X-RateLimit-Remaining-Day: 4
--- error_log eval
qr{farm_kong: rate-limiting: worker \d+ sends the counts to redis redis://127\.0\.0\.1:\d+/0 every 10000ms}
--- no_error_log
[error]



=== TEST 2: sync_rate 1: two requests' counts reach Redis after a sync; the headers count across the workers
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
      config: {day: 5, policy: redis, sync_rate: 1, redis: {host: 127.0.0.1, port: $main::RedisPort}}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my @r = map { [ main::get() ] } 1 .. 2;
Test::More::is("$r[0][0] $r[1][0]", '200 200', 'two admitted');
Test::More::is("$r[0][1]{'x-ratelimit-remaining-day'} $r[1][1]{'x-ratelimit-remaining-day'}", '4 3',
               'remaining counts down');
main::wait_count(2, 'the two requests counted in Redis by a sync');
my $keys = FarmTest::redis_cmd($main::Redis, 'KEYS', 'farm:limit:*:day:*');
Test::More::like($keys->[0], qr/^farm:limit:\{farm_kong:ratelimit:r::127\.0\.0\.1\}:day:\d+$/,
                 'the key of the synchronous path');
my $ttl = FarmTest::redis_cmd($main::Redis, 'TTL', $keys->[0]);
Test::More::ok($ttl > 0 && $ttl <= 86400 + 60, "it expires after its window ($ttl s)");
--- request
GET /echo
--- error_code: 200
--- response_headers
X-RateLimit-Remaining-Day: 2
--- no_error_log
[error]



=== TEST 3: another gateway's counts, once synced, refuse the requests here
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
      config: {day: 5, policy: redis, sync_rate: 1, redis: {host: 127.0.0.1, port: $main::RedisPort}}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my ($c1) = main::get();
Test::More::is($c1, 200, 'the first request is admitted');
my $keys = FarmTest::redis_cmd($main::Redis, 'KEYS', 'farm:limit:*:day:*');
# three requests counted elsewhere
FarmTest::redis_cmd($main::Redis, 'INCRBY', $keys->[0], 3);
my ($c2) = main::get();
Test::More::is($c2, 200, 'the second request is admitted');
main::wait_count(5, 'the sync of the second request');
FarmTest::wait_until(sub { (main::get())[0] == 429 }, 20, 'the synced count to refuse');
# not seeing the synced count, this gateway would admit up to 8 in all
Test::More::ok(main::day_count() < 8, 'the synced count refused');
--- request
GET /echo
--- more_headers
Accept: application/json
--- error_code: 429
--- response_headers
X-RateLimit-Remaining-Day: 0
--- response_headers_like
Retry-After: \d+
--- response_body_like: "message":\s*"API rate limit exceeded"
--- no_error_log
[error]



=== TEST 4: two gateways on one Redis converge: every admitted request is counted once, both end up refusing
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
      config: {day: 6, policy: redis, sync_rate: 1, redis: {host: 127.0.0.1, port: $main::RedisPort}}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my $yml = FarmTest::servroot() . '/html/kong.yml';
my $g2 = FarmTest::start_nginx(name => 'gw-sync', workers => 2, http => <<"_EOC_");
    server {
        listen 127.0.0.1:\$PORT;
        location / {
            farm_kong $yml;
            proxy_pass \$farm_kong_url;
            proxy_set_header Host \$farm_kong_host;
        }
    }
_EOC_
my ($admitted, %refused) = (0);
for my $i (1 .. 40) {
    last if $refused{a} && $refused{b};
    my $gw = $i % 2 ? 'a' : 'b';
    my ($code) = main::get($gw eq 'a' ? undef : $g2->{port});
    if ($code == 200) {
        $admitted++;
        # each step waits for the syncs: what each gateway admitted is in Redis
        main::wait_count($admitted, "$admitted admitted requests in Redis");
    } else {
        Test::More::is($code, 429, "gateway $gw refuses");
        $refused{$gw} = 1;
    }
}
Test::More::ok($refused{a} && $refused{b}, 'both gateways refuse');
Test::More::ok($admitted >= 6 && $admitted < 12,
               "$admitted admitted over both (a gateway alone would admit 6)");
Test::More::is(main::day_count(), $admitted, 'Redis counted each admitted request once');
my ($code) = main::get($g2->{port});
Test::More::is($code, 429, 'gateway 2 still refuses');
FarmTest::stop_nginx($g2);
Test::More::unlike(`cat $g2->{error_log}`, qr/\[(error|crit|alert|emerg)\]/, 'gateway 2 logged no error');
--- request
GET /echo
--- error_code: 429
--- no_error_log
[error]



=== TEST 5: Redis goes down: the counts kept here are dropped, requests are proxied (fault_tolerant) with Kong's "failed to get usage"
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
      config: {day: 100, policy: redis, sync_rate: 1, redis: {host: 127.0.0.1, port: $main::DownPort, timeout: 1000}}
"
--- init
FarmTest::restart_redis($main::Down) unless $main::Down->{pid};
FarmTest::redis_cmd($main::Down, 'FLUSHALL');
# the gateway connects (again, after a test that stopped this Redis)
FarmTest::wait_until(sub { (main::get())[1]{'x-ratelimit-limit-day'} }, 20,
                     'a request counted while Redis is up');
FarmTest::stop_redis($main::Down);
FarmTest::wait_until(sub {
    my ($code, $h) = main::get();
    return $code == 200 && !defined $h->{'x-ratelimit-limit-day'};
}, 20, 'a request proxied without the rate-limiting headers');
--- request
GET /echo
--- error_code: 200
--- response_headers
!X-RateLimit-Limit-Day
--- error_log
farm_kong: rate-limiting: failed to get usage



=== TEST 6: Redis goes down, fault_tolerant false: 500 with Kong's body
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
      config: {day: 100, policy: redis, sync_rate: 1, fault_tolerant: false, redis: {host: 127.0.0.1, port: $main::DownPort, timeout: 1000}}
"
--- init
FarmTest::restart_redis($main::Down) unless $main::Down->{pid};
FarmTest::redis_cmd($main::Down, 'FLUSHALL');
FarmTest::wait_until(sub { (main::get())[0] == 200 }, 20, 'a request admitted while Redis is up');
FarmTest::stop_redis($main::Down);
FarmTest::wait_until(sub { (main::get())[0] == 500 }, 20, 'a 500');
--- request
GET /echo
--- more_headers
Accept: application/json
--- error_code: 500
--- response_body_like: "message":\s*"An unexpected error occurred"
--- error_log
fault_tolerant is off



=== TEST 7: worker 0 killed: its successor (the respawned worker 0) goes on syncing
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
      config: {day: 100, policy: redis, sync_rate: 1, redis: {host: 127.0.0.1, port: $main::RedisPort}}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my $old = main::syncing_worker();
main::get() for 1 .. 2;
main::wait_count(2, 'two requests synced by worker 0');
kill 'KILL', $old;
FarmTest::wait_until(sub { main::syncing_worker() != $old }, 20, 'a new worker 0');
my @codes = map { (main::get())[0] } 1 .. 3;
Test::More::is("@codes", '200 200 200', 'three more admitted');
main::wait_count(5, 'the three counted in Redis by the new worker 0');
--- request
GET /echo
--- error_code: 200
--- response_headers
X-RateLimit-Remaining-Day: 94
--- no_error_log
[error]



=== TEST 8: nginx -s reload keeps the zone: no count is lost, the new worker 0 syncs
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
      config: {day: 100, policy: redis, sync_rate: 2, redis: {host: 127.0.0.1, port: $main::RedisPort}}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my @codes = map { (main::get())[0] } 1 .. 3;
Test::More::is("@codes", '200 200 200', 'three admitted');
FarmTest::nginx_reload();
main::wait_count(3, 'the three counted in Redis');
--- request
GET /echo
--- error_code: 200
--- response_headers
X-RateLimit-Remaining-Day: 96
--- no_error_log
[error]



=== TEST 9: sync_rate 0 is refused at load with Kong 3.4+'s message; sync_rate with policy local too
--- user_files
>>> kong.yml
_format_version: "3.0"
plugins:
- name: rate-limiting
  config: {minute: 10, policy: redis, redis: {host: 127.0.0.1}, sync_rate: 0}
- name: rate-limiting
  route: r
  config: {minute: 10, sync_rate: 1}
routes:
- name: r
  paths: [/]
--- request
GET /
--- must_die
--- error_log eval
[qr/\[emerg\] .*farm_kong: \S*kong\.yml:4:\d+: plugins\[0\]\.config\.sync_rate: sync_rate must be greater than 0\.02, or -1 to disable/,
 qr/\[emerg\] .*farm_kong: \S*kong\.yml:7:\d+: plugins\[1\]\.config\.sync_rate: sync_rate can only be used with the redis policy/]
