# farm_kong, the health of a Kong upstream's targets: active checks (http,
# tcp, headers) take a failing target out for every worker and bring it back
# after healthy.successes; threshold turns a weakened upstream into Kong's
# 503; the health of unchanged targets survives a reload; passive checks
# are shared by the workers.  Also: hash_on consumer and uri_capture keep a
# key on one target, a retry to another target carries that target's Host,
# and algorithm latency prefers the faster target; https checks verify the
# certificate when asked to.  Two workers; the requests that must reach both go to a reuseport
# listener, which spreads connections over the workers.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();

our $A = free_port();
our $B = free_port();
our $Dead = free_port();    # refuses connections, until a test starts an agent there
our $Spread = free_port();
our $Flags = File::Temp::tempdir('kong-hc-XXXXXX', TMPDIR => 1, CLEANUP => 1);

$ENV{TEST_NGINX_T_A} = $A;
$ENV{TEST_NGINX_T_B} = $B;
$ENV{TEST_NGINX_SPREAD_PORT} = $Spread;
$ENV{TEST_NGINX_FLAGS} = $Flags;
$ENV{TEST_NGINX_TLS_PORT} = free_port();

# a throw-away self-signed certificate for a TLS target
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
       '-subj', '/CN=hc.farm.test', '-keyout', "$Flags/key.pem",
       '-out', "$Flags/cert.pem") == 0
    or die "openssl req failed\n";

# A target is down (its /hc answers 500) while $Flags/<name>-down exists.
sub set_down {
    my ($name, $down) = @_;
    my $f = "$Flags/$name-down";
    if ($down) {
        open my $fh, '>', $f or die "$f: $!\n";
        close $fh;
    } else {
        unlink $f;
    }
}

sub log_count {
    my ($re) = @_;
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    my $n = 0;
    while (<$fh>) { $n++ if $_ =~ $re }
    return $n;
}

sub wait_log {
    my ($re, $what) = @_;
    FarmTest::wait_until(sub { log_count($re) > 0 }, 30, $what);
}

# GETs $path on the reuseport listener until both workers have answered
# (at least $n requests); returns {who answered => count}: the target
# ("a", "b", an agent id) or "status N".
sub spread_workers {
    my ($path, $n, %hdr) = @_;
    my (%by, %workers);
    for my $i (1 .. 400) {
        my ($code, $h) = FarmTest::http_get($Spread, $path, %hdr);
        $workers{ $h->{'x-worker'} // '?' }++ if $h;
        my $who = !defined $code ? 'no answer'
                : $code != 200   ? "status $code"
                : $h->{'x-target'} // $h->{'x-farm-agent'} // '?';
        $by{$who}++;
        last if $i >= $n && keys %workers >= 2;
    }
    Test::More::cmp_ok(scalar keys %workers, '>=', 2, 'both workers answered');
    return \%by;
}

sub reload_gateway {
    my @old = FarmTest::worker_pids();
    my $pid = FarmTest::nginx_pid() or die "no nginx pid\n";
    kill 'HUP', $pid or die "HUP $pid: $!\n";
    FarmTest::wait_until(sub {
        my @now = FarmTest::worker_pids();
        my %was = map { $_ => 1 } @old;
        return @now == 2 && !grep { $was{$_} } @now;
    }, 30, 'two new workers after the reload');
}

add_block_preprocessor(sub {
    my $block = shift;

    # two targets, a and b: /hc fails while $Flags/<name>-down exists,
    # /hc-probe unless the check sends X-Probe: yes; both log the checks
    my $targets = "    log_format probe '\$uri host=\$http_host probe=\$http_x_probe';\n";
    for my $t (['a', $A], ['b', $B]) {
        my ($name, $port) = @$t;
        $targets .= <<_EOC_;
    server {
        listen 127.0.0.1:$port;
        access_log $Flags/probe-$name.log probe;
        location = /hc {
            if (-f $Flags/$name-down) {
                return 500;
            }
            return 200;
        }
        location = /hc-probe {
            if (\$http_x_probe != "yes") {
                return 500;
            }
            return 200;
        }
        location / {
            access_log off;
            add_header X-Target $name always;
            return 200 "$name host=\$http_host\\n";
        }
    }
_EOC_
    }
    $block->set_value('http_config', $targets) unless defined $block->http_config;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    listen 127.0.0.1:$TEST_NGINX_SPREAD_PORT reuseport;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
        add_header X-Worker $pid always;
    }
_EOC_
});

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: active http checks: a target failing them is taken out by both workers, and comes back after healthy.successes
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      http_path: /hc
      timeout: 2
      healthy:
        interval: 0.2
        successes: 2
      unhealthy:
        interval: 0.2
        http_failures: 2
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
main::set_down('b', 0);
my $by = main::spread_workers('/t', 20);
Test::More::ok($by->{a} && $by->{b}, 'both targets serve while healthy');
main::set_down('b', 1);
main::wait_log(qr/upstream "pool" target "127\.0\.0\.1:$main::B" is unhealthy after 2 HTTP failures \(active health check\)/,
               'b taken out');
$by = main::spread_workers('/t', 20);
Test::More::is_deeply([keys %$by], ['a'], 'every worker sends everything to a');
Test::More::is(main::log_count(qr/target "127\.0\.0\.1:$main::B" is unhealthy/), 1,
               'one checker for b: its verdict is logged once');
main::set_down('b', 0);
main::wait_log(qr/upstream "pool" target "127\.0\.0\.1:$main::B" is healthy after 2 successes \(active health check\)/,
               'b back');
$by = main::spread_workers('/t', 20);
Test::More::ok($by->{a} && $by->{b}, 'both targets serve again');
open my $fh, '<', "$main::Flags/probe-b.log" or die "probe-b.log: $!\n";
my $line = <$fh>;
Test::More::like($line, qr{^/hc host=127\.0\.0\.1:$main::B }, 'the check asks for http_path with the target as Host');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 2: active checks send the configured headers
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      http_path: /hc-probe
      timeout: 2
      headers:
        x-probe: [\"yes\"]
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        http_failures: 1
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
my $probes = sub {
    open my $fh, '<', "$main::Flags/probe-b.log" or return ();
    return grep { m{^/hc-probe } } <$fh>;
};
FarmTest::wait_until(sub { my @l = $probes->(); @l >= 3 }, 30, 'three checks of b');
my @l = $probes->();
Test::More::is(scalar(grep { m{^/hc-probe host=\S+ probe=yes$} } @l), scalar @l,
               'every check carried X-Probe: yes');
Test::More::is(main::log_count(qr/is unhealthy/), 0, 'no target taken out');
my $by = main::spread_workers('/t', 20);
Test::More::ok($by->{a} && $by->{b}, 'both targets serve');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 3: tcp checks: a target that refuses connections is taken out; an agent starting on its port brings it back
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      type: tcp
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        tcp_failures: 1
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::Dead
services:
- name: s
  host: pool
  path: /work
  routes:
  - paths: [/t]
"
--- init
main::wait_log(qr/upstream "pool" target "127\.0\.0\.1:$main::Dead" is unhealthy after 1 TCP failures \(active health check\)/,
               'the dead target taken out');
my $by = main::spread_workers('/t', 20);
Test::More::is_deeply([keys %$by], ['a'], 'everything goes to a');
my $agent = FarmTest::start_agent(id => 'late', listen => "127.0.0.1:$main::Dead");
main::wait_log(qr/target "127\.0\.0\.1:$main::Dead" is healthy after 1 successes/, 'the target back');
$by = main::spread_workers('/t', 20);
Test::More::ok($by->{a} && $by->{late}, 'the agent on the revived target serves too');
FarmTest::stop_agent($agent);
FarmTest::wait_until(sub { main::log_count(qr/target "127\.0\.0\.1:$main::Dead" is unhealthy/) == 2 },
                     30, 'the stopped agent taken out again');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 4: threshold: below 60 % of the weight healthy, the upstream answers Kong's 503
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    threshold: 60
    active:
      http_path: /hc
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        http_failures: 1
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
main::set_down('b', 1);
main::wait_log(qr/target "127\.0\.0\.1:$main::B" is unhealthy/, 'b taken out');
--- request
GET /t
--- error_code: 503
--- response_body_like: failure to get a peer from the ring-balancer
--- no_error_log
[error]
[alert]



=== TEST 5: a reload keeps an unchanged target's health (unhealthy.interval 0: nothing probes it back)
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      http_path: /hc
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0
        http_failures: 1
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
main::set_down('b', 1);
main::wait_log(qr/target "127\.0\.0\.1:$main::B" is unhealthy/, 'b taken out');
main::set_down('b', 0);    # healthy again, but nothing probes it
main::reload_gateway();
my $by = main::spread_workers('/t', 20);
Test::More::is_deeply([keys %$by], ['a'], 'after the reload b is still out');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 6: passive checks are shared: a target one worker saw fail is out for the other too
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
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::Dead
services:
- name: s
  host: pool
  retries: 0
  routes:
  - paths: [/t]
"
--- init
my $failed;
for (1 .. 20) {
    my ($code) = FarmTest::http_get($main::Spread, '/t');
    if (($code // 0) == 502) { $failed = 1; last }
}
Test::More::ok($failed, 'a request met the dead target');
main::wait_log(qr/upstream "pool" target "127\.0\.0\.1:$main::Dead" is unhealthy after 1 TCP failures \(passive health check\)/,
               'the dead target taken out');
my $by = main::spread_workers('/t', 20);
Test::More::is_deeply($by, { a => $by->{a} }, 'no worker sends to the dead target again');
--- request
GET /t
--- error_code: 200
--- error_log
(passive health check)



=== TEST 7: hash_on consumer: each consumer stays on one target, and the consumers spread
--- user_files eval
my $yml = "_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: consumer
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
    plugins:
    - name: key-auth
consumers:
";
$yml .= "- username: user$_\n  keyauth_credentials:\n  - key: key$_\n" for 1 .. 12;
">>> kong.yml\n$yml"
--- init
my (%by_user, %targets, $moved);
for my $round (1 .. 3) {
    for my $u (1 .. 12) {
        my (undef, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/t', apikey => "key$u");
        my $t = $h->{'x-target'} // 'none';
        $moved++ if defined $by_user{$u} && $by_user{$u} ne $t;
        $by_user{$u} = $t;
        $targets{$t}++;
    }
}
Test::More::ok(!$moved, 'each consumer stays on one target over three rounds');
Test::More::is_deeply([sort keys %targets], ['a', 'b'], 'twelve consumers spread over both targets');
--- request
GET /t
--- more_headers
apikey: key1
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 8: hash_on uri_capture: the named capture of the route's regex path is the key
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: uri_capture
  hash_on_uri_capture: user
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [\"~/u/(?<user>[a-z0-9]+)\"]
"
--- init
my (%by_user, %targets, $moved);
for my $round (1 .. 3) {
    for my $u (1 .. 12) {
        my (undef, $h) = FarmTest::http_get(FarmTest::gateway_port(), "/u/user$u/item$round");
        my $t = $h->{'x-target'} // 'none';
        $moved++ if defined $by_user{$u} && $by_user{$u} ne $t;
        $by_user{$u} = $t;
        $targets{$t}++;
    }
}
Test::More::ok(!$moved, 'each user stays on one target, whatever follows in the path');
Test::More::is_deeply([sort keys %targets], ['a', 'b'], 'twelve users spread over both targets');
--- request
GET /u/user1/x
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 9: a retry to another target carries that target's Host
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  targets:
  - target: 127.0.0.1:$main::Dead
  - target: 127.0.0.1:$main::A
services:
- name: s
  host: pool
  retries: 1
  routes:
  - paths: [/t]
"
--- init
my %hosts;
for (1 .. 20) {
    my ($code, undef, $body) = FarmTest::http_get($main::Spread, '/t');
    $hosts{ ($code // 0) . ' ' . ($body // '') }++;
}
Test::More::is_deeply([keys %hosts], ["200 a host=127.0.0.1:$main::A\n"],
                      'every request, retried or not, reached a with its own Host');
--- request
GET /t
--- error_code: 200
--- response_body_like: ^a host=127\.0\.0\.1:\d+$



=== TEST 10: algorithm latency: the target that answers faster gets the traffic, for both workers
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  algorithm: latency
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::Dead
services:
- name: s
  host: pool
  path: /work
  routes:
  - paths: [/t]
"
--- init
my $slow = FarmTest::start_agent(id => 'slow', listen => "127.0.0.1:$main::Dead");
my @who;
for (1 .. 12) {
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/t?ms=300');
    push @who, ($h->{'x-target'} // $h->{'x-farm-agent'} // "status $code");
}
my $to_slow = grep { $_ eq 'slow' } @who;
Test::More::cmp_ok($to_slow, '<=', 2, "the slow target was tried at most once per worker (@who)");
Test::More::is_deeply([@who[-8 .. -1]], [('a') x 8], 'then everything goes to the fast one');
my $by = main::spread_workers('/t', 20);
Test::More::is_deeply([keys %$by], ['a'], 'both workers send to the fast one');
FarmTest::stop_agent($slow);
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 11: https checks: a self-signed target passes without https_verify_certificate and fails with it
--- http_config
    log_format tls '$uri sni=$ssl_server_name probe=$http_x_probe';

    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate     $TEST_NGINX_FLAGS/cert.pem;
        ssl_certificate_key $TEST_NGINX_FLAGS/key.pem;
        access_log $TEST_NGINX_FLAGS/probe-tls.log tls;
        location / {
            return 200;
        }
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: trusting
  healthchecks:
    active:
      type: https
      http_path: /trusting
      https_sni: hc.farm.test
      https_verify_certificate: false
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        tcp_failures: 1
        http_failures: 1
  targets:
  - target: 127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}
- name: verifying
  healthchecks:
    active:
      type: https
      http_path: /verifying
      https_sni: hc.farm.test
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        tcp_failures: 1
  targets:
  - target: 127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}
services:
- name: s
  host: trusting
  protocol: https
  routes:
  - paths: [/t]
"
--- init
main::wait_log(qr/upstream "verifying" target "127\.0\.0\.1:$ENV{TEST_NGINX_TLS_PORT}" is unhealthy after 1 TCP failures \(active health check\)/,
               'the unverifiable certificate fails its check');
Test::More::ok(main::log_count(qr/upstream "verifying" target "[^"]+": the certificate does not verify \(18\)/),
               'the reason is logged: a self-signed certificate (X509 error 18)');
my $checks = sub {
    open my $fh, '<', "$main::Flags/probe-tls.log" or return ();
    return grep { m{^/trusting } } <$fh>;
};
FarmTest::wait_until(sub { my @l = $checks->(); @l >= 3 }, 30, 'three checks over TLS');
my @l = $checks->();
Test::More::is(scalar(grep { m{^/trusting sni=hc\.farm\.test } } @l), scalar @l,
               'every check sent https_sni');
Test::More::is(main::log_count(qr/upstream "trusting" .* is unhealthy/), 0,
               'without verification the target stays healthy');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]
