# farm_kong's request-transformer plugin (Kong 3.x): remove, rename,
# replace, add and append on the headers, the query string and JSON or form
# bodies, in Kong's order (replace.uri, http_method, headers, body, query
# string; remove, rename, replace, add, append within each), templates
# $(headers.x), $(query_params.x), $(uri_captures[n]), applied to what the
# service receives: the upstream here echoes its request line, headers and
# body.

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

=== TEST 1: headers: remove, rename, replace (present only), add (absent only), append (a second line)
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
    - name: request-transformer
      config:
        remove: {headers: [x-remove]}
        rename: {headers: [\"x-old:x-new\"]}
        replace: {headers: [\"x-rep:replaced\", \"x-absent:nope\"]}
        add: {headers: [\"x-add:added\", \"x-rep:not-added\"]}
        append: {headers: [\"x-app:two\"]}"
--- request
GET /api
--- more_headers
X-Remove: gone
X-Old: moved
X-Rep: original
X-App: one
--- error_code: 200
--- response_body_like eval
qr{^GET /api HTTP/1\.[01]\n(?:.*\n)*x-new: moved\nX-Rep: replaced\nX-App: one\nX-App: two\nx-add: added\n\n\z}
--- response_body_unlike: (?i)x-remove|x-old|x-absent|not-added
--- no_error_log
[error]



=== TEST 2: Kong's order within headers: remove, then replace (the header is gone: nothing), then add
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
    - name: request-transformer
      config:
        remove: {headers: [x-h]}
        replace: {headers: [\"x-h:replaced\"]}
        add: {headers: [\"x-h:added\"]}"
--- request
GET /api
--- more_headers
X-H: original
--- error_code: 200
--- response_body_like eval
qr{\nx-h: added\n}i
--- response_body_unlike: original|replaced
--- no_error_log
[error]



=== TEST 3: query string: remove, rename, replace (present only), add (absent only), append; re-encoded in order
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
    - name: request-transformer
      config:
        remove: {querystring: [r]}
        rename: {querystring: [\"a:z\"]}
        replace: {querystring: [\"b:B\", \"nope:1\"]}
        add: {querystring: [\"c:no\", \"d:4\"]}
        append: {querystring: [\"e:5\", \"b:again\"]}"
--- request
GET /api?a=1&b=2&c=3&r=x
--- error_code: 200
--- response_body_like eval
qr{^GET /api\?z=1&b=B&b=again&c=3&d=4&e=5 HTTP/1\.[01]\n}
--- no_error_log
[error]



=== TEST 4: JSON body: remove, rename, replace, add, append; Content-Length follows the new body
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
    - name: request-transformer
      config:
        remove: {body: [rm]}
        rename: {body: [\"old:new\"]}
        replace: {body: [\"rep:y\", \"absent:n\"]}
        add: {body: [\"added:z\", \"a:no\"]}
        append: {body: [\"lst:1\"]}"
--- request
POST /api
{"a":1,"rm":true,"old":"v","rep":"x","lst":"s"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like eval
my $b = '{"a":1,"new":"v","rep":"y","lst":["s","1"],"added":"z"}';
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*Content-Length: @{[length $b]}\n(?:.*\n)*\n\Q$b\E\z}
--- no_error_log
[error]



=== TEST 5: form body: remove, rename, replace, add, append; Content-Length follows
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
    - name: request-transformer
      config:
        remove: {body: [rm]}
        rename: {body: [\"old:new\"]}
        replace: {body: [\"rep:y\"]}
        add: {body: [\"added:z\", \"a:no\"]}
        append: {body: [\"lst:1\"]}"
--- request
POST /api
a=1&rm=t&old=v&rep=x
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_body_like eval
my $b = 'a=1&new=v&rep=y&added=z&lst=1';
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*Content-Length: @{[length $b]}\n(?:.*\n)*\n\Q$b\E\z}
--- no_error_log
[error]



=== TEST 6: a chunked JSON body is read, transformed and sent with a Content-Length
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
    - name: request-transformer
      config:
        remove: {body: [rm]}
        add: {body: [\"added:z\"]}"
--- raw_request eval
"POST /api HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
8\r
{\"a\":1,\"\r
9\r
rm\":true}\r
0\r
\r
"
--- error_code: 200
--- response_body_like eval
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*Content-Length: 19\n(?:.*\n)*\n\{"a":1,"added":"z"\}\z}
--- no_error_log
[error]



=== TEST 7: templates: $(headers.x), $(query_params.x), an "or" default; they read the request as it arrived (before the rename)
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
    - name: request-transformer
      config:
        rename: {headers: [\"x-in:x-renamed\"]}
        add:
          headers:
          - \"x-from-header:\$(headers.x_in)\"
          - \"x-from-query:\$(query_params.q)\"
          - 'x-default:\$(headers[\"x-none\"] or \"dflt\")'
          querystring: [\"q2:\$(query_params.q)\"]"
--- request
GET /api?q=hello%20world
--- more_headers
X-In: hdr
--- error_code: 200
--- response_body_like eval
qr{^GET /api\?q=hello%20world&q2=hello%20world HTTP/1\.[01]\n(?:.*\n)*x-renamed: hdr\nx-from-header: hdr\nx-from-query: hello world\nx-default: dflt\n}
--- no_error_log
[error]



=== TEST 8: replace.uri with uri_captures (numbered and named) of a regex route, and http_method
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: ['~/users/(?<id>\\d+)/(\\w+)\$']
    strip_path: false
    plugins:
    - name: request-transformer
      config:
        http_method: PATCH
        replace: {uri: \"/v2/\$(uri_captures[2])/\$(uri_captures.id)\"}"
--- request
GET /users/42/photos?keep=1
--- error_code: 200
--- response_body_like eval
qr{^PATCH /v2/photos/42\?keep=1 HTTP/1\.[01]\n}
--- no_error_log
[error]



=== TEST 9: http_method GET: a form body joins the query string; replace.headers host sets the Host the service sees
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
    - name: request-transformer
      config:
        http_method: GET
        replace: {headers: [\"host:changed.example\"]}"
--- request
POST /api?x=0
f=1&g=2
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 200
--- response_body_like eval
qr{^GET /api\?x=0&f=1&g=2 HTTP/1\.[01]\nHost: changed\.example\n}
--- no_error_log
[error]



=== TEST 10: Kong's plugin order: request-transformer runs after key-auth, so its templates see the consumer headers
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
    - name: request-transformer
      config:
        add: {headers: [\"x-who:\$(headers.x_consumer_username)\"]}
    - name: key-auth
      config: {hide_credentials: true}
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key"
--- request
GET /api
--- more_headers
apikey: alice-key
--- error_code: 200
--- response_body_like eval
qr{X-Consumer-Username: alice\n(?:.*\n)*x-who: alice\n}
--- no_error_log
[error]



=== TEST 11: a template this gateway cannot render fails nginx -t naming the plugin
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
    - name: request-transformer
      config:
        add: {headers: [\"x-a:\$(os.exit())\"]}"
--- must_die
--- error_log eval
qr/kong\.yml:\d+:\d+: services\[0\]\.routes\[0\]\.plugins\[0\]: value '\$\(os\.exit\(\)\)' is not in supported format/



=== TEST 12: key-auth's hide_credentials took the key out of the query string: the query the transformer re-encodes does not bring it back
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
    - name: request-transformer
      config:
        add: {querystring: [\"added:1\"]}
    - name: key-auth
      config: {hide_credentials: true}
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key"
--- request
GET /api?a=1&apikey=alice-key
--- error_code: 200
--- response_body_like eval
qr{^GET /api\?a=1&added=1 HTTP/1\.[01]\n}
--- response_body_unlike: alice-key
--- no_error_log
[error]



=== TEST 13: a replaced X-Forwarded-For is what $proxy_add_x_forwarded_for extends
--- config
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
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
    - name: request-transformer
      config:
        replace: {headers: [\"x-forwarded-for:10.9.8.7\"]}"
--- request
GET /api
--- more_headers
X-Forwarded-For: 192.0.2.1
--- error_code: 200
--- response_body_like eval
qr{\nX-Forwarded-For: 10\.9\.8\.7, 127\.0\.0\.1\n}
--- response_body_unlike: 192\.0\.2\.1
--- no_error_log
[error]



=== TEST 14: with skip_invalid, a template the engine refuses is a warning and that plugin does not run; the rest of the file serves
--- config
    farm_kong ../html/kong.yml skip_invalid;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
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
    - name: request-transformer
      config:
        add: {headers: [\"x-a:\$(os.exit())\"]}"
--- request
GET /api
--- error_code: 200
--- response_body_like: ^GET /api HTTP
--- response_body_unlike: (?i)x-a:
--- error_log eval
qr/\[warn\].*services\[0\]\.routes\[0\]\.plugins\[0\]: value '\$\(os\.exit\(\)\)' is not in supported format.*; skipped/
--- no_error_log
[error]



=== TEST 15: replace.headers host with the value the client sent: the service still gets that Host, not the service's
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
    - name: request-transformer
      config:
        replace: {headers: [\"host:same.example\"]}"
--- request
GET /api
--- more_headers
Host: same.example
--- error_code: 200
--- response_body_like eval
qr{^GET /api HTTP/1\.[01]\nHost: same\.example\n}
--- no_error_log
[error]
