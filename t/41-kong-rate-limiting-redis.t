# farm_kong's rate-limiting with policy redis: counted by farm_limit's Redis
# backend, so every worker (and every gateway on the same Redis) shares the
# counts; Kong's fault_tolerant when Redis is unreachable.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our %Agent = (a => start_agent(id => 'a'));
our $A = $Agent{a}{port};
our $Redis = start_redis();
our $RedisPort = $Redis->{port};
our $DeadPort = free_port();    # nothing listens there

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

=== TEST 1: policy redis: two a day pass with the headers, the third gets 429; the counters are in Redis
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - name: r
    paths: [/echo]
    strip_path: false
    plugins:
    - name: rate-limiting
      config:
        day: 2
        policy: redis
        redis: {host: 127.0.0.1, port: $main::RedisPort}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
--- request eval
["GET /echo", "GET /echo", "GET /echo"]
--- more_headers
Accept: application/json
--- error_code eval
[200, 200, 429]
--- response_headers eval
["X-RateLimit-Limit-Day: 2\nX-RateLimit-Remaining-Day: 1", "X-RateLimit-Remaining-Day: 0", "RateLimit-Remaining: 0"]
--- response_headers_like eval
["RateLimit-Reset: \\d+", "RateLimit-Reset: \\d+", "Retry-After: \\d+"]
--- response_body_like eval
[qr{^GET /echo}, qr{^GET /echo}, qr{"message":\s*"API rate limit exceeded"}]
--- no_error_log
[error]



=== TEST 2: the deprecated flat redis_host / redis_port fields work the same way, limit_by header
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
  config: {minute: 1, limit_by: header, header_name: x-tenant, policy: redis, redis_host: 127.0.0.1, redis_port: $main::RedisPort}
"
--- init
FarmTest::redis_cmd($main::Redis, 'FLUSHALL');
--- request eval
["GET /echo", "GET /echo", "GET /echo"]
--- more_headers eval
["X-Tenant: a", "X-Tenant: b", "X-Tenant: a"]
--- error_code eval
[200, 200, 429]
--- no_error_log
[error]



=== TEST 3: Redis unreachable, fault_tolerant (default): proxied, with Kong's "failed to get usage"
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
      config: {second: 1, policy: redis, redis: {host: 127.0.0.1, port: $main::DeadPort, timeout: 1000}}
"
--- request
GET /echo
--- error_code: 200
--- response_headers
!X-RateLimit-Limit-Second
--- error_log
farm_kong: rate-limiting: failed to get usage



=== TEST 4: Redis unreachable, fault_tolerant false: 500 with Kong's body
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
      config: {second: 1, policy: redis, fault_tolerant: false, redis: {host: 127.0.0.1, port: $main::DeadPort, timeout: 1000}}
"
--- request
GET /echo
--- more_headers
Accept: application/json
--- error_code: 500
--- response_body_like: "message":\s*"An unexpected error occurred"
--- error_log
fault_tolerant is off
