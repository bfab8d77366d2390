# farm_kong with kept-alive connections: `upstream farm_kong {
# farm_kong_upstream; keepalive N; }` lets nginx's keepalive module reuse
# the connections to a Kong service's targets; the target sees a few
# connections carry many requests.  Without the block, each request opens
# its own.  The targets are servers of the same nginx that report the
# connection a request came on (X-Conn) and the target (X-Target).

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;

our $A = free_port();
our $B = free_port();

# GETs $path $n times, one client connection each; returns {X-Conn value
# => requests}, {X-Target => requests} and the statuses that were not 200
sub connections {
    my ($path, $n) = @_;
    my (%conn, %target, @bad);
    for (1 .. $n) {
        my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), $path);
        push @bad, $code // 'none' unless ($code // 0) == 200;
        $conn{ ($h->{'x-target'} // '?') . '#' . ($h->{'x-conn'} // '?') }++;
        $target{ $h->{'x-target'} // '?' }++;
    }
    return (\%conn, \%target, \@bad);
}

sub targets_conf {
    return kong_targets([a => $A, b => $B], server => 'keepalive_requests 1000;',
                        location => 'add_header X-Conn $connection always;');
}

our $KeepAlive = <<'_EOC_';
    upstream farm_kong {
        farm_kong_upstream;
        keepalive 8;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $farm_kong_host;
    }
_EOC_
});

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: with keepalive, the requests to a Kong upstream's two targets reuse a few connections
--- http_config eval
$main::KeepAlive . main::targets_conf()
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/k]
"
--- init
my ($conn, $target, $bad) = main::connections('/k', 20);
Test::More::is("@$bad", '', 'every request answered 200');
Test::More::is_deeply([sort keys %$target], ['a', 'b'], 'both targets answered');
Test::More::cmp_ok(scalar keys %$conn, '<=', 4,
                   '20 requests came on at most 4 connections: ' . join(' ', sort keys %$conn));
--- request
GET /k
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: with keepalive, a service given by its url (no Kong upstream) also reuses its connection
--- http_config eval
$main::KeepAlive . main::targets_conf()
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/
  routes:
  - paths: [/k]
"
--- init
my ($conn, $target, $bad) = main::connections('/k', 10);
Test::More::is("@$bad", '', 'every request answered 200');
Test::More::cmp_ok(scalar keys %$conn, '<=', 2,
                   '10 requests came on at most 2 connections: ' . join(' ', sort keys %$conn));
--- request
GET /k
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: without the block, every request opens its own connection to the target
--- http_config eval
main::targets_conf()
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/
  routes:
  - paths: [/k]
"
--- init
my ($conn, $target, $bad) = main::connections('/k', 10);
Test::More::is("@$bad", '', 'every request answered 200');
Test::More::is(scalar keys %$conn, 10, 'ten requests, ten connections');
--- request
GET /k
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: farm_kong_upstream outside "upstream farm_kong": nginx -t names the mistake
--- http_config
    upstream other {
        farm_kong_upstream;
    }
--- config
    location /a { return 200; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_kong_upstream" directive is allowed only in "upstream farm_kong \{ \}" in \S+nginx\.conf:\d+/



=== TEST 5: farm_kong_upstream after keepalive: nginx -t names the order
--- http_config
    upstream farm_kong {
        keepalive 8;
        farm_kong_upstream;
    }
--- config
    location /a { return 200; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_kong_upstream" directive must come before the block's other balancing directives \(keepalive, \.\.\.\) in \S+nginx\.conf:\d+/
