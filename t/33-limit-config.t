# A wrong farm_limit, farm_key_auth or consumers file fails "nginx -t" /
# startup with the file, the line (or the place in the consumers file) and
# the reason.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a zone given two different sizes
--- config
    location /a { farm_limit zone=api:10m key=$remote_addr minute=5; empty_gif; }
    location /b { farm_limit zone=api:20m key=$remote_addr minute=5; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_limit zone "api" has size 10240k in \S+nginx\.conf:\d+ and cannot have size 20480k here in \S+nginx\.conf:\d+/



=== TEST 2: a zone used but never sized
--- config
    location /a { farm_limit zone=nosize key=$remote_addr minute=5; empty_gif; }
    location /b { farm_limit zone=nosize key=$remote_addr hour=50; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_limit zone "nosize" is used in \S+nginx\.conf:\d+ but never given a size: write "zone=nosize:10m" \(or another size\) where it is first used/



=== TEST 3: no window
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive needs at least one window: second=, minute=, hour=, day=, month= or year= in \S+nginx\.conf:\d+/



=== TEST 4: no key, no zone
--- config
    location /a { farm_limit zone=api:1m minute=5; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive needs "key=\.\.\.", as in "key=\$remote_addr" in \S+nginx\.conf:\d+/



=== TEST 5: a window that is not a positive number
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=0; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "minute=0": expected a number from 1 to 4294967295 in \S+nginx\.conf:\d+/



=== TEST 6: a window given twice
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5 minute=6; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" parameter "minute=" is given twice in \S+nginx\.conf:\d+/



=== TEST 7: an unknown parameter
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5 week=100; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "farm_limit" parameter "week=100" in \S+nginx\.conf:\d+/



=== TEST 8: a zone too small
--- config
    location /a { farm_limit zone=api:4k key=$remote_addr minute=5; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "zone=api:4k": expected a size of at least 8 memory pages \(32k\) in \S+nginx\.conf:\d+/



=== TEST 9: a zone name with a colon in it
--- config
    location /a { farm_limit zone=a:b:1m key=$remote_addr minute=5; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "zone=a:b:1m"/



=== TEST 10: policy=redis without redis=
--- config
    location /a { farm_limit zone=api key=$remote_addr minute=5 policy=redis; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive with policy=redis needs "redis=redis:\/\/host\[:port\]\[\/db\]" in \S+nginx\.conf:\d+/



=== TEST 11: redis= without policy=redis
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5 redis=redis://127.0.0.1:6379; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive has "redis=" but not "policy=redis" in \S+nginx\.conf:\d+/



=== TEST 12: an unknown policy
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5 policy=cluster; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "policy=cluster": use local or redis in \S+nginx\.conf:\d+/



=== TEST 13: one zone with two policies
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5; empty_gif; }
    location /b { farm_limit zone=api key=$remote_addr minute=5 policy=redis redis=redis://127.0.0.1:6379; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_limit zone "api" has policy=local in \S+nginx\.conf:\d+ and cannot have policy=redis here in \S+nginx\.conf:\d+/



=== TEST 14: one zone on two Redis servers
--- config
    location /a { farm_limit zone=api key=$remote_addr minute=5 policy=redis redis=redis://127.0.0.1:6379; empty_gif; }
    location /b { farm_limit zone=api key=$remote_addr minute=5 policy=redis redis=redis://127.0.0.1:6380; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_limit zone "api" uses redis=redis:\/\/127\.0\.0\.1:6379\/0 in \S+nginx\.conf:\d+ and cannot use redis=redis:\/\/127\.0\.0\.1:6380\/0 here/



=== TEST 15: a bad Redis URL
--- config
    location /a { farm_limit zone=api key=$remote_addr minute=5 policy=redis redis=redis://127.0.0.1:99999; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "redis=": registry URL: port must be a number from 1 to 65535 in \S+nginx\.conf:\d+/



=== TEST 16: the same zone twice in one block
--- config
    location /a {
        farm_limit zone=api:1m key=$remote_addr minute=5;
        farm_limit zone=api key=$http_x_user hour=50;
        empty_gif;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_limit zone "api" is used twice in this block in \S+nginx\.conf:\d+/



=== TEST 17: two Redis limits in one block
--- config
    location /a {
        farm_limit zone=r1 key=$remote_addr minute=5 policy=redis redis=redis://127.0.0.1:6379;
        farm_limit zone=r2 key=$http_x_user hour=50 policy=redis redis=redis://127.0.0.1:6379;
        empty_gif;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive with policy=redis can be used once per block in \S+nginx\.conf:\d+/



=== TEST 18: "farm_limit off" next to a limit
--- config
    location /a {
        farm_limit zone=api:1m key=$remote_addr minute=5;
        farm_limit off;
        empty_gif;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive off cannot be combined with other "farm_limit" lines in one block in \S+nginx\.conf:\d+/



=== TEST 19: a status outside 400-599
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5 status=200; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "status=200": expected an HTTP status from 400 to 599 in \S+nginx\.conf:\d+/



=== TEST 20: timeout= only applies to policy=redis
--- config
    location /a { farm_limit zone=api:1m key=$remote_addr minute=5 timeout=1s; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_limit" directive has "timeout=" or "fault_tolerant=", which only apply to policy=redis in \S+nginx\.conf:\d+/



=== TEST 21: farm_key_auth without farm_consumers
--- config
    location /a { farm_key_auth; empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_key_auth" in \S+nginx\.conf:\d+ needs consumers: add "farm_consumers \/path\/to\/consumers\.json;" to the http block/



=== TEST 22: an unknown farm_key_auth parameter
--- http_config
    farm_consumers ../html/consumers.json;
--- config
    location /a { farm_key_auth header=apikey cookie=apikey; empty_gif; }
--- user_files
>>> consumers.json
{"consumers": []}
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "farm_key_auth" parameter "cookie=apikey": use header=NAME, query=NAME, hide=on\|off, or "off" alone in \S+nginx\.conf:\d+/



=== TEST 23: a consumers file that is not JSON names the line and column
--- http_config
    farm_consumers ../html/consumers.json;
--- config
    location /a { farm_key_auth; empty_gif; }
--- user_files
>>> consumers.json
{"consumers": [
    {"name": "alice", "keys": ["a-1"]},
    {"name": "bob" "keys": ["b-1"]}
]}
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_consumers "\S+consumers\.json": line 3, column \d+: .* in \S+nginx\.conf:\d+/



=== TEST 24: a consumers file with a wrong field names the place in the file
--- http_config
    farm_consumers ../html/consumers.json;
--- config
    location /a { farm_key_auth; empty_gif; }
--- user_files
>>> consumers.json
{"consumers": [
    {"name": "alice", "keys": ["a-1"]},
    {"name": "bob", "keys": "b-1"}
]}
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_consumers "\S+consumers\.json": consumers\[1\]\.keys: must be an array of strings in \S+nginx\.conf:\d+/



=== TEST 25: two consumers with the same key: named, the key is not shown
--- http_config
    farm_consumers ../html/consumers.json;
--- config
    location /a { farm_key_auth; empty_gif; }
--- user_files
>>> consumers.json
{"consumers": [
    {"name": "alice", "keys": ["top-secret-1"]},
    {"name": "bob", "keys": ["top-secret-1"]}
]}
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_consumers "\S+consumers\.json": the consumers "(alice|bob)" and "(alice|bob)" have the same key in \S+nginx\.conf:\d+/
--- no_error_log
top-secret-1



=== TEST 26: a missing consumers file
--- http_config
    farm_consumers ../html/no-such-consumers.json;
--- config
    location /a { empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_consumers "\S+no-such-consumers\.json": cannot open \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 27: consumers in Redis: a bad URL
--- http_config
    farm_consumers redis://127.0.0.1:99999;
--- config
    location /a { empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_consumers" URL: registry URL: port must be a number from 1 to 65535 in \S+nginx\.conf:\d+/



=== TEST 28: consumers in Redis: an unknown parameter, a refresh too short
--- http_config
    farm_consumers redis://127.0.0.1:6379 refresh=10ms;
--- config
    location /a { empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_consumers" parameter "refresh=10ms": expected a time of at least 100ms in \S+nginx\.conf:\d+/



=== TEST 29: consumers in Redis: a typo
--- http_config
    farm_consumers redis://127.0.0.1:6379 refrsh=1s;
--- config
    location /a { empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "farm_consumers" parameter "refrsh=1s": use prefix=, refresh=, timeout= or size= in \S+nginx\.conf:\d+/



=== TEST 29b: consumers in Redis: a zone too small
--- http_config
    farm_consumers redis://127.0.0.1:6379 size=4k;
--- config
    location /a { empty_gif; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_consumers" parameter "size=4k": expected a size of at least 64k in \S+nginx\.conf:\d+/



=== TEST 30: a consumers file takes no parameters; two files are one too many
--- http_config
    farm_consumers ../html/consumers.json refresh=1s;
--- config
    location /a { empty_gif; }
--- user_files
>>> consumers.json
{"consumers": []}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_consumers" parameter "refresh=1s": a file takes no parameters in \S+nginx\.conf:\d+/



=== TEST 31: two consumers files
--- http_config
    farm_consumers ../html/consumers.json;
    farm_consumers ../html/consumers.json;
--- config
    location /a { empty_gif; }
--- user_files
>>> consumers.json
{"consumers": []}
--- must_die
--- error_log eval
qr/\[emerg\] .*"farm_consumers" directive is duplicate: one file at most in \S+nginx\.conf:\d+/



=== TEST 32: a valid configuration starts (the control case)
--- http_config
    farm_consumers ../html/consumers.json;
--- config
    farm_limit zone=srv:1m key=$remote_addr second=10 minute=100 hour=1000 day=10000 month=100000 year=1000000;
    location /a {
        farm_key_auth header=apikey query=apikey hide=on;
        farm_limit zone=c:64k key=$farm_consumer minute=5 status=429 headers=on;
        empty_gif;
    }
    location /b {
        farm_limit zone=c key=$farm_consumer hour=50;
        empty_gif;
    }
    location = /plain {
        farm_limit off;
        empty_gif;
    }
--- user_files
>>> consumers.json
{"consumers": [{"name": "alice", "tier": "gold", "keys": ["a-1"]}]}
--- request
GET /plain
--- error_code: 200
--- no_error_log
[error]
