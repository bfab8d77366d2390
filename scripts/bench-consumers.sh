#!/bin/sh
# Consumers refreshes at scale (called by scripts/bench.sh, or alone): the
# request latency on the consumers' sync owner while it re-reads MANY
# (100,000) consumers from Redis every second (farm_consumers redis://...
# refresh=1s).
#
# A private redis-server (127.0.0.1, no persistence) holds MANY keys of
# MANY consumers, each with a tier.  One gateway with ONE worker (the sync
# owner serves the requests too, the worst case) proxies to a farm-agent,
# every request checked by farm_key_auth against the consumers read from
# Redis; wrk -t1 -c8 --latency for BENCH_SECONDS in each of:
#   quiet:     Redis refuses the gateway (a password is set: every refresh
#              ends at once, NOAUTH), the last table stays in use;
#   unchanged: every refresh reads the MANY consumers, finds what it read
#              the same as the table in use (its digest), builds nothing;
#   changing:  one consumer's tier flips every second, so every refresh
#              reads, validates, digests, builds and switches a new table.
# With the module under test (FARM_MODULE, build/...) and, when
# FARM_MODULE_BEFORE names another build, with that one.
#
# Ports 18497 (Redis), 18498 (gateway), agent 19455; 127.0.0.1 only.
#
#   BENCH_SECONDS (10)  CONSUMERS (100000)
#   FARM_MODULE (build/ngx_http_farm_module.so)  FARM_MODULE_BEFORE (none)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-consumers
. "$top/scripts/common.sh"
dir=$top/.bench-consumers
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=${FARM_MODULE:-$top/build/ngx_http_farm_module.so}
before=${FARM_MODULE_BEFORE:-}

seconds=${BENCH_SECONDS:-10}
many=${CONSUMERS:-100000}

redis_port=18497
gw_port=18498
agent_port=19455
pass=bench-quiet

trap stop_all EXIT INT TERM

rcli() {
    redis-cli -h 127.0.0.1 -p $redis_port "$@"
}

gateway() {      # gateway name module
    mkdir -p "$dir/$1/logs" "$dir/$1/conf" "$dir/$1/tmp"
    cat > "$dir/$1/conf/nginx.conf" <<EOF
load_module $2;
worker_processes 1;
error_log logs/error.log notice;
pid logs/nginx.pid;
worker_rlimit_nofile 65536;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    farm_consumers redis://127.0.0.1:$redis_port refresh=1s timeout=10s
                   size=128m;
    upstream backend {
        server 127.0.0.1:$agent_port;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$gw_port backlog=4096;
        location / {
            farm_key_auth;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    "$nginx" -p "$dir/$1" -c conf/nginx.conf
    wait_for "nginx $1" curl -sf -o /dev/null \
        "http://127.0.0.1:$gw_port/work?ms=0&apikey=bench-key"
}

# wrk_latency seconds -> "requests non2xx p99 max" (latencies in ms)
wrk_latency() {
    wrk -t1 -c8 -d"$1s" --timeout 60s --latency \
        "http://127.0.0.1:$gw_port/work?ms=0&apikey=bench-key" \
        > "$dir/wrk.out" 2>&1
    wrk_summary "$dir/wrk.out"
}

# one consumer's tier flipped every second: every refresh builds a table
flipper() {
    t=0
    while :; do
        t=$((1 - t))
        rcli HSET farm:consumer-tiers c-000001 "tier-$t" > /dev/null
        sleep 1
    done
}

# run name module: "quiet(req bad p99 max) unchanged(...) changing(...) n"
run() {
    gateway "$1" "$2"

    rcli CONFIG SET requirepass "$pass" > /dev/null
    sleep 2
    set -- "$1" $(wrk_latency "$seconds")
    q="$2 $3 $4 $5"

    rcli -a "$pass" --no-auth-warning CONFIG SET requirepass "" > /dev/null
    sleep 2
    set -- "$1" $(wrk_latency "$seconds")
    u="$2 $3 $4 $5"

    flipper > /dev/null 2>&1 &
    echo $! > "$dir/run/flipper.pid"
    sleep 2
    set -- "$1" $(wrk_latency "$seconds")
    c="$2 $3 $4 $5"
    kill -TERM "$(cat "$dir/run/flipper.pid")" 2>/dev/null || true
    rm -f "$dir/run/flipper.pid"

    echo "$q $u $c"
    stop_nginx "$1"
}

# --- set up -----------------------------------------------------------------

for f in "$nginx" "$agent" "$module" $before; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done

for p in $redis_port $gw_port $agent_port; do
    if ss -Htln "sport = :$p" | grep -q .; then
        say "$me: 127.0.0.1:$p is in use (a bench or demo still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/run" "$dir/redis"

spawn redis redis-server --bind 127.0.0.1 --port $redis_port --save "" \
    --appendonly no --dir "$dir/redis"
wait_for redis rcli PING

spawn agent "$agent" --listen "127.0.0.1:$agent_port" --id bench
wait_for agent curl -sf -o /dev/null "http://127.0.0.1:$agent_port/health"

# MANY consumers c-NNNNNN, one key each (a made-up digest: Redis holds
# digests only), tiers cycling through 5; plus bench-key's real digest
awk -v n="$many" '
function bulk(s) { return sprintf("$%d\r\n%s\r\n", length(s), s) }
function hset(h, f, v) {
    printf "*4\r\n%s%s%s%s", bulk("HSET"), bulk(h), bulk(f), bulk(v)
}
BEGIN {
    z = "00000000000000000000000000000000000000000000000000000000"
    for (i = 0; i < n; i++) {
        name = sprintf("c-%06d", i)
        hset("farm:consumer-keys", z sprintf("%08x", i), name)
        hset("farm:consumer-tiers", name, "tier-" (i % 5))
    }
}' | rcli --pipe > "$dir/logs/load.log"
rcli HSET farm:consumer-keys \
    "$(printf bench-key | sha256sum | cut -d' ' -f1)" bench > /dev/null

say "bench: consumers refreshes of $many consumers from Redis every second, one worker, wrk -t1 -c8 ${seconds}s a phase"

set -- $(run after "$module")
say "  $module: quiet: $1 $2 $3 $4; unchanged: $5 $6 $7 $8; changing: $9 ${10} ${11} ${12}"
a="$*"

b=
if [ -n "$before" ]; then
    set -- $(run before "$before")
    say "  $before: quiet: $1 $2 $3 $4; unchanged: $5 $6 $7 $8; changing: $9 ${10} ${11} ${12}"
    b="$*"
fi

row() {          # row label quiet(req bad p99 max) unchanged(...) changing(...)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
        "$2" "$4" "$5" "$6" "$8" "$9" "${10}" "${12}" "${13}" \
        "$(awk -v a="${13}" -v b="$5" 'BEGIN { printf "%.1f", a - b }')"
}

{
    say ""
    say "| module | quiet: requests | p99 ms | max ms | unchanged: requests | p99 ms | max ms | changing: requests | p99 ms | max ms | max added ms |"
    say "|---|---|---|---|---|---|---|---|---|---|---|"
    row "after" $a
    if [ -n "$b" ]; then
        row "before" $b
    fi
} | tee "$dir/results.md"
