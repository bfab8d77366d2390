# farm_kong plugins, part 2: key-auth, basic-auth, acl, ip-restriction,
# request-termination and request-size-limiting answer as Kong 3.7+ does
# (status, JSON body with request_id, WWW-Authenticate), the upstream sees
# X-Consumer-* and X-Credential-Identifier, and Kong's scope precedence
# picks the most specific configuration.  An unknown plugin or field fails
# nginx -t naming it.

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

# consumers shared by the blocks below
our $Consumers = <<'_YML_';
consumers:
- username: alice
  id: 6f3e1d4c-6b1a-4b43-9a53-2f7c9e3b2a11
  custom_id: cust-1
  keyauth_credentials:
  - key: alice-key
    id: 0c2d6f1e-5f3a-4f7e-8a1b-9d2c3e4f5a6b
  basicauth_credentials:
  - username: alice
    password: s3cret
  acls:
  - group: gold
  - group: beta
- username: bob
  keyauth_credentials:
  - key: bob-key
- username: guest
_YML_

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: key-auth, no key: 401 "No API key found in request" with WWW-Authenticate: Key and request_id
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
$main::Consumers"
--- request
GET /echo
--- more_headers
Accept: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Key
--- response_body_like: ^\{\s*"message":\s*"No API key found in request",\s*"request_id":\s*"[0-9a-f]{32}"\s*\}
--- no_error_log
[error]



=== TEST 2: key-auth, an unknown key: 401 "Unauthorized", realm in the challenge; the key is not logged
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
      config: {realm: api}
$main::Consumers"
--- request
GET /echo
--- more_headers
Accept: application/json
apikey: wrong-key-zz9
--- error_code: 401
--- response_headers
WWW-Authenticate: Key realm="api"
--- response_body_like: "message":\s*"Unauthorized"
--- no_error_log eval
[qr/farm_kong.*wrong-key-zz9/, qr/\[error\]/]



=== TEST 3: key-auth, a good key in the header: the upstream sees the consumer and credential headers, not a client's own X-Consumer-ID
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
$main::Consumers"
--- request
GET /echo
--- more_headers
apikey: alice-key
X-Consumer-ID: forged
--- error_code: 200
--- response_body_like eval
qr{X-Consumer-ID: 6f3e1d4c-6b1a-4b43-9a53-2f7c9e3b2a11\nX-Consumer-Custom-ID: cust-1\nX-Consumer-Username: alice\nX-Credential-Identifier: 0c2d6f1e-5f3a-4f7e-8a1b-9d2c3e4f5a6b\n}
--- response_body_unlike: forged
--- no_error_log
[error]



=== TEST 4: key-auth, key in the query with hide_credentials: the upstream URI loses it, keeps the rest
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
      config: {hide_credentials: true, key_names: [apikey, x-key]}
$main::Consumers"
--- request
GET /echo?a=1&x-key=bob-key&b=2
--- error_code: 200
--- response_body_like eval
qr{^GET /echo\?a=1&b=2 HTTP/1\.\d\n(?:.*\n)*X-Consumer-Username: bob\n}
--- response_body_unlike: bob-key
--- no_error_log
[error]



=== TEST 5: key-auth with anonymous: no key maps to the anonymous consumer with X-Anonymous-Consumer: true
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
      config: {anonymous: guest}
$main::Consumers"
--- request
GET /echo
--- error_code: 200
--- response_body_like eval
qr{X-Consumer-Username: guest\n(?:.*\n)*X-Anonymous-Consumer: true\n}
--- no_error_log
[error]



=== TEST 6: key-auth with a missing anonymous consumer: Kong's 500
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
      config: {anonymous: nobody}
$main::Consumers"
--- request
GET /echo
--- more_headers
Accept: application/json
--- error_code: 500
--- response_body_like: "message":\s*"anonymous consumer nobody is configured but doesn't exist"
--- error_log
anonymous consumer nobody is configured but doesn't exist



=== TEST 7: basic-auth: the right password passes (hashed as Kong does; X-Credential-Identifier is the username, as Kong 3.x sends), a wrong one is 401 with Basic realm="service"
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
    - name: basic-auth
$main::Consumers"
--- request eval
["GET /echo", "GET /echo"]
--- more_headers eval
["Authorization: Basic " . MIME::Base64::encode_base64('alice:s3cret', ''),
 "Authorization: Basic " . MIME::Base64::encode_base64('alice:wrong', '') . "\nAccept: application/json"]
--- error_code eval
[200, 401]
--- response_headers eval
["!WWW-Authenticate", "WWW-Authenticate: Basic realm=\"service\""]
--- response_body_like eval
[qr{X-Consumer-Username: alice\nX-Credential-Identifier: alice\n}, qr{"message":\s*"Unauthorized"}]
--- no_error_log
[error]



=== TEST 8: acl after key-auth: allow lets gold in with X-Consumer-Groups; deny blocks with 403
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - name: allow
    paths: [/echo]
    strip_path: false
    plugins:
    - name: acl
      config: {allow: [gold]}
  - name: deny
    paths: [/deny/echo]
    plugins:
    - name: acl
      config: {deny: [beta]}
  plugins:
  - name: key-auth
$main::Consumers"
--- request eval
["GET /echo", "GET /echo", "GET /deny/echo"]
--- more_headers eval
["apikey: alice-key", "apikey: bob-key\nAccept: application/json", "apikey: alice-key\nAccept: application/json"]
--- error_code eval
[200, 403, 403]
--- response_body_like eval
[qr{X-Consumer-Groups: gold, beta\n}, qr{"message":\s*"You cannot consume this service"}, qr{"message":\s*"You cannot consume this service"}]
--- no_error_log
[error]



=== TEST 9: ip-restriction: a denied address gets Kong's 3.4+ message; status and message are configurable
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
    - name: ip-restriction
      config: {deny: [127.0.0.0/8]}
  - paths: [/custom]
    plugins:
    - name: ip-restriction
      config: {allow: ['10.0.0.0/8', '::1'], status: 401, message: go away}
- name: s2
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/ok]
    plugins:
    - name: ip-restriction
      config: {allow: [127.0.0.1/32]}
"
--- request eval
["GET /echo", "GET /custom", "GET /ok"]
--- more_headers
Accept: application/json
--- error_code eval
[403, 401, 200]
--- response_body_like eval
[qr{"message":\s*"IP address not allowed: 127\.0\.0\.1"}, qr{"message":\s*"go away"}, qr{^GET /echo}]
--- no_error_log
[error]



=== TEST 10: request-termination: defaults (503, Kong's message, no request_id), a custom body and content type
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/down]
    plugins:
    - name: request-termination
  - paths: [/teapot]
    plugins:
    - name: request-termination
      config: {status_code: 418, body: '<tea/>', content_type: application/xml}
- name: s2
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/trigger]
    plugins:
    - name: request-termination
      config: {status_code: 403, message: stop, trigger: x-stop}
"
--- request eval
["GET /down", "GET /teapot", "GET /trigger", "GET /trigger"]
--- more_headers eval
["", "", "", "X-Stop: 1"]
--- error_code eval
[503, 418, 200, 403]
--- response_headers eval
["Content-Type: application/json; charset=utf-8", "Content-Type: application/xml", "", "Content-Type: application/json; charset=utf-8"]
--- response_body_like eval
[qr/^\{"message":"Service unavailable"\}\z/, qr/^<tea\/>\z/, qr/^GET \/echo /, qr/^\{"message":"stop"\}\z/]
--- no_error_log
[error]



=== TEST 10b: request-termination: a trigger in the query string is matched as Kong's get_query() names it: decoded, case-sensitive, with or without a value
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s2
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/trigger]
    plugins:
    - name: request-termination
      config: {status_code: 403, message: stop, trigger: Stop}
"
--- request eval
["GET /trigger?stop=1", "GET /trigger?STOP", "GET /trigger?St%6Fp=1", "GET /trigger?a=1&Stop", "GET /trigger?Stop=", "GET /trigger?xStop=1"]
--- error_code eval
[200, 200, 403, 403, 403, 200]
--- no_error_log
[error]



=== TEST 11: request-size-limiting: over the limit 413, with Expect: 100-continue 417, require_content_length 411
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/small]
    plugins:
    - name: request-size-limiting
      config: {allowed_payload_size: 10, size_unit: bytes}
  - paths: [/need]
    plugins:
    - name: request-size-limiting
      config: {require_content_length: true}
"
--- request eval
["POST /small\n" . ("x" x 11), "GET /need"]
--- more_headers
Accept: application/json
--- error_code eval
[413, 411]
--- response_body_like eval
[qr{"message":\s*"Request size limit exceeded"}, qr{"message":\s*"A valid Content-Length header is required"}]
--- no_error_log
[error]



=== TEST 12: precedence: a route's plugin beats the service's and the global one; a consumer-scoped one beats the route's for that consumer
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - name: r
    paths: [/r]
    plugins:
    - name: request-termination
      config: {status_code: 404, message: route}
  - name: plain
    paths: [/p]
  plugins:
  - name: request-termination
    config: {status_code: 409, message: service, trigger: x-t}
  - name: key-auth
plugins:
- name: request-termination
  config: {status_code: 410, message: global, trigger: x-t}
- name: request-termination
  consumer: bob
  config: {status_code: 418, message: bob}
$main::Consumers"
--- request eval
["GET /r", "GET /p", "GET /r"]
--- more_headers eval
["apikey: alice-key\nX-T: 1", "apikey: alice-key\nX-T: 1", "apikey: bob-key"]
--- error_code eval
[404, 409, 418]
--- response_body eval
["{\"message\":\"route\"}", "{\"message\":\"service\"}", "{\"message\":\"bob\"}"]
--- no_error_log
[error]



=== TEST 13: enabled: false: a disabled route plugin does not run and does not hide the service's
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A
  routes:
  - paths: [/r]
    plugins:
    - name: request-termination
      enabled: false
      config: {status_code: 404}
  plugins:
  - name: request-termination
    config: {status_code: 409, message: service}
"
--- request
GET /r
--- error_code: 409
--- response_body: {"message":"service"}
--- no_error_log
[error]



=== TEST 14: an unknown plugin and an unknown field fail nginx -t naming them
--- user_files
>>> kong.yml
_format_version: "3.0"
plugins:
- name: key-auth
  config:
    key_name: [apikey]
- name: no-such-plugin
--- request
GET /
--- must_die
--- error_log eval
[qr/\[emerg\] .*farm_kong: \S*kong\.yml:5:5: plugins\[0\]\.config\.key_name: unknown field/,
 qr/\[emerg\] .*farm_kong: \S*kong\.yml:6:9: plugins\[1\]\.name: plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property/]



=== TEST 15: request-size-limiting measures a chunked body: over the limit 413
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/small]
    plugins:
    - name: request-size-limiting
      config: {allowed_payload_size: 10, size_unit: bytes}
"
--- raw_request eval
"POST /small HTTP/1.1\r
Host: localhost\r
Accept: application/json\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
6\r
hello \r
5\r
world\r
0\r
\r
"
--- error_code: 413
--- response_body_like: "message":\s*"Request size limit exceeded"
--- no_error_log
[error]



=== TEST 16: request-size-limiting: a chunked body within the limit is proxied whole
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/small]
    plugins:
    - name: request-size-limiting
      config: {allowed_payload_size: 10, size_unit: bytes}
"
--- raw_request eval
"POST /small HTTP/1.1\r
Host: localhost\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
3\r
abc\r
2\r
de\r
0\r
\r
"
--- error_code: 200
--- response_body_like eval
qr{^POST /echo HTTP/1\.0\n(?:.*\n)*Content-Length: 5\n}i
--- no_error_log
[error]



=== TEST 17: key-auth key_in_body: a form field, hidden from the upstream with hide_credentials
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/form]
    plugins:
    - name: key-auth
      config: {key_in_body: true, hide_credentials: true}
$main::Consumers"
--- request
POST /form
a=1&apikey=alice-key&b=2
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_body_like eval
qr{^POST /echo HTTP/1\.0\n(?:.*\n)*Content-Length: 7\n(?:.*\n)*X-Consumer-Username: alice\n}i
--- no_error_log
[error]



=== TEST 18: key-auth key_in_body: JSON and multipart bodies; a key given twice is "Duplicate API key found"; no body is "No API key found"
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/body]
    plugins:
    - name: key-auth
      config: {key_in_body: true}
$main::Consumers"
--- request eval
["POST /body\n{\"apikey\":\"bob-key\",\"x\":1}",
 "POST /body\n--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nalice-key\r\n--XyZ--\r\n",
 "POST /body\n{\"apikey\":[\"a\",\"b\"]}",
 "GET /body"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: multipart/form-data; boundary=XyZ",
 "Content-Type: application/json\nAccept: application/json",
 "Accept: application/json"]
--- error_code eval
[200, 200, 401, 401]
--- response_body_like eval
[qr{X-Consumer-Username: bob\n}, qr{X-Consumer-Username: alice\n}, qr{"message":\s*"Duplicate API key found"}, qr{"message":\s*"No API key found in request"}]
--- no_error_log
[error]



=== TEST 19: protocols: a plugin for https only does not run on an http request
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/tls-only]
    plugins:
    - name: request-termination
      protocols: [https]
  - paths: [/any]
    plugins:
    - name: request-termination
      protocols: [http, https]
"
--- request eval
["GET /tls-only", "GET /any"]
--- error_code eval
[200, 503]
--- no_error_log
[error]
