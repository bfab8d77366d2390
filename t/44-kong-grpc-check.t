# farm_kong, active health checks of type grpc and grpcs: the gRPC health
# checking protocol (grpc.health.v1.Health/Check over HTTP/2; cleartext
# with prior knowledge, or TLS with ALPN h2).  A target answering SERVING
# is healthy; NOT_SERVING, a gRPC error (UNIMPLEMENTED) are HTTP failures
# and take it out; a connection closed unanswered is a TCP failure.  The
# targets are t/lib/grpc_health_server.py (python3-h2), which also answers
# plain HTTP/1.1 with "X-Target: its port", so the test sees where
# requests go.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();

our $Flags = File::Temp::tempdir('kong-grpc-XXXXXX', TMPDIR => 1, CLEANUP => 1);

system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
       '-subj', '/CN=grpc.farm.test', '-keyout', "$Flags/key.pem",
       '-out', "$Flags/cert.pem") == 0
    or die "openssl req failed\n";

sub set_state {
    my ($name, $state) = @_;
    open my $fh, '>', "$Flags/$name.state" or die "$name.state: $!\n";
    print $fh "$state\n";
    close $fh or die "$name.state: $!\n";
}

set_state($_, 'SERVING') for qw(g1 g2 tls);
our $G1 = FarmTest::start_grpc_health(state => "$Flags/g1.state");
our $G2 = FarmTest::start_grpc_health(state => "$Flags/g2.state");
our $Tls = FarmTest::start_grpc_health(state => "$Flags/tls.state",
                                       tls => ["$Flags/cert.pem", "$Flags/key.pem"]);
our ($P1, $P2, $PT) = map { $_->{port} } $G1, $G2, $Tls;

sub calls {    # the health checks a server has answered
    my ($h) = @_;
    open my $fh, '<', $h->{log} or return ();
    return grep { m{^/grpc\.health\.v1\.Health/Check } } <$fh>;
}

sub spread {    # $n requests to /t: {port that answered => count}
    my ($n) = @_;
    my %by;
    for (1 .. $n) {
        my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/t');
        $by{ !defined $code ? 'no answer' : $code != 200 ? "status $code"
             : $h->{'x-target'} // '?' }++;
    }
    return \%by;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
_EOC_
});

master_on();
workers(1);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: type grpc: SERVING is healthy, NOT_SERVING takes the target out, SERVING again brings it back
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      type: grpc
      timeout: 2
      headers:
        X-Probe: [\"yes\"]
      healthy:
        interval: 0.2
        successes: 2
      unhealthy:
        interval: 0.2
        http_failures: 2
  targets:
  - target: 127.0.0.1:$main::P1
  - target: 127.0.0.1:$main::P2
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
main::set_state($_, 'SERVING') for qw(g1 g2);
FarmTest::wait_until(sub { main::calls($main::G2) >= 2 }, 60, 'g2 checked');
my $by = main::spread(20);
Test::More::ok($by->{$main::P1} && $by->{$main::P2}, 'both targets serve while SERVING');
Test::More::is(FarmTest::error_log_count(qr/is unhealthy/), 0, 'SERVING counts as healthy');
main::set_state('g2', 'NOT_SERVING');
FarmTest::wait_error_log(qr/upstream "pool" target "127\.0\.0\.1:$main::P2" is unhealthy after 2 HTTP failures \(active health check\)/,
               'g2 taken out');
$by = main::spread(20);
Test::More::is_deeply([keys %$by], [$main::P1], 'everything goes to g1');
main::set_state('g2', 'SERVING');
FarmTest::wait_error_log(qr/upstream "pool" target "127\.0\.0\.1:$main::P2" is healthy after 2 successes \(active health check\)/,
               'g2 back');
$by = main::spread(20);
Test::More::ok($by->{$main::P1} && $by->{$main::P2}, 'both targets serve again');
my ($call) = main::calls($main::G2);
Test::More::like($call, qr{^/grpc\.health\.v1\.Health/Check authority=127\.0\.0\.1:$main::P2 service= te=trailers content-type=application/grpc x-probe=yes$},
                 'a unary Health/Check call for the whole server, with the headers of the check');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 2: type grpc: http_path names the service; UNIMPLEMENTED is an HTTP failure, a closed connection a TCP failure
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      type: grpc
      http_path: /farm.Agent
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        http_failures: 2
        tcp_failures: 2
  targets:
  - target: 127.0.0.1:$main::P1
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
main::set_state('g1', 'UNIMPLEMENTED');
FarmTest::wait_error_log(qr/target "127\.0\.0\.1:$main::P1" is unhealthy after 2 HTTP failures \(active health check\)/,
               'UNIMPLEMENTED takes it out');
main::set_state('g1', 'SERVING');
FarmTest::wait_error_log(qr/target "127\.0\.0\.1:$main::P1" is healthy after 1 successes/, 'back');
main::set_state('g1', 'CLOSE');
FarmTest::wait_error_log(qr/target "127\.0\.0\.1:$main::P1" is unhealthy after 2 TCP failures \(active health check\)/,
               'a connection closed unanswered takes it out');
my @calls = main::calls($main::G1);
Test::More::like($calls[-1], qr{ service=farm\.Agent }, 'the service is http_path without its slash');
--- request
GET /t
--- error_code: 503
--- response_body_like: failure to get a peer from the ring-balancer
--- no_error_log
[error]
[alert]



=== TEST 3: type grpcs: over TLS (ALPN h2); NOT_SERVING takes the only target out: Kong's 503
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  healthchecks:
    active:
      type: grpcs
      https_verify_certificate: false
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        http_failures: 1
  targets:
  - target: 127.0.0.1:$main::PT
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
"
--- init
main::set_state('tls', 'SERVING');
FarmTest::wait_until(sub { main::calls($main::Tls) >= 2 }, 60, 'checked over TLS');
Test::More::is(FarmTest::error_log_count(qr/is unhealthy/), 0, 'SERVING over TLS is healthy');
main::set_state('tls', 'NOT_SERVING');
FarmTest::wait_error_log(qr/target "127\.0\.0\.1:$main::PT" is unhealthy after 1 HTTP failures \(active health check\)/,
               'NOT_SERVING over TLS takes it out');
--- request
GET /t
--- error_code: 503
--- response_body_like: failure to get a peer from the ring-balancer
--- no_error_log
[error]
[alert]
