# farm_kong, active health checks of a Kong upstream's target written as a
# host name: as in Kong, each address the name resolves to (on nginx's
# resolver, here a tiny DNS server the test controls) is checked and taken
# out on its own, and comes back after healthy.successes; when the name's
# addresses change, an address that went away is no longer checked and a
# new one is; the health of an unchanged address survives a reload; the
# prometheus plugin shows the target unhealthy once all its addresses are.  Three
# loopback addresses (127.0.0.2-4) serve on one port: /hc fails while
# $Flags/<address>-down exists.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();

our $P = free_port();
our $Flags = File::Temp::tempdir('kong-hcname-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $Dns = "$Flags/dns";

sub set_dns {
    my (@addrs) = @_;
    open my $fh, '>', "$Dns.new" or die "$Dns.new: $!\n";
    print $fh "pool.farm.test @addrs\n";
    close $fh or die "$Dns.new: $!\n";
    rename "$Dns.new", $Dns or die "$Dns: $!\n";
}

set_dns('127.0.0.2', '127.0.0.3');
$ENV{TEST_NGINX_DNS_PORT} = FarmTest::start_dns($Dns);

sub set_down {
    my ($addr, $down) = @_;
    my $f = "$Flags/$addr-down";
    if ($down) {
        open my $fh, '>', $f or die "$f: $!\n";
        close $fh;
    } else {
        unlink $f;
    }
}

sub probes {    # the checks address $addr has answered
    my ($addr) = @_;
    open my $fh, '<', "$Flags/probe-$addr.log" or return 0;
    my $n = 0;
    while (<$fh>) { $n++ if m{^/hc } }
    return $n;
}

# $n requests to /t: {address that answered => count}
sub spread {
    my ($n) = @_;
    my %by;
    for (1 .. $n) {
        my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/t');
        my $who = !defined $code ? 'no answer'
                : $code != 200   ? "status $code"
                : $h->{'x-target'} // '?';
        $by{$who}++;
    }
    return \%by;
}

sub reload_gateway {
    my @old = FarmTest::worker_pids();
    my $pid = FarmTest::nginx_pid() or die "no nginx pid\n";
    kill 'HUP', $pid or die "HUP $pid: $!\n";
    FarmTest::wait_until(sub {
        my @now = FarmTest::worker_pids();
        my %was = map { $_ => 1 } @old;
        return @now == 1 && !grep { $was{$_} } @now;
    }, 60, 'a new worker after the reload');
}

sub kong_yml {
    my ($unhealthy_interval, $extra) = @_;
    return <<_EOC_;
_format_version: "3.0"
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
        interval: $unhealthy_interval
        http_failures: 2
  targets:
  - target: pool.farm.test:$P
services:
- name: s
  host: pool
  routes:
  - paths: [/t]
$extra
_EOC_
}

add_block_preprocessor(sub {
    my $block = shift;

    my $http = "    log_format probe '\$uri host=\$http_host';\n"
             . "    resolver 127.0.0.1:$ENV{TEST_NGINX_DNS_PORT} ipv6=off valid=1s;\n"
             . "    resolver_timeout 2s;\n";
    for my $addr (qw(127.0.0.2 127.0.0.3 127.0.0.4)) {
        $http .= <<_EOC_;
    server {
        listen $addr:$P;
        access_log $Flags/probe-$addr.log probe;
        location = /hc {
            if (-f $Flags/$addr-down) {
                return 500;
            }
            return 200;
        }
        location / {
            access_log off;
            add_header X-Target $addr always;
            return 200 "$addr\\n";
        }
    }
_EOC_
    }
    $block->set_value('http_config', $http) unless defined $block->http_config;

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

=== TEST 1: each address of a host-name target is checked; a failing one is taken out and comes back after healthy.successes
--- user_files eval
">>> kong.yml\n" . main::kong_yml(0.2, '')
--- init
main::set_dns('127.0.0.2', '127.0.0.3');
main::set_down($_, 0) for qw(127.0.0.2 127.0.0.3 127.0.0.4);
FarmTest::wait_error_log(qr/target "pool\.farm\.test:$main::P": address 127\.0\.0\.3:$main::P is checked/,
               '127.0.0.3 checked');
FarmTest::wait_until(sub { main::probes('127.0.0.2') >= 2 && main::probes('127.0.0.3') >= 2 },
                     60, 'both addresses probed');
my $by = main::spread(20);
Test::More::ok($by->{'127.0.0.2'} && $by->{'127.0.0.3'}, 'both addresses serve while healthy');
main::set_down('127.0.0.3', 1);
FarmTest::wait_error_log(qr/upstream "pool" target "pool\.farm\.test:$main::P" address 127\.0\.0\.3:$main::P is unhealthy after 2 HTTP failures \(active health check\)/,
               '127.0.0.3 taken out');
$by = main::spread(20);
Test::More::is_deeply([keys %$by], ['127.0.0.2'], 'everything goes to 127.0.0.2');
main::set_down('127.0.0.3', 0);
FarmTest::wait_error_log(qr/upstream "pool" target "pool\.farm\.test:$main::P" address 127\.0\.0\.3:$main::P is healthy after 2 successes \(active health check\)/,
               '127.0.0.3 back');
$by = main::spread(20);
Test::More::ok($by->{'127.0.0.2'} && $by->{'127.0.0.3'}, 'both addresses serve again');
open my $fh, '<', "$main::Flags/probe-127.0.0.3.log" or die "probe log: $!\n";
my $line = <$fh>;
Test::More::like($line, qr{^/hc host=pool\.farm\.test:$main::P$},
                 'the check asks for http_path with the target host as Host');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 2: the name's addresses change: the one gone is no longer checked, the new one is
--- user_files eval
">>> kong.yml\n" . main::kong_yml(0.2, '')
--- init
main::set_dns('127.0.0.2', '127.0.0.3');
main::set_down($_, 0) for qw(127.0.0.2 127.0.0.3 127.0.0.4);
FarmTest::wait_error_log(qr/address 127\.0\.0\.3:$main::P is checked/, '127.0.0.3 checked');
main::set_dns('127.0.0.2', '127.0.0.4');
FarmTest::wait_error_log(qr/target "pool\.farm\.test:$main::P": address 127\.0\.0\.3:$main::P is no longer checked/,
               '127.0.0.3 no longer checked');
FarmTest::wait_error_log(qr/target "pool\.farm\.test:$main::P": address 127\.0\.0\.4:$main::P is checked/,
               '127.0.0.4 checked');
FarmTest::wait_until(sub { main::probes('127.0.0.4') >= 2 }, 60, '127.0.0.4 probed');
my $was = main::probes('127.0.0.3');
main::set_down('127.0.0.4', 1);
FarmTest::wait_error_log(qr/address 127\.0\.0\.4:$main::P is unhealthy after 2 HTTP failures/,
               'the new address is taken out when its checks fail');
Test::More::is(main::probes('127.0.0.3'), $was, 'the address gone got no check meanwhile');
FarmTest::wait_until(sub { my $b = main::spread(10); keys %$b == 1 && $b->{'127.0.0.2'} },
                     60, 'the requests follow the name (127.0.0.3 gone, 127.0.0.4 out)');
my $by = main::spread(20);
Test::More::is_deeply([keys %$by], ['127.0.0.2'], 'everything goes to 127.0.0.2');
main::set_down('127.0.0.4', 0);
FarmTest::wait_error_log(qr/address 127\.0\.0\.4:$main::P is healthy after 2 successes/, '127.0.0.4 back');
FarmTest::wait_until(sub { main::spread(10)->{'127.0.0.4'} }, 60, '127.0.0.4 serves');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 3: an address taken out stays out over a reload (unhealthy.interval 0: nothing brings it back)
--- user_files eval
">>> kong.yml\n" . main::kong_yml(0, '')
--- init
main::set_dns('127.0.0.2', '127.0.0.3');
main::set_down($_, 0) for qw(127.0.0.2 127.0.0.3 127.0.0.4);
main::set_down('127.0.0.2', 1);
FarmTest::wait_error_log(qr/address 127\.0\.0\.2:$main::P is unhealthy after 2 HTTP failures/,
               '127.0.0.2 taken out');
main::set_down('127.0.0.2', 0);
my $by = main::spread(20);
Test::More::is_deeply([keys %$by], ['127.0.0.3'], 'everything goes to 127.0.0.3');
my $file = FarmTest::servroot() . '/html/kong.yml';
open my $fh, '>', $file or die "$file: $!\n";
print $fh main::kong_yml(0, "- name: other\n  url: http://127.0.0.1:1/\n  routes:\n  - paths: [/other]\n");
close $fh or die "$file: $!\n";
main::reload_gateway();
FarmTest::wait_error_log(qr/address 127\.0\.0\.3:$main::P is checked/, 'the new worker checks the name', 2);
$by = main::spread(20);
Test::More::is_deeply([keys %$by], ['127.0.0.3'], 'after the reload, 127.0.0.2 is still out');
--- request
GET /t
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 4: prometheus: a host-name target is unhealthy when all its addresses are
--- config
    farm_kong ../html/kong.yml;

    location = /metrics {
        farm_kong off;
        farm_kong_metrics;
    }

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
--- user_files eval
">>> kong.yml\n" . main::kong_yml(0.2, "plugins:\n- name: prometheus\n  config: {upstream_health_metrics: true}\n")
--- init
main::set_dns('127.0.0.2', '127.0.0.3');
main::set_down($_, 0) for qw(127.0.0.2 127.0.0.3 127.0.0.4);
main::set_down('127.0.0.2', 1);
FarmTest::wait_error_log(qr/address 127\.0\.0\.2:$main::P is unhealthy/, '127.0.0.2 taken out');
my (undef, undef, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/metrics');
Test::More::like($body, qr/^kong_upstream_target_health\{upstream="pool",target="pool\.farm\.test:$main::P",address="",state="healthy",subsystem="http"\} 1$/m,
                 'one address up: the target is healthy');
main::set_down('127.0.0.3', 1);
FarmTest::wait_error_log(qr/address 127\.0\.0\.3:$main::P is unhealthy/, '127.0.0.3 taken out');
--- request
GET /metrics
--- response_body_like: kong_upstream_target_health\{upstream="pool",target="pool\.farm\.test:\d+",address="",state="unhealthy",subsystem="http"\} 1
--- no_error_log
[error]
[alert]
