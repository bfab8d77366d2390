# farm_status at scale: filters (?pool=, ?state=), paging (?limit=&offset=,
# "total"), the summary (workers and tasks, the orchestrator's stats shape)
# and the per-agent counters; the access log variables of a request.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use JSON::PP ();

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_ADMIN_TOKEN} = temp_file('admin.token', "paging-token\n");
$ENV{TEST_NGINX_ACCESS_LOG} = temp_file('access.log', '');

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# the ids of the agents a farm_status page shows, in order, and its totals
sub page {
    my ($query) = @_;
    my $st = farm_status("/farm?$query");
    my @ids = map { map { $_->{id} } @{ $_->{agents} } } @{ $st->{farms} };
    return (join(',', @ids), $st);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
    }
    upstream others {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=others
                      resync=300ms;
    }
    log_format farm '$remote_addr "$request" $status agent=$farm_agent '
                    'region=$farm_region tries=$farm_tries '
                    'queue_wait_ms=$farm_queue_wait_ms refusal=$farm_refusal';
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    access_log $TEST_NGINX_ACCESS_LOG farm;
    location / {
        proxy_pass http://agents;
    }
    location /other/ {
        proxy_pass http://others;
    }
    location = /farm {
        farm_status;
    }
    location /farm/admin/ {
        farm_admin token_file=$TEST_NGINX_ADMIN_TOKEN;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: limit and offset page the agents; "total" counts them all
--- init
main::agents(p1 => {}, p2 => {}, p3 => {}, p4 => {}, p5 => {});
my ($all, $st) = main::page('');
my @all = split /,/, $all;
Test::More::is(scalar @all, 5, 'no limit: all five');
Test::More::is($st->{total}, 5, 'total 5');
my ($ids) = main::page('limit=2');
Test::More::is($ids, join(',', @all[0, 1]), 'limit=2: the first two');
($ids, $st) = main::page('limit=2&offset=2');
Test::More::is($ids, join(',', @all[2, 3]), 'offset=2: the next two');
Test::More::is($st->{total}, 5, 'total is still 5 on a page');
Test::More::is($st->{farms}[0]{total}, 5, "the farm's total too");
($ids) = main::page('limit=2&offset=4');
Test::More::is($ids, $all[4], 'the last page: one');
($ids, $st) = main::page('offset=9');
Test::More::is($ids, '', 'past the end: none');
Test::More::is($st->{total}, 5, 'and the total');
--- request
GET /farm?limit=x
--- error_code: 400
--- no_error_log
[error]


=== TEST 2: ?pool= and ?state= filter; total counts the matches
--- init
main::agents(p1 => {}, p2 => {}, p3 => {});
my ($code) = FarmTest::http_request(FarmTest::gateway_port(), 'PATCH',
                          '/farm/admin/pools/agents/agents/p2',
                          '{"mode":"maintenance"}',
                          Authorization => 'Bearer paging-token',
                          'Content-Type' => 'application/json');
Test::More::is($code, 200, 'p2 in maintenance');
my ($ids, $st) = main::page('state=maintenance');
Test::More::is($ids, 'p2', '?state=maintenance: p2');
Test::More::is($st->{total}, 1, 'total 1');
($ids, $st) = main::page('state=up&limit=1');
Test::More::is($st->{total}, 2, '?state=up: total 2');
Test::More::is(scalar(split /,/, $ids), 1, 'limit=1: one of them');
($ids, $st) = main::page('pool=others');
Test::More::is(scalar @{ $st->{farms} }, 1, '?pool=others: one farm');
Test::More::is($st->{farms}[0]{upstream}, 'others', 'the others');
Test::More::is($st->{total}, 0, 'with no agents');
($code) = FarmTest::http_request(FarmTest::gateway_port(), 'PATCH',
                       '/farm/admin/pools/agents/agents/p2',
                       '{"mode":"active"}',
                       Authorization => 'Bearer paging-token',
                       'Content-Type' => 'application/json');
--- request
GET /farm/admin/pools/agents/agents?state=up&limit=2&offset=1
--- more_headers
Authorization: Bearer paging-token
--- response_body_like: ^\{"pool":"agents","agents":\[\{"id":"p\d".*\],"total":3,"offset":1,"limit":2\}
--- no_error_log
[error]


=== TEST 3: the summary: workers total / online / busy / by_type, tasks and success rate
--- init
main::agents(s1 => { cap => 'gpu' }, s2 => { cap => 'gpu,cpu' }, s3 => { cap => 'cpu' });
my $bg = FarmTest::background('a slow request', 'curl', '-s', '-o', '/dev/null',
                              '--max-time', '60',
                              'http://127.0.0.1:' . FarmTest::gateway_port()
                              . '/work?ms=2000');
FarmTest::wait_until(sub { FarmTest::farm_status()->{summary}{workers}{busy} == 1 }, 10,
                     'one busy worker');
my $s = FarmTest::farm_status()->{summary};
Test::More::is($s->{workers}{total}, 3, 'workers total 3');
Test::More::is($s->{workers}{online}, 3, 'online 3');
Test::More::is_deeply($s->{workers}{by_type}, { gpu => 2, cpu => 2 }, 'by capability');
Test::More::is($s->{tasks}{assigned}, 1, 'one task assigned');
Test::More::is($s->{tasks}{pending}, 0, 'none pending');
FarmTest::finish($bg, 30);
my $before = FarmTest::farm_status()->{summary}{tasks};
FarmTest::spread(4);
FarmTest::spread(2, '/work?status=500');
my $after = FarmTest::farm_status()->{summary}{tasks};
Test::More::is($after->{completed} - $before->{completed}, 4, 'four completed');
Test::More::is($after->{failed} - $before->{failed}, 2, 'two failed (5xx)');
Test::More::ok($after->{success_rate} > 0 && $after->{success_rate} < 100,
               "success_rate $after->{success_rate} is a percentage");
my $a = FarmTest::farm_agents();
my $errors = 0;
$errors += $a->{$_}{errors} for keys %$a;
Test::More::cmp_ok($errors, '>=', 2, 'the agents count the 5xx as errors');
Test::More::ok(exists $a->{s1}{latency_ms} && exists $a->{s1}{heartbeat_age_ms}
               && exists $a->{s1}{last_check_ms},
               'latency_ms, heartbeat_age_ms and last_check_ms are shown');
--- request
GET /farm
--- response_body_like: "summary":\{"workers":\{"total":3,"online":3,"busy":0,"by_type":\{
--- no_error_log
[error]


=== TEST 4: the access log variables: agent, region, tries, refusal
--- init
main::agents(l1 => { region => 'eu' });
FarmTest::spread(1, '/work?ms=0&log=served');
FarmTest::spread(1, '/other/x');
my $log = '';
FarmTest::wait_until(sub {
    open my $fh, '<', $ENV{TEST_NGINX_ACCESS_LOG} or return 0;
    $log = do { local $/; <$fh> };
    return $log =~ m{/other/x};
}, 10, 'both requests in the access log');
Test::More::like($log, qr{"GET /work\?ms=0&log=served HTTP/1\.1" 200 agent=l1 region=eu tries=1 queue_wait_ms=- refusal=-},
                 'a served request: its agent, region and one try');
Test::More::like($log, qr{"GET /other/x HTTP/1\.1" 503 agent=- region=- tries=0 queue_wait_ms=- refusal=no_agent},
                 'a refused one: why, and the 503 the client got (not 502)');
--- request
GET /farm
--- response_body_like: "id":"l1"
--- error_log
no live upstreams


=== TEST 5: $farm_queue_wait_ms: the time a request waited in farm_queue
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_queue max=5 timeout=20s;
    }
    upstream others {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=others
                      resync=300ms;
    }
    log_format farm '$remote_addr "$request" $status agent=$farm_agent '
                    'region=$farm_region tries=$farm_tries '
                    'queue_wait_ms=$farm_queue_wait_ms refusal=$farm_refusal';
--- init
main::agents(q1 => { max_conns => 1 });
my $bg = FarmTest::background('a slow request', 'curl', '-s', '-o', '/dev/null',
                              '--max-time', '60',
                              'http://127.0.0.1:' . FarmTest::gateway_port()
                              . '/work?ms=1000');
FarmTest::wait_until(sub { FarmTest::farm_agents()->{q1}{active} == 1 }, 10,
                     'q1 busy');
my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&log=queued');
Test::More::is($code, 200, 'the queued request was served');
FarmTest::finish($bg, 30);
my $log = '';
FarmTest::wait_until(sub {
    open my $fh, '<', $ENV{TEST_NGINX_ACCESS_LOG} or return 0;
    $log = do { local $/; <$fh> };
    return $log =~ m{log=queued};
}, 10, 'the queued request in the access log');
my ($ms) = $log =~ m{"GET /work\?ms=0&log=queued HTTP/1\.1" 200 agent=q1 region=- tries=1 queue_wait_ms=(\d+) refusal=-};
Test::More::ok(defined $ms && $ms > 0, 'it waited in the queue: queue_wait_ms=' . ($ms // 'none'));
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,
--- no_error_log
[error]
