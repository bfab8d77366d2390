# multipart/form-data bodies in farm_kong's plugins, as Kong 3.x treats
# them (lua-multipart): request-transformer renames, removes, replaces and
# adds form fields (append does not apply), key-auth's hide_credentials
# takes the key's part out; a part no operation touches (a file) goes
# upstream as it came.  The upstream here echoes its request line, headers
# and body, so each block checks the exact body the service received.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;

our $Echo = FarmTest::start_echo();
our $E = $Echo->{port};

kong_server();

# a form: a field, a file (binary, with CRLFs and a near-boundary line),
# another field
sub part { my ($name, $value, @h) = @_;
    return "--XyZ\r\nContent-Disposition: form-data; name=\"$name\""
           . join('', map { "$_\r\n" } ('', @h)) . "\r\n$value\r\n" }
our $File = "\x00\x01\r\n--Xy\r\nbinary\r";
our $FilePart = "--XyZ\r\nContent-Disposition: form-data; name=\"up\"; "
    . "filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    . "$File\r\n";
our $Form = part('a', 'one') . $FilePart . part('b', 'two') . "--XyZ--\r\n";

master_on();
no_shuffle();
no_root_location();
run_tests();

FarmTest::stop_echo($Echo);

__DATA__

=== TEST 1: request-transformer on a multipart body: rename, remove, replace (moves to the end), add (absent only); the file part is untouched; Content-Length follows
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
        rename: {body: [\"a:alpha\"]}
        remove: {body: [gone]}
        replace: {body: [\"b:\$(headers.x_who)\"]}
        add: {body: [\"up:not-added\", \"n:new\"]}
        append: {body: [\"alpha:ignored\"]}"
--- request eval
"POST /api\n" . main::part('gone', 'x') . $main::Form
--- more_headers
Content-Type: multipart/form-data; boundary=XyZ
X-Who: me
--- error_code: 200
--- response_body_like eval
my $b = $main::FilePart
      . "--XyZ\r\nContent-Disposition: form-data; name=\"alpha\"\r\n\r\none\r\n"
      . "--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nme\r\n"
      . "--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nnew\r\n"
      . "--XyZ--\r\n";
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*Content-Length: @{[length $b]}\n(?:.*\n)*\n\Q$b\E\z}
--- response_body_unlike: ignored|not-added|gone
--- no_error_log
[error]



=== TEST 2: an empty multipart body: only add applies, with the Content-Type's boundary
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
        remove: {body: [a]}
        add: {body: [\"k:v\"]}"
--- request
POST /api
--- more_headers
Content-Type: multipart/form-data; boundary=XyZ
Content-Length: 0
--- error_code: 200
--- response_body_like eval
my $b = "--XyZ\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv\r\n--XyZ--\r\n";
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*\n\Q$b\E\z}
--- no_error_log
[error]



=== TEST 3: a multipart body Kong cannot read (no boundary in the Content-Type) has no field: with remove configured it goes upstream empty, as in Kong
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
        remove: {body: [a]}"
--- request eval
"POST /api\n$main::Form"
--- more_headers
Content-Type: multipart/form-data
--- error_code: 200
--- response_body_like eval
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*Content-Length: 0\n(?:.*\n)*\n\z}
--- no_error_log
[error]



=== TEST 4: key-auth key_in_body with hide_credentials: the key's part leaves the multipart body, the file and the other fields go upstream as they came
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
    - name: key-auth
      config: {key_in_body: true, hide_credentials: true}
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key"
--- request eval
"POST /api\n" . main::part('a', 'one') . main::part('apikey', 'alice-key')
. $main::FilePart . "--XyZ--\r\n"
--- more_headers
Content-Type: multipart/form-data; boundary=XyZ
--- error_code: 200
--- response_body_like eval
my $b = main::part('a', 'one') . $main::FilePart . "--XyZ--\r\n";
qr{^POST /api HTTP/1\.[01]\n(?:.*\n)*Content-Length: @{[length $b]}\n(?:.*\n)*X-Consumer-Username: alice\n(?:.*\n)*\n\Q$b\E\z}
--- response_body_unlike: alice-key
--- no_error_log
[error]



=== TEST 5: key-auth key_in_body: a key in two parts is "Duplicate API key found"; a body with no boundary has no key
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
    - name: key-auth
      config: {key_in_body: true, hide_credentials: true}
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key"
--- request eval
["POST /api\n" . main::part('apikey', 'alice-key') . main::part('apikey', 'alice-key') . "--XyZ--\r\n",
 "POST /api\n" . main::part('apikey', 'alice-key') . "--XyZ--\r\n"]
--- more_headers eval
["Content-Type: multipart/form-data; boundary=XyZ",
 "Content-Type: multipart/form-data"]
--- error_code eval
[401, 401]
--- response_body_like eval
[qr{"message":\s*"Duplicate API key found"}, qr{"message":\s*"No API key found in request"}]
--- no_error_log
[error]
