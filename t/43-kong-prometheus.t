# farm_kong's prometheus plugin: requests counted by service, route, code,
# source and consumer under Kong's names; latency histograms and bandwidth;
# Kong upstreams' target health; counts shared by the workers and kept
# across a reload for a route that keeps its names; the flags honoured;
# a route out of code cells counts in kong_nginx_metric_errors_total; a
# scrape passes promtool (names=prometheus), and with Kong's own names has
# only the lint remarks Kong's names earn.  Every assertion reads what
# Prometheus would store.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp qw(tempfile);

our %Agent = (a => start_agent(id => 'a'));
our $A = $Agent{a}{port};
our $Dead = free_port();        # nothing listens there

# GET $path from the gateway: (status, headers, body)
sub get {
    my ($path, %h) = @_;
    local $FarmTest::HttpTimeout = 20;
    return FarmTest::http_get(FarmTest::gateway_port(), $path, %h);
}

# a scrape of $path (default /metrics): (text, { 'name{labels}' => value })
sub scrape {
    my ($path) = @_;
    my ($code, undef, $body) = get($path // '/metrics');
    die "scrape: " . ($code // 'nothing') . "\n" unless ($code // 0) == 200;
    my %s;
    for my $line (split /\n/, $body) {
        next if $line =~ /^#/;
        my ($k, $v) = $line =~ /^(\S+) (\S+)$/ or next;
        $s{$k} = $v;
    }
    return ($body, \%s);
}

# promtool check metrics: (exit status, output)
sub promtool {
    my ($text) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    print {$fh} $text;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    return ($? >> 8, $out);
}

sub req_key {
    my ($route, $code, $source, $consumer) = @_;
    return qq(kong_http_requests_total{service="up",route="$route",code="$code",)
         . qq(source="$source",consumer="@{[ $consumer // '' ]}"});
}

our $File = <<"_YML_";
_format_version: "3.0"
services:
- name: up
  url: http://127.0.0.1:$A
  routes:
  - name: r1
    paths: [/work]
    strip_path: false
  - name: keyed
    paths: [/keyed]
    strip_path: false
    plugins:
    - name: key-auth
    - name: prometheus
      config: {status_code_metrics: true, per_consumer: true, bandwidth_metrics: true}
  - name: quiet
    paths: [/quiet]
    strip_path: false
    plugins:
    - name: prometheus
      config: {latency_metrics: true}
- name: pooled
  host: pool
  routes:
  - name: p1
    paths: [/pool]
plugins:
- name: prometheus
  config:
    status_code_metrics: true
    latency_metrics: true
    bandwidth_metrics: true
    upstream_health_metrics: true
upstreams:
- name: pool
  healthchecks:
    passive:
      unhealthy: {tcp_failures: 1}
  targets:
  - target: 127.0.0.1:$Dead
- name: plain
  targets:
  - target: 127.0.0.1:$A
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
_YML_

add_block_preprocessor(sub {
    my $block = shift;
    my $names = $block->names // '';
    chomp $names;

    $block->set_value('config', <<"_EOC_") unless defined $block->config;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass \$farm_kong_url;
        proxy_set_header Host \$farm_kong_host;
        proxy_connect_timeout 2s;
    }

    location = /metrics {
        farm_kong off;
        farm_kong_metrics $names;
    }
_EOC_

    $block->set_value('user_files', ">>> kong.yml\n$File")
        unless defined $block->user_files;
});

workers(2);
master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: requests by service, route, code and source; histograms and bandwidth; both workers' counts in one scrape; promtool's lint finds only Kong's names
--- init
my (undef, $s0) = main::scrape();
main::get('/work?ms=0') for 1 .. 6;
main::get('/work?ms=0&status=404') for 1 .. 2;
my ($text, $s) = main::scrape();
my $d = sub { my $k = shift; ($s->{$k} // 0) - ($s0->{$k} // 0) };
Test::More::is($d->(main::req_key('r1', 200, 'service')), 6, '6 answered 200 by the service');
Test::More::is($d->(main::req_key('r1', 404, 'service')), 2, '2 answered 404 by the service');
Test::More::is($d->('kong_request_latency_ms_count{service="up",route="r1"}'), 8,
               'the request latency histogram saw 8');
Test::More::is($d->('kong_upstream_latency_ms_count{service="up",route="r1"}'), 8,
               'the upstream latency histogram saw 8');
Test::More::is($d->('kong_kong_latency_ms_count{service="up",route="r1"}'), 8,
               'the kong latency histogram saw 8');
Test::More::is($s->{'kong_request_latency_ms_bucket{service="up",route="r1",le="+Inf"}'},
               $s->{'kong_request_latency_ms_count{service="up",route="r1"}'}, '+Inf bucket = count');
Test::More::cmp_ok($d->('kong_bandwidth_bytes{service="up",route="r1",direction="ingress",consumer=""}'),
                   '>', 8 * 20, 'ingress bytes counted');
Test::More::cmp_ok($d->('kong_bandwidth_bytes{service="up",route="r1",direction="egress",consumer=""}'),
                   '>', 8 * 50, 'egress bytes counted');
Test::More::is($s->{'kong_datastore_reachable'}, 1, 'kong_datastore_reachable 1');
Test::More::is($s->{'kong_nginx_metric_errors_total'}, 0, 'no count lost');
my ($rc, $out) = main::promtool($text);
my @other = grep { !/abbreviated units|should have "_total" suffix/ } grep { /\S/ } split /\n/, $out;
Test::More::is($rc, 3, "promtool: lint remarks only (exit 3), the text parses") or Test::More::diag($out);
Test::More::is_deeply(\@other, [], "no remark other than on Kong's names (_ms, kong_bandwidth_bytes)")
    or Test::More::diag($out);
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like: # TYPE kong_http_requests_total counter\n
--- no_error_log
[error]



=== TEST 2: names=prometheus: the same counts under lint-clean names pass promtool
--- names
names=prometheus
--- init
main::get('/work?ms=0') for 1 .. 2;
my ($text, $s) = main::scrape();
my ($rc, $out) = main::promtool($text);
Test::More::is($rc, 0, 'promtool check metrics exits 0') or Test::More::diag($out);
Test::More::cmp_ok($s->{main::req_key('r1', 200, 'service')}, '>=', 2, 'requests counted');
Test::More::cmp_ok($s->{'kong_request_latency_seconds_count{service="up",route="r1"}'}, '>=', 2,
                   'request latency in seconds');
Test::More::ok(exists $s->{'kong_kong_latency_seconds_bucket{service="up",route="r1",le="0.001"}'},
               'buckets in seconds (1 ms = 0.001)');
Test::More::cmp_ok($s->{'kong_bandwidth_bytes_total{service="up",route="r1",direction="ingress",consumer=""}'},
                   '>', 0, 'bandwidth as a _total counter');
--- request
GET /metrics
--- no_error_log
[error]



=== TEST 3: Kong's own answers count with source "exit"; per_consumer puts the consumer in the label; a route's own configuration wins over the global one
--- init
my (undef, $s0) = main::scrape();
main::get('/keyed') for 1 .. 3;                         # 401: no key
main::get('/keyed', apikey => 'alice-key') for 1 .. 2;  # alice, proxied
main::get('/quiet') for 1 .. 4;                         # latency only
my (undef, $s) = main::scrape();
my $d = sub { my $k = shift; ($s->{$k} // 0) - ($s0->{$k} // 0) };
Test::More::is($d->(main::req_key('keyed', 401, 'exit')), 3, 'three 401 from key-auth, source exit');
my $alice = 0;
$alice += $d->($_) for grep { /route="keyed",code="\d+",source="service",consumer="alice"/ } keys %$s;
Test::More::is($alice, 2, "alice's two requests, under her name");
Test::More::cmp_ok($d->('kong_bandwidth_bytes{service="up",route="keyed",direction="egress",consumer="alice"}'),
                   '>', 0, "alice's bandwidth");
Test::More::ok(!grep({ /route="keyed"/ } grep { /^kong_request_latency/ } keys %$s),
               'no latency for the keyed route (its configuration has latency_metrics off)');
Test::More::is($d->('kong_request_latency_ms_count{service="up",route="quiet"}'), 4,
               'the quiet route: latency counted');
Test::More::ok(!grep({ /route="quiet"/ } grep { /^kong_http_requests_total/ } keys %$s),
               'the quiet route: no status counts (status_code_metrics off)');
--- request
GET /metrics
--- no_error_log
[error]



=== TEST 4: kong_upstream_target_health: a target taken out is unhealthy, one without checks has healthchecks off
--- init
main::get('/pool') for 1 .. 2;     # the dead target fails: taken out
my ($text, $s) = main::scrape();
my $t = sub {
    my ($up, $target, $state) = @_;
    return $s->{qq(kong_upstream_target_health{upstream="$up",target="$target",address="$target",state="$state",subsystem="http"})};
};
# a scrape answered by the other worker sees its own passive health: retry
FarmTest::wait_until(sub {
    main::get('/pool');
    ($text, $s) = main::scrape();
    ($t->('pool', "127.0.0.1:$main::Dead", 'unhealthy') // 0) == 1;
}, 20, 'the dead target unhealthy in a scrape');
Test::More::is($t->('pool', "127.0.0.1:$main::Dead", 'unhealthy'), 1, 'dead target: unhealthy 1');
Test::More::is($t->('pool', "127.0.0.1:$main::Dead", 'healthy'), 0, 'dead target: healthy 0');
Test::More::is($t->('plain', "127.0.0.1:$main::A", 'healthchecks_off'), 1, 'no checks: healthchecks_off 1');
Test::More::is($t->('plain', "127.0.0.1:$main::A", 'dns_error'), 0, 'no checks: dns_error 0');
--- request
GET /metrics
--- no_error_log
[alert]



=== TEST 5: a reload keeps the counts of a route that keeps its names
--- init
main::get('/work?ms=0&status=201') for 1 .. 3;
my (undef, $s0) = main::scrape();
my $before = $s0->{main::req_key('r1', 201, 'service')} // 0;
Test::More::cmp_ok($before, '>=', 3, 'counted before the reload');
FarmTest::nginx_reload();
main::get('/work?ms=0&status=201');
my (undef, $s) = main::scrape();
Test::More::is($s->{main::req_key('r1', 201, 'service')}, $before + 1, 'the count goes on after the reload');
--- request
GET /metrics
--- no_error_log
[error]



=== TEST 6: a route out of status-code cells counts the lost ones in kong_nginx_metric_errors_total
--- init
my (undef, $s0) = main::scrape();
my %seen = map { /code="(\d+)"/ ? ($1 => 1) : () } grep { /route="r1"/ } keys %$s0;
my $errors0 = $s0->{kong_nginx_metric_errors_total};
my $fresh = 0;
for my $code (202 .. 260) {
    next if $seen{$code};
    main::get("/work?ms=0&status=$code");
    last if ++$fresh + keys(%seen) == 18;
}
my (undef, $s) = main::scrape();
my @codes = grep { /^kong_http_requests_total\{service="up",route="r1",/ } keys %$s;
Test::More::is(scalar @codes, 16, 'at most 16 code and source series per route');
Test::More::is($s->{kong_nginx_metric_errors_total} - $errors0, 2, 'the two requests beyond counted as lost');
--- request
GET /metrics
--- no_error_log
[error]



=== TEST 7: farm_kong_metrics refuses an unknown parameter
--- config
    location = /metrics {
        farm_kong_metrics names=statsd;
    }
--- user_files
--- request
GET /metrics
--- must_die
--- error_log
invalid parameter "names=statsd" of "farm_kong_metrics": expected names=kong or names=prometheus
