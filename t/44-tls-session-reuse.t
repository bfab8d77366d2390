# TLS sessions to upstream peers are reused (proxy_ssl_session_reuse, on by
# default): a farm's agents and a farm_kong service over https resume the
# session of an earlier connection instead of a full handshake each time.
# The TLS server is a server of the same nginx; it answers with
# $ssl_session_reused ("r" when the client resumed, "." when not).  Every
# request opens a new connection to it (no keepalive to it), so only a kept
# session can make a later request resume.  One worker: the sessions are
# kept per worker.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();

$ENV{TEST_NGINX_TLS_PORT} = free_port();

our $TlsDir = File::Temp::tempdir('tls-reuse-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
system("openssl req -x509 -newkey rsa:2048 -nodes -days 1"
       . " -subj /CN=tls.farm.test -keyout $TlsDir/key.pem"
       . " -out $TlsDir/cert.pem 2>/dev/null") == 0
    or die "openssl req failed\n";
$ENV{TEST_NGINX_TLS_DIR} = $TlsDir;

workers(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a farm of TLS agents: later connections to an agent resume its session
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate     $TEST_NGINX_TLS_DIR/cert.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/key.pem;
        ssl_session_cache   shared:farm_test_tls:1m;
        location / {
            return 200 "reused=$ssl_session_reused\n";
        }
    }

    upstream agents {
        farm_agent 127.0.0.1:$TEST_NGINX_TLS_PORT id=tls1;
    }
--- config
    location /t {
        proxy_pass https://agents;
    }
--- request eval
["GET /t?i=1", "GET /t?i=2", "GET /t?i=3"]
--- response_body eval
["reused=.\n", "reused=r\n", "reused=r\n"]
--- no_error_log
[error]
[alert]



=== TEST 2: the same with proxy_ssl_session_reuse off: every connection makes a full handshake
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate     $TEST_NGINX_TLS_DIR/cert.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/key.pem;
        ssl_session_cache   shared:farm_test_tls:1m;
        location / {
            return 200 "reused=$ssl_session_reused\n";
        }
    }

    upstream agents {
        farm_agent 127.0.0.1:$TEST_NGINX_TLS_PORT id=tls1;
    }
--- config
    location /t {
        proxy_pass https://agents;
        proxy_ssl_session_reuse off;
    }
--- request eval
["GET /t?i=1", "GET /t?i=2"]
--- response_body eval
["reused=.\n", "reused=.\n"]
--- no_error_log
[error]
[alert]



=== TEST 3: a farm_kong https service: later connections resume the session
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate     $TEST_NGINX_TLS_DIR/cert.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/key.pem;
        ssl_session_cache   shared:farm_test_tls:1m;
        location / {
            return 200 "reused=$ssl_session_reused\n";
        }
    }
--- config
    farm_kong ../html/kong.yml;

    location /tls {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: secure
  url: https://127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}/
  routes:
  - paths: [/tls]
"
--- request eval
["GET /tls/1", "GET /tls/2", "GET /tls/3"]
--- response_body eval
["reused=.\n", "reused=r\n", "reused=r\n"]
--- no_error_log
[error]
[alert]



=== TEST 4: one address and server name, two locations, one verifying the certificate: a session made without verification is not offered where verification is on
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        ssl_certificate     $TEST_NGINX_TLS_DIR/cert.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/key.pem;
        ssl_session_cache   shared:farm_test_tls:1m;
        location / {
            return 200 "reused=$ssl_session_reused\n";
        }
    }
--- config
    farm_kong ../html/kong.yml;

    location /plain {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
        proxy_ssl_name tls.farm.test;
        proxy_ssl_server_name on;
    }

    location /checked {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
        proxy_ssl_verify on;
        proxy_ssl_name tls.farm.test;
        proxy_ssl_server_name on;
        proxy_ssl_trusted_certificate $TEST_NGINX_TLS_DIR/cert.pem;
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: secure
  url: https://127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}/
  routes:
  - paths: [/plain, /checked]
    strip_path: false
"
--- request eval
["GET /plain", "GET /checked", "GET /checked", "GET /plain"]
--- response_body eval
["reused=.\n", "reused=.\n", "reused=r\n", "reused=r\n"]
--- no_error_log
[error]
[alert]
