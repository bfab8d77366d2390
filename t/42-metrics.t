# farm_metrics: the Prometheus endpoint.  promtool accepts a real scrape;
# the numbers move as traffic, failures, health checks and breaker trips
# happen; ?agents=, ?state=, ?pool= and max_agent_series= choose the
# per-agent series; a scrape of thousands of agents, read slowly, is
# complete and valid.  Every assertion reads what Prometheus would store.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use IO::Select;
use IO::Socket::INET;
use File::Temp qw(tempfile);

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# GET $path; returns (status, headers, body)
sub get {
    my ($path) = @_;
    local $FarmTest::HttpTimeout = 20;
    return FarmTest::http_get(FarmTest::gateway_port(), $path);
}

# The samples of a scrape: { 'name{labels}' => value }, labels as written.
sub samples {
    my ($text) = @_;
    my %s;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/;
        my ($key, $value) = $line =~ /^(\S+) (\S+)$/ or next;
        $s{$key} = $value;
    }
    return \%s;
}

# scrape $path (default /metrics): (body, samples); dies unless 200
sub scrape {
    my ($path) = @_;
    my ($code, undef, $body) = get($path // '/metrics');
    die "scrape of " . ($path // '/metrics') . ": " . ($code // 'nothing')
        . "\n" unless defined $code && $code == 200;
    return ($body, samples($body));
}

# one sample of the default scrape (0 if absent)
sub metric {
    my ($key, $path) = @_;
    my (undef, $s) = scrape($path);
    return $s->{$key} // 0;
}

# promtool check metrics on $text: (exit status, its output)
sub promtool {
    my ($text) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    print {$fh} $text;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    return ($? >> 8, $out);
}

# $n records for agents that serve nothing (no health check: they count as
# up), written to Redis over one connection
sub many_records {
    my ($n, $prefix, $drop, $publish) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $Redis->{port},
                                     Proto => 'tcp', Timeout => 5)
        or die "redis: $!\n";
    my $cmds = '';
    for my $i (1 .. $n) {
        my $id = sprintf '%s%05d', $prefix, $i;
        my $rec = qq({"id":"$id","service":"agents","address":"127.0.0.1",)
                . qq("port":) . (20000 + $i) . '}';
        for my $c ($drop ? (['DEL', "farm:agents:agent:$id"],
                            ['SREM', 'farm:agents:agents', $id])
                         : (['SET', "farm:agents:agent:$id", $rec, 'PX', '600000'],
                            ['SADD', 'farm:agents:agents', $id]),
                   $publish ? (['PUBLISH', 'farm:agents:events',
                                ($drop ? 'deregister' : 'register') . " $id"])
                            : ())
        {
            $cmds .= '*' . @$c . "\r\n";
            $cmds .= '$' . length($_) . "\r\n$_\r\n" for @$c;
        }
    }
    print {$sock} $cmds;
    my ($buf, $lines) = ('', 0);
    while ($lines < ($publish ? 3 : 2) * $n) {
        sysread($sock, $buf, 65536, length $buf) or die "redis: $!\n";
        $lines = () = $buf =~ /\r\n/g;
    }
    close $sock;
}

# A scrape read slowly: nothing read for a second after the request, then
# 4 KB at a time; returns the body (chunked transfer decoded), and whether
# the response ended with the last chunk (a scrape cut short does not)
sub slow_scrape {
    my ($path, $quick) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => FarmTest::gateway_port(),
                                     Proto => 'tcp', Timeout => 5)
        or die "gateway: $!\n";
    setsockopt($sock, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
    print {$sock} "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                . "Connection: close\r\n\r\n";
    select(undef, undef, undef, 1) unless $quick;
    my ($raw, $sel) = ('', IO::Select->new($sock));
    while ($sel->can_read(30)) {
        my $n = sysread($sock, $raw, 4096, length $raw);
        last unless $n;
    }
    close $sock;
    my ($head, $body) = $raw =~ /\A(.*?)\r\n\r\n(.*)\z/s or return undef;
    return undef unless $head =~ /transfer-encoding: chunked/i;
    my $whole = $body =~ /(?:\A|\r\n)0\r\n\r\n\z/ ? 1 : 0;
    my $decoded = '';
    while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $len = hex $1;
        last if $len == 0;
        $decoded .= substr($body, 0, $len, '');
        $body =~ s/^\r\n//;
    }
    return wantarray ? ($decoded, $whole) : $decoded;
}


add_block_preprocessor(sub {
    my $block = shift;
    my $metrics = $block->metrics // '';
    chomp $metrics;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms max_agents=4000;
        farm_breaker failures=2 cooldown=30s;
    }
_EOC_

    # a pool no agent registers for, in every block
    $block->set_value('http_config', $block->http_config . <<_EOC_);
    upstream empty {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=nobody
                      resync=300ms;
    }
_EOC_

    $block->set_value('config', <<_EOC_) unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_next_upstream error timeout;
        proxy_connect_timeout 1s;
        proxy_read_timeout 5s;
    }
    location = /empty {
        proxy_pass http://empty;
    }
    location = /farm {
        farm_status;
    }
    location = /metrics {
        farm_metrics $metrics;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a real scrape passes promtool; requests and responses counted by class
--- init
main::agents(a => { ttl => '60s' }, b => { ttl => '60s' });
my (undef, $s0) = main::scrape();
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 10;
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=404') for 1 .. 3;
my ($text, $s) = main::scrape();
my ($rc, $out) = main::promtool($text);
Test::More::is($rc, 0, "promtool check metrics exits 0") or Test::More::diag($out);
my $d = sub { my $k = shift; ($s->{$k} // 0) - ($s0->{$k} // 0) };
Test::More::is($d->('farm_requests_total{pool="agents"}'), 13, '13 requests counted');
Test::More::is($d->('farm_responses_total{pool="agents",code="2xx"}'), 10, '10 answered 2xx');
Test::More::is($d->('farm_responses_total{pool="agents",code="4xx"}'), 3, '3 answered 4xx');
Test::More::is($d->('farm_request_duration_seconds_count{pool="agents"}'), 13,
               'the request duration histogram saw 13');
Test::More::is($d->('farm_upstream_header_duration_seconds_count{pool="agents"}'), 13,
               'the header duration histogram saw 13');
Test::More::is($s->{'farm_request_duration_seconds_bucket{pool="agents",le="+Inf"}'},
               $s->{'farm_request_duration_seconds_count{pool="agents"}'}, '+Inf bucket = count');
Test::More::is($s->{'farm_agents{pool="agents",state="up"}'}, 2, 'two agents up');
Test::More::is($s->{'farm_agents{pool="agents",state="down"}'}, 0, 'none down (exported as 0)');
Test::More::is($s->{'farm_agent_up{pool="agents",agent="a"}'}, 1, 'agent a up (default level: state)');
Test::More::ok(!exists $s->{'farm_agent_info{pool="agents",agent="a",address="127.0.0.1:' . $main::Agent{a}{port} . '",region=""}'},
               'no farm_agent_info at level state');
Test::More::is($s->{'farm_registry_up{pool="agents",registry="redis"}'}, 1, 'registry up');
Test::More::cmp_ok($s->{'farm_registry_syncs_total{pool="agents",registry="redis"}'}, '>=', 1, 'full syncs counted');
Test::More::cmp_ok($s->{'farm_registry_last_sync_timestamp_seconds{pool="agents",registry="redis"}'}, '>', time - 60,
                   'the last sync is recent');
Test::More::cmp_ok($s->{'farm_shm_used_bytes{pool="agents"}'}, '>', 0, 'shared memory in use');
Test::More::cmp_ok($s->{'farm_shm_used_bytes{pool="agents"}'}, '<=', $s->{'farm_shm_size_bytes{pool="agents"}'},
                   'used <= size');
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
Cache-Control: no-store
--- response_body_like: ^# HELP farm_agents Registered agents by state.*\n# TYPE farm_agents gauge\n
--- no_error_log
[error]


=== TEST 2: failures, retries, a breaker trip and a refusal move their counters
--- init
main::agents(x => { ttl => '60s' });
my $dead = FarmTest::free_port();
FarmTest::put_record($main::Redis, id => 'dead', port => $dead);
FarmTest::wait_until(sub { FarmTest::farm_agents()->{dead} }, 10, 'the dead agent known');
my (undef, $s0) = main::scrape();
my $d = sub { my ($s, $k) = @_; ($s->{$k} // 0) - ($s0->{$k} // 0) };
# the dead agent refuses connections: each try on it is retried on x,
# until its breaker opens after 2 failures
FarmTest::wait_until(sub {
    FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    FarmTest::agent_state('dead') eq 'open';
}, 15, "the dead agent's breaker to open");
my (undef, $s) = main::scrape();
Test::More::is($d->($s, 'farm_retries_total{pool="agents"}'), 2, 'two retries (one per failed try)');
Test::More::is($d->($s, 'farm_ejections_total{pool="agents"}'), 1, 'one ejection');
Test::More::is($d->($s, 'farm_breaker_transitions_total{pool="agents",from="closed",to="open"}'), 1,
               'one closed -> open transition');
Test::More::is($s->{'farm_breakers{pool="agents",state="open"}'}, 1, 'one breaker open now');
Test::More::is($s->{'farm_agents{pool="agents",state="open"}'}, 1, 'one agent in state open');
Test::More::is($s->{'farm_agent_breaker_open{pool="agents",agent="dead"}'}, 1, 'its own series says open');
Test::More::is($s->{'farm_agent_up{pool="agents",agent="dead"}'}, 0, 'and not up');
Test::More::is($d->($s, 'farm_responses_total{pool="agents",code="5xx"}'), 0, 'no client saw a 5xx');
# x answers 500 twice: two 5xx; the pool with no agent refuses a request
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500') for 1 .. 2;
FarmTest::http_get(FarmTest::gateway_port(), '/empty');
my (undef, $s2) = main::scrape();
Test::More::is($d->($s2, 'farm_responses_total{pool="agents",code="5xx"}'), 2, 'two 5xx from x');
Test::More::is($d->($s2, 'farm_refusals_total{pool="empty",reason="no_agent"}'), 1,
               'pool empty: one refusal, no agent');
Test::More::is($d->($s2, 'farm_responses_total{pool="empty",code="5xx"}'), 1, 'pool empty: its 503');
Test::More::is($d->($s2, 'farm_requests_total{pool="empty"}'), 1, 'pool empty: one request');
FarmTest::deregister($main::Redis, 'dead');
--- request
GET /metrics?agents=none
--- response_body_unlike: farm_agent_up
--- error_log eval
[qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream/,
 qr/farm: breaker of agent "dead" \(127\.0\.0\.1:\d+\) of upstream "agents" opened/]


=== TEST 3: health checks counted by result, with their durations
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_health_check interval=200ms timeout=1s rise=1 fall=1;
    }
--- init
main::agents(h => { ttl => '60s' });
FarmTest::put_record($main::Redis, id => 'gone', port => FarmTest::free_port());
FarmTest::wait_until(sub {
    my (undef, $s) = main::scrape();
    ($s->{'farm_health_checks_total{pool="agents",result="success"}'} // 0) >= 3
    && ($s->{'farm_health_checks_total{pool="agents",result="network_error"}'} // 0) >= 3;
}, 20, 'passed and failed checks counted');
FarmTest::wait_until(sub { FarmTest::agent_state('gone') eq 'down' }, 20, 'gone to be down');
my ($text, $s) = main::scrape();
my $down = grep { $_->{state} eq 'down' } values %{ FarmTest::farm_agents() };
my $total = 0;
$total += $s->{"farm_health_checks_total{pool=\"agents\",result=\"$_\"}"}
    for qw(success timeout network_error http_status body_mismatch);
Test::More::is($s->{'farm_health_check_duration_seconds_count{pool="agents"}'}, $total,
               'every check has its duration');
Test::More::is($s->{'farm_agents{pool="agents",state="down"}'}, $down, 'agents down: as many as farm_status says');
Test::More::cmp_ok($down, '>=', 1, 'at least the agent with no listener');
Test::More::is($s->{'farm_agent_healthy{pool="agents",agent="gone"}'}, 0, 'and not healthy');
Test::More::is($s->{'farm_agent_healthy{pool="agents",agent="h"}'}, 1, 'h is healthy');
my ($rc, $out) = main::promtool($text);
Test::More::is($rc, 0, "promtool check metrics exits 0") or Test::More::diag($out);
--- request
GET /metrics?state=down
--- response_body_like: farm_agent_up\{pool="agents",agent="gone"\} 0\n# HELP
--- no_error_log
[error]


=== TEST 4: per-agent levels, the state and pool filters, the series budget
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
    }
    upstream others {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=others
                      resync=300ms;
    }
--- metrics
agents=all max_agent_series=25
--- init
FarmTest::deregister($main::Redis, 'gone');
main::agents(p => { ttl => '60s' }, q => { ttl => '60s' });
FarmTest::put_record($main::Redis, id => 'o1', port => FarmTest::free_port(), service => 'others');
FarmTest::wait_until(sub { main::metric('farm_agents{pool="others",state="up"}') == 1 }, 10,
                     'the other pool has its agent');
my ($text, $s) = main::scrape();
my ($rc, $out) = main::promtool($text);
Test::More::is($rc, 0, "promtool check metrics exits 0 at level all") or Test::More::diag($out);
# 10 series per agent at level all: the budget of 25 gives 2 agents series
my @info = grep { /^farm_agent_info\{/ } keys %$s;
Test::More::is(scalar @info, 2, 'max_agent_series=25: two agents of three get series');
Test::More::is($s->{'farm_metrics_agents_omitted{pool="others"}'}, 1, 'the third is counted as omitted');
Test::More::is($s->{'farm_agent_weight{pool="agents",agent="p"}'}, 1, 'per-agent weight');
(undef, $s) = main::scrape('/metrics?pool=others');
Test::More::ok(!grep({ /pool="agents"/ } keys %$s), '?pool=others: nothing of pool agents');
Test::More::is(scalar(grep { /^farm_agent_info\{pool="others",agent="o1",/ } keys %$s), 1,
               '?pool=others: o1 has its series');
(undef, $s) = main::scrape('/metrics?agents=state&state=!up');
Test::More::ok(!grep({ /^farm_agent_/ } keys %$s), '?state=!up: every agent is up, no per-agent series');
(undef, $s) = main::scrape('/metrics?agents=state&state=up');
Test::More::is(scalar(grep { /^farm_agent_up\{/ } keys %$s), 3, '?state=up&agents=state: three agents');
Test::More::ok(!grep({ /^farm_agent_info/ } keys %$s), '?agents=state: no info series');
FarmTest::deregister($main::Redis, 'o1', 'others');
--- request
GET /metrics?agents=bogus
--- error_code: 400
--- no_error_log
[error]


=== TEST 5: 3,000 agents: a scrape read slowly is complete and valid
--- metrics
agents=all
--- init
main::agents();
main::many_records(3000, 'm');
FarmTest::wait_until(sub { main::metric('farm_agents{pool="agents",state="up"}', '/metrics?agents=none') == 3000 },
                     30, 'the gateway to know 3000 agents');
my $body = main::slow_scrape('/metrics');
Test::More::ok(defined $body, 'a chunked response');
$body //= '';
Test::More::cmp_ok(length $body, '>', 1_000_000, 'more than a megabyte: many buffers');
Test::More::like($body, qr/\n\z/, 'the last line ends with a newline');
my $s = main::samples($body);
Test::More::is(scalar(grep { /^farm_agent_requests_total\{/ } keys %$s), 3000, '3000 agents in each family');
Test::More::is($s->{'farm_agent_info{pool="agents",agent="m03000",address="127.0.0.1:23000",region=""}'}, 1,
               'the last agent is there');
my ($rc, $out) = main::promtool($body);
Test::More::is($rc, 0, "promtool check metrics exits 0") or Test::More::diag($out);
main::many_records(3000, 'm', 'drop');
--- request
GET /metrics?agents=none
--- response_body_like: farm_agents\{pool="agents",state="up"\} \d+
--- no_error_log
[error]


=== TEST 6: the example alerting rules pass promtool check rules
--- init
my $rules = FarmTest::repo_root() . '/docs/farm-alerts.rules.yml';
my $out = `promtool check rules $rules 2>&1`;
Test::More::is($? >> 8, 0, 'promtool check rules docs/farm-alerts.rules.yml') or Test::More::diag($out);
Test::More::like($out, qr/SUCCESS: [1-9]\d* rules found/, 'rules found');
--- request
GET /metrics?agents=none
--- error_code: 200
--- no_error_log
[error]


=== TEST 7: rate-limit refusals, by the window that refused
--- config
    location = /t {
        farm_limit zone=w:1m key=$remote_addr minute=2;
        empty_gif;
    }
    location = /metrics {
        farm_metrics agents=none;
    }
--- init
my (undef, $s0) = main::scrape();
my @codes = map { (FarmTest::http_get(FarmTest::gateway_port(), '/t'))[0] } 1 .. 3;
Test::More::is("@codes", '200 200 429', 'two pass, the third is refused');
my ($text, $s) = main::scrape();
my $d = sub { my $k = shift; ($s->{$k} // 0) - ($s0->{$k} // 0) };
Test::More::is($d->('farm_ratelimit_rejections_total{window="minute"}'), 1, 'one refusal, minute window');
Test::More::is($d->('farm_ratelimit_rejections_total{window="second"}'), 0, 'none in the second window');
Test::More::is($s->{'farm_ratelimit_backend_failures_total{result="refused"}'}, 0, 'no backend failure');
my ($rc, $out) = main::promtool($text);
Test::More::is($rc, 0, "promtool check metrics exits 0") or Test::More::diag($out);
--- request
GET /metrics
--- response_body_like: # TYPE farm_ratelimit_rejections_total counter\nfarm_ratelimit_rejections_total\{window="second"\} \d+\n
--- no_error_log
[error]


=== TEST 8: every output size is sent whole, whichever buffer the output ends in
--- metrics
agents=state
--- init
main::agents();
# 25 agents with ids of L characters: the output grows by 75 bytes a step
# from about 22 KB (L = 40) to 31 KB (L = 128), less than its last line's
# length, so one of the steps ends the output just where the first 32 KB
# buffer stops taking lines (32 KB less the room for the largest line).
my ($prev, $ok) = (undef, 1);
for my $len (40 .. 128) {
    my $prefix = 'x' x ($len - 5);
    main::many_records(25, $prefix, 0, 1);
    main::many_records(25, $prev, 'drop', 1) if defined $prev;
    $prev = $prefix;
    FarmTest::wait_until(sub {
        my (undef, $s) = main::scrape('/metrics?agents=state&state=up');
        my @ids = grep { /^farm_agent_up\{/ } keys %$s;
        @ids == 25 && !grep { !/agent="$prefix\d{5}"/ } @ids;
    }, 10, "the 25 agents with ids of $len characters");
    my ($body, $whole) = main::slow_scrape('/metrics', 'quick');
    $body //= '';
    my $last = () = $body =~ /^farm_agent_breaker_open\{/mg;
    if (!$whole || $last != 25 || $body !~ /\} \d+\n\z/) {
        Test::More::fail("ids of $len characters: the scrape is cut short ("
                         . length($body) . " bytes, $last of the last family's 25 "
                         . "lines, " . ($whole ? '' : 'no ') . "last chunk)");
        $ok = 0;
        last;
    }
}
Test::More::pass('89 output sizes, each scrape complete') if $ok;
main::many_records(25, $prev, 'drop', 1);
--- request
GET /metrics?agents=none
--- response_body_like: farm_agents\{pool="agents",state="up"\} \d+
--- no_error_log
[alert]
[error]



=== TEST 9: a pool of the built-in registry: its registry series say registry="builtin" (they said "redis")
--- http_config eval
"    upstream agents {
        farm_registry redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} service=agents
                      resync=300ms;
    }
    upstream local {
        farm_registry builtin service=local token_file="
. FarmTest::temp_file('local-42.token', "t0ken-42\n") . ";
    }
"
--- init
my ($text, $s) = main::scrape();
Test::More::ok(exists $s->{'farm_registry_up{pool="local",registry="builtin"}'},
               'farm_registry_up of the built-in pool says registry="builtin"');
Test::More::ok(exists $s->{'farm_registry_sync_duration_seconds_count{pool="local",registry="builtin"}'},
               'and so does a histogram');
Test::More::is(scalar(grep { /pool="local",registry="(?!builtin")/ } keys %$s), 0,
               'no series of it names another registry');
Test::More::ok(exists $s->{'farm_registry_up{pool="agents",registry="redis"}'},
               'the Redis pool still says registry="redis"');
my ($rc, $out) = main::promtool($text);
Test::More::is($rc, 0, "promtool check metrics exits 0") or Test::More::diag($out);
--- request
GET /metrics
--- response_body_like: farm_registry_up\{pool="local",registry="builtin"\} \d
--- no_error_log
[error]
