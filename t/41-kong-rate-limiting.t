# farm_kong's rate-limiting plugin (policy local, counted in farm_limit's
# shared zone): Kong 3.x headers on every answer, 429 with Retry-After and
# Kong's body past the limit, limit_by consumer / header, a custom
# error_code and error_message, hide_client_headers.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our %Agent = (a => start_agent(id => 'a'));
our $A = $Agent{a}{port};

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
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: two requests a day pass with the headers, the third gets 429 with Retry-After and Kong's body
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config: {day: 2, year: 1000}
"
--- request eval
["GET /echo", "GET /echo", "GET /echo"]
--- more_headers
Accept: application/json
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Day: 2\nX-RateLimit-Remaining-Day: 1\nX-RateLimit-Limit-Year: 1000\nX-RateLimit-Remaining-Year: 999\nRateLimit-Limit: 2\nRateLimit-Remaining: 1",
 "X-RateLimit-Remaining-Day: 0\nRateLimit-Remaining: 0",
 "X-RateLimit-Remaining-Day: 0\nRateLimit-Limit: 2\nRateLimit-Remaining: 0"]
--- response_headers_like eval
["RateLimit-Reset: \\d+", "RateLimit-Reset: \\d+", "Retry-After: \\d+"]
--- response_body_like eval
[qr{^GET /echo}, qr{^GET /echo}, qr{^\{\s*"message":\s*"API rate limit exceeded",\s*"request_id":\s*"[0-9a-f]{32}"\s*\}}]
--- no_error_log
[error]



=== TEST 2: limit_by consumer: each consumer has its own count; error_code, error_message and hide_client_headers
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
    plugins:
    - name: key-auth
    - name: rate-limiting
      config: {hour: 1, error_code: 403, error_message: slow down, hide_client_headers: true}
consumers:
- username: alice
  keyauth_credentials: [{key: ka}]
- username: bob
  keyauth_credentials: [{key: kb}]
"
--- request eval
["GET /echo", "GET /echo", "GET /echo"]
--- more_headers eval
["apikey: ka", "apikey: kb", "apikey: ka\nAccept: application/json"]
--- error_code eval
[200, 200, 403]
--- response_headers eval
["!X-RateLimit-Limit-Hour\n!RateLimit-Limit", "!X-RateLimit-Limit-Hour", "!X-RateLimit-Limit-Hour\n!RateLimit-Remaining"]
--- response_body_like eval
[qr{^GET /echo}, qr{^GET /echo}, qr{"message":\s*"slow down"}]
--- no_error_log
[error]



=== TEST 3: limit_by header: the header's value is the identifier; without it, the client address
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
plugins:
- name: rate-limiting
  config: {month: 1, limit_by: header, header_name: x-tenant}
"
--- request eval
["GET /echo", "GET /echo", "GET /echo", "GET /echo"]
--- more_headers eval
["X-Tenant: t1", "X-Tenant: t2", "X-Tenant: t1", ""]
--- error_code eval
[200, 200, 429, 200]
--- no_error_log
[error]



=== TEST 4: the counts are shared by the workers: many connections, exactly the limit admitted
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config: {year: 5, limit_by: service}
"
--- init
my %n;
for (1 .. 12) {
    my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/echo');
    $n{$code // 'none'}++;
}
Test::More::is($n{200}, 5, 'five admitted across the workers');
Test::More::is($n{429}, 7, 'the rest refused');
--- request
GET /echo
--- error_code: 429
--- no_error_log
[error]



=== TEST 5: policy cluster is rejected as Kong DB-less does, and a lower limit for a longer window
--- user_files
>>> kong.yml
_format_version: "3.0"
plugins:
- name: rate-limiting
  config: {minute: 10, hour: 5, policy: cluster}
--- request
GET /
--- must_die
--- error_log eval
[qr/\[emerg\] .*farm_kong: \S*kong\.yml:4:11: plugins\[0\]\.config: The limit for hour\(5\.0\) cannot be lower than the limit for minute\(10\.0\)/,
 qr/\[emerg\] .*farm_kong: \S*kong\.yml:4:41: plugins\[0\]\.config\.policy: expected one of: local, redis/]
