# farm_kong's response-transformer: the response headers are removed,
# renamed, replaced, added and appended in Kong's order; a JSON body is
# rewritten (json and json_types) with a Content-Length that matches it; a
# body that is not JSON, or is over the bound, passes unchanged; the most
# specific configuration wins; a bad template fails nginx -t naming it.
# The upstream is a server of the same nginx that answers fixed bodies.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);

our $U = $ENV{TEST_NGINX_UP_PORT} = free_port();

# the body a gzip response inflates to (a response_body_filters step)
sub inflated {
    my ($in) = @_;
    my $out;
    gunzip(\$in => \$out) or return "not gzip: $GunzipError";
    return $out;
}

# a JSON body over the bound (4 MiB)
our $Big = '{"big":"' . ('x' x (5 * 1024 * 1024)) . '"}';

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    server {
        listen 127.0.0.1:$TEST_NGINX_UP_PORT;

        location /json {
            default_type application/json;
            add_header X-Up-One one;
            add_header X-Up-Two two;
            add_header X-Remove-Me yes;
            return 200 '{"a":1,"b":"bee","keep":true,"list":[1]}';
        }

        location /text {
            default_type text/plain;
            add_header X-Up-One one;
            return 200 '{"a":1}';
        }

        location /array {
            default_type application/json;
            return 200 '[1,2]';
        }

        location /big {
            root html;
            default_type application/json;
        }

        # compressed by this nginx's gzip filter when the client asks
        location /gz {
            gzip on;
            gzip_types application/json;
            gzip_min_length 1;
            gzip_http_version 1.0;
            default_type application/json;
            return 200 '{"key":"value","debug":"this should be removed"}';
        }

        # says gzip, is not
        location /fake-gz {
            default_type application/json;
            add_header Content-Encoding gzip;
            return 200 '{"key":"value"}';
        }
    }
_EOC_

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

__DATA__

=== TEST 1: headers in Kong's order: remove, rename, replace only what is there, add only what is not, append another line
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/json]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        remove: {headers: [X-Remove-Me]}
        rename: {headers: ['X-Up-One:X-Renamed']}
        replace: {headers: ['X-Up-Two:replaced', 'X-Absent:never']}
        add: {headers: ['X-Added:added', 'X-Up-Two:not-added']}
        append: {headers: ['X-Up-Two:appended', 'X-More:m']}
"
--- request
GET /json
--- error_code: 200
--- response_headers
X-Remove-Me:
X-Up-One:
X-Renamed: one
X-Up-Two: replaced, appended
X-Absent:
X-Added: added
X-More: m
Content-Length: 40
--- response_body: {"a":1,"b":"bee","keep":true,"list":[1]}
--- no_error_log
[error]



=== TEST 2: a JSON body: remove, rename, replace, add, append with json_types; Content-Length is the new body's
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/json]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        remove: {json: [a]}
        rename: {json: ['b:bee_renamed']}
        replace: {json: ['keep:false', 'absent:1'], json_types: [boolean, number]}
        add: {json: ['n:5', 's:hello', 'list:ignored'], json_types: [number, string, string]}
        append: {json: ['list:2', 'fresh:f'], json_types: [number, string]}
"
--- request
GET /json
--- error_code: 200
--- response_headers
Content-Type: application/json
X-Up-One: one
--- response_body_like: ^\{"bee_renamed":"bee","keep":false,"list":\[1,2\],"n":5,"s":"hello","fresh":\["f"\]\}$
--- no_error_log
[error]



=== TEST 3: the new body's length is the Content-Length sent
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/json]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        add: {json: ['added:a longer value than before']}
"
--- request
GET /json
--- error_code: 200
--- response_headers
Content-Length: 77
--- response_body: {"a":1,"b":"bee","keep":true,"list":[1],"added":"a longer value than before"}
--- no_error_log
[error]



=== TEST 4: a body that is not JSON is left as it is; its headers are still transformed
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/text]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        remove: {json: [a]}
        add: {headers: ['X-Added:yes']}
"
--- request
GET /text
--- error_code: 200
--- response_headers
Content-Type: text/plain
Content-Length: 7
X-Added: yes
--- response_body: {"a":1}
--- no_error_log
[error]



=== TEST 5: a JSON body that is not an object is left as it is
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/array]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        add: {json: ['k:v']}
"
--- request
GET /array
--- error_code: 200
--- response_headers
Content-Length: 5
--- response_body: [1,2]
--- no_error_log
[error]



=== TEST 6: a JSON body over the bound passes unchanged, with a warning
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/big]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        remove: {json: [big]}
>>> big/big.json
$main::Big"
--- request
GET /big/big.json
--- error_code: 200
--- response_body eval
$main::Big
--- error_log
response-transformer: the response body is over 4194304 bytes; sent unchanged
--- no_error_log
[error]



=== TEST 7: the route's configuration wins over the service's and the global one
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
plugins:
- name: response-transformer
  config: {add: {headers: ['X-Scope:global']}}
services:
- name: up
  url: http://127.0.0.1:$main::U
  plugins:
  - name: response-transformer
    config: {add: {headers: ['X-Scope:service']}}
  routes:
  - paths: [/json]
    strip_path: false
    plugins:
    - name: response-transformer
      config: {add: {headers: ['X-Scope:route']}}
  - paths: [/text]
    strip_path: false
"
--- pipelined_requests eval
["GET /json", "GET /text"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Scope: route", "X-Scope: service"]
--- no_error_log
[error]



=== TEST 8: values are literal text (the response-transformer has no templates)
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/json]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        add: {headers: ['X-T:\$(headers.host)'], json: ['t:\$(headers.host)']}
"
--- request
GET /json
--- error_code: 200
--- response_headers
X-T: $(headers.host)
--- response_body: {"a":1,"b":"bee","keep":true,"list":[1],"t":"$(headers.host)"}
--- no_error_log
[error]



=== TEST 9: a json_types value Kong does not know fails nginx -t naming it
--- user_files
>>> kong.yml
_format_version: "3.0"
plugins:
- name: response-transformer
  config:
    add: {json: ['a:1'], json_types: [integer]}
--- request
GET /
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_kong: \S*kong\.yml:5:\d+: plugins\[0\]\.config\.add\.json_types\[0\]: expected one of: boolean, number, string/



=== TEST 10: a request-termination answer (later in Kong's order) is transformed; a key-auth refusal (earlier) is not
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/closed]
    plugins:
    - name: request-termination
      config: {status_code: 403, message: closed}
    - name: response-transformer
      config:
        add: {headers: ['X-T:yes'], json: ['extra:1']}
  - paths: [/keyed]
    plugins:
    - name: key-auth
    - name: response-transformer
      config:
        add: {headers: ['X-T:yes']}
"
--- pipelined_requests eval
["GET /closed", "GET /keyed"]
--- error_code eval
[403, 401]
--- response_headers eval
["X-T: yes", "X-T:"]
--- response_body_like eval
['^\{"message":"closed","extra":"1"\}$', '"message":"No API key found in request"']
--- no_error_log
[error]



=== TEST 11: a gzip-encoded JSON response is inflated, transformed and compressed again (Kong 3.x); Content-Length is the new compressed body's
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/gz]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        remove: {json: [debug]}
        add: {json: ['addedkey:yes']}
"
--- request
GET /gz
--- more_headers
Accept-Encoding: gzip
--- error_code: 200
--- response_headers
Content-Encoding: gzip
--- response_body_filters eval
\&main::inflated
--- response_body: {"key":"value","addedkey":"yes"}
--- no_error_log
[error]
[warn]



=== TEST 12: a body that says gzip but is not passes unchanged, with a warning
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: up
  url: http://127.0.0.1:$main::U
  routes:
  - paths: [/fake-gz]
    strip_path: false
    plugins:
    - name: response-transformer
      config:
        add: {json: ['addedkey:yes']}
"
--- request
GET /fake-gz
--- error_code: 200
--- response_headers
Content-Encoding: gzip
Content-Length: 15
--- response_body: {"key":"value"}
--- error_log
response-transformer: the gzip body is not valid gzip; sent unchanged
--- no_error_log
[error]
