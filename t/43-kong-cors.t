# farm_kong's cors plugin (Kong 3.x): a preflight is answered by the
# gateway, 200 with an empty body and the CORS headers, unless
# preflight_continue; actual requests are proxied and their responses (and
# the gateway's own answers, such as key-auth's 401) get the origin,
# credentials, exposed headers and Vary.  Literal, regex and wildcard
# origins, denied origins, allow_origin_absent.  The upstream echoes what
# it received, so a proxied preflight shows.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Echo = FarmTest::start_echo();
our $E = $Echo->{port};

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
no_shuffle();
no_root_location();
run_tests();

FarmTest::stop_echo($Echo);

__DATA__

=== TEST 1: preflight, one literal origin: 200, empty body, the origin, every method, the requested headers echoed, Vary: Origin; the service is not called
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\"]}"
--- request
OPTIONS /api/x
--- more_headers
Origin: http://app.example
Access-Control-Request-Method: PUT
Access-Control-Request-Headers: X-One, X-Two
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://app.example
Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT
Access-Control-Allow-Headers: X-One, X-Two
Vary: Origin
Content-Length: 0
!Access-Control-Allow-Credentials
!Access-Control-Max-Age
--- response_body
--- no_error_log
[error]



=== TEST 2: preflight with credentials, max_age, configured headers and methods, private_network
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config:
        origins: [\"http://app.example\", \"http://other.example\"]
        headers: [X-Auth, Content-Type]
        methods: [GET, POST]
        max_age: 3600
        credentials: true
        private_network: true"
--- request
OPTIONS /api
--- more_headers
Origin: http://other.example
Access-Control-Request-Method: POST
Access-Control-Request-Headers: X-Ignored
Access-Control-Request-Private-Network: true
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://other.example
Access-Control-Allow-Credentials: true
Access-Control-Allow-Headers: X-Auth,Content-Type
Access-Control-Allow-Methods: GET,POST
Access-Control-Max-Age: 3600
Access-Control-Allow-Private-Network: true
Vary: Origin
--- response_body
--- no_error_log
[error]



=== TEST 3: actual request from an allowed origin: proxied; the response gets the origin, credentials, exposed headers, and Origin added to the service's Vary
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    strip_path: false
    plugins:
    - name: cors
      config:
        origins: [\"http://app.example\", \"http://other.example\"]
        exposed_headers: [X-Total, X-Page]
        credentials: true"
--- request
GET /api/items?page=2
--- more_headers
Origin: http://app.example
X-Echo-Set-Vary: Accept-Encoding
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://app.example
Access-Control-Allow-Credentials: true
Access-Control-Expose-Headers: X-Total,X-Page
Vary: Accept-Encoding, Origin
--- response_body_like: ^GET /api/items\?page=2 HTTP/1\.[01]\n(?:.*\n)*Origin: http://app\.example\n
--- no_error_log
[error]



=== TEST 4: actual request from an origin not in the list: proxied, no Access-Control-Allow-Origin (the service's own is removed)
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    strip_path: false
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\", \"http://other.example\"]}"
--- request
GET /api
--- more_headers
Origin: http://evil.example
X-Echo-Set-Access-Control-Allow-Origin: *
--- error_code: 200
--- response_headers
!Access-Control-Allow-Origin
Vary: Origin
--- response_body_like: ^GET /api HTTP
--- no_error_log
[error]



=== TEST 5: preflight from a denied origin: still answered 200 by the gateway, without Access-Control-Allow-Origin
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\", \"http://other.example\"]}"
--- request
OPTIONS /api
--- more_headers
Origin: http://evil.example
Access-Control-Request-Method: GET
--- error_code: 200
--- response_headers
!Access-Control-Allow-Origin
Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT
--- response_body
--- no_error_log
[error]



=== TEST 6: a regex origin with a scheme matches the whole normalized origin, echoed back
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\", \"https?://.*\\\\.example\\\\.com\"]}"
--- request
GET /api
--- more_headers
Origin: https://api.example.com:443
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: https://api.example.com
Vary: Origin
--- no_error_log
[error]



=== TEST 7: a regex origin without ":" is matched against the host alone, anchored at the end
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\", \"[a-z]+\\\\.trusted\\\\.org\"]}"
--- request
GET /api
--- more_headers
Origin: http://eu.trusted.org:8080
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://eu.trusted.org:8080
--- no_error_log
[error]



=== TEST 7b: the host-only regex is anchored at the end: a longer host does not match
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\", \"[a-z]+\\\\.trusted\\\\.org\"]}"
--- request
GET /api
--- more_headers
Origin: http://eu.trusted.org.evil.net
--- error_code: 200
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 8: origins "*" (the default) with credentials: the request's origin is echoed with credentials and Vary
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {credentials: true}"
--- request
GET /api
--- more_headers
Origin: http://anyone.example
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://anyone.example
Access-Control-Allow-Credentials: true
Vary: Origin
--- no_error_log
[error]



=== TEST 9: origins "*" without credentials: "*" even without an Origin (allow_origin_absent), and no Vary
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors"
--- request
GET /api
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: *
!Vary
--- no_error_log
[error]



=== TEST 10: allow_origin_absent false: a request without Origin gets no CORS header
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {allow_origin_absent: false}"
--- request
GET /api
--- error_code: 200
--- response_headers
!Access-Control-Allow-Origin
--- no_error_log
[error]



=== TEST 11: preflight_continue: the preflight goes to the service untouched, no CORS header added
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    strip_path: false
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\"], preflight_continue: true}"
--- request
OPTIONS /api/p
--- more_headers
Origin: http://app.example
Access-Control-Request-Method: GET
--- error_code: 200
--- response_headers
!Access-Control-Allow-Origin
!Access-Control-Allow-Methods
--- response_body_like: ^OPTIONS /api/p HTTP/1\.[01]\n(?:.*\n)*Access-Control-Request-Method: GET\n
--- no_error_log
[error]



=== TEST 12: cors runs before key-auth: a preflight is answered without a key
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\"], exposed_headers: [X-Total]}
    - name: key-auth
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key"
--- request
OPTIONS /api
--- more_headers
Origin: http://app.example
Access-Control-Request-Method: GET
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://app.example
Content-Length: 0
--- response_body
--- no_error_log
[error]



=== TEST 12b: key-auth's 401 (the gateway's own answer) carries the CORS headers
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\"], exposed_headers: [X-Total]}
    - name: key-auth
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key"
--- request
GET /api
--- more_headers
Origin: http://app.example
Accept: application/json
--- error_code: 401
--- response_headers
Access-Control-Allow-Origin: http://app.example
Access-Control-Expose-Headers: X-Total
WWW-Authenticate: Key
--- response_body_like: No API key found in request
--- no_error_log
[error]



=== TEST 13: a bad regex origin fails nginx -t naming the plugin and the value
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://(unclosed\"]}"
--- must_die
--- error_log eval
qr/kong\.yml:\d+:\d+: .*origins.*not a valid regex/



=== TEST 14: a service that is down: the gateway's 502 carries the CORS headers too
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:@{[FarmTest::free_port()]}
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\"]}"
--- request
GET /api
--- more_headers
Origin: http://app.example
--- error_code: 502
--- response_headers
Access-Control-Allow-Origin: http://app.example
Vary: Origin
--- error_log
connect() failed



=== TEST 15: rate-limiting's 429 (the gateway's own answer, later in Kong's order) carries the CORS headers
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    plugins:
    - name: cors
      config: {origins: [\"http://app.example\"], credentials: true}
    - name: rate-limiting
      config: {day: 1, policy: local}"
--- pipelined_requests eval
["GET /api", "GET /api"]
--- more_headers
Origin: http://app.example
Accept: application/json
--- error_code eval
[200, 429]
--- response_headers eval
["Access-Control-Allow-Origin: http://app.example\nAccess-Control-Allow-Credentials: true",
 "Access-Control-Allow-Origin: http://app.example\nAccess-Control-Allow-Credentials: true\nVary: Origin"]
--- response_body_like eval
["^GET / HTTP", "API rate limit exceeded"]
--- no_error_log
[error]



=== TEST 16: the other plugins' refusals carry the CORS headers: ip-restriction 403, request-size-limiting 413, request-termination
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  plugins:
  - name: cors
    config: {origins: [\"http://app.example\"]}
  routes:
  - paths: [/ip]
    plugins:
    - name: ip-restriction
      config: {deny: [127.0.0.1]}
  - paths: [/size]
    plugins:
    - name: request-size-limiting
      config: {allowed_payload_size: 1, size_unit: bytes}
  - paths: [/closed]
    plugins:
    - name: request-termination
      config: {status_code: 418, message: closed}"
--- pipelined_requests eval
["GET /ip", "POST /size\nmore than a byte", "GET /closed"]
--- more_headers
Origin: http://app.example
Accept: application/json
--- error_code eval
[403, 413, 418]
--- response_headers eval
["Access-Control-Allow-Origin: http://app.example",
 "Access-Control-Allow-Origin: http://app.example",
 "Access-Control-Allow-Origin: http://app.example"]
--- no_error_log
[error]
