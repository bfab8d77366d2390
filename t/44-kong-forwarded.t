# farm_kong and Kong's trusted_ips for the X-Forwarded-* headers.  trusted_ips
# is set_real_ip_from here (as in Kong's own nginx template).  A client whose
# address is trusted has its own X-Forwarded-Proto, -Host, -Port, -Path and
# -Prefix passed on to the service, and its X-Forwarded-Proto: https and
# X-Forwarded-Host count for an https-only route; any other client's are
# replaced by the gateway's values.  The service echoes the request it got
# (t/lib/echo_server.pl).  The server of the test trusts 127.0.0.1; a
# second server trusts only 10.0.0.0/8, so the same client is untrusted
# there.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Echo = FarmTest::start_echo();
our $E = $Echo->{port};
our $Untrusted = free_port();

our %Client = ('X-Forwarded-Proto' => 'https', 'X-Forwarded-Host' => 'app.example',
               'X-Forwarded-Port' => '8443', 'X-Forwarded-Path' => '/outer/api/x',
               'X-Forwarded-Prefix' => '/outer');

# the X-Forwarded-* lines the service got, for a GET from the untrusted server
sub untrusted {
    my ($path, %h) = @_;
    my ($code, $hdr, $body) = FarmTest::http_get($Untrusted, $path, %h);
    return "status " . ($code // 'none') unless ($code // 0) == 200;
    return join '', grep { /^X-Forwarded-(?:Proto|Host|Port|Path|Prefix):/ }
                    split /^/m, $body;
}

our $Location = <<'_EOC_';
        farm_kong ../html/kong.yml;

        location / {
            proxy_pass $farm_kong_url;
            proxy_set_header Host               $farm_kong_host;
            proxy_set_header X-Forwarded-Proto  $farm_kong_forwarded_proto;
            proxy_set_header X-Forwarded-Host   $farm_kong_forwarded_host;
            proxy_set_header X-Forwarded-Port   $farm_kong_forwarded_port;
            proxy_set_header X-Forwarded-Path   $farm_kong_forwarded_path;
            proxy_set_header X-Forwarded-Prefix $farm_kong_forwarded_prefix;
        }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    server {
        listen 127.0.0.1:$Untrusted;
        set_real_ip_from 10.0.0.0/8;
$Location    }
_EOC_
    (my $trusted = $Location) =~ s/^    //mg;
    $block->set_value('config', "    set_real_ip_from 127.0.0.1;\n" . $trusted)
        unless defined $block->config;
});

master_on();
no_shuffle();
no_root_location();
run_tests();

FarmTest::stop_echo($Echo);

__DATA__

=== TEST 1: from a trusted address, the client's X-Forwarded-Proto, -Host, -Port, -Path and -Prefix reach the service
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
"
--- request
GET /api/x
--- more_headers
X-Forwarded-Proto: https
X-Forwarded-Host: app.example
X-Forwarded-Port: 8443
X-Forwarded-Path: /outer/api/x
X-Forwarded-Prefix: /outer
--- error_code: 200
--- response_body_like
X-Forwarded-Proto: https\r?
X-Forwarded-Host: app.example\r?
X-Forwarded-Port: 8443\r?
X-Forwarded-Path: /outer/api/x\r?
X-Forwarded-Prefix: /outer\r?
--- no_error_log
[error]



=== TEST 2: from a trusted address, a header the client did not send is the gateway's
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
"
--- request
GET /api/x?a=1
--- more_headers
X-Forwarded-Host: app.example
--- error_code: 200
--- response_body_like
X-Forwarded-Proto: http\r?
X-Forwarded-Host: app.example\r?
X-Forwarded-Port: \d+\r?
X-Forwarded-Path: /api/x\r?
X-Forwarded-Prefix: /api\r?
--- no_error_log
[error]



=== TEST 3: from an untrusted address, the client's values are replaced by the gateway's
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
"
--- init
Test::More::is(main::untrusted('/api/x', %main::Client),
               "X-Forwarded-Proto: http\nX-Forwarded-Host: 127.0.0.1\n"
               . "X-Forwarded-Port: $main::Untrusted\nX-Forwarded-Path: /api/x\n"
               . "X-Forwarded-Prefix: /api\n",
               'the gateway\'s X-Forwarded-* for an untrusted client');
--- request
GET /api/x
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: an https-only route: a trusted client's X-Forwarded-Proto https is proxied, an untrusted one's gets 426
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    protocols: [https]
"
--- init
my ($code) = FarmTest::http_get($main::Untrusted, '/api/x', 'X-Forwarded-Proto' => 'https');
Test::More::is($code, 426, 'untrusted: 426 despite X-Forwarded-Proto: https');
--- request
GET /api/x
--- more_headers
X-Forwarded-Proto: https
--- error_code: 200
--- response_body_like
X-Forwarded-Proto: https\r?
--- no_error_log
[error]



=== TEST 5: an https-only route with a redirect: the Location names a trusted client's X-Forwarded-Host; an untrusted client's is ignored
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::E
  routes:
  - paths: [/api]
    protocols: [https]
    https_redirect_status_code: 301
"
--- init
my ($code, $h) = FarmTest::http_get($main::Untrusted, '/api/x?a=1',
                                    'X-Forwarded-Host' => 'app.example');
Test::More::is("$code " . ($h->{location} // ''), '301 https://127.0.0.1/api/x?a=1',
               'untrusted: the Location names the request\'s own host');
--- request
GET /api/x?a=1
--- more_headers
Host: gw.example
X-Forwarded-Host: app.example
--- error_code: 301
--- response_headers
Location: https://app.example/api/x?a=1
--- no_error_log
[error]
