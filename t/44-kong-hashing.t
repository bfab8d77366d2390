# farm_kong, consistent-hashing as Kong does it: hash_on cookie (a client
# without the cookie gets one, with Kong's attributes, and stays on one
# target with it; the service's cookie of that name gives way) and the
# ring of `slots` points (lowering a target's weight moves only some of its
# keys to the others, never a key between the others).  The targets are
# servers of the same nginx that name themselves in X-Target.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;

our $A = free_port();
our $B = free_port();

$ENV{TEST_NGINX_T_A} = $A;
$ENV{TEST_NGINX_T_B} = $B;

# which target answers $path with %hdr, and the response's headers
sub target_of {
    my ($path, %hdr) = @_;
    my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), $path, %hdr);
    return (!defined $code ? 'no answer' : $code != 200 ? "status $code"
            : $h->{'x-target'} // '?', $h);
}

add_block_preprocessor(sub {
    my $block = shift;

    # /own also sets the service's own cookies
    $block->set_value('http_config', kong_targets([a => $A, b => $B], server =>
        'location /own { add_header X-Target NAME always; '
        . 'add_header Set-Cookie "sess=from-the-service; Path=/"; '
        . 'add_header Set-Cookie "other=kept"; return 200 "NAME\\n"; }'))
        unless defined $block->http_config;
});

kong_server();
master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: hash_on cookie: a client without the cookie gets one (Kong's attributes) and stays on one target with it
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: cookie
  hash_on_cookie: sess
  hash_on_cookie_path: /app
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/app]
"
--- init
my (%seen, %values);
for my $client (1 .. 24) {
    my ($first, $h) = main::target_of('/app/x');
    my $cookie = $h->{'set-cookie'} // '';
    Test::More::like($cookie, qr/\Asess=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}; Path=\/app; Same-Site=Lax; HttpOnly\z/,
                     "client $client: a new cookie") or next;
    my ($value) = $cookie =~ /\Asess=([^;]+)/;
    $values{$value}++;
    for (1 .. 3) {
        my ($again, $h2) = main::target_of('/app/x', Cookie => "a=1; sess=$value");
        Test::More::is($again, $first, "client $client: the cookie keeps its target")
            or last;
        Test::More::ok(!exists $h2->{'set-cookie'}, "client $client: no new cookie once sent");
    }
    $seen{$first}++;
}
Test::More::is(scalar keys %values, 24, 'each client gets its own value');
Test::More::is_deeply([sort keys %seen], ['a', 'b'], 'the clients spread over both targets');
--- request
GET /app/y
--- response_headers_like
Set-Cookie: ^sess=[0-9a-f-]{36}; Path=/app; Same-Site=Lax; HttpOnly$
--- no_error_log
[error]



=== TEST 2: hash_on cookie: the new cookie replaces the service's cookie of that name; its other cookies pass
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: cookie
  hash_on_cookie: sess
  targets:
  - target: 127.0.0.1:$main::A
services:
- name: s
  host: pool
  routes:
  - paths: [/own]
    strip_path: false
"
--- init
my ($who, $h) = main::target_of('/own');
Test::More::is($who, 'a', 'the target answers');
my @cookies = split /, (?=\w+=)/, $h->{'set-cookie'} // '';
Test::More::is(scalar(grep { /\Asess=/ } @cookies), 1, 'one sess cookie');
Test::More::like((grep { /\Asess=/ } @cookies)[0] // '', qr/\Asess=[0-9a-f-]{36}; Path=\/; Same-Site=Lax; HttpOnly\z/,
                 "it is the gateway's (default path /)");
Test::More::ok((grep { $_ eq 'other=kept' } @cookies), "the service's other cookie is kept");
my (undef, $h2) = main::target_of('/own', Cookie => 'sess=mine');
Test::More::like($h2->{'set-cookie'} // '', qr/sess=from-the-service/,
                 'with the cookie sent, the service sets its own as it likes');
--- request
GET /own
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: the ring of slots: lowering b's weight moves some of b's keys to a and none of a's to b
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
upstreams:
- name: pool
  hash_on: header
  hash_on_header: x-user
  slots: 5000
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
services:
- name: s
  host: pool
  routes:
  - paths: [/h]
"
--- init
my (%before, %after, %by);
for my $u (1 .. 80) {
    ($before{$u}) = main::target_of('/h', 'X-User' => "user$u");
    $by{ $before{$u} }++;
}
Test::More::is_deeply([sort keys %by], ['a', 'b'], 'the users spread over both targets');
FarmKong::kong_write(<<"_YML_");
upstreams:
- name: pool
  hash_on: header
  hash_on_header: x-user
  slots: 5000
  targets:
  - target: 127.0.0.1:$main::A
  - target: 127.0.0.1:$main::B
    weight: 30
services:
- name: s
  host: pool
  routes:
  - paths: [/h]
_YML_
FarmKong::kong_reload();
my ($a_to_b, $b_to_a, $b_kept) = (0, 0, 0);
for my $u (1 .. 80) {
    ($after{$u}) = main::target_of('/h', 'X-User' => "user$u");
    $a_to_b++ if $before{$u} eq 'a' && $after{$u} ne 'a';
    $b_to_a++ if $before{$u} eq 'b' && $after{$u} eq 'a';
    $b_kept++ if $before{$u} eq 'b' && $after{$u} eq 'b';
}
Test::More::is($a_to_b, 0, "no user of a moved");
Test::More::cmp_ok($b_to_a, '>', 0, 'some users of b moved to a');
Test::More::cmp_ok($b_kept, '>', 0, 'the other users of b stayed');
--- request
GET /h
--- more_headers
X-User: user1
--- error_code: 200
--- no_error_log
[error]
