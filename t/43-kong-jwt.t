# farm_kong's jwt plugin as Kong 3.7+ answers it: HS256, RS256 and ES256
# tokens made by this test (keys generated here with openssl:
# t/lib/FarmKong.pm), the consumer and credential headers upstream, exp / nbf /
# maximum_expiration, a bad signature, an unknown key, several tokens, the
# token in a header, the query or a cookie, anonymous, the realm,
# secret_is_base64, run_on_preflight, and a route's configuration winning
# over its service's.  Bodies have no request_id (kong.response.exit).

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;

our %Agent = (a => start_agent(id => 'a'));
our $A = $Agent{a}{port};

kong_server();

# keys and tokens, made now: valid from a minute ago to an hour ahead
# unless a block says otherwise
my $now = time;
sub claims { return {nbf => $now - 60, exp => $now + 3600, @_} }
my $rsa = jwt_keypair('rsa');
my $rsa_other = jwt_keypair('rsa');
my $ec = jwt_keypair('ec256');
my $raw_secret = join '', map { chr(($_ * 37 + 11) % 256) } 0 .. 31;

our %Tok = (
    hs       => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'alice-iss')),
    rs       => jwt_token('RS256', $rsa->{private},
                          claims(iss => 'bob-rsa')),
    es       => jwt_token('ES256', $ec->{private},
                          claims(iss => 'carol-ec')),
    expired  => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'alice-iss', exp => $now - 120)),
    early    => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'alice-iss', nbf => $now + 3600,
                                 exp => $now + 7200)),
    hs_bad   => jwt_token('HS256', 'not-the-secret',
                          claims(iss => 'alice-iss')),
    rs_bad   => jwt_token('RS256', $rsa_other->{private},
                          claims(iss => 'bob-rsa')),
    unknown  => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'nobody')),
    far      => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'alice-iss', exp => $now + 30 * 86400)),
    b64      => jwt_token('HS256', $raw_secret,
                          claims(iss => 'dave-b64')),
    # several claims failing at once
    both     => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'alice-iss', nbf => $now + 3600,
                                 exp => $now - 120)),
    early_far => jwt_token('HS256', 'alice-secret-0123',
                          claims(iss => 'alice-iss', nbf => $now + 3600,
                                 exp => $now + 30 * 86400)),
    bad_expired => jwt_token('HS256', 'not-the-secret',
                          claims(iss => 'alice-iss', exp => $now - 120)),
);

# the signature part of a refused token: it must never reach the log
our $BadSig = (split /\./, $Tok{hs_bad})[2];

our $Kong = <<"_YML_";
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:$A/echo
  plugins:
  - name: jwt
    config: {claims_to_verify: [exp]}
  routes:
  - {name: main, paths: [/jwt], plugins: [{name: jwt, config: {claims_to_verify: [exp, nbf]}}]}
  - {name: svc, paths: [/svc]}
  - {name: loose, paths: [/loose], plugins: [{name: jwt}]}
  - {name: anon, paths: [/anon], plugins: [{name: jwt, config: {anonymous: guest}}]}
  - name: where
    paths: [/where]
    plugins:
    - name: jwt
      config: {uri_param_names: [token], cookie_names: [jwt_cookie], header_names: [x-auth]}
  - {name: max, paths: [/max], plugins: [{name: jwt, config: {claims_to_verify: [exp], maximum_expiration: 7200}}]}
  - {name: maxnbf, paths: [/maxnbf], plugins: [{name: jwt, config: {claims_to_verify: [nbf, exp], maximum_expiration: 7200}}]}
  - {name: realm, paths: [/realm], plugins: [{name: jwt, config: {realm: api}}]}
  - {name: b64, paths: [/b64], plugins: [{name: jwt, config: {secret_is_base64: true}}]}
  - {name: pre, paths: [/pre], plugins: [{name: jwt, config: {run_on_preflight: false}}]}
consumers:
- username: alice
  id: 6f3e1d4c-6b1a-4b43-9a53-2f7c9e3b2a11
  custom_id: cust-1
  jwt_secrets:
  - key: alice-iss
    secret: alice-secret-0123
- username: bob
  jwt_secrets:
  - key: bob-rsa
    algorithm: RS256
    rsa_public_key: @{[ yaml_block($rsa->{public}, 6) ]}
- username: carol
  jwt_secrets:
  - key: carol-ec
    algorithm: ES256
    rsa_public_key: @{[ yaml_block($ec->{public}, 6) ]}
- username: dave
  jwt_secrets:
  - key: dave-b64
    secret: @{[ MIME::Base64::encode_base64($raw_secret, '') ]}
- username: guest
_YML_

master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: HS256 in Authorization: the upstream sees the consumer, X-Credential-Identifier is the key, a forged X-Consumer-Username is gone
--- user_files eval
">>> kong.yml
$main::Kong"
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer $main::Tok{hs}
X-Consumer-Username: forged
X-Anonymous-Consumer: true"
--- error_code: 200
--- response_body_like eval
qr{X-Consumer-ID: 6f3e1d4c-6b1a-4b43-9a53-2f7c9e3b2a11\nX-Consumer-Custom-ID: cust-1\nX-Consumer-Username: alice\nX-Credential-Identifier: alice-iss\n}
--- response_body_unlike: forged|X-Anonymous-Consumer
--- no_error_log
[error]



=== TEST 2: RS256 and ES256 tokens verified against the credentials' public keys
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /jwt", "GET /jwt"]
--- more_headers eval
["Authorization: Bearer $main::Tok{rs}", "Authorization: bearer $main::Tok{es}"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr{X-Consumer-Username: bob\nX-Credential-Identifier: bob-rsa\n},
 qr{X-Consumer-Username: carol\nX-Credential-Identifier: carol-ec\n}]
--- no_error_log
[error]



=== TEST 3: no token: 401 {"message":"Unauthorized"} without request_id, WWW-Authenticate: Bearer
--- user_files eval
">>> kong.yml
$main::Kong"
--- request
GET /jwt
--- more_headers
Accept: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"message":"Unauthorized"}
--- no_error_log
[error]



=== TEST 4: an expired token: 401 {"exp":"token expired"} with error="invalid_token"
--- user_files eval
">>> kong.yml
$main::Kong"
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer $main::Tok{expired}"
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body chomp
{"exp":"token expired"}
--- no_error_log
[error]



=== TEST 5: nbf in the future: 401 {"nbf":"token not valid yet"}
--- user_files eval
">>> kong.yml
$main::Kong"
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer $main::Tok{early}"
--- error_code: 401
--- response_body chomp
{"nbf":"token not valid yet"}
--- no_error_log
[error]



=== TEST 6: a bad signature (HS256 with another secret, RS256 with another key): 401 "Invalid signature"; the token is not logged
--- user_files eval
">>> kong.yml
$main::Kong"
--- log_level: info
--- request eval
["GET /jwt", "GET /jwt"]
--- more_headers eval
["Authorization: Bearer $main::Tok{hs_bad}", "Authorization: Bearer $main::Tok{rs_bad}"]
--- error_code eval
[401, 401]
--- response_body eval
["{\"message\":\"Invalid signature\"}", "{\"message\":\"Invalid signature\"}"]
--- error_log
farm_kong: jwt: 401 {"message":"Invalid signature"}
--- no_error_log eval
[qr/\Q$main::BadSig\E/, qr/\[error\]/]



=== TEST 7: an unknown key claim: 401 "No credentials found for given 'iss'"
--- user_files eval
">>> kong.yml
$main::Kong"
--- request
GET /jwt
--- more_headers eval
"Authorization: Bearer $main::Tok{unknown}"
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer error="invalid_token"
--- response_body chomp
{"message":"No credentials found for given 'iss'"}
--- no_error_log
[error]



=== TEST 8: two different tokens (query and header) are "Multiple tokens provided"; the same one twice is one token
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /jwt?jwt=$main::Tok{hs}", "GET /jwt?jwt=$main::Tok{hs}"]
--- more_headers eval
["Authorization: Bearer $main::Tok{rs}", "Authorization: Bearer $main::Tok{hs}"]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/^\{"message":"Multiple tokens provided"\}$/, qr/X-Consumer-Username: alice\n/]
--- no_error_log
[error]



=== TEST 9: uri_param_names, cookie_names and header_names: the token is found where configured, not in Authorization
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /where?a=1&token=$main::Tok{hs}", "GET /where", "GET /where", "GET /where", "GET /where?jwt=$main::Tok{hs}"]
--- more_headers eval
["", "Cookie: a=1; jwt_cookie=$main::Tok{rs}; b=2", "X-Auth: Bearer $main::Tok{es}",
 "Authorization: Bearer $main::Tok{hs}", ""]
--- error_code eval
[200, 200, 200, 401, 401]
--- response_body_like eval
[qr/X-Consumer-Username: alice\n/, qr/X-Consumer-Username: bob\n/, qr/X-Consumer-Username: carol\n/,
 qr/^\{"message":"Unauthorized"\}$/, qr/^\{"message":"Unauthorized"\}$/]
--- no_error_log
[error]



=== TEST 10: anonymous: no token and a bad token go through as the anonymous consumer; a good token is the consumer's
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /anon", "GET /anon", "GET /anon"]
--- more_headers eval
["", "Authorization: Bearer $main::Tok{hs_bad}", "Authorization: Bearer $main::Tok{hs}"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/X-Consumer-Username: guest\n(?:.*\n)*X-Anonymous-Consumer: true\n/,
 qr/X-Consumer-Username: guest\n(?:.*\n)*X-Anonymous-Consumer: true\n/,
 qr/X-Consumer-Username: alice\nX-Credential-Identifier: alice-iss\n(?!(?:.*\n)*X-Anonymous)/]
--- no_error_log
[error]



=== TEST 11: scope precedence: an expired token is refused by the service's configuration (exp) and accepted by a route's own (no claims)
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /svc", "GET /loose"]
--- more_headers eval
["Authorization: Bearer $main::Tok{expired}", "Authorization: Bearer $main::Tok{expired}"]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/^\{"exp":"token expired"\}$/, qr/X-Consumer-Username: alice\n/]
--- no_error_log
[error]



=== TEST 12: maximum_expiration: a token valid for 30 days is refused, one for an hour is not
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /max", "GET /max"]
--- more_headers eval
["Authorization: Bearer $main::Tok{far}", "Authorization: Bearer $main::Tok{hs}"]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/^\{"exp":"exceeds maximum allowed expiration"\}$/, qr/X-Consumer-Username: alice\n/]
--- no_error_log
[error]



=== TEST 13: realm: WWW-Authenticate names it, with and without a token
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /realm", "GET /realm"]
--- more_headers eval
["", "Authorization: Bearer $main::Tok{unknown}"]
--- error_code eval
[401, 401]
--- response_headers eval
["WWW-Authenticate: Bearer realm=\"api\"", "WWW-Authenticate: Bearer realm=\"api\" error=\"invalid_token\""]
--- no_error_log
[error]



=== TEST 14: secret_is_base64: the credential's secret is decoded before the HMAC
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /b64", "GET /jwt"]
--- more_headers eval
["Authorization: Bearer $main::Tok{b64}", "Authorization: Bearer $main::Tok{b64}"]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/X-Consumer-Username: dave\n/, qr/^\{"message":"Invalid signature"\}$/]
--- no_error_log
[error]



=== TEST 15: run_on_preflight false: an OPTIONS request without a token is proxied, a GET is not
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["OPTIONS /pre", "GET /pre", "OPTIONS /jwt"]
--- error_code eval
[200, 401, 401]
--- no_error_log
[error]



=== TEST 16: a jwt_secrets rsa_public_key that is not a key fails nginx -t, naming the entity, not quoting the key
--- user_files
>>> kong.yml
_format_version: "3.0"
consumers:
- username: eve
  jwt_secrets:
  - key: eve-rsa
    algorithm: RS256
    rsa_public_key: "-----BEGIN PUBLIC KEY-----\nbm90LWEta2V5LXNlY3JldC14eXo=\n-----END PUBLIC KEY-----\n"
plugins:
- name: jwt
--- request
GET /
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_kong: \S*kong\.yml:5:5: jwt_secrets: rsa_public_key: invalid key/
--- no_error_log eval
qr/bm90LWEta2V5/



=== TEST 17: jwt runs before key-auth (Kong's priority): with anonymous on key-auth, a jwt consumer is enough
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::A/echo
  routes:
  - paths: [/both]
    plugins:
    - name: jwt
      config: {anonymous: guest}
    - name: key-auth
      config: {anonymous: guest}
consumers:
- username: alice
  jwt_secrets:
  - key: alice-iss
    secret: alice-secret-0123
  keyauth_credentials:
  - key: alice-key
- username: guest
"
--- request eval
["GET /both", "GET /both", "GET /both"]
--- more_headers eval
["Authorization: Bearer $main::Tok{hs}", "apikey: alice-key", ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/X-Consumer-Username: alice\nX-Credential-Identifier: alice-iss\n/,
 qr/X-Consumer-Username: alice\n(?!(?:.*\n)*X-Anonymous)/,
 qr/X-Consumer-Username: guest\n(?:.*\n)*X-Anonymous-Consumer: true\n/]
--- no_error_log
[error]



=== TEST 18: a percent-encoded token in the query is decoded; the query goes to the service as the client sent it
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
(my $t = $main::Tok{hs}) =~ s/\./%2E/g;
"GET /where?x=a+b&token=$t"
--- error_code: 200
--- response_body_like eval
qr{^GET /echo\?x=a\+b&token=[^ ]*%2E[^ ]* HTTP/1\.[01]\n(?:.*\n)*X-Consumer-Username: alice\n}
--- no_error_log
[error]



=== TEST 19: several failures at once, as Kong orders them: every failing claim in one 401 body (exp listed first); a failing claim answers before maximum_expiration is looked at; a bad signature answers before the claims
--- user_files eval
">>> kong.yml
$main::Kong"
--- request eval
["GET /jwt", "GET /maxnbf", "GET /jwt"]
--- more_headers eval
["Authorization: Bearer $main::Tok{both}",
 "Authorization: Bearer $main::Tok{early_far}",
 "Authorization: Bearer $main::Tok{bad_expired}"]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
[qr/^\{"exp":"token expired","nbf":"token not valid yet"\}$/,
 qr/^\{"nbf":"token not valid yet"\}$/,
 qr/^\{"message":"Invalid signature"\}$/]
--- no_error_log
[error]
