#!/bin/sh
# Registry benchmark (called at the end of scripts/bench.sh, or alone):
#
#   1. churn: agents register and deregister through Redis as fast as one
#      connection takes them (scripts/churn.pl, distinct ids, 8 alive at a
#      time, records at closed ports 20000-20999) for CHURN_SECONDS, under
#      wrk load, against a gateway with 2 workers and no health checks (the
#      churned records are routable).  Reports registrations/s, requests,
#      non-2xx, and the agents the gateway still knows right after the
#      churn against what Redis holds (resync=1h: no full sync repairs a
#      ghost before it is counted).
#   2. full resync at MANY (100,000) agents: one worker, resync=1s, every
#      record unchanged; wrk -c8 for BENCH_SECONDS with and without
#      (resync=1h) full syncs running: the worst request latency (max) and
#      p99, and what the full syncs added.
#   3. the same with state= and one record changing every 200 ms, so the
#      state file of MANY agents is rewritten (at most once a second);
#      fsync() and rename() run on nginx's default thread pool (32
#      threads), then on one of "thread_pool default threads=1".
#
# Ports 18491-18494, agents 19451-19452 and Redis on 16479 only, 127.0.0.1 only:
# it never meets the main bench, the limit bench or the demo.
#
#   CHURN_SECONDS (10)  BENCH_SECONDS (10)  REGISTRY_AGENTS (100000)
#   FARM_MODULE (build/ngx_http_farm_module.so)  CHURN_ONLY (0; 1: section 1)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-registry
. "$top/scripts/common.sh"
dir=$top/.bench-registry
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=${FARM_MODULE:-$top/build/ngx_http_farm_module.so}

churn_seconds=${CHURN_SECONDS:-10}
seconds=${BENCH_SECONDS:-10}
many=${REGISTRY_AGENTS:-100000}

redis_port=16479
agent_a=19451
agent_b=19452

trap stop_all EXIT INT TERM

gateway() {      # gateway name port workers "farm_registry parameters" [main]
    mkdir -p "$dir/$1/logs" "$dir/$1/conf" "$dir/$1/tmp"
    cat > "$dir/$1/conf/nginx.conf" <<EOF
load_module $module;
${5:-}
worker_processes $3;
error_log logs/error.log warn;
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
    upstream backends {
        farm_registry redis://127.0.0.1:$redis_port $4;
        farm_balance least_conn;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
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

agents_known() { # agents_known port -> the gateway's agent count
    curl -s "http://127.0.0.1:$1/farm" \
        | grep -o '"totals":{"agents":[0-9]*' | grep -o '[0-9]*$'
}

# wrk_latency port seconds -> "requests non2xx p99 max" (latencies in ms)
wrk_latency() {
    wrk -t1 -c8 -d"$2s" --latency "http://127.0.0.1:$1/work?ms=0" \
        > "$dir/wrk.out" 2>&1
    wrk_summary "$dir/wrk.out"
}

# --- set up -----------------------------------------------------------------

for f in "$nginx" "$agent" "$module"; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done

for p in $redis_port 18491 18492 18493 18494 $agent_a $agent_b; do
    if ss -Htln "sport = :$p" | grep -q .; then
        say "$me: 127.0.0.1:$p is in use (a bench or demo still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/run"

spawn redis redis-server --bind 127.0.0.1 --port $redis_port --save '' \
    --appendonly no
wait_for redis redis-cli -p $redis_port PING

for p in $agent_a $agent_b; do
    spawn "agent-$p" "$agent" --listen "127.0.0.1:$p" --id "real-$p" \
        --service churn --registry "redis://127.0.0.1:$redis_port" --ttl 60s
    wait_for "agent $p" curl -sf -o /dev/null "http://127.0.0.1:$p/health"
done

# --- 1. churn -----------------------------------------------------------------

agents_are() {   # agents_are port n: the gateway knows n agents
    [ "$(agents_known "$1")" = "$2" ]
}

gateway churn 18491 2 "service=churn resync=1h max_agents=4096"
wait_for "2 agents" agents_are 18491 2

say "bench: registry churn, ${churn_seconds}s at full speed, wrk -t1 -c32 GET /work?ms=1, 2 workers"
wrk -t1 -c32 -d"$((churn_seconds + 1))s" "http://127.0.0.1:18491/work?ms=1" \
    > "$dir/churn-wrk.out" 2>&1 &
wrk_pid=$!
churned=$("$top/scripts/churn.pl" $redis_port churn "$churn_seconds" 0 8)
wait $wrk_pid || true
sleep 1        # the last messages of the churn
left=$(agents_known 18491)
in_redis=$(redis-cli -p $redis_port SCARD farm:churn:agents)
churn_req=$(awk '/requests in/ { print $1 }' "$dir/churn-wrk.out")
churn_bad=$(awk '/Non-2xx/ { print $NF }' "$dir/churn-wrk.out")
say "  $churned"
say "  requests $churn_req, non-2xx ${churn_bad:-0}; agents known afterwards $left, in Redis $in_redis"
stop_nginx churn

if [ "${CHURN_ONLY:-0}" = 1 ]; then
    exit 0
fi

# --- 2. full resyncs at $many agents --------------------------------------------

awk -v n="$many" -v a=$agent_a -v b=$agent_b 'BEGIN {
    for (i = 0; i < n; i++) {
        id = sprintf("m-%06d", i)
        rec = sprintf("{\"id\":\"%s\",\"service\":\"many\",\"address\":\"127.0.0.1\",\"port\":%d,\"region\":\"r%d\",\"caps\":[\"c%d\"]}", id, i % 2 ? a : b, i % 10, i % 20)
        key = "farm:many:agent:" id
        printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nPX\r\n$7\r\n7200000\r\n", length(key), key, length(rec), rec
        printf "*3\r\n$4\r\nSADD\r\n$16\r\nfarm:many:agents\r\n$%d\r\n%s\r\n", length(id), id
    }
}' | redis-cli -p $redis_port --pipe > "$dir/logs/pipe.log"

all_known() { agents_are "$1" "$many"; }

gateway quiet 18492 1 "service=many resync=1h timeout=10s max_agents=$many"
wait_for "$many agents (quiet)" all_known 18492
gateway resync 18493 1 "service=many resync=1s timeout=10s max_agents=$many"
wait_for "$many agents (resync)" all_known 18493

say ""
say "bench: full resyncs at $many agents, one worker, wrk -t1 -c8 ${seconds}s"
set -- $(wrk_latency 18492 "$seconds")
q_req=$1 q_bad=$2 q_p99=$3 q_max=$4
say "  no full sync during the run:   $q_req requests, non-2xx $q_bad, p99 $q_p99 ms, max $q_max ms"
syncs0=$(curl -s http://127.0.0.1:18493/farm | grep -o '"full_syncs":[0-9]*' | grep -o '[0-9]*$')
set -- $(wrk_latency 18493 "$seconds")
r_req=$1 r_bad=$2 r_p99=$3 r_max=$4
syncs1=$(curl -s http://127.0.0.1:18493/farm | grep -o '"full_syncs":[0-9]*' | grep -o '[0-9]*$')
say "  a full sync every second:      $r_req requests, non-2xx $r_bad, p99 $r_p99 ms, max $r_max ms ($((syncs1 - syncs0)) full syncs)"
stop_nginx quiet

# --- 3. the same, with state= and a record changing every 200 ms -------------------

stop_nginx resync
mkdir -p "$dir/state"
chmod 1777 "$dir/state"         # the workers' user writes it

# state_run name port [main]: the wrk figures while a record changes
state_run() {
    gateway "$1" "$2" 1 "service=many resync=1s timeout=10s max_agents=$many state=$dir/state/$1.json" "${3:-}"
    wait_for "$many agents ($1)" all_known "$2"
    (
        i=0
        while [ $i -lt $((seconds * 5 + 5)) ]; do
            redis-cli -p $redis_port SET farm:many:agent:m-000000 \
                "{\"id\":\"m-000000\",\"service\":\"many\",\"address\":\"127.0.0.1\",\"port\":$agent_b,\"weight\":$((i % 9 + 1))}" \
                PX 7200000 > /dev/null
            redis-cli -p $redis_port PUBLISH farm:many:events \
                "register m-000000" > /dev/null
            sleep 0.2
            i=$((i + 1))
        done
    ) &
    changer=$!
    wrk_latency "$2" "$seconds"
    kill $changer 2>/dev/null || true
    wait $changer 2>/dev/null || true
    stop_nginx "$1"
}

set -- $(state_run state 18494)
s_req=$1 s_bad=$2 s_p99=$3 s_max=$4
state_size=$(wc -c < "$dir/state/state.json")
say "  with state= and a change every 200 ms: $s_req requests, non-2xx $s_bad, p99 $s_p99 ms, max $s_max ms (state file $state_size bytes)"

set -- $(state_run statet 18494 "thread_pool default threads=1;")
t_req=$1 t_bad=$2 t_p99=$3 t_max=$4
say "  the same, thread_pool default threads=1: $t_req requests, non-2xx $t_bad, p99 $t_p99 ms, max $t_max ms"

{
    say ""
    say "| registry | requests | non-2xx | p99 ms | max ms |"
    say "|---|---|---|---|---|"
    say "| churn: $churned | $churn_req | ${churn_bad:-0} | | |"
    say "| $many agents, no full sync | $q_req | $q_bad | $q_p99 | $q_max |"
    say "| $many agents, a full sync every second | $r_req | $r_bad | $r_p99 | $r_max |"
    say "| $many agents, full syncs + state= rewritten | $s_req | $s_bad | $s_p99 | $s_max |"
    say "| the same, thread_pool default threads=1 | $t_req | $t_bad | $t_p99 | $t_max |"
    say ""
    say "agents known after the churn: $left, in Redis: $in_redis (target: equal)"
    say "worst latency added by full syncs at $many agents: $(awk -v a="$r_max" -v b="$q_max" 'BEGIN { printf "%.1f", a - b }') ms (target <= 20 ms)"
    say "worst latency added by full syncs + state file: $(awk -v a="$s_max" -v b="$q_max" 'BEGIN { printf "%.1f", a - b }') ms"
    say "the same, one thread: $(awk -v a="$t_max" -v b="$q_max" 'BEGIN { printf "%.1f", a - b }') ms"
} | tee "$dir/results.md"
