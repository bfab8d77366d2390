# farm_registry_propagation_seconds: the time from the "ts" an agent wrote
# in its record to the record applied by the gateway.  A record written
# with a ts 2 s old is counted once with at least 2 s; rewriting it with
# the same ts is not a registration; a farm-agent's own registrations
# (Redis, the built-in registry) count; a bad ts is rejected naming the
# field; agents already registered when a gateway starts are not counted.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp qw(tempdir);
use Time::HiRes ();

our $Redis = start_redis();
our $Dir = tempdir('farm-prop-XXXX', TMPDIR => 1, CLEANUP => 1);
our ($Agent, $Self);

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_TOKEN_FILE} = "$Dir/agents.token";

{
    open my $f, '>', "$Dir/agents.token" or die "$Dir/agents.token: $!\n";
    print {$f} "prop-" . join('', map { ('a' .. 'z')[rand 26] } 1 .. 20) . "\n";
    close $f;
}

# the samples of one scrape of /metrics: { 'name{labels}' => value }
sub scrape {
    local $FarmTest::HttpTimeout = 20;
    my ($code, undef, $body) = FarmTest::http_get(FarmTest::gateway_port(),
                                                  '/metrics');
    die "scrape: " . ($code // 'nothing') . "\n"
        unless defined $code && $code == 200;
    my %s;
    for my $line (split /\n/, $body) {
        next if $line =~ /^#/;
        my ($key, $value) = $line =~ /^(\S+) (\S+)$/ or next;
        $s{$key} = $value;
    }
    return wantarray ? ($body, \%s) : \%s;
}

# one series of the propagation histogram ('_count', '_sum', ...)
sub prop {
    my ($what, $registry) = @_;
    return scrape()->{"farm_registry_propagation_seconds$what"
                      . "{pool=\"agents\",registry=\"$registry\"}"} // 0;
}

sub now_ms { int(Time::HiRes::time() * 1000) }

# the first full sync done: what it finds was there before the gateway
sub synced {
    FarmTest::wait_until(sub {
        scrape()->{'farm_registry_last_sync_timestamp_seconds'
                   . '{pool="agents",registry="redis"}'} > 0
    }, 20, 'the first full sync');
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
    location = /farm {
        farm_status;
    }
    location = /metrics {
        farm_metrics;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: Redis: a record 2 s old counts once, a rewrite with its ts does not, a farm-agent counts
--- init
main::synced();
Test::More::is(main::prop('_count', 'redis'), 0, 'nothing propagated yet');

my $ts = main::now_ms() - 2000;
FarmTest::put_record($main::Redis, id => 'old', port => 1, ts => $ts);
FarmTest::wait_until(sub { main::prop('_count', 'redis') == 1 }, 20,
                     'one propagation observed');
Test::More::cmp_ok(main::prop('_sum', 'redis'), '>=', 2, 'its sum is at least 2 s');

# the same registration with another weight: the record changes, its ts not
FarmTest::put_record($main::Redis, id => 'old', port => 1, ts => $ts, weight => 3);
FarmTest::wait_until(sub { FarmTest::farm_agents()->{old}{weight} == 3 }, 20,
                     'the new weight applied');
# a record without ts is not measured
FarmTest::put_record($main::Redis, id => 'nots', port => 2);
FarmTest::wait_until(sub { FarmTest::farm_agents()->{nots} }, 20, 'nots joined');
Test::More::is(main::prop('_count', 'redis'), 1, 'neither counted');

$main::Agent = FarmTest::start_agent(id => 'real', ttl => '5s',
    registry => "redis://127.0.0.1:$main::Redis->{port}");
FarmTest::wait_until(sub { main::prop('_count', 'redis') == 2 }, 20,
                     'the farm-agent registration observed');
my $rec = FarmTest::redis_cmd($main::Redis, 'GET', 'farm:agents:agent:real');
Test::More::like($rec, qr/"ts":\d{13}\b/, 'farm-agent writes ts in its record');

my ($text) = main::scrape();
my ($rc, $out) = FarmTest::promtool_metrics($text);
Test::More::is($rc, 0, 'promtool check metrics exits 0') or Test::More::diag($out);
--- request
GET /metrics
--- response_body_like: # HELP farm_registry_propagation_seconds [^\n]+\n# TYPE farm_registry_propagation_seconds histogram\n
--- no_error_log
[error]



=== TEST 2: a restarted gateway does not count what it finds; a bad ts is rejected naming the field
--- init
main::synced();
FarmTest::wait_until(sub { FarmTest::farm_agents()->{real} }, 20, 'real found');
Test::More::is(main::prop('_count', 'redis'), 0,
               'agents registered before the gateway started are not counted');
FarmTest::put_record($main::Redis, id => 'badts', port => 3, ts => 1.5);
FarmTest::wait_until(sub {
    main::scrape()->{'farm_registry_records_rejected_total'
                     . '{pool="agents",registry="redis"}'} >= 1
}, 20, 'the bad record rejected');
Test::More::ok(!FarmTest::farm_agents()->{badts}, 'badts not routed');
FarmTest::deregister($main::Redis, 'badts');
FarmTest::deregister($main::Redis, 'old');
FarmTest::deregister($main::Redis, 'nots');
FarmTest::stop_agent($main::Agent);
--- request
GET /farm
--- error_log eval
qr/farm:agents:agent:badts.*ts: must be an integer from 1 to 9007199254740991 \(Unix time in milliseconds\)/



=== TEST 3: the built-in registry: a farm-agent's registration counts
--- http_config
    upstream agents {
        farm_registry builtin service=agents token_file=$TEST_NGINX_TOKEN_FILE ttl=5s;
    }
--- config
    location /farm/registry/ {
        farm_registry_api;
    }
    location = /farm {
        farm_status;
    }
    location = /metrics {
        farm_metrics;
    }
--- init
Test::More::is(main::prop('_count', 'builtin'), 0, 'nothing propagated yet');
$main::Self = FarmTest::start_agent(
    id => 'self1', ttl => '5s',
    registry => 'http://127.0.0.1:' . FarmTest::gateway_port() . '/farm/registry',
    extra => ['--token-file', $main::Dir . '/agents.token']);
FarmTest::wait_until(sub { main::prop('_count', 'builtin') == 1 }, 20,
                     'the registration observed');
Test::More::ok(defined main::scrape()->{'farm_registry_propagation_seconds_sum'
                                       . '{pool="agents",registry="builtin"}'},
               'the sum is there');
Test::More::cmp_ok(main::prop('_sum', 'builtin'), '<', 3600,
                   'its time is the registration, not the hour');
FarmTest::stop_agent($main::Self);
--- request
GET /metrics
--- response_body_like: farm_registry_propagation_seconds_count\{pool="agents",registry="\w+"\} 1\n
--- no_error_log
[error]
