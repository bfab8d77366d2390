#!/bin/sh
# The core's resilience, measured (make bench runs it; alone:
# scripts/bench-core.sh):
#
#   1. reload soak: BENCH_RELOADS (100) "nginx -s reload", one every 0.5 s,
#      under wrk -t2 -c32 against a gateway with 2 workers, 8 agents, health
#      checks and breakers: failed requests, [alert]/[crit] lines, old workers
#      still alive after worker_shutdown_timeout, shared zone pages and the
#      master's RSS before and after.
#   2. name churn: BENCH_CHURN (1,000,000) register/deregister operations
#      through Redis, every agent with an id, a region and a capability of its
#      own, pipelined in batches of 50; then the zone's pages against their
#      level before, and whether an agent with a region and a capability
#      never seen before is accepted and routed to.
#
# Loopback only, ports 6395 (Redis), 8195 (gateway), 9251-9258 (agents).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-core
. "$top/scripts/common.sh"
dir=$top/.bench-core
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=$top/build/ngx_http_farm_module.so

reloads=${BENCH_RELOADS:-100}
churn=${BENCH_CHURN:-1000000}
redis_port=6395
port=8195

cleanup() {
    if [ -e "$dir/gw/logs/nginx.pid" ]; then
        kill -QUIT "$(cat "$dir/gw/logs/nginx.pid")" 2>/dev/null || true
    fi
    for f in "$dir"/run/*.pid; do
        [ -e "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.5
    for f in "$dir"/run/*.pid "$dir"/gw/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -KILL "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT INT TERM

rm -rf "$dir"
mkdir -p "$dir/run" "$dir/logs" "$dir/gw/logs" "$dir/gw/conf" "$dir/gw/tmp"

status() {       # a number from farm_status: status KEY
    curl -s "http://127.0.0.1:$port/farm" \
        | grep -oE "\"$1\":[0-9]+" | head -1 | cut -d: -f2
}

rss() {          # rss PID -> kB
    awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

workers() {      # the master's worker processes, shutting down or not
    master=$(cat "$dir/gw/logs/nginx.pid")
    for p in $(pgrep -P "$master"); do
        if grep -q 'worker process' "/proc/$p/cmdline" 2>/dev/null; then
            echo "$p"
        fi
    done
}

redis-server --bind 127.0.0.1 --port $redis_port --save '' --appendonly no \
    > "$dir/logs/redis.log" 2>&1 &
echo $! > "$dir/run/redis.pid"
wait_for redis redis-cli -p $redis_port ping

for n in 1 2 3 4 5 6 7 8; do
    spawn "a$n" "$agent" --listen "127.0.0.1:$((9250 + n))" --id "a$n" \
        --service core --registry "redis://127.0.0.1:$redis_port" --ttl 60s
done

cat > "$dir/gw/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 2;
worker_shutdown_timeout 10s;
error_log logs/error.log notice;
pid logs/nginx.pid;
worker_rlimit_nofile 16384;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    upstream agents {
        farm_registry redis://127.0.0.1:$redis_port service=core
                      max_agents=4096;
        farm_balance least_conn;
        farm_health_check uri=/health interval=1s rise=2 fall=3;
        farm_breaker failures=5 cooldown=10s;
        farm_region \$http_x_region;
        farm_require \$http_x_cap;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://agents;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
        }
        location = /farm {
            farm_status;
            allow 127.0.0.1;
            deny all;
        }
    }
}
EOF

"$nginx" -p "$dir/gw" -c conf/nginx.conf
wait_for "8 agents up" sh -c \
    "[ \"\$(curl -s http://127.0.0.1:$port/farm | grep -o '\"state\":\"up\"' | wc -l)\" = 8 ]"

# --- 1. reload soak ------------------------------------------------------------

say "bench-core: reload soak ($reloads reloads, one every 0.5 s, under wrk -t2 -c32, 2 workers)"

master=$(cat "$dir/gw/logs/nginx.pid")
rss0=$(rss "$master")
free0=$(status free_pages)
alerts0=$(grep -cE '\[(alert|crit|emerg)\]' "$dir/gw/logs/error.log" || true)

secs=$((reloads / 2 + 10))
wrk -t2 -c32 -d"${secs}s" --timeout 10s "http://127.0.0.1:$port/work?ms=1" \
    > "$dir/wrk-reload.out" 2>&1 &
wrk_pid=$!
sleep 3

i=0
while [ $i -lt "$reloads" ]; do
    "$nginx" -p "$dir/gw" -c conf/nginx.conf -s reload 2>/dev/null
    sleep 0.5
    i=$((i + 1))
done

wait $wrk_pid
sleep 12          # worker_shutdown_timeout, and a margin

requests=$(awk '/requests in/ { print $1 }' "$dir/wrk-reload.out")
non2xx=$(awk '/Non-2xx/ { print $5 }' "$dir/wrk-reload.out")
sockerr=$(grep 'Socket errors' "$dir/wrk-reload.out" || echo "Socket errors: none")
alerts=$(($(grep -cE '\[(alert|crit|emerg)\]' "$dir/gw/logs/error.log" || true) - alerts0))
nworkers=$(workers | wc -l)
rss1=$(rss "$master")
free1=$(status free_pages)

say "  requests:                    ${requests:-0}"
say "  non-2xx responses:           ${non2xx:-0}"
say "  wrk ${sockerr# }"
say "  [alert]/[crit]/[emerg] lines: $alerts"
say "  worker processes afterwards: $nworkers (2 expected: no old worker alive)"
say "  zone free pages:             $free0 before, $free1 after"
say "  master RSS:                  $rss0 kB before, $rss1 kB after"
if [ "$alerts" -gt 0 ]; then
    grep -E '\[(alert|crit|emerg)\]' "$dir/gw/logs/error.log" | tail -5 | sed 's/^/    /'
fi

# --- 2. name churn ---------------------------------------------------------------

say ""
say "bench-core: name churn ($churn register/deregister operations, distinct ids, regions and capabilities)"

free0=$(status free_pages)
batch=50
pairs=$((churn / 2))
nbatches=$((pairs / batch))

# RESP for one batch: register 50 agents, each with a region and a
# capability of its own, then deregister them; pipelined through redis-cli.
start=$(date +%s.%N)
perl -e '
    my ($nb, $b) = @ARGV;
    sub cmd { my $s = "*" . scalar(@_) . "\r\n";
              $s .= "\$" . length($_) . "\r\n$_\r\n" for @_; $s }
    for my $k (0 .. $nb - 1) {
        my $out = "";
        for my $i (0 .. $b - 1) {
            my $id = "c$k-$i";
            my $rec = qq({"id":"$id","service":"core","address":"127.0.0.1",)
                    . qq("port":9251,"region":"reg-$k-$i","caps":["cap-$k-$i"]});
            $out .= cmd("SET", "farm:core:agent:$id", $rec, "PX", "60000")
                  . cmd("SADD", "farm:core:agents", $id)
                  . cmd("PUBLISH", "farm:core:events", "register $id");
        }
        for my $i (0 .. $b - 1) {
            my $id = "c$k-$i";
            $out .= cmd("DEL", "farm:core:agent:$id")
                  . cmd("SREM", "farm:core:agents", $id)
                  . cmd("PUBLISH", "farm:core:events", "deregister $id");
        }
        print $out;
    }
' "$nbatches" "$batch" | redis-cli -p $redis_port --pipe > "$dir/churn.out" 2>&1
end=$(date +%s.%N)

wait_for "the churned agents to leave" sh -c \
    "[ \"\$(curl -s http://127.0.0.1:$port/farm | grep -oE '\"agents\":[0-9]+' | tail -1 | cut -d: -f2)\" = 8 ]"
sleep 6           # one full resync (5 s), which removes what an event missed

free1=$(status free_pages)
refused=$(grep -cE 'already use [0-9]+ distinct' "$dir/gw/logs/error.log" || true)

redis-cli -p $redis_port SET farm:core:agent:fresh \
    '{"id":"fresh","service":"core","address":"127.0.0.1","port":9251,"region":"never-seen","caps":["never-seen-cap"]}' \
    PX 60000 > /dev/null
redis-cli -p $redis_port SADD farm:core:agents fresh > /dev/null
redis-cli -p $redis_port PUBLISH farm:core:events "register fresh" > /dev/null
fresh=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Region: never-seen' \
        -H 'X-Cap: never-seen-cap' "http://127.0.0.1:$port/work?ms=0")
tries=0
while [ "$fresh" != 200 ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
    fresh=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Region: never-seen' \
            -H 'X-Cap: never-seen-cap' "http://127.0.0.1:$port/work?ms=0")
done

say "  operations:                  $((nbatches * batch * 2)) in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
say "  names refused (limit hit):   $refused"
say "  zone free pages:             $free0 before, $free1 after"
say "  a new region and capability: HTTP $fresh"
