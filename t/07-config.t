# A wrong configuration fails "nginx -t" / startup with the file, the line
# and the reason.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_REDIS_PORT} ||= 6399;    # never contacted: nginx must die first

no_shuffle();
run_tests();

__DATA__

=== TEST 1: farm_registry without service=
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry" needs "service=NAME" in \S+nginx\.conf:\d+/



=== TEST 2: unknown registry scheme
--- http_config
    upstream agents {
        farm_registry etcd://127.0.0.1:2379 service=agents;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*registry URL: unknown scheme "etcd:\/\/": scheme must be redis:\/\/, consul:\/\/, http:\/\/ or https:\/\/ in \S+nginx\.conf:\d+/



=== TEST 3: bad port in the registry URL
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:70000 service=agents;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*registry URL: port must be a number from 1 to 65535 in \S+nginx\.conf:\d+/



=== TEST 4: unknown parameter
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents resink=1s;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "farm_registry" parameter "resink=1s" in \S+nginx\.conf:\d+/



=== TEST 5: invalid values name the parameter and what is expected
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents resync=10ms;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_registry" parameter "resync=10ms": expected a time of at least 100ms in \S+nginx\.conf:\d+/



=== TEST 6: an invalid service name
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=a/b;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_registry" parameter "service=a\/b": expected 1-64 of A-Z a-z 0-9 \. _ -/



=== TEST 7: server lines next to farm_registry
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        server 127.0.0.1:9;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*upstream "agents" in \S+nginx\.conf:\d+ takes its agents from "farm_registry" and cannot have "server" lines/



=== TEST 8: keepalive before farm_registry
--- http_config
    upstream agents {
        keepalive 8;
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry" must come before "keepalive" and instead of other balancing directives .* in upstream "agents" in \S+nginx\.conf:\d+/



=== TEST 9: nginx's own least_conn after farm_registry
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        least_conn;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*another balancing directive .* replaced "farm_registry" in upstream "agents" in \S+nginx\.conf:\d+; use "farm_balance" instead/



=== TEST 10: an unknown balancing method
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        farm_balance random;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_balance" method "random": use round_robin, least_conn or hash <key> \[consistent\] in \S+nginx\.conf:\d+/



=== TEST 11: hash without a key, and a bad hash flag
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        farm_balance hash $arg_k sticky;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_balance hash" parameter "sticky": only "consistent" is allowed in \S+nginx\.conf:\d+/



=== TEST 12: a zone too small for max_agents
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      max_agents=100000 zone=64k;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_registry zone=64k of upstream "agents" in \S+nginx\.conf:\d+ is too small for max_agents=100000: it needs at least \d+k/



=== TEST 13: farm_registry twice
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=other;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 14: farm_registry outside an upstream block
--- config
    location /a {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
    }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 15: Consul parameters on a Redis registry
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents dc=eu1;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry" parameters dc=, tag=, token= and ca= are for Consul registries, not redis:\/\/127\.0\.0\.1:\d+\/0 in \S+nginx\.conf:\d+/



=== TEST 16: ca= without https
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:8500 service=agents ca=/etc/ssl/ca.pem;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry" parameter ca= needs an https:\/\/ registry URL in \S+nginx\.conf:\d+/



=== TEST 17: prefix= on a Consul registry names the KV folder of its overrides (it used to be refused)
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:1 service=agents prefix=x timeout=100ms;
    }
--- config
    location /a { proxy_pass http://agents; }
    location = /farm { farm_status; }
--- request
GET /farm
--- response_body_like: "farms":
--- no_error_log
[emerg]



=== TEST 18: a bad tag=
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:8500 service=agents "tag=a b";
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_registry" parameter "tag=a b": expected 1-64 of A-Z a-z 0-9 \. _ -, starting with a letter or digit in \S+nginx\.conf:\d+/



=== TEST 19: a correct configuration starts (the control case)
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents timeout=100ms;
        farm_balance hash $remote_addr consistent;
        keepalive 4;
    }
--- config
    location /a { proxy_pass http://agents; }
    location = /farm { farm_status; }
--- request
GET /farm
--- response_body_like: "balance":"hash consistent"
--- no_error_log
[emerg]



=== TEST 20: nginx's zone directive in a farm upstream is refused with a reason (it used to crash nginx -t)
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        zone agentszone 64k;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*upstream "agents" in \S+nginx\.conf:\d+ cannot have a "zone" directive: its agents live in the farm's own shared zone/



=== TEST 21: farm_health_check concurrency= out of range
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
        farm_health_check concurrency=0;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_health_check" parameter "concurrency=0": expected a number from 1 to 10000 in \S+nginx\.conf:\d+/



=== TEST 22: an agent's gateway URL is not a registry for the gateway
--- http_config
    upstream agents {
        farm_registry http://127.0.0.1:8080/farm/registry service=agents;
    }
--- config
    location /a { proxy_pass http://agents; }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_registry": an http\(s\):\/\/ URL with a path is a gateway's registry API, for farm-agent's --registry; .*"farm_registry builtin" in \S+nginx\.conf:\d+/
