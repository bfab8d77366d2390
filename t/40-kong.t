# farm_kong: a server routes by a Kong declarative file (kong.yml) the way
# Kong does: by path, host, method and header; strip_path and the path
# joining; Kong's 404, 503, 426 and redirect answers; Kong upstreams with
# targets; a broken file fails nginx -t with FILE:LINE:COLUMN; reloads swap
# the file (a broken one keeps the old); a host name that does not resolve
# gets Kong's 503 "name resolution failed".

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();

our %Agent = (
    a => start_agent(id => 'a'),
    b => start_agent(id => 'b'),
);

$ENV{TEST_NGINX_DEAD_DNS_PORT} = free_port();    # nothing listens there
$ENV{TEST_NGINX_DNS_PORT} = start_dns();
$ENV{TEST_NGINX_DEAD_TCP_PORT} = free_port();    # refuses connections
$ENV{TEST_NGINX_TLS_PORT} = free_port();         # a TLS server in nginx

# a throw-away self-signed certificate for that server
our $TlsDir = File::Temp::tempdir('kong-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
       '-subj', '/CN=tls.farm.test', '-keyout', "$TlsDir/key.pem",
       '-out', "$TlsDir/cert.pem") == 0
    or die "openssl req failed\n";
$ENV{TEST_NGINX_TLS_DIR} = $TlsDir;

our $A = $Agent{a}{port};
our $B = $Agent{b}{port};
$ENV{TEST_NGINX_AGENT_B} = $B;

# A tiny DNS server on 127.0.0.1 for nginx's resolver (FarmTest::start_dns):
# every A query gets 127.0.0.1, except names under .invalid (NXDOMAIN).
sub start_dns {
    return FarmTest::start_dns(FarmTest::temp_file('kong-dns', "* 127.0.0.1\n"));
}

sub write_kong {
    my ($text) = @_;
    my $file = FarmTest::servroot() . '/html/kong.yml';
    open my $fh, '>', $file or die "$file: $!\n";
    print $fh "_format_version: \"3.0\"\n$text";
    close $fh or die "$file: $!\n";
}

sub reload_nginx {
    my $pid = FarmTest::nginx_pid() or die "no nginx pid\n";
    kill 'HUP', $pid or die "HUP $pid: $!\n";
}

sub reloads_done {    # how many reloads the master has finished
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    my $n = 0;
    while (<$fh>) { $n++ if /\bsignal 1 \(SIGHUP\) received/ }
    return $n;
}

sub master_rss_kb {
    my $pid = FarmTest::nginx_pid() or die "no nginx pid\n";
    open my $fh, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!\n";
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    die "no VmRSS for $pid\n";
}

# a kong.yml with $n services of one route each
sub many_routes {
    my ($n) = @_;
    my $yml = "_format_version: \"3.0\"\nservices:\n";
    $yml .= "- name: s$_\n  url: http://127.0.0.1:$main::A/work\n"
          . "  routes:\n  - paths: [/r$_]\n    hosts: [h$_.example.com]\n"
        for 1 .. $n;
    return $yml;
}

sub error_log_has {
    my ($re) = @_;
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    local $/;
    my $text = <$fh>;
    return $text =~ $re;
}

sub answered_by {
    my ($path) = @_;
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), $path);
    return defined $code ? ($h->{'x-farm-agent'} // "status $code") : '';
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host               $farm_kong_host;
        proxy_set_header X-Forwarded-For    $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto  $farm_kong_forwarded_proto;
        proxy_set_header X-Forwarded-Host   $farm_kong_forwarded_host;
        proxy_set_header X-Forwarded-Port   $farm_kong_forwarded_port;
        proxy_set_header X-Forwarded-Path   $farm_kong_forwarded_path;
        proxy_set_header X-Forwarded-Prefix $farm_kong_forwarded_prefix;
        proxy_set_header X-Real-IP          $remote_addr;
        proxy_set_header X-Kong-Request-Id  $farm_kong_request_id;
    }
_EOC_
});

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: routing by path: each prefix goes to its service, with Kong's response headers
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/a]
- name: b
  url: http://127.0.0.1:$main::B/work
  routes:
  - paths: [/b]
"
--- init
Test::More::is(main::answered_by('/a'), 'a', '/a answered by agent a');
--- request
GET /b
--- response_headers
X-Farm-Agent: b
Via: 1.1 ngx_farm
--- response_headers_like
X-Kong-Request-Id: [0-9a-f]{32}
X-Kong-Upstream-Latency: \d+
X-Kong-Proxy-Latency: \d+
--- response_body_like: "id":"b"
--- no_error_log
[error]
[alert]



=== TEST 2: routing by host: a plain host and a wildcard host
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - hosts: [api.example.com]
- name: b
  url: http://127.0.0.1:$main::B/work
  routes:
  - hosts: ['*.example.org']
"
--- request
GET /
--- more_headers
Host: x.example.org
--- response_headers
X-Farm-Agent: b
--- no_error_log
[error]
[alert]



=== TEST 3: routing by method and header: the route with more attributes wins
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/m]
- name: b
  url: http://127.0.0.1:$main::B/work
  routes:
  - paths: [/m]
    methods: [GET]
    headers:
      x-version: ['2']
"
--- init
Test::More::is(main::answered_by('/m'), 'a', 'without the header: agent a');
--- request
GET /m
--- more_headers
X-Version: 2
--- response_headers
X-Farm-Agent: b
--- no_error_log
[error]
[alert]



=== TEST 4: strip_path: the prefix is stripped, the service path joined, args kept, X-Forwarded-* set
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/api]
    strip_path: true
"
--- request
GET /api?x=1
--- response_body_like eval
qr{(?msi)\A(?=GET\ /echo\?x=1\ HTTP/1\.\d$)
   (?=.*^Host:\ 127\.0\.0\.1:$main::A$)
   (?=.*^X-Forwarded-Prefix:\ /api$)
   (?=.*^X-Forwarded-Path:\ /api$)
   (?=.*^X-Forwarded-Proto:\ http$)
   (?=.*^X-Forwarded-Host:\ localhost$)
   (?=.*^X-Real-IP:\ 127\.0\.0\.1$)
   (?=.*^X-Kong-Request-Id:\ [0-9a-f]{32}$)}x
--- response_headers_like
X-Kong-Request-Id: [0-9a-f]{32}
--- no_error_log
[error]
[alert]



=== TEST 5: strip_path false and preserve_host: the path goes as is, with the client's Host, no prefix
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  host: 127.0.0.1
  port: $main::A
  routes:
  - paths: [/echo]
    strip_path: false
    preserve_host: true
"
--- request
GET /echo
--- more_headers
Host: gw.example.com
--- response_body_like eval
qr{(?msi)\A(?=GET /echo HTTP/1\.\d$)(?=.*^Host: gw\.example\.com$)}
--- response_body_unlike: (?i)X-Forwarded-Prefix
--- no_error_log
[error]
[alert]



=== TEST 6: no route: Kong's 404 body with the request id, in the type Accept asks for (JSON by default)
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/a]
"
--- init
my $get = sub {
    my ($code, $h, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/x', Accept => $_[0]);
    return ($h->{'content-type'} // '') . "|$body";
};
Test::More::like($get->('text/plain'),
                 qr{^text/plain; charset=utf-8\|no Route matched with those values\nrequest_id: [0-9a-f]{32}\n\z},
                 'Accept: text/plain');
Test::More::like($get->('text/html;q=0.5, application/xml'),
                 qr{^application/xml; charset=utf-8\|<\?xml version="1\.0" encoding="UTF-8"\?>\n<error>\n  <message>no Route matched with those values</message>\n  <requestid>[0-9a-f]{32}</requestid>\n</error>\n\z},
                 'the highest q wins: application/xml');
Test::More::like($get->('application/xml;q=0.2, text/html'),
                 qr{^text/html; charset=utf-8\|<!doctype html>.*<h1>Error</h1>\n    <p>no Route matched with those values\.</p>\n    <p>request_id: [0-9a-f]{32}</p>}s,
                 'text/html');
Test::More::like($get->('text/*'), qr{^text/plain; charset=utf-8\|}, 'text/* is text/plain');
Test::More::like($get->('image/png'), qr{^application/json; charset=utf-8\|\{}, 'an unknown type: JSON');
--- request
GET /nothing/here
--- error_code: 404
--- response_headers_like
Content-Type: application/json; charset=utf-8
X-Kong-Request-Id: [0-9a-f]{32}
--- response_body_like: ^\{\n  "message":"no Route matched with those values",\n  "request_id":"[0-9a-f]{32}"\n\}$
--- no_error_log
[error]
[alert]



=== TEST 7: a route without a service: 503 "no Service found with those values"
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
routes:
- name: lonely
  paths: [/lonely]
"
--- request
GET /lonely
--- error_code: 503
--- response_body_like: "message":"no Service found with those values"
--- no_error_log
[error]
[alert]



=== TEST 8: an https-only route over http: 426, or the route's redirect
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/secure]
    protocols: [https]
  - paths: [/moved]
    protocols: [https]
    https_redirect_status_code: 301
"
--- init
my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/moved/x?y=1');
Test::More::is($code, 301, 'https_redirect_status_code 301');
Test::More::is($h->{location}, 'https://127.0.0.1/moved/x?y=1',
               'Location: the same host and target over https');
--- request
GET /secure
--- error_code: 426
--- response_headers
Upgrade: TLS/1.2, HTTP/1.1
--- response_body_like: "message":"Please use HTTPS protocol"
--- no_error_log
[error]
[alert]



=== TEST 9: a Kong upstream with targets: round robin over them, weight 0 never used
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
  - target: 127.0.0.1:1
    weight: 0
services:
- name: s
  host: pool
  path: /work
  routes:
  - paths: [/p]
"
--- init
my %seen;
$seen{ main::answered_by('/p') }++ for 1 .. 6;
Test::More::is_deeply(\%seen, { a => 3, b => 3 },
                      'six requests: three to each target, none to the disabled one');
--- request
GET /p
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 10: the service's read_timeout is the proxy's read timeout; the 504 has Kong's body (text/plain without Accept)
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: slow
  url: http://127.0.0.1:$main::A/work
  read_timeout: 200
  retries: 0
  routes:
  - paths: [/slow]
"
--- request
GET /slow?ms=3000
--- error_code: 504
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body_like: ^The upstream server is timing out\nrequest_id: [0-9a-f]{32}\n$
--- error_log
upstream timed out



=== TEST 11: a broken kong.yml fails nginx -t with FILE:LINE:COLUMN and the entity path
--- user_files
>>> kong.yml
_format_version: "3.0"
services:
- name: a
  host: 127.0.0.1
  port: 70000
--- request
GET /
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_kong: \S*kong\.yml:5:9: services\[0\]\.port: value should be between 0 and 65535 in \S+nginx\.conf:\d+/



=== TEST 12: reload with a changed file swaps the routes; a broken file fails the reload and the old routes keep serving
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/v1]
"
--- init
Test::More::is(main::answered_by('/v1'), 'a', 'before the reload: agent a');
main::write_kong(<<"_YML_");
services:
- name: b
  url: http://127.0.0.1:$main::B/work
  routes:
  - paths: [/v1]
_YML_
my %old = map { $_ => 1 } FarmTest::worker_pids();
main::reload_nginx();
my ($now, @bad) = ('');
my $deadline = Time::HiRes::time() + 10;
while (Time::HiRes::time() < $deadline) {    # until the new workers answer
    $now = main::answered_by('/v1');
    push @bad, $now unless $now eq 'a' || $now eq 'b';
    last if $now eq 'b';
}
Test::More::is($now, 'b', 'after the reload: agent b');
Test::More::is("@bad", '', 'every request during the switch answered by a or b');
FarmTest::wait_until(sub { !grep { $old{$_} } FarmTest::worker_pids() }, 60,
                     'the workers of the first file have exited');
main::write_kong("services:\n- name: c\n  host: 127.0.0.1\n  port: 99999\n");
main::reload_nginx();
FarmTest::wait_until(sub { main::error_log_has(qr/farm_kong: \S*kong\.yml:5:9: services\[0\]\.port: value should be between 0 and 65535/) },
                     10, 'the failed reload names the file, line and column');
Test::More::pass('the broken file is reported');
Test::More::is(main::answered_by('/v1'), 'b', 'the old configuration keeps serving');
--- request
GET /v1
--- response_headers
X-Farm-Agent: b
--- no_error_log
[error]
[alert]



=== TEST 13: a service host that does not resolve: Kong's 503 "name resolution failed"
--- http_config
    resolver 127.0.0.1:$TEST_NGINX_DEAD_DNS_PORT ipv6=off;
    resolver_timeout 500ms;
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: gone
  url: http://no-such-host.farm.invalid:8080/
  routes:
  - paths: [/gone]
- name: a
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/a]
"
--- init
Test::More::is(main::answered_by('/a'), 'a', 'the file loaded: /a still answered by agent a');
--- request
GET /gone
--- error_code: 503
--- response_body_like: "message":"name resolution failed"
--- error_log
no-such-host.farm.invalid could not be resolved
--- no_error_log
[alert]



=== TEST 14: host names resolved by nginx's resolver: a service host and a Kong upstream's target
--- http_config
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off valid=1s;
    resolver_timeout 2s;
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  targets:
  - target: agent-b.farm.test:$main::B
services:
- name: a
  url: http://agent-a.farm.test:$main::A/echo
  routes:
  - paths: [/named]
- name: b
  host: pool
  path: /work
  routes:
  - paths: [/pool]
"
--- init
my ($code, $h, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/named');
Test::More::is($code, 200, 'the service host was resolved');
Test::More::like($body, qr{^Host: agent-a\.farm\.test:$main::A$}mi,
                 'Host: the service host and its port');
Test::More::is(main::answered_by('/named'), 'a', 'again, from the resolver cache');
--- request
GET /pool
--- response_headers
X-Farm-Agent: b
--- no_error_log
[error]
[alert]



=== TEST 15: a service host naming an nginx upstream {} block: nginx balances it
--- http_config
    upstream backends {
        server 127.0.0.1:$TEST_NGINX_AGENT_B;
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: b
  url: http://backends/work
  routes:
  - paths: [/farm]
"
--- request
GET /farm
--- response_headers
X-Farm-Agent: b
--- no_error_log
[error]
[alert]



=== TEST 16: fifty reloads: the master's memory stays flat (each old configuration is freed)
--- user_files eval
">>> kong.yml\n" . main::many_routes(2000)
--- init
my $reload = sub {
    my $want = main::reloads_done() + 1;
    main::reload_nginx();
    FarmTest::wait_until(sub { main::reloads_done() >= $want }, 30, "reload $want done");
};
$reload->() for 1 .. 10;    # the allocator settles
my $before = main::master_rss_kb();
$reload->() for 1 .. 40;
my $after = main::master_rss_kb();
Test::Builder->new->note("master VmRSS after 10 reloads: $before kB, after 50: $after kB");
# AddressSanitizer's quarantine keeps freed memory: no RSS figure means
# anything under make test-asan (scripts/nginx-asan)
SKIP: {
    Test::More::skip('the master\'s RSS under AddressSanitizer', 1)
        if ($ENV{TEST_NGINX_BINARY} // '') =~ /asan/;
    Test::More::cmp_ok($after - $before, '<', 2048,
                       "40 more reloads of a 2,000-route file: master grew by "
                       . ($after - $before) . " kB (< 2 MB; one configuration is ~6 MB)");
}
--- request
GET /r7
--- more_headers
Host: h7.example.com
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 17: a least-connections Kong upstream sends new requests to the target with fewer connections
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  algorithm: least-connections
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  path: /work
  routes:
  - paths: [/lc]
"
--- init
my $slow = FarmTest::background_get(FarmTest::gateway_port(), '/lc?ms=3000');
my $busy;
FarmTest::wait_until(sub {
    for my $id ('a', 'b') {
        my (undef, undef, $body) = FarmTest::http_get($main::Agent{$id}, '/health');
        if (($body // '') =~ /"inflight":1\b/) { $busy = $id; return 1 }
    }
    return 0;
}, 10, 'the slow request reached an agent');
my %seen;
$seen{ main::answered_by('/lc?ms=0') }++ for 1 .. 4;
Test::More::is_deeply(\%seen, { ($busy eq 'a' ? 'b' : 'a') => 4 },
                      "while $busy holds a slow request, four quick ones go to the other");
FarmTest::wait_until(sub { FarmTest::finished($slow) }, 10, 'the slow request finished');
--- request
GET /lc?ms=0
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 18: a consistent-hashing Kong upstream keeps each key on one target, and spreads the keys
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: header
  hash_on_header: x-user
  hash_fallback: query_arg
  hash_fallback_query_arg: user
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  path: /work
  routes:
  - paths: [/h]
"
--- init
my (%by_user, %agents, $mixed);
for my $round (1 .. 3) {
    for my $u (1 .. 13) {
        my (undef, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/h', 'X-User' => "user$u");
        my $id = $h->{'x-farm-agent'} // 'none';
        $mixed++ if defined $by_user{$u} && $by_user{$u} ne $id;
        $by_user{$u} = $id;
        $agents{$id}++;
    }
}
Test::More::ok(!$mixed, 'each user stays on one agent over three rounds');
Test::More::is_deeply([sort keys %agents], ['a', 'b'], 'thirteen users spread over both agents');
my %q;
$q{ main::answered_by('/h?user=user5') }++ for 1 .. 3;
Test::More::is_deeply(\%q, { $by_user{5} => 3 },
                      'the fallback (query argument) hashes the same key to the same agent');
--- request
GET /h
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 19: a service that refuses connections: 502 with Kong's body in the negotiated type
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: closed
  url: http://127.0.0.1:$ENV{TEST_NGINX_DEAD_DNS_PORT}/
  retries: 1
  routes:
  - paths: [/closed]
"
--- request
GET /closed
--- more_headers
Accept: application/json
--- error_code: 502
--- response_headers_like
Content-Type: application/json; charset=utf-8
X-Kong-Request-Id: [0-9a-f]{32}
--- response_body_like: ^\{\n  "message":"An invalid response was received from the upstream server",\n  "request_id":"[0-9a-f]{32}"\n\}$
--- error_log
Connection refused
--- no_error_log
[alert]



=== TEST 20: skip_invalid loads the valid entities and warns with FILE:LINE:COLUMN; farm_kong off exempts a location
--- config
    farm_kong ../html/kong.yml skip_invalid;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }

    location = /local {
        farm_kong off;
        return 200 "not routed by kong.yml\n";
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: bad
  host: 127.0.0.1
  port: 70000
  routes:
  - paths: [/bad]
- name: good
  url: http://127.0.0.1:$main::A/work
  routes:
  - paths: [/good]
"
--- init
Test::More::is(main::answered_by('/good'), 'a', 'the valid service is served');
my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/bad');
Test::More::is($code, 404, "the invalid service's route is not loaded");
# a reload logs the warnings into the running error.log (at the first
# start they may go to nginx's compiled-in log, depending on the harness)
main::reload_nginx();
FarmTest::wait_until(sub { main::error_log_has(qr/\[warn\] .*farm_kong: \S*kong\.yml:5:9: /) },
                     10, 'the warning of the reload');
--- request
GET /local
--- response_body
not routed by kong.yml
--- error_log eval
qr/\[warn\] .*farm_kong: \S*kong\.yml:5:9: services\[0\]\.port: value should be between 0 and 65535/
--- no_error_log
[error]
[alert]



=== TEST 21: a Kong upstream without a usable target: 503 from the ring-balancer; host_header is the upstream Host
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: empty
  targets:
  - target: 127.0.0.1:$main::A
    weight: 0
- name: named
  host_header: api.internal
  targets:
  - target: 127.0.0.1:$main::A
services:
- name: e
  host: empty
  routes:
  - paths: [/empty]
- name: n
  host: named
  path: /echo
  routes:
  - paths: [/named]
"
--- init
my (undef, undef, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/named');
Test::More::like($body, qr{^Host: api\.internal$}mi, 'Host: the upstream host_header');
--- request
GET /empty
--- error_code: 503
--- response_body_like: "message":"failure to get a peer from the ring-balancer"
--- no_error_log
[error]
[alert]



=== TEST 22: passive health checks: a target that refuses a connection is taken out, its requests go to the other
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    passive:
      unhealthy:
        tcp_failures: 1
  targets:
  - target: 127.0.0.1:$ENV{TEST_NGINX_DEAD_TCP_PORT}
  - target: 127.0.0.1:$main::A
services:
- name: s
  host: pool
  path: /work
  routes:
  - paths: [/ph]
"
--- init
my %codes;
$codes{ main::answered_by('/ph') }++ for 1 .. 6;
Test::More::is_deeply(\%codes, { a => 6 }, 'six requests answered by agent a (the refused one retried)');
open my $fh, '<', FarmTest::nginx_error_log() or die "error.log: $!\n";
my $port = $ENV{TEST_NGINX_DEAD_TCP_PORT};
my $refused = grep { /connect\(\) failed .*127\.0\.0\.1:$port/ } <$fh>;
Test::More::is($refused, 1, 'the refusing target was tried once, then left out');
--- request
GET /ph
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/\[warn\] .*farm_kong: upstream "pool" target "127\.0\.0\.1:\d+" is unhealthy after 1 TCP failures \(passive health check\)/
--- no_error_log
[alert]



=== TEST 23: an https service: TLS to the service, its host as the server name and the Host
--- http_config
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off valid=1s;
    resolver_timeout 2s;

    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate     $TEST_NGINX_TLS_DIR/cert.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/key.pem;
        location / {
            return 200 "tls $ssl_protocol sni=$ssl_server_name host=$http_host uri=$request_uri\n";
        }
    }
--- config
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
        proxy_ssl_server_name on;
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: secure
  url: https://tls.farm.test:$ENV{TEST_NGINX_TLS_PORT}/in
  routes:
  - paths: [/tls]
"
--- request
GET /tls/x?y=1
--- response_body_like eval
qr{^tls TLSv1\.[23] sni=tls\.farm\.test host=tls\.farm\.test:$ENV{TEST_NGINX_TLS_PORT} uri=/in/x\?y=1$}
--- no_error_log
[error]
[alert]
