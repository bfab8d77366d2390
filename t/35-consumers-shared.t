# Consumers from Redis (farm_consumers redis://...) with several workers
# (review A12): one worker, the consumers' sync owner, reads Redis every
# refresh= and publishes the table in shared memory for all of them, so
# four workers cost one HGETALL of each hash per refresh=, not four, and a
# change is seen by every worker at the same moment.  The owner's role
# survives a reload and a SIGKILL.  More keys than size= holds at start
# stop nginx with a message.
#
# Reads are counted with Redis' own INFO commandstats.  The count is only
# ever compared with an upper bound (at most one read per refresh=, plus
# two), which a slow machine cannot exceed: slowness means fewer reads.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use Digest::SHA qw(sha256_hex);
use Time::HiRes ();

our $Redis = start_redis();

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_RP_PORT} = FarmTest::free_port();

sub add_key {
    my ($key, $name) = @_;
    FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-keys', sha256_hex($key), $name);
}

# through the reuseport server: a new connection each, spread over the
# workers by the kernel
sub code_of {
    my ($key) = @_;
    my ($code) = FarmTest::http_get($ENV{TEST_NGINX_RP_PORT}, "/t?apikey=$key");
    return $code // 'none';
}

sub codes {
    my ($key, $n) = @_;
    return join ' ', map { code_of($key) } 1 .. $n;
}

sub hgetall_calls {
    my $info = FarmTest::redis_cmd($main::Redis, 'INFO', 'commandstats');
    return $info =~ /cmdstat_hgetall:calls=(\d+)/ ? $1 : 0;
}

# Waits for $reads reads (two HGETALLs each) and checks they took at least
# as many refresh= periods (200 ms) as there were reads, give or take two.
sub one_read_per_refresh {
    my ($reads, $what) = @_;
    FarmTest::redis_cmd($main::Redis, 'CONFIG', 'RESETSTAT');
    my $t0 = Time::HiRes::time();
    FarmTest::wait_until(sub { hgetall_calls() >= 2 * $reads }, 60, "$reads reads");
    my $calls = hgetall_calls();
    my $periods = int((Time::HiRes::time() - $t0) / 0.2);
    Test::More::cmp_ok($calls, '<=', 2 * ($periods + 2),
                       "$what: $calls HGETALL in $periods refresh periods (4 workers)");
}

# the pids of the processes that logged they read the consumers
sub readers {
    open my $fh, '<', FarmTest::nginx_error_log() or return ();
    return map { /\] (\d+)#\d+: farm_consumers: this worker reads/ ? $1 : () } <$fh>;
}

add_key('alice-key', 'alice');
redis_cmd($Redis, 'HSET', 'farm:consumer-tiers', 'alice', 'gold');

# more keys than a 64k zone holds, under another prefix
redis_cmd($Redis, 'HSET', 'big:consumer-keys',
          map { (sha256_hex("big-$_"), "user$_") } 1 .. 2000);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms;
    server {
        listen 127.0.0.1:$TEST_NGINX_RP_PORT reuseport;
        location = /t {
            farm_key_auth;
            add_header X-Consumer $farm_consumer always;
            add_header X-Tier "[$farm_tier]" always;
            empty_gif;
        }
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location = /t {
        farm_key_auth;
        add_header X-Consumer $farm_consumer always;
        add_header X-Tier "[$farm_tier]" always;
        empty_gif;
    }
_EOC_
});

master_on();
workers(4);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: more keys at start than size= holds: nginx does not start, and says why
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=big size=64k;
--- config
    location /a { empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_consumers: 2000 keys of 2000 consumers do not fit in size=65536; raise size=/



=== TEST 2: four workers: one reads Redis, once per refresh; a key added is known to every worker as soon as to one
--- init
FarmTest::wait_until(sub { main::code_of('alice-key') eq '200' }, 10, 'alice known');
main::one_read_per_refresh(10, 'steady');
main::add_key('carol-key', 'carol');
FarmTest::wait_until(sub { main::code_of('carol-key') eq '200' }, 10, 'carol known');
Test::More::is(main::codes('carol-key', 24), join(' ', ('200') x 24),
               'every worker knows carol as soon as one does');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-keys', Digest::SHA::sha256_hex('carol-key'));
FarmTest::wait_until(sub { main::code_of('carol-key') eq '401' }, 10, 'carol removed');
Test::More::is(main::codes('carol-key', 24), join(' ', ('401') x 24),
               'and no worker knows her once one does not');
my @readers = main::readers();
Test::More::is(scalar @readers, 1, 'one worker reads the consumers');
--- request
GET /t?apikey=alice-key
--- error_code: 200
--- response_headers
X-Consumer: alice
X-Tier: [gold]
--- no_error_log
[error]



=== TEST 3: a reload keeps the table (Redis down meanwhile) and the new worker 0 takes over the reads
--- init
FarmTest::wait_until(sub { main::code_of('alice-key') eq '200' }, 10, 'alice known');
FarmTest::wait_until(sub { main::readers() == 1 }, 10, 'worker 0 to read the consumers');
FarmTest::stop_redis($main::Redis);
FarmTest::nginx_reload();
Test::More::is(main::codes('alice-key', 24), join(' ', ('200') x 24),
               'after the reload, with Redis down, every worker still knows alice');
$main::Redis = FarmTest::restart_redis($main::Redis);
main::add_key('alice-key', 'alice');
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'alice', 'gold');
FarmTest::wait_until(sub { main::readers() == 2 }, 10, 'the new worker 0 to read the consumers');
main::add_key('dave-key', 'dave');
FarmTest::wait_until(sub { main::code_of('dave-key') eq '200' }, 10, 'dave known');
Test::More::is(main::codes('dave-key', 24), join(' ', ('200') x 24),
               'a key added after the reload: every worker');
main::one_read_per_refresh(10, 'after the reload');
my @readers = main::readers();
Test::More::is(scalar @readers, 2, 'the reads moved to the new worker 0');
Test::More::isnt($readers[1], $readers[0], 'another process');
--- request
GET /t?apikey=dave-key
--- error_code: 200
--- error_log
farm_consumers: this worker reads



=== TEST 4: the reading worker killed with SIGKILL: its replacement reads, once per refresh
--- init
FarmTest::wait_until(sub { main::code_of('alice-key') eq '200' }, 10, 'alice known');
FarmTest::wait_until(sub { main::readers() == 1 }, 10, 'worker 0 to read the consumers');
my ($owner) = main::readers();
kill 'KILL', $owner;
FarmTest::wait_until(sub { main::readers() == 2 }, 20, 'a new worker to read the consumers');
my @readers = main::readers();
Test::More::isnt($readers[1], $owner, 'the replacement reads');
main::add_key('erin-key', 'erin');
FarmTest::wait_until(sub { main::code_of('erin-key') eq '200' }, 10, 'erin known');
Test::More::is(main::codes('erin-key', 24), join(' ', ('200') x 24),
               'a key added after the crash: every worker');
main::one_read_per_refresh(10, 'after the crash');
--- request
GET /t?apikey=erin-key
--- error_code: 200
--- no_error_log
[error]



=== TEST 5: the reading worker killed again and again while it builds tables of 20,000 consumers on a thread: no block is left behind in a zone that holds two tables, and the replacement keeps switching them
--- http_config
    farm_consumers redis://127.0.0.1:$TEST_NGINX_REDIS_PORT refresh=200ms size=5m timeout=60s;
    server {
        listen 127.0.0.1:$TEST_NGINX_RP_PORT reuseport;
        location = /t {
            farm_key_auth;
            add_header X-Consumer $farm_consumer always;
            add_header X-Tier "[$farm_tier]" always;
            empty_gif;
        }
    }
--- init
# timeout=60s: a read of 20,000 consumers (a reply of about 2 MB) by
# a worker starved of CPU (ASan, a loaded CI machine, a niced run beside
# a benchmark) may take more than the default 3 s; timed out, it would
# start again from nothing and the tiers below would never be seen.
# The waits are generous for the same reason: they only bound a failure.
# 20,000 consumers of one key each, about 2 MB a table: the table in use
# and the one being built fit in 5m, a third (a block leaked by a worker
# killed while building) does not, and its refresh would log an error
my $n = 20000;
my @keys = map { (Digest::SHA::sha256_hex("many-key-$_"), sprintf('many-%05d', $_)) } 0 .. $n - 1;
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-keys', @keys);
FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'many-00007', 'tier-a');
FarmTest::wait_until(sub { main::code_of('many-key-19999') eq '200' }, 180, 'the 20,000 consumers');
# every refresh builds a table: one tier flips all the time (same length)
my $flips = 0;
my $flip = sub {
    $flips++;
    FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'many-00007',
                        $flips % 2 ? 'tier-b' : 'tier-a');
};
for my $kill (1 .. 6) {
    my @before = main::readers();
    $flip->();
    # somewhere in a read, a build or a switch
    Time::HiRes::sleep(0.05 + rand(0.3));
    kill 'KILL', $before[-1];
    FarmTest::wait_until(sub { main::readers() > @before }, 120, "reader $kill replaced");
}
# the last reader still switches tables: a tier set now is seen by every worker
for my $tier ('tier-c', 'tier-d') {
    FarmTest::redis_cmd($main::Redis, 'HSET', 'farm:consumer-tiers', 'many-00007', $tier);
    FarmTest::wait_until(sub {
        my ($code, $h) = FarmTest::http_get($ENV{TEST_NGINX_RP_PORT}, '/t?apikey=many-key-7');
        return defined $code && $code == 200 && ($h->{'x-tier'} // '') eq "[$tier]";
    }, 180, "$tier seen");
}
Test::More::is(main::codes('many-key-7', 24), join(' ', ('200') x 24), 'every worker knows the consumer');
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-keys', @keys[grep { $_ % 2 == 0 } 0 .. $#keys]);
FarmTest::redis_cmd($main::Redis, 'HDEL', 'farm:consumer-tiers', 'many-00007');
--- request
GET /t?apikey=alice-key
--- error_code: 200
--- no_error_log
[error]
