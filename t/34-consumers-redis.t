# Consumers kept in Redis (farm_consumers redis://...): keys as SHA-256
# digests in <prefix>:consumer-keys, tiers in <prefix>:consumer-tiers; read
# by the master at start, then by every worker every refresh=.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use Digest::SHA qw(sha256_hex);
use File::Temp ();

our $Redis = start_redis();

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub add_key {
    my ($key, $name, $prefix) = @_;
    $prefix //= 'farm';
    FarmTest::redis_cmd($main::Redis, 'HSET', "$prefix:consumer-keys", sha256_hex($key), $name);
}

sub code_of {
    my ($path, %headers) = @_;
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), $path, %headers);
    return wantarray ? ($code, $h) : $code;
}

# known before nginx starts: the master's read at start finds them
add_key('alice-key', 'alice');
add_key('bob-key', 'bob');
redis_cmd($Redis, 'HSET', 'farm:consumer-tiers', 'alice', 'gold');

our $Dir = File::Temp::tempdir('consumers-XXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$Dir/consumers.json" or die "$Dir: $!\n";
print $fh '{"consumers": [{"name": "filed", "tier": "file", "keys": ["file-key"]}]}';
close $fh;
$ENV{TEST_NGINX_CONSUMERS} = "$Dir/consumers.json";

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location = /t {
        farm_key_auth;
        add_header X-Consumer $farm_consumer always;
        add_header X-Tier "[$farm_tier]" always;
        empty_gif;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: consumers in Redis before the start are known from the first request (the master's read)
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=60s;
--- request eval
["GET /t?apikey=alice-key", "GET /t?apikey=bob-key", "GET /t?apikey=carol-key"]
--- error_code eval
[200, 200, 401]
--- response_headers eval
["X-Consumer: alice\nX-Tier: [gold]", "X-Consumer: bob\nX-Tier: []", "WWW-Authenticate: Key"]
--- no_error_log
[error]



=== TEST 2: a key added to Redis works after the next refresh; a tier set later follows
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
Test::More::is(main::code_of('/t?apikey=carol-key'), 401, 'carol unknown at first');
main::add_key('carol-key', 'carol');
FarmTest::wait_until(sub { main::code_of('/t?apikey=carol-key') == 200 }, 5, 'carol to be known');
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'carol', 'free');
FarmTest::wait_until(sub { (main::code_of('/t?apikey=carol-key'))[1]{'x-tier'} eq '[free]' },
                     5, 'carol to be in tier free');
--- request
GET /t?apikey=carol-key
--- error_code: 200
--- response_headers
X-Consumer: carol
X-Tier: [free]
--- no_error_log
[error]



=== TEST 3: a key removed from Redis is refused after the next refresh
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
Test::More::is(main::code_of('/t?apikey=carol-key'), 200, 'carol known');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-keys', Digest::SHA::sha256_hex('carol-key'));
FarmTest::wait_until(sub { main::code_of('/t?apikey=carol-key') == 401 }, 5, 'carol to be refused');
--- request
GET /t?apikey=alice-key
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: entries that are not a digest and a name are skipped, with a warning; the others work
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-keys', 'plain-text-key', 'mallory');
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'bob', 'not a tier');
FarmTest::wait_until(sub {
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    return scalar grep { /entries skipped/ } <$fh>;
}, 5, 'the warning');
Test::More::is(main::code_of('/t?apikey=plain-text-key'), 401, 'a key stored in clear is not a key');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-keys', 'plain-text-key');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-tiers', 'bob');
--- request
GET /t?apikey=bob-key
--- error_code: 200
--- response_headers
X-Consumer: bob
--- error_log eval
qr/\[warn\] .*farm_consumers: redis:\/\/127\.0\.0\.1:\d+\/0: 2 entries skipped: in farm:consumer-keys a field must be the SHA-256 of a key/
--- no_error_log
[error]



=== TEST 5: the consumers file and Redis together; the file is looked up first
--- http_config
    farm_consumers $TEST_NGINX_CONSUMERS;
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=farm refresh=60s;
--- request eval
["GET /t?apikey=file-key", "GET /t?apikey=alice-key"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Consumer: filed\nX-Tier: [file]", "X-Consumer: alice\nX-Tier: [gold]"]
--- no_error_log
[error]



=== TEST 6: another prefix reads other hashes
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=lab refresh=200ms;
--- init
main::add_key('lab-key', 'labrat', 'lab');
FarmTest::wait_until(sub { main::code_of('/t?apikey=lab-key') == 200 }, 5, 'the lab key');
--- request eval
["GET /t?apikey=lab-key", "GET /t?apikey=alice-key"]
--- error_code eval
[200, 401]
--- no_error_log
[error]



=== TEST 7: Redis down: the keys last read stay in use, one error line per minute
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
Test::More::is(main::code_of('/t?apikey=alice-key'), 200, 'alice known');
FarmTest::stop_redis($main::Redis);
FarmTest::wait_until(sub {
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    return scalar grep { /farm_consumers: .* is unavailable/ } <$fh>;
}, 5, 'the refresh to fail');
Time::HiRes::sleep(0.5);    # more failed refreshes, still one line
--- request
GET /t?apikey=alice-key
--- error_code: 200
--- grep_error_log eval
qr/farm_consumers: redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \([^)]*\); keeping the 2 keys last read/
--- grep_error_log_out eval
qr/\A[^\n]+\n\z/



=== TEST 8: nginx starts while Redis is down; Redis comes back empty: what it holds now is the truth
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
$main::Redis = FarmTest::restart_redis($main::Redis);
FarmTest::wait_until(sub { main::code_of('/t?apikey=alice-key') == 401 }, 5, 'alice gone with the data');
main::add_key('alice-key', 'alice');
FarmTest::wait_until(sub { main::code_of('/t?apikey=alice-key') == 200 }, 5, 'alice back');
--- request
GET /t?apikey=alice-key
--- error_code: 200
--- error_log eval
[qr/farm_consumers: redis:\/\/127\.0\.0\.1:\d+\/0 unreachable at start/,
 qr/farm_consumers: 1 keys of 1 consumers from redis:\/\/127\.0\.0\.1:\d+\/0/]



=== TEST 9: a value grown huge in Redis ends the read at 4 MB (not the whole value in the worker); the keys last read stay in use
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
FarmTest::wait_until(sub { main::code_of('/t?apikey=alice-key') == 200 }, 5, 'alice known');
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'huge', 'x' x (6 * 1024 * 1024));
FarmTest::wait_until(sub {
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    return scalar grep { /farm_consumers: .* is unavailable \(reply too large\)/ } <$fh>;
}, 10, 'the refresh to give up');
Test::More::is(main::code_of('/t?apikey=alice-key'), 200, 'alice still known');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-tiers', 'huge');
--- request
GET /t?apikey=alice-key
--- error_code: 200
--- error_log eval
[qr/farm: a Redis reply is larger than 4194304 bytes: closing the connection/,
 qr/farm_consumers: redis:\/\/127\.0\.0\.1:\d+\/0 is unavailable \(reply too large\); keeping the 1 keys last read/]



=== TEST 10: 30,000 consumers: the sync owner hands each refresh's work to a thread (the loop only takes the replies and switches the table); a key added is accepted, one removed refused
--- log_level: debug
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
--- init
my $n = 30000;
my @keys = map { (Digest::SHA::sha256_hex("bulk-key-$_"), sprintf('bulk-%05d', $_)) } 0 .. $n - 1;
my @tiers = map { (sprintf('bulk-%05d', $_), 'tier-' . ($_ % 5)) } 0 .. $n - 1;
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-keys', @keys);
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', @tiers);
FarmTest::wait_until(sub { main::code_of('/t?apikey=bulk-key-29999') == 200 }, 60, 'the bulk consumers');
Test::More::is(main::code_of('/t?apikey=dave-key'), 401, 'dave unknown at first');
main::add_key('dave-key', 'dave');
FarmTest::wait_until(sub { main::code_of('/t?apikey=dave-key') == 200 }, 60, 'dave to be known');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-keys', Digest::SHA::sha256_hex('bulk-key-17'));
FarmTest::wait_until(sub { main::code_of('/t?apikey=bulk-key-17') == 401 }, 60, 'bulk-key-17 to be refused');
my ($code, $h) = main::code_of('/t?apikey=bulk-key-18');
Test::More::is($code, 200, 'bulk-key-18 still known');
Test::More::is($h->{'x-tier'}, '[tier-3]', 'with its tier');
# the big tables were built off the loop, and the loop freed each read's
# replies (4 elements a consumer) 1,000 elements a turn
# (every refresh, unchanged ones too, frees its replies that way); a read
# the same byte for byte as the last one applied is not checked again
my (@built, @big, $same);
eval {
    FarmTest::wait_until(sub {
        open my $fh, '<', FarmTest::nginx_error_log() or return 0;
        my @lines = <$fh>;
        close $fh;
        @built = grep { /switched to a table of (\d+) keys of \d+ consumers, read and built off the loop/ && $1 >= $n } @lines;
        @big = grep { $_->[0] >= 4 * $n }
               map { /(\d+) reply elements freed in (\d+) turns of the loop/ ? [$1, $2] : () } @lines;
        $same = grep { /farm_consumers: unchanged \(the same replies\)/ } @lines;
        return @big >= 2 && $same;
    }, 60, 'two reads of 30,000 consumers freed, one found the same as the last');
};
Test::More::ok($same, 'an unchanged read recognized by its replies');
Test::More::ok(@built >= 2, 'tables of 30,000+ keys read and built off the loop (' . scalar(@built) . ')');
Test::More::ok(@big >= 2 && !grep({ $_->[1] < int($_->[0] / 1000) } @big),
               'the replies of 30,000 consumers freed over ' . join(', ', map { $_->[1] } @big) . ' turns');
# the next blocks do not see them
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-keys', @keys[grep { $_ % 2 == 0 } 0 .. $#keys]);
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-tiers', @tiers[grep { $_ % 2 == 0 } 0 .. $#tiers]);
--- request
GET /t?apikey=dave-key
--- error_code: 200
--- response_headers
X-Consumer: dave
--- error_log eval
qr/farm_consumers: \d+ \+ \d+ reply elements handed over/
--- no_error_log
[error]
