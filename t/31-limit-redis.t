# farm_limit with policy=redis: counters in Redis shared by two gateways
# (two nginx processes), one round trip per request, and what happens when
# Redis is down, slow, flushed or restarted.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use Time::HiRes ();

our $Redis = start_redis();
our $Secure = start_redis();
redis_cmd($Secure, 'CONFIG', 'SET', 'requirepass', 's3cret');
our $Gateway2;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_SECURE_PORT} = $Secure->{port};

# see t/30-limit.t
sub fresh_second {
    FarmTest::wait_until(sub {
        my $t = Time::HiRes::time();
        return $t - int($t) < 0.25 && int($t) % 60 < 58;
    }, 5, 'the start of a second');
}

# The status codes of GETs of these URLs, all sent at once (one curl,
# parallel transfers).
sub parallel_codes {
    my @urls = @_;
    open my $curl, '-|', 'curl', '-s', '-Z', '--parallel-max', scalar(@urls),
         '-w', '%{http_code}\n', map { ('-o', '/dev/null', $_) } @urls
        or die "curl: $!\n";
    my @codes = grep { /^\d{3}$/ } map { chomp; $_ } <$curl>;
    close $curl;
    return @codes;
}

sub get {
    my ($path, %headers) = @_;
    return FarmTest::http_get(FarmTest::gateway_port(), $path, %headers);
}

sub minute_key {
    my ($zone, $key) = @_;
    my $now = time;
    return "farm:limit:{$zone:$key}:minute:" . ($now - $now % 60);
}

# waits until the gateway's requests are counted in Redis again
sub counted_again {
    FarmTest::wait_until(sub {
        my ($code, $h) = main::get('/t');
        return defined $h->{'x-ratelimit-limit-minute'};
    }, 10, 'the gateway to count in Redis again');
}

# the second gateway: its own nginx, same zone, same Redis
sub gateway2 {
    my ($limit) = @_;
    FarmTest::stop_nginx($main::Gateway2) if $main::Gateway2 && $main::Gateway2->{pid};
    $main::Gateway2 = FarmTest::start_nginx(name => 'gateway2', workers => 2, http => <<"_EOC_");
    server {
        listen 127.0.0.1:\$PORT;
        location = /t {
            farm_limit zone=shared key=\$remote_addr $limit policy=redis
                       redis=redis://127.0.0.1:$main::Redis->{port};
            empty_gif;
        }
    }
_EOC_
    return $main::Gateway2;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: headers count down, then 429; the counters are in Redis under farm:limit:{zone:key}:window:start with a TTL
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=2 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
        empty_gif;
    }
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
main::fresh_second();
my @r = map { [ main::get('/t') ] } 1 .. 2;
Test::More::is("$r[0][0] $r[1][0]", '200 200', 'two admitted');
Test::More::is("$r[0][1]{'x-ratelimit-remaining-minute'} $r[1][1]{'x-ratelimit-remaining-minute'}", '1 0',
               'remaining counts down');
my $key = main::minute_key('rz', '127.0.0.1');
Test::More::is(FarmTest::redis_cmd($main::Redis, 'GET', $key), 2, "$key holds 2");
my $ttl = FarmTest::redis_cmd($main::Redis, 'TTL', $key);
Test::More::ok($ttl > 0 && $ttl <= 120, "it expires after its window ($ttl s)");
--- request
GET /t
--- error_code: 429
--- response_body chop
{"message":"API rate limit exceeded"}
--- response_headers
X-RateLimit-Limit-Minute: 2
X-RateLimit-Remaining-Minute: 0
RateLimit-Limit: 2
RateLimit-Remaining: 0
--- response_headers_like
Retry-After: \d+
--- no_error_log
[error]



=== TEST 2: two gateways share the counts: requests alternate, the limit holds over both, rejections count nowhere
--- config
    location = /t {
        farm_limit zone=shared key=$remote_addr minute=4 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
        empty_gif;
    }
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my $g2 = main::gateway2('minute=4');
main::fresh_second();
my @seq;
for my $i (1 .. 6) {
    my ($code, $h) = $i % 2 ? main::get('/t') : FarmTest::http_get($g2->{port}, '/t');
    push @seq, "$code/" . ($h->{'x-ratelimit-remaining-minute'} // '-');
}
Test::More::is("@seq", '200/3 200/2 200/1 200/0 429/0 429/0', 'one count over two gateways');
Test::More::is(FarmTest::redis_cmd($main::Redis, 'GET', main::minute_key('shared', '127.0.0.1')), 4,
               'the rejected requests were not counted');
FarmTest::stop_nginx($g2);
Test::More::unlike(`cat $g2->{error_log}`, qr/\[(error|crit|alert|emerg)\]/, 'gateway 2 logged no error');
--- request
GET /t
--- error_code: 429
--- no_error_log
[error]



=== TEST 3: two gateways, 2 workers each, 60 concurrent clients, a limit of 40: exactly 40 admitted
--- config
    location = /t {
        farm_limit zone=shared key=$remote_addr minute=40 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
        empty_gif;
    }
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
my $g2 = main::gateway2('minute=40');
main::fresh_second();
my $p1 = FarmTest::gateway_port();
my $p2 = $g2->{port};
my @out = main::parallel_codes(map { ("http://127.0.0.1:$p1/t?$_", "http://127.0.0.1:$p2/t?$_") } 1 .. 30);
my %n;
$n{$_}++ for @out;
Test::More::is($n{200} // 0, 40, '40 admitted over both gateways')
    or Test::More::diag("@out");
Test::More::is($n{429} // 0, 20, '20 rejected');
FarmTest::stop_nginx($g2);
--- request
GET /t
--- error_code: 429
--- no_error_log
[error]



=== TEST 4: Redis down, fault_tolerant on (the default): requests pass without limit headers, one log line per interval
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=1 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
        empty_gif;
    }
--- init
FarmTest::stop_redis($main::Redis);
my @codes = map { (main::get('/t'))[0] } 1 .. 5;
Test::More::is("@codes", '200 200 200 200 200', 'all pass');
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Limit-Minute
!RateLimit-Limit
--- grep_error_log eval
qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \([^)]*\)/
--- grep_error_log_out eval
qr/\Afarm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \([^)]*\)\n\z/



=== TEST 5: Redis down, fault_tolerant=off: 503 with a JSON body
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=1 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT
                   fault_tolerant=off;
        empty_gif;
    }
--- request
GET /t
--- error_code: 503
--- response_body chop
{"message":"API rate limiting is unavailable"}
--- response_headers
Content-Type: application/json; charset=utf-8
!X-RateLimit-Limit-Minute
--- error_log eval
qr/\[error\] .*farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable/



=== TEST 6: Redis slow (stopped): the request waits timeout= and passes; the gateway recovers when Redis does
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=1000 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms;
        empty_gif;
    }
--- init
$main::Redis = FarmTest::restart_redis($main::Redis);
main::counted_again();
kill 'STOP', $main::Redis->{pid};
my ($code, $h) = main::get('/t');
kill 'CONT', $main::Redis->{pid};
Test::More::is($code, 200, 'passed while Redis was stopped');
Test::More::ok(!defined $h->{'x-ratelimit-limit-minute'}, 'not counted: no headers');
main::counted_again();
--- request
GET /t
--- error_code: 200
--- response_headers
X-RateLimit-Limit-Minute: 1000
--- error_log eval
[qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(a reply timed out\)/,
 qr/farm_limit: redis redis:\/\/127\.0\.0\.1:\d+\/0 is reachable again/]



=== TEST 7: Redis slow, fault_tolerant=off: 503 after timeout=
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=1000 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=100ms
                   fault_tolerant=off;
        empty_gif;
    }
--- init
main::counted_again();
kill 'STOP', $main::Redis->{pid};
my ($code, $h, $body) = main::get('/t');
kill 'CONT', $main::Redis->{pid};
Test::More::is("$code $body", '503 {"message":"API rate limiting is unavailable"}', '503 while Redis was stopped');
main::counted_again();
--- request
GET /t
--- error_code: 200
--- error_log
a reply timed out



=== TEST 8: the script flushed from Redis: EVAL loads it again, nothing is lost
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=1000 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
        empty_gif;
    }
--- init
main::counted_again();
FarmTest::redis_cmd($main::Redis, 'SCRIPT', 'FLUSH');
--- request
GET /t
--- error_code: 200
--- response_headers
X-RateLimit-Limit-Minute: 1000
--- no_error_log
[error]



=== TEST 9: Redis restarted empty: the gateway reconnects and counts from zero
--- config
    location = /t {
        farm_limit zone=rz key=$remote_addr minute=1000 policy=redis
                   redis=redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
        empty_gif;
    }
--- init
main::fresh_second();
main::counted_again();
main::get('/t') for 1 .. 3;
$main::Redis = FarmTest::restart_redis($main::Redis);
main::counted_again();
--- request
GET /t
--- error_code: 200
--- response_headers
X-RateLimit-Remaining-Minute: 998
--- error_log
is reachable again



=== TEST 10: a Redis with a password and a database: the counters land in that database
--- config
    location = /t {
        farm_limit zone=secure key=$remote_addr minute=5 policy=redis
                   redis=redis://:s3cret@127.0.0.1:$TEST_NGINX_SECURE_PORT/2;
        empty_gif;
    }
--- init
main::fresh_second();
main::counted_again();
my $port = $main::Secure->{port};
my $key = main::minute_key('secure', '127.0.0.1');
my $n = `redis-cli -p $port -a s3cret --no-auth-warning -n 2 GET '$key'`;
chomp $n;
Test::More::is($n, 1, 'counted in database 2');
--- request
GET /t
--- error_code: 200
--- response_headers
X-RateLimit-Remaining-Minute: 3
--- no_error_log
[error]
s3cret
