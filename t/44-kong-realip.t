# farm_kong behind a proxy or load balancer: Kong's `trusted_ips`,
# `real_ip_header` and `real_ip_recursive` (kong.conf) are nginx's realip
# directives here (`set_real_ip_from`, `real_ip_header`,
# `real_ip_recursive`), as Kong's own nginx template writes them.  From a
# trusted address the client address is the header's: hash_on ip balances
# by it, ip-restriction judges it, X-Real-IP carries it.  From an address
# that is not trusted, the header is ignored.  The targets are servers of
# the same nginx that name themselves in X-Target and echo the X-Real-IP
# they got.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;

our $A = free_port();
our $B = free_port();
our $Untrusted = free_port();    # a farm_kong server that trusts 10.0.0.0/8 only

# which target answers $path on $port with X-Forwarded-For $xff; and the
# X-Real-IP it saw
sub via {
    my ($port, $path, $xff) = @_;
    my ($code, $h) = FarmTest::http_get($port, $path, 'X-Forwarded-For' => $xff);
    return (!defined $code ? 'no answer' : $code != 200 ? "status $code"
            : $h->{'x-target'} // '?', $h->{'x-saw-real-ip'} // '');
}

my $Proxy = <<'_EOC_';
        farm_kong ../html/kong.yml;

        location / {
            proxy_pass $farm_kong_url;
            proxy_set_header Host            $farm_kong_host;
            proxy_set_header X-Real-IP       $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    my $http = kong_targets([a => $A, b => $B],
                            location => 'add_header X-Saw-Real-IP $http_x_real_ip always;');
    $http .= <<_EOC_;
    server {
        listen 127.0.0.1:$Untrusted;
        set_real_ip_from 10.0.0.0/8;
        real_ip_header X-Forwarded-For;
$Proxy    }
_EOC_
    $block->set_value('http_config', $http) unless defined $block->http_config;

    (my $trusted = $Proxy) =~ s/^    //mg;
    $block->set_value('config', <<_EOC_ . $trusted) unless defined $block->config;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
_EOC_
});

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: hash_on ip behind a trusted proxy: each client address keeps its target, the addresses spread, X-Real-IP is the client's
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: ip
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/ip]
"
--- init
my $gw = FarmTest::gateway_port();
my (%first, %seen);
for my $round (1 .. 3) {
    for my $n (1 .. 20) {
        my $ip = "203.0.113.$n";
        my ($who, $real) = main::via($gw, '/ip', "198.51.100.7, $ip");
        Test::More::is($real, $ip, "X-Real-IP is the client $ip") if $round == 1;
        $first{$ip} //= $who;
        Test::More::is($who, $first{$ip}, "$ip keeps its target") if $round > 1;
        $seen{$who}++;
    }
}
Test::More::is_deeply([sort keys %seen], ['a', 'b'], 'the client addresses spread over both targets');
my %untrusted;
for my $n (1 .. 20) {
    my ($who, $real) = main::via($main::Untrusted, '/ip', "203.0.113.$n");
    $untrusted{$who}++;
    Test::More::is($real, '127.0.0.1', 'not trusted: X-Real-IP is the peer') if $n == 1;
}
Test::More::is(scalar keys %untrusted, 1,
               'not trusted: the header is ignored, every request hashes the peer address');
--- request
GET /ip
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: ip-restriction behind a trusted proxy judges the client address from the header
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/r]
    plugins:
    - name: ip-restriction
      config: {deny: [203.0.113.9]}
"
--- init
my $gw = FarmTest::gateway_port();
my ($code, undef, $body) = FarmTest::http_get($gw, '/r', 'X-Forwarded-For' => '203.0.113.9');
Test::More::is($code, 403, 'the denied client address is refused');
Test::More::like($body // '', qr/IP address not allowed: 203\.0\.113\.9/, "Kong's message names it");
($code) = FarmTest::http_get($gw, '/r', 'X-Forwarded-For' => '203.0.113.10');
Test::More::is($code, 200, 'another client address passes');
($code) = FarmTest::http_get($main::Untrusted, '/r', 'X-Forwarded-For' => '203.0.113.9');
Test::More::is($code, 200, 'not trusted: the header does not make the client 203.0.113.9');
--- request
GET /r
--- more_headers
X-Forwarded-For: 203.0.113.9
--- error_code: 403
--- no_error_log
[error]
