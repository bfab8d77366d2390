# request-termination with echo: true (Kong 3.x): the gateway answers the
# configured status with a JSON body of what it saw of the request (its
# headers, query, parsed and raw body, path, the route's regex captures)
# and of the route and service it matched, as Kong's handler builds it and
# lua-cjson writes it ('/' escaped, no spaces).  Each block checks the
# exact body a client gets; <PID> and <TS> stand for the worker's pid and
# the load time.  Before echo was implemented such a file failed nginx -t.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;
use Digest::SHA ();
use Sys::Hostname ();

our $Echo = FarmTest::start_echo();
our $E = $Echo->{port};

kong_server();

# kong.node's values as this gateway reports them (docs/kong.md): the
# host name (nginx keeps it in lower case) and the name-based uuid of it
# in RFC 4122's DNS namespace; ids of entities the file gives none are
# derived the same way from "<entity>:" and the name
our $Host = lc Sys::Hostname::hostname();

sub uuid_sha1 {
    my ($a, $b) = @_;
    my @d = unpack 'C*', Digest::SHA::sha1($a . $b);
    $d[6] = ($d[6] & 0x0f) | 0x50;
    $d[8] = ($d[8] & 0x3f) | 0x80;
    my $h = unpack 'H32', pack 'C*', @d[0 .. 15];
    $h =~ s/^(.{8})(.{4})(.{4})(.{4})/$1-$2-$3-$4-/;
    return $h;
}

our $Node = uuid_sha1(pack('H*', '6ba7b8109dad11d180b400c04fd430c8'), $Host);
our $Ws = uuid_sha1('workspaces:', 'default');

# the exact body: <KONG> is the kong member, <REQ> the request member's
# start for Host: localhost, <NOCAPS> no uri_captures, <MATCHED> the route
# and service of yml(), <PORT> the listener's port, <WS> the workspace id;
# <PID> and <TS> any digits
sub echo_json {
    my ($t) = @_;
    my $kong = qq("kong":{"node_id":"$Node","worker_pid":<PID>,)
             . qq("hostname":"$Host"});
    $t =~ s/<KONG>/$kong/g;
    $t =~ s/<REQ>/"request":{"scheme":"http","host":"localhost","port":<PORT>,/g;
    $t =~ s/<NOCAPS>/"uri_captures":{"named":{},"unnamed":[]}/g;
    $t =~ s/<MATCHED>/"matched_route":$main::Route,"matched_service":$main::Service/g;
    $t =~ s/\s*\n\s*//g;
    $t =~ s/<PORT>/server_port()/ge;
    $t =~ s/<WS>/$Ws/g;
    my $re = quotemeta $t;
    $re =~ s/\\<(?:PID|TS)\\>/\\d+/g;
    return qr/\A$re\z/;
}

# a service and a route with ids, the route's plugin configured by $conf
sub yml {
    my ($conf, $route) = @_;
    $route //= 'paths: [/echo]';
    return <<"_EOY_";
_format_version: "3.0"
services:
- name: s
  id: 11111111-1111-4111-8111-111111111111
  url: http://127.0.0.1:$main::E/base
  routes:
  - name: r
    id: 22222222-2222-4222-8222-222222222222
    $route
    plugins:
    - name: request-termination
      config: $conf
_EOY_
}

our $Route = q({"id":"22222222-2222-4222-8222-222222222222",
    "created_at":<TS>,"updated_at":<TS>,"name":"r",
    "protocols":["http","https"],"paths":["\/echo"],
    "https_redirect_status_code":426,"regex_priority":0,"strip_path":true,
    "path_handling":"v0","preserve_host":false,"request_buffering":true,
    "response_buffering":true,
    "service":{"id":"11111111-1111-4111-8111-111111111111"},"ws_id":"<WS>"});
our $Service = q({"id":"11111111-1111-4111-8111-111111111111",
    "created_at":<TS>,"updated_at":<TS>,"name":"s","retries":5,
    "protocol":"http","host":"127.0.0.1","port":) . $E . q(,"path":"\/base",
    "connect_timeout":60000,"write_timeout":60000,"read_timeout":60000,
    "enabled":true,"ws_id":"<WS>"});

# a POST /echo of body as ct, by itself on its connection
sub post {
    my ($ct, $b) = @_;
    return "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: $ct\r\n"
         . "Content-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b";
}

our $Form = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n"
    . "--XyZ\r\nContent-Disposition: form-data; name=\"up\"; "
    . "filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nl1\r\nl2\r\n"
    . "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ntwo\r\n"
    . "--XyZ--\r\n";

master_on();
no_shuffle();
no_root_location();
run_tests();

FarmTest::stop_echo($Echo);

__DATA__

=== TEST 1: GET: repeated query arguments and headers become arrays, an argument without "=" is true; no body but an empty raw_body; the default message of 503; the matched route and service with every default
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true}')
--- raw_request eval
"GET /echo/x?a=1&a=2&flag&empty=&sp=x%20y+z&%2F=slash HTTP/1.1\r
Host: Example.COM:8080\r
X-Multi: one\r
Accept: */*\r
x-multi: two\r
Connection: close\r
\r
"
--- error_code: 503
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval
main::echo_json(q({"message":"Service unavailable",<KONG>,
"request":{"scheme":"http","host":"example.com","port":<PORT>,
"headers":{"host":"Example.COM:8080","x-multi":["one","two"],
"accept":"*\/*","connection":"close"},
"query":{"a":["1","2"],"flag":true,"empty":"","sp":"x y z","\/":"slash"},
"raw_body":"","method":"GET","path":"\/echo\/x",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 2: POST JSON: the body decoded and written again by lua-cjson's rules (numbers with 16 digits, null kept, '/' escaped), beside the raw body; a configured message goes in the body
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200, message: "a/b"}')
--- raw_request eval
my $b = '{"s":"x/y","n":1,"f":2.5,"big":12345678901234567890,"e":1e2,'
      . '"nul":null,"t":false,"arr":[1,"z",[]],"obj":{}}';
main::post('application/json', $b)
--- error_code: 200
--- response_body_like eval
main::echo_json(q({"message":"a\/b",<KONG>,
<REQ>
"headers":{"host":"localhost","content-type":"application\/json",
"content-length":"107","connection":"close"},"query":{},
"body":{"s":"x\/y","n":1,"f":2.5,"big":1.234567890123457e+19,"e":100,
"nul":null,"t":false,"arr":[1,"z",[]],"obj":{}},
"raw_body":"{\"s\":\"x\/y\",\"n\":1,\"f\":2.5,\"big\":12345678901234567890,
\"e\":1e2,\"nul\":null,\"t\":false,\"arr\":[1,\"z\",[]],\"obj\":{}}",
"method":"POST","path":"\/echo",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 3: POST a form (application/x-www-form-urlencoded with a charset): decoded as the query is, a repeated name an array, a name without "=" true, one without a name dropped
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200}')
--- raw_request eval
my $b = 'a=1&a=2&b&c=x%2Fy+z&=skip';
main::post('application/x-www-form-urlencoded; charset=utf-8', $b)
--- error_code: 200
--- response_body_like eval
main::echo_json(q({<KONG>,
<REQ>
"headers":{"host":"localhost",
"content-type":"application\/x-www-form-urlencoded; charset=utf-8",
"content-length":"25","connection":"close"},"query":{},
"body":{"a":["1","2"],"b":true,"c":"x\/y z"},
"raw_body":"a=1&a=2&b&c=x%2Fy+z&=skip",
"method":"POST","path":"\/echo",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 4: POST multipart/form-data: each part's name and value (a file's content), a repeated name an array; the raw body as sent
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200}')
--- raw_request eval
main::post('multipart/form-data; boundary=XyZ', $main::Form)
--- error_code: 200
--- response_body_like eval
(my $raw = $main::Form) =~ s/\r\n/\\r\\n/g;
$raw =~ s{"}{\\"}g;
$raw =~ s{/}{\\/}g;
main::echo_json(q({<KONG>,
<REQ>
"headers":{"host":"localhost",
"content-type":"multipart\/form-data; boundary=XyZ",
"content-length":") . length($main::Form) . q(","connection":"close"},
"query":{},"body":{"a":["one","two"],"up":"l1\r\nl2"},
"raw_body":") . $raw . q(",
"method":"POST","path":"\/echo",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 5: a regex route without a service (the plugins run before Kong's 503): its captures by number (from 1; a group that took no part is null) and by name; ids derived from the names; no matched_service; a status without a default message has no message
--- user_files
>>> kong.yml
_format_version: "3.0"
routes:
- name: rx
  paths: ["~/items/(?<id>\\d+)/(x)?(\\w+)$"]
  plugins:
  - name: request-termination
    config: {echo: true, status_code: 418}
--- raw_request eval
"GET /items/42/ab HTTP/1.1\r
Host: localhost\r
Connection: close\r
\r
"
--- error_code: 418
--- response_body_like eval
main::echo_json(q({<KONG>,
<REQ>
"headers":{"host":"localhost","connection":"close"},"query":{},
"raw_body":"","method":"GET","path":"\/items\/42\/ab",
"uri_captures":{"named":{"id":"42"},"unnamed":["42",null,"ab"]}},
"matched_route":{"id":") . main::uuid_sha1('routes:', 'rx') . q(",
"created_at":<TS>,"updated_at":<TS>,"name":"rx",
"protocols":["http","https"],"paths":["~\/items\/(?<id>\\\\d+)\/(x)?(\\\\w+)$"],
"https_redirect_status_code":426,"regex_priority":0,"strip_path":true,
"path_handling":"v0","preserve_host":false,"request_buffering":true,
"response_buffering":true,"ws_id":"<WS>"}}))
--- no_error_log
[error]



=== TEST 6: with a trigger, a request without it goes to the service untouched
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, trigger: X-Debug}')
--- request
GET /echo/t?q=1
--- error_code: 200
--- response_body_like: ^GET /base/t\?q=1 HTTP/1\.[01]\n
--- no_error_log
[error]



=== TEST 7: with a trigger, a request with it (here as a header) is echoed, the trigger among the headers
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, trigger: X-Debug, status_code: 200}')
--- raw_request eval
"GET /echo HTTP/1.1\r
Host: localhost\r
X-Debug: 1\r
Connection: close\r
\r
"
--- error_code: 200
--- response_body_like eval
main::echo_json(q({<KONG>,
<REQ>
"headers":{"host":"localhost","x-debug":"1","connection":"close"},
"query":{},"raw_body":"","method":"GET","path":"\/echo",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 8: matched_route and matched_service carry every field the file sets (hosts as written, header values, snis, tags, timestamps) besides the defaults
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: svc
  protocol: http
  host: 127.0.0.1
  port: $main::E
  retries: 2
  connect_timeout: 1000
  write_timeout: 2000
  read_timeout: 3000
  tags: [t1, t2]
  created_at: 1700000000
  routes:
  - name: full
    id: 33333333-3333-4333-8333-333333333333
    methods: [GET, POST]
    hosts: [\"*.example.com\", \"api.test:8080\"]
    paths: [/full]
    headers: {x-env: [prod, \"~*^st\"]}
    snis: [sni.example.com]
    tags: [rt]
    regex_priority: 7
    strip_path: false
    path_handling: v1
    preserve_host: true
    https_redirect_status_code: 301
    request_buffering: false
    response_buffering: false
    created_at: 1600000000
    updated_at: 1650000000
    plugins:
    - name: request-termination
      config: {echo: true, status_code: 200}"
--- raw_request eval
"GET /full HTTP/1.1\r
Host: a.example.com\r
X-Env: prod\r
Connection: close\r
\r
"
--- error_code: 200
--- response_body_like eval
my $sid = main::uuid_sha1('services:', 'svc');
my $t = q({<KONG>,
"request":{"scheme":"http","host":"a.example.com","port":<PORT>,
"headers":{"host":"a.example.com","x-env":"prod","connection":"close"},
"query":{},"raw_body":"","method":"GET","path":"\/full",
<NOCAPS>},
"matched_route":{"id":"33333333-3333-4333-8333-333333333333",
"created_at":1600000000,"updated_at":1650000000,"name":"full",
"protocols":["http","https"],"methods":["GET","POST"],
"hosts":["*.example.com","api.test:8080"],"paths":["\/full"],
"headers":{"x-env":["prod","~*^st"]},
"https_redirect_status_code":301,"regex_priority":7,"strip_path":false,
"path_handling":"v1","preserve_host":true,"request_buffering":false,
"response_buffering":false,"snis":["sni.example.com"],"tags":["rt"],
"service":{"id":"$SID"},"ws_id":"<WS>"},
"matched_service":{"id":"$SID","created_at":1700000000,
"updated_at":1700000000,"name":"svc","retries":2,"protocol":"http",
"host":"127.0.0.1","port":) . $main::E . q(,"connect_timeout":1000,
"write_timeout":2000,"read_timeout":3000,"tags":["t1","t2"],
"enabled":true,"ws_id":"<WS>"}});
$t =~ s/\$SID/$sid/g;
main::echo_json($t)
--- no_error_log
[error]



=== TEST 9: a body of a type Kong does not parse (text/plain) is absent, its raw_body there
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200}')
--- raw_request eval
"POST /echo HTTP/1.1\r
Host: localhost\r
Content-Type: text/plain\r
Content-Length: 5\r
Connection: close\r
\r
a=b&c"
--- error_code: 200
--- response_body_like eval
main::echo_json(q({<KONG>,
<REQ>
"headers":{"host":"localhost","content-type":"text\/plain",
"content-length":"5","connection":"close"},
"query":{},"raw_body":"a=b&c","method":"POST","path":"\/echo",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 10: JSON that does not parse, or is not an object or an array ("invalid json body" in Kong), has no body either
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200}')
--- pipelined_requests eval
["POST /echo\n[1,2", "POST /echo\n\"x\""]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"raw_body":"\[1,2","method"/, qr/"raw_body":"\\"x\\"","method"/]
--- response_body_unlike: "body":
--- no_error_log
[error]



=== TEST 11: a body past client_body_buffer_size (kept in a temporary file) is read but, as in Kong, neither body nor raw_body is there
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200}')
--- config
    client_body_buffer_size 1k;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
    }
--- raw_request eval
my $b = '{"k":"' . ('v' x 5000) . '"}';
main::post('application/json', $b)
--- error_code: 200
--- response_body_like eval
main::echo_json(q({<KONG>,
<REQ>
"headers":{"host":"localhost","content-type":"application\/json",
"content-length":"5008","connection":"close"},
"query":{},"method":"POST","path":"\/echo",
<NOCAPS>},
<MATCHED>}))
--- no_error_log
[error]



=== TEST 12: echo with a body (or a content_type) fails nginx -t with Kong's message; a message with echo is accepted (TEST 2)
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, body: "x"}')
--- must_die
--- error_log eval
qr/kong\.yml:\d+:\d+: .*echo cannot be used with content_type and body/



=== TEST 13: an HTTP/1.0 request without Host: the host is the server's name ($host), no header at all
--- user_files eval
">>> kong.yml\n" . main::yml('{echo: true, status_code: 200}')
--- raw_request eval
"GET /echo HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
main::echo_json(q({<KONG>,<REQ>"headers":{},"query":{},"raw_body":"",
"method":"GET","path":"\/echo",<NOCAPS>},<MATCHED>}))
--- no_error_log
[error]
