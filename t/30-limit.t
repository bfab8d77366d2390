# farm_limit with policy=local: each window, the headers counting down, the
# 429 and its Retry-After, windows enforced together, the reset at the
# window's edge, realip, shared zones, eviction from a full zone, reloads.
# Two workers: the counts must be exact across them.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use Time::HiRes ();

# A request sequence started here stays inside one window of every size:
# the first quarter of a second, not in the last two seconds of a minute
# (hours, days, months and years end at a minute's end too).
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

sub worker_pids {
    my ($master) = @_;
    opendir my $d, '/proc' or return ();
    my @pids;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        my ($ppid) = $stat =~ /^\d+ \(.*?\) \S (\d+)/;
        next unless defined $ppid && $ppid == $master;
        open my $cl, '<', "/proc/$p/cmdline" or next;
        my $cmd = do { local $/; <$cl> } // '';
        push @pids, $p if $cmd =~ /worker process/ && $cmd !~ /shutting down/;
    }
    return @pids;
}

master_on();
workers(2);

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: second window: headers count down, then 429
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr second=2;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Second: 2\nX-RateLimit-Remaining-Second: 1\nRateLimit-Limit: 2\nRateLimit-Remaining: 1\nRateLimit-Reset: 1",
 "X-RateLimit-Limit-Second: 2\nX-RateLimit-Remaining-Second: 0\nRateLimit-Remaining: 0",
 "X-RateLimit-Remaining-Second: 0\nRetry-After: 1\nContent-Type: application/json; charset=utf-8"]
--- response_body_like eval
[qr/^GIF/, qr/^GIF/, qr/^\{"message":"API rate limit exceeded"\}$/]
--- no_error_log
[error]



=== TEST 2: minute window: headers count down, then 429
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr minute=2;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Minute: 2\nX-RateLimit-Remaining-Minute: 1\nRateLimit-Limit: 2\nRateLimit-Remaining: 1\n!X-RateLimit-Limit-Second",
 "X-RateLimit-Remaining-Minute: 0\nRateLimit-Remaining: 0",
 "X-RateLimit-Limit-Minute: 2\nX-RateLimit-Remaining-Minute: 0"]
--- response_headers_like eval
["RateLimit-Reset: (?:[1-9]|[1-5][0-9]|60)", "RateLimit-Reset: \\d+", "Retry-After: (?:[3-9]|[1-5][0-9]|60)"]
--- response_body_like eval
[qr/^GIF/, qr/^GIF/, qr/^\{"message":"API rate limit exceeded"\}$/]
--- no_error_log
[error]



=== TEST 3: hour window
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr hour=2;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Hour: 2\nX-RateLimit-Remaining-Hour: 1",
 "X-RateLimit-Remaining-Hour: 0",
 "X-RateLimit-Remaining-Hour: 0"]
--- response_headers_like eval
["RateLimit-Reset: \\d+", "RateLimit-Reset: \\d+", "Retry-After: [1-9]\\d*"]
--- no_error_log
[error]



=== TEST 4: day window
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr day=2;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Day: 2\nX-RateLimit-Remaining-Day: 1",
 "X-RateLimit-Remaining-Day: 0",
 "X-RateLimit-Remaining-Day: 0"]
--- response_headers_like eval
["RateLimit-Reset: \\d+", "RateLimit-Reset: \\d+", "Retry-After: [1-9]\\d*"]
--- no_error_log
[error]



=== TEST 5: month window
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr month=2;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Month: 2\nX-RateLimit-Remaining-Month: 1",
 "X-RateLimit-Remaining-Month: 0",
 "X-RateLimit-Remaining-Month: 0"]
--- response_headers_like eval
["RateLimit-Reset: \\d+", "RateLimit-Reset: \\d+", "Retry-After: [1-9]\\d*"]
--- no_error_log
[error]



=== TEST 6: year window
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr year=2;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Year: 2\nX-RateLimit-Remaining-Year: 1",
 "X-RateLimit-Remaining-Year: 0",
 "X-RateLimit-Remaining-Year: 0"]
--- response_headers_like eval
["RateLimit-Reset: \\d+", "RateLimit-Reset: \\d+", "Retry-After: [1-9]\\d*"]
--- no_error_log
[error]



=== TEST 7: windows together: a request rejected by one counts in none, and the second window resets at its edge
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr second=2 minute=3;
        empty_gif;
    }
--- init
main::fresh_second();
my @r = map { [ main::get('/t') ] } 1 .. 3;
Test::More::is(join(' ', map { $_->[0] } @r), '200 200 429', 'two pass in the second, the third is rejected');
Test::More::is($r[1][1]{'x-ratelimit-remaining-minute'}, 1, 'the minute has one left');
Test::More::is($r[2][1]{'x-ratelimit-remaining-minute'}, 1, 'the rejected request took nothing from the minute');
Test::More::is($r[2][1]{'retry-after'}, 1, 'retry after the second');
Test::More::is($r[1][1]{'ratelimit-limit'}, 2, 'RateLimit-* describe the tighter window (second, 0 left of 2)');
# poll across the second's edge: rejected polls count nowhere
my $after;
FarmTest::wait_until(sub {
    my ($code, $h) = main::get('/t');
    $after = $h;
    return $code == 200;
}, 3, 'the next second');
Test::More::is($after->{'x-ratelimit-remaining-second'}, 1, 'a new second: one of two used');
Test::More::is($after->{'x-ratelimit-remaining-minute'}, 0, 'the minute is now full: 3 of 3');
Test::More::is($after->{'ratelimit-limit'}, 3, 'RateLimit-* now describe the minute');
--- request
GET /t
--- error_code: 429
--- response_headers
X-RateLimit-Remaining-Minute: 0
RateLimit-Limit: 3
RateLimit-Remaining: 0
--- response_headers_like
Retry-After: \d+
--- no_error_log
[error]



=== TEST 8: status= sets the rejection status; the body and Retry-After stay
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr minute=1 status=503;
        empty_gif;
    }
--- init
main::fresh_second();
my ($code) = main::get('/t');
Test::More::is($code, 200, 'the first request passes');
--- request
GET /t
--- error_code: 503
--- response_body chop
{"message":"API rate limit exceeded"}
--- response_headers
X-RateLimit-Remaining-Minute: 0
Content-Type: application/json; charset=utf-8
--- response_headers_like
Retry-After: \d+
--- error_log
farm_limit: zone "w" rejected the request: minute limit 1 reached
--- no_error_log
[error]



=== TEST 9: headers=off: no rate limit headers, only Retry-After on the rejection
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr minute=1 headers=off;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]
--- response_headers eval
["!X-RateLimit-Limit-Minute\n!X-RateLimit-Remaining-Minute\n!RateLimit-Limit\n!RateLimit-Remaining\n!RateLimit-Reset",
 "!X-RateLimit-Limit-Minute\n!RateLimit-Remaining\nContent-Type: application/json; charset=utf-8"]
--- response_headers_like eval
["Content-Type: image/gif", "Retry-After: \\d+"]
--- no_error_log
[error]



=== TEST 10: an empty key is not limited
--- config
    location = /t {
        farm_limit zone=w:1m key=$http_x_client minute=1;
        empty_gif;
    }
--- init
main::fresh_second();
my @codes = map { (main::get('/t'))[0] } 1 .. 5;
Test::More::is("@codes", '200 200 200 200 200', 'no X-Client: never limited');
my @named = map { (main::get('/t', 'X-Client' => 'c1'))[0] } 1 .. 2;
Test::More::is("@named", '200 429', 'with X-Client: limited');
--- request
GET /t
--- error_code: 200
--- response_headers
!X-RateLimit-Limit-Minute
!RateLimit-Limit
--- no_error_log
[error]



=== TEST 11: realip: a spoofed X-Forwarded-For from an untrusted client buys no fresh quota
--- config
    set_real_ip_from 10.0.0.0/8;
    real_ip_header X-Forwarded-For;
    location = /t {
        farm_limit zone=ip:1m key=$remote_addr minute=2;
        add_header X-Client $remote_addr always;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 2.2.2.2", "X-Forwarded-For: 3.3.3.3"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-Client: 127.0.0.1", "X-Client: 127.0.0.1\nX-RateLimit-Remaining-Minute: 0", "X-Client: 127.0.0.1"]
--- no_error_log
[error]



=== TEST 12: realip: behind a trusted proxy each client has its own quota
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        farm_limit zone=ip:1m key=$remote_addr minute=2;
        add_header X-Client $remote_addr always;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 2.2.2.2", "X-Forwarded-For: 3.3.3.3", "X-Forwarded-For: 1.1.1.1"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["X-Client: 1.1.1.1\nX-RateLimit-Remaining-Minute: 1",
 "X-Client: 2.2.2.2\nX-RateLimit-Remaining-Minute: 1",
 "X-Client: 3.3.3.3\nX-RateLimit-Remaining-Minute: 1",
 "X-Client: 1.1.1.1\nX-RateLimit-Remaining-Minute: 0"]
--- no_error_log
[error]



=== TEST 13: one zone in two locations, sized where it is named later: shared counters, each location its own limit
--- config
    location = /a {
        farm_limit zone=shared key=$remote_addr minute=3;
        empty_gif;
    }
    location = /b {
        farm_limit zone=shared:64k key=$remote_addr minute=10;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /a", "GET /b", "GET /a", "GET /a", "GET /b"]
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers eval
["X-RateLimit-Remaining-Minute: 2", "X-RateLimit-Limit-Minute: 10\nX-RateLimit-Remaining-Minute: 8",
 "X-RateLimit-Remaining-Minute: 0", "X-RateLimit-Remaining-Minute: 0",
 "X-RateLimit-Remaining-Minute: 6"]
--- no_error_log
[error]



=== TEST 14: limits set at server level apply below; "farm_limit off" lifts them; a location's own lines replace them
--- config
    farm_limit zone=srv:1m key=$remote_addr minute=1;
    location = /inherits {
        empty_gif;
    }
    location = /off {
        farm_limit off;
        empty_gif;
    }
    location = /own {
        farm_limit zone=own:1m key=$remote_addr minute=5;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /inherits", "GET /inherits", "GET /off", "GET /off", "GET /own"]
--- error_code eval
[200, 429, 200, 200, 200]
--- response_headers eval
["X-RateLimit-Limit-Minute: 1", "X-RateLimit-Limit-Minute: 1", "!X-RateLimit-Limit-Minute", "!X-RateLimit-Limit-Minute",
 "X-RateLimit-Limit-Minute: 5\nX-RateLimit-Remaining-Minute: 4"]
--- no_error_log
[error]



=== TEST 15: two limits: when the second rejects, the first gives back what it counted
--- config
    location = /t {
        farm_limit zone=per_ip:1m key=$remote_addr minute=10;
        farm_limit zone=all:1m key=everyone minute=2;
        empty_gif;
    }
    location = /ip {
        farm_limit zone=per_ip key=$remote_addr minute=10;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /ip"]
--- error_code eval
[200, 200, 429, 429, 200]
--- response_headers eval
["X-RateLimit-Remaining-Minute: 1", "X-RateLimit-Remaining-Minute: 0", "X-RateLimit-Remaining-Minute: 0",
 "X-RateLimit-Remaining-Minute: 0", "X-RateLimit-Remaining-Minute: 7"]
--- no_error_log
[error]



=== TEST 16: an internal redirect does not count the request twice, and the headers follow it
--- config
    location = /t {
        farm_limit zone=r:1m key=$remote_addr minute=5;
        error_page 404 = /fallback;
        try_files /no-such-file =404;
    }
    location = /fallback {
        farm_limit zone=r key=$remote_addr minute=5;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-RateLimit-Remaining-Minute: 4", "X-RateLimit-Remaining-Minute: 3"]
--- no_error_log
[error]



=== TEST 17: exact across two workers: 40 concurrent clients, a limit of 25, 25 admitted
--- config
    location = /t {
        farm_limit zone=x:1m key=$remote_addr minute=25;
        empty_gif;
    }
--- init
main::fresh_second();
my $port = FarmTest::gateway_port();
my %n;
$n{$_}++ for main::parallel_codes(map { "http://127.0.0.1:$port/t?$_" } 1 .. 40);
Test::More::is($n{200} // 0, 25, '25 admitted');
Test::More::is($n{429} // 0, 15, '15 rejected');
--- request
GET /t
--- error_code: 429
--- response_headers
X-RateLimit-Remaining-Minute: 0
--- no_error_log
[error]



=== TEST 18: a full zone evicts the least recently used keys (logged), and keeps working
--- config
    location = /t {
        farm_limit zone=tiny:32k key=$arg_k minute=1;
        empty_gif;
    }
--- init
main::fresh_second();
my ($first) = main::get('/t?k=first');
my ($again) = main::get('/t?k=first');
Test::More::is("$first $again", '200 429', 'key "first" used up its minute');
my $bad = 0;
for my $i (1 .. 600) {
    my ($code) = main::get("/t?k=key-$i");
    $bad++ unless defined $code && $code == 200;
}
Test::More::is($bad, 0, '600 new keys all admitted');
my ($evicted) = main::get('/t?k=first');
Test::More::is($evicted, 200, '"first" was evicted: its count is lost');
--- request
GET /t?k=key-600
--- error_code: 429
--- error_log eval
qr/\[warn\] .*farm_limit zone "tiny" is full with \d+ keys: \d+ least recently used keys evicted, their counts lost, and 0 requests not counted since the last report; raise the zone's size/
--- no_error_log
[error]
[crit]
[alert]



=== TEST 19: a key longer than 256 bytes is limited by its SHA-1
--- config
    location = /t {
        farm_limit zone=long:1m key=$http_x_long minute=1;
        empty_gif;
    }
--- init
main::fresh_second();
my $a = 'a' x 2000;
my $b = ('a' x 1999) . 'b';
my @codes = map { (main::get('/t', 'X-Long' => $_))[0] } $a, $a, $b;
Test::More::is("@codes", '200 429 200', 'same long key limited, another one not');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]



=== TEST 20: nginx -s reload keeps the zone and its counts
--- config
    location = /t {
        farm_limit zone=keep:1m key=$remote_addr minute=5;
        empty_gif;
    }
--- init
main::fresh_second();
main::get('/t') for 1 .. 2;
my $master = FarmTest::nginx_pid();
my %old = map { $_ => 1 } main::worker_pids($master);
kill 'HUP', $master;
FarmTest::wait_until(sub {
    my @now = main::worker_pids($master);
    return @now && !grep { $old{$_} } @now;
}, 10, 'new workers');
--- request
GET /t
--- error_code: 200
--- response_headers
X-RateLimit-Remaining-Minute: 2
--- no_error_log
[error]



=== TEST 21: "satisfy any" with an allow that matches does not skip the limit
--- config
    location = /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        farm_limit zone=sat:1m key=$remote_addr minute=1;
        empty_gif;
    }
--- init
main::fresh_second();
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]
--- no_error_log
[error]
