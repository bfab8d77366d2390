#!/bin/sh
# Health checks at scale (called at the end of scripts/bench.sh, or alone):
# agents whose /health never answers, registered while a gateway runs, and
# two good agents that serve the clients.  One gateway: 2 workers,
# worker_connections 1024, farm_health_check with its defaults
# (interval=1s timeout=500ms concurrency=64).
#
#   1. wrk against the gateway with only the 2 good agents: req/s, non-2xx
#      and socket errors.
#   2. 10,000 hung agents registered (SET, SADD, PUBLISH, pipelined); once
#      the gateway knows them all, the same wrk while their first checks
#      run (they take about agents / (2 x concurrency) x timeout =
#      40 s); then the time from their registration until every
#      hung agent failed its first check (all "down"), the most check
#      connections open at once (counted by the listener), the [alert]
#      lines of the error log, and the workers' private memory.
#   3. the same wrk once every hung agent is down (their checks go on).
#   4. five reloads, one a second, with checks in flight: [alert] lines, and
#      the checks done in the 3 s after them (they must go on).
#
# The hung agents' records point at one listener (t/lib/slow_listener.pl)
# that accepts every connection and never answers.
#
# Port 8481, agents 9451-9452, listener 9460 and Redis on 6396, 127.0.0.1
# only: it never meets the main bench, the rate-limit bench or the demo.
#
#   BENCH_SLOW_AGENTS (10000)  BENCH_SECONDS (5)  BENCH_CONNS (32)
#   BENCH_HEALTH_CHECK ("farm_health_check;"; a control run:
#   "farm_health_check interval=1h;" checks each agent once)
#   FARM_MODULE (build/ngx_http_farm_module.so)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-health
. "$top/scripts/common.sh"
dir=$top/.bench-health
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=${FARM_MODULE:-$top/build/ngx_http_farm_module.so}

slow=${BENCH_SLOW_AGENTS:-10000}
check=${BENCH_HEALTH_CHECK:-farm_health_check;}
seconds=${BENCH_SECONDS:-5}
conns=${BENCH_CONNS:-32}

redis_port=6396
port_hc=8481
listener_port=9460


cleanup() {
    for f in "$dir"/*/logs/nginx.pid "$dir"/run/*.pid; do
        [ -e "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.3
    for f in "$dir"/*/logs/nginx.pid "$dir"/run/*.pid; do
        [ -e "$f" ] || continue
        kill -KILL "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT INT TERM


# gateway name port "health check line"
gateway() {
    mkdir -p "$dir/$1/logs" "$dir/$1/conf" "$dir/$1/tmp"
    cat > "$dir/$1/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 2;
error_log logs/error.log notice;
pid logs/nginx.pid;
worker_rlimit_nofile 8192;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    upstream backends {
        farm_registry redis://127.0.0.1:$redis_port service=bench-hc
                      max_agents=16384;
        farm_balance least_conn;
        $3
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /farm {
            farm_status;
        }
    }
}
EOF
    "$nginx" -p "$dir/$1" -c conf/nginx.conf
    wait_for "nginx $1" curl -sf -o /dev/null "http://127.0.0.1:$2/farm"
}

# wrk on a port -> "req/s non2xx socket_errors"
load() {
    wrk -t1 -c"$conns" -d"${seconds}s" "http://127.0.0.1:$1/work?ms=0" \
        > "$dir/wrk-$1.out" 2>&1
    awk '
        /^Requests\/sec/             { rps = int($2) }
        /Non-2xx/                    { bad = $NF }
        /Socket errors/              { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
        END { printf "%d %d %d\n", rps, bad, err }' "$dir/wrk-$1.out"
}

# something accepts connections on port $1 (curl: 7 is "refused")
accepting() {
    rc=0
    curl -s -o /dev/null -m 0.3 "http://127.0.0.1:$1/" || rc=$?
    [ $rc -ne 7 ]
}

good_up() {
    [ "$(curl -s "http://127.0.0.1:$port_hc/farm" \
         | grep -o '"state":"up"' | wc -l)" = 2 ]
}

known_all() {
    [ "$(curl -s "http://127.0.0.1:$port_hc/farm" \
         | grep -o '"totals":{"agents":[0-9]*' | grep -o '[0-9]*$')" \
      = $((slow + 2)) ]
}

# checks done so far, all agents of the gateway
checks_total() {
    curl -s "http://127.0.0.1:$port_hc/farm" | grep -o '"checks":[0-9]*' \
        | awk -F: '{ s += $2 } END { print s + 0 }'
}

# slow agents in state "down" in gateway $1
downs() {
    curl -s "http://127.0.0.1:$1/farm" | grep -o '"state":"down"' | wc -l
}

# private memory of the gateway's workers, kB, "a+b"
private_kb() {
    master=$(cat "$dir/$1/logs/nginx.pid")
    out=
    for p in $(pgrep -P "$master"); do
        kb=$(awk '/^Private_(Clean|Dirty)/ { s += $2 } END { print s }' \
             "/proc/$p/smaps_rollup")
        out="${out:+$out+}$kb"
    done
    echo "$out"
}


for f in "$nginx" "$agent" "$module"; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done

for p in $redis_port $port_hc 9451 9452 $listener_port; do
    if accepting "$p"; then
        say "$me: 127.0.0.1:$p is in use (a bench or demo still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/run"

spawn redis redis-server --bind 127.0.0.1 --port $redis_port --save '' \
    --appendonly no
wait_for redis redis-cli -p $redis_port PING

for n in 1 2; do
    spawn "good-$n" "$agent" --listen "127.0.0.1:945$n" --id "good-$n" \
        --service bench-hc --registry "redis://127.0.0.1:$redis_port" --ttl 60s
    wait_for "agent good-$n" curl -sf -o /dev/null "http://127.0.0.1:945$n/health"
done

spawn listener perl "$top/t/lib/slow_listener.pl" $listener_port never \
    "$dir/listener.peak"
wait_for listener accepting $listener_port

say "$me: $slow agents that never answer their checks + 2 good agents," \
    "2 workers, worker_connections 1024, wrk -t1 -c$conns ${seconds}s"

gateway hc $port_hc "$check"
wait_for "the good agents" good_up

# --- 1. the good agents alone ---------------------------------------------------

set -- $(load $port_hc)
base_rps=$1 base_bad=$2 base_err=$3
say "  2 good agents alone: $base_rps req/s, $base_bad non-2xx," \
    "$base_err socket errors"

# --- 2. and the hung ones, registered while nginx runs -------------------------

start=$(date +%s)
awk -v n="$slow" -v port=$listener_port 'BEGIN {
    set = "farm:bench-hc:agents"
    events = "farm:bench-hc:events"
    for (i = 0; i < n; i++) {
        id = sprintf("slow-%05d", i)
        rec = sprintf("{\"id\":\"%s\",\"service\":\"bench-hc\",\"address\":\"127.0.0.1\",\"port\":%d}", id, port)
        key = "farm:bench-hc:agent:" id
        msg = "register " id
        printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nPX\r\n$7\r\n3600000\r\n", length(key), key, length(rec), rec
        printf "*3\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(set), set, length(id), id
        printf "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(events), events, length(msg), msg
    }
}' | redis-cli -p $redis_port --pipe > "$dir/logs/pipe.log"
wait_for "the gateway to know every agent" known_all

set -- $(load $port_hc)
hc_rps=$1 hc_bad=$2 hc_err=$3
say "  with $slow hung agents being checked: $hc_rps req/s," \
    "$hc_bad non-2xx, $hc_err socket errors"

while [ "$(downs $port_hc)" -lt "$slow" ]; do
    if [ $(($(date +%s) - start)) -gt 600 ]; then
        say "$me: the hung agents were not all checked in 600 s" >&2
        exit 1
    fi
    sleep 1
done
first=$(($(date +%s) - start))
peak=$(cat "$dir/listener.peak" 2>/dev/null || echo 0)
alerts=$(grep -c '\[alert\]' "$dir/hc/logs/error.log" || true)
mem=$(private_kb hc)
say "  every hung agent failed its first check after ${first} s;" \
    "at most $peak checks open at once; $alerts [alert] lines;" \
    "workers' private memory $mem kB"

# --- 3. steady state: every hung agent down, still checked every round ---------

set -- $(load $port_hc)
down_rps=$1 down_bad=$2 down_err=$3
say "  with $slow hung agents down (checks go on): $down_rps req/s," \
    "$down_bad non-2xx, $down_err socket errors"

# --- 4. reloads with checks in flight --------------------------------------------

master=$(cat "$dir/hc/logs/nginx.pid")
for n in 1 2 3 4 5; do
    kill -HUP "$master"
    sleep 1
done
sleep 1
c0=$(checks_total)
sleep 3
reload_checks=$(($(checks_total) - c0))
reload_alerts=$(($(grep -c '\[alert\]' "$dir/hc/logs/error.log" || true) - alerts))
say "  5 reloads with checks in flight: $reload_alerts [alert] lines;" \
    "$reload_checks checks in the 3 s after"

# shellcheck disable=SC2154
{
    say ""
    say "| 2 workers, worker_connections 1024, wrk -c$conns ${seconds}s | 2 good agents | + $slow hung agents, first checks running | + $slow hung agents, all down |"
    say "|---|---|---|---|"
    say "| req/s | $base_rps | $hc_rps | $down_rps |"
    say "| non-2xx / socket errors | $base_bad / $base_err | $hc_bad / $hc_err | $down_bad / $down_err |"
    say "| checks open at once, at most | - | $peak | |"
    say "| every hung agent checked once after | - | ${first} s | |"
    say "| [alert] lines | - | $alerts | |"
    say "| workers' private memory (kB) | - | $mem | |"
    say "| after 5 reloads with checks in flight: [alert] lines, checks in 3 s | | | $reload_alerts, $reload_checks |"
} | tee "$dir/results.md"
