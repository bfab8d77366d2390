# Self-test of the Test::Nginx::Socket subset in t/harness, using only stock
# nginx features.  Run (not part of `make test`):
#   PERL5LIB=t/harness:t/lib prove t/harness/selftest/
# It must also pass under the real CPAN Test::Nginx (PERL5LIB=t/lib only).
use FarmTest ();
BEGIN {
    # own server root and port, so it never disturbs a t/*.t run
    $ENV{TEST_NGINX_SERVROOT} ||= FarmTest::repo_root() . '/t/servroot-selftest';
    $ENV{TEST_NGINX_PORT} ||= FarmTest::free_port();
}
use Test::Nginx::Socket;

$ENV{TEST_NGINX_SELFTEST_GREETING} = 'hi from env';
$ENV{TEST_NGINX_HTML_DIR} = html_dir();

our $InitPid;

# A custom section, "--- req_header", becomes more_headers.
add_block_preprocessor(sub {
    my $block = shift;
    if (defined $block->req_header && !defined $block->more_headers) {
        $block->set_value(more_headers => "X-Pre: " . $block->req_header);
    }
});

my @cleaned;
add_test_cleanup_handler(sub { push @cleaned, $_[0]->name });

no_shuffle();
plan tests => 59;
run_tests();

Test::More::is(scalar(@cleaned), scalar(blocks()), 'test cleanup handler ran once per block');

__DATA__

=== TEST 1: return + response_body + no_error_log
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: inline sections, error_code, chomp
--- config
    location = /t {
        return 201 "created";
    }
--- request
    GET /t
--- error_code: 201
--- response_body chomp
created



=== TEST 3: response_headers: value, empty = absent, !absent; like variants
--- config
    location = /t {
        add_header X-Foo "foo 1";
        add_header X-Multi a;
        add_header X-Multi b;
        return 200 ok;
    }
--- request
GET /t
--- response_headers
X-Foo: foo 1
X-Multi: a, b
X-None:
!X-Absent
--- raw_response_headers_like: X-Foo: foo 1\r\n
--- raw_response_headers_unlike: Transfer-Encoding
--- response_body: ok



=== TEST 4: response_headers_like, error_code_like, response_body_like
--- config
    location = /t {
        add_header X-Id "agent-42";
        return 204;
    }
--- request
GET /t
--- error_code_like: ^20[04]$
--- response_headers_like
X-Id: agent-\d+
--- response_body_like: ^$



=== TEST 5: request eval array -> array expectations
--- config
    location /a { return 200 "A\n"; }
    location /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^A\n\$", "404 Not Found"]



=== TEST 6: proxy_pass to another server block on a random port, chunked body
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "backend saw $request_uri\n";
        }
    }
--- config
    location /p/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        sub_filter backend BACKEND;    # drops Content-Length: chunked reply
        sub_filter_types text/plain;
    }
--- request
GET /p/x?y=1
--- response_body
BACKEND saw /x?y=1
--- raw_response_headers_like: Transfer-Encoding: chunked
--- no_error_log
[error]



=== TEST 7: POST body gets Content-Length; more_headers; env in config
--- config
    location = /t {
        return 200 "len=$http_content_length foo=$http_x_foo env=$TEST_NGINX_SELFTEST_GREETING\n";
    }
--- more_headers
X-Foo: bar
--- request
POST /t
hello world
--- response_body
len=11 foo=bar env=hi from env



=== TEST 8: HTTP/1.0 request line
--- config
    location = /t {
        return 200 "$server_protocol $http_host $http_connection";
    }
--- request
GET /t HTTP/1.0
--- response_body: HTTP/1.0 localhost close



=== TEST 9: error_log and grep_error_log on an [error] line
--- config
    location /missing/ {
        root html;
    }
--- request
GET /missing/nope.txt
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*nope\.txt" failed/, "No such file or directory"]
--- grep_error_log eval: qr/\(2: No such file or directory\)/
--- grep_error_log_out
(2: No such file or directory)



=== TEST 10: init runs after nginx started, before the requests
--- config
    location /files/ {
        alias $TEST_NGINX_HTML_DIR/;
    }
--- init
open my $fh, '>', "$Test::Nginx::Util::HtmlDir/init.txt" or die $!;
print $fh get_pid_from_pidfile('init'), "\n";
close $fh;
$main::InitPid = get_pid_from_pidfile('init');
die "nginx not running in init\n" unless is_running($main::InitPid);
--- request
GET /files/init.txt
--- response_body_like: ^\d+\n$



=== TEST 11: user_files and response_body_filters
--- config
    location /u/ {
        alias $TEST_NGINX_HTML_DIR/;
    }
--- user_files
>>> a/hello.txt
Hello, World
--- request
GET /u/a/hello.txt
--- response_body_filters
uc
--- response_body
HELLO, WORLD



=== TEST 12: must_die with a bad directive
--- config
    location = /t {
        no_such_directive on;
    }
--- must_die
--- error_log
unknown directive "no_such_directive"
--- no_error_log
[error]



=== TEST 13: must_die with an exit code
--- config
    location = /t {
        return 200 a b c;
    }
--- must_die: 1
--- error_log
invalid number of arguments in "return" directive



=== TEST 14: skip_eval skips the given number of tests
--- skip_eval: 2: 1
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never checked



=== TEST 15: block preprocessor turns req_header into more_headers
--- config
    location = /t {
        return 200 "pre=$http_x_pre\n";
    }
--- req_header: from-preprocessor
--- init
Test::More::isnt(get_pid_from_pidfile('init'), $main::InitPid, 'nginx restarted for this block');
--- request
GET /t
--- response_body
pre=from-preprocessor



=== TEST 16: pipelined requests on one connection
--- config
    location /p {
        return 200 "$uri $connection_requests\n";
    }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- response_body eval
["/p1 1\n", "/p2 2\n"]



=== TEST 17: log_level per block, error log per block only
--- log_level: warn
--- config
    location = /t { return 200 "x\n"; }
--- request
GET /t
--- response_body
x
--- no_error_log eval
["[debug]", "No such file or directory"]



=== TEST 18: request given as packets; ServerPort in expectations
--- config
    location = /t {
        return 200 "port=$server_port len=$content_length\n";
    }
--- request eval
[["POST /t\nhel", {value => "lo", delay_before => 0.05}]]
--- response_body
port=$ServerPort len=5



=== TEST 19: eval filter returning a single string
--- config
    location = /t { return 200 "a\tb\n"; }
--- request eval
"GET /t"
--- response_body eval
"a\tb\n"



=== TEST 20: timeout + abort + ignore_response: a silent upstream is fine
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        }
    }
--- init
# a TCP listener that accepts (via the kernel backlog) but never answers
$main::Blackhole = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => $Test::Nginx::Util::RandPorts->{TEST_NGINX_RAND_PORT_3},
    Listen => 5, Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        proxy_read_timeout 10s;
    }
--- request
GET /t
--- timeout: 300ms
--- abort
--- ignore_response
