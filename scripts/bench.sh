#!/bin/sh
# make bench: throughput of the gateway against stock nginx (and HAProxy when
# installed), in the same run, on the same machine, to the same agents.
#
#   1. 8 agents:      stock nginx least_conn  vs  farm least_conn  (vs HAProxy)
#   2. 10,000 agents: farm least_conn over 10,000 registered records (pointing
#                     at the same 8 real agents) vs its own 8-agent figure,
#                     and stock nginx with 10,000 "server" lines.
#   2b. filtered:     the same 10,000 agents spread over 10 regions and 20
#                     capabilities, every request asking for a region and a
#                     capability (taken from $request_id), vs the unfiltered
#                     8-agent figure.
#   3. convergence:   time from an agent's registration in Redis to the first
#                     request the gateway sends it, p50/p99 over 50.
#   4. failover:      one of 4 agents SIGKILLed under load: failed requests
#                     and time until it is taken out, with the module's health
#                     checks and breakers, and without them.
#   5. convergence on Consul: the same with a Consul dev agent (built by
#                     scripts/consul.sh) and a gateway watching it with
#                     blocking queries.
#   6. rate limits:   scripts/bench-limit.sh, at the end, on its own ports.
#   6b. Kong plugins: scripts/bench-kong-plugins.sh, farm_kong's
#                     rate-limiting + key-auth route vs the same route
#                     without plugins (and each alone), on its own ports.
#   6c. Kong routing: scripts/bench-kong-routes.sh, a kong.yml of 10,000
#                     routes over 1,000 services vs a plain proxy_pass
#                     location, every request to another route; load time
#                     and memory per route.
#   6d. Kong loading: scripts/bench-kong-creds.sh, a kong.yml of 10k, 100k
#                     and 1M consumers with credentials, and one of 10,000
#                     routes: load time and memory (farm-kong check, nginx -t,
#                     a running worker), on its own ports.
#   7. farm-agent --app: scripts/bench-agent.sh, latency and throughput
#                     added by the agent in front of an app.
#   8. registry:      scripts/bench-registry.sh: churn (no ghosts) and the
#                     worst latency during full resyncs at 100,000 agents;
#                     scripts/bench-consul.sh: the same for a Consul answer
#                     of 100,000 entries once a second.
#                     scripts/bench-consumers.sh: the same while 100,000
#                     consumers are re-read from Redis every second.
#   9. health checks: scripts/bench-health.sh, 10,000 agents whose /health
#                     hangs, under checks, on its own ports.
#  10. core:          scripts/bench-core.sh, 100 reloads under load and a
#                     million register/deregister operations of new names.
#  11. the queue:     scripts/bench-queue.sh, on its own ports: an idle
#                     region's throughput with 9,000 requests waiting for a
#                     saturated one.
#  12. metrics:       scripts/bench-metrics.sh, last, on its own ports: proxy
#                     throughput while /metrics is scraped every second, and
#                     the scrape time at 10,000 agents.
#
# Every proxy runs one worker (one thread for HAProxy); wrk runs one thread;
# each configuration is measured ROUNDS times, interleaved, and the median is
# reported.  Only loopback addresses are used.
#
#   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  BENCH_CONNS (32)  BENCH_AGENTS (10000)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench
. "$top/scripts/common.sh"
dir=$top/.bench
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=$top/build/ngx_http_farm_module.so

seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}
many=${BENCH_AGENTS:-10000}

redis_port=6391
consul_port=8190        # and 8191 (serf), 8192 (server)
agent_base=9201
path="/work?ms=0"

pids=

cleanup() {
    for f in "$dir"/run/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null || true
    done
    for f in "$dir"/*/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -QUIT "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.5
    for f in "$dir"/run/*.pid "$dir"/*/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -KILL "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT INT TERM


nginx_conf() {   # nginx_conf name port "upstream body" ["more http config"]
    mkdir -p "$dir/$1/logs" "$dir/$1/conf" "$dir/$1/tmp"
    cat > "$dir/$1/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 1;
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
${4:-}
    upstream backends {
$3
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Gateway-Agent \$farm_agent always;
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

measure() {      # measure port -> requests/s (integer)
    wrk -t1 -c"$conns" -d"${seconds}s" "http://127.0.0.1:$1$path" \
        > "$dir/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$dir/wrk.out"; then
        say "bench: non-2xx responses on port $1:" >&2
        cat "$dir/wrk.out" >&2
        exit 1
    fi
    awk '/^Requests\/sec/ { printf "%d\n", $2 }' "$dir/wrk.out"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}

# --- set up -----------------------------------------------------------------

for f in "$nginx" "$agent" "$module"; do
    [ -e "$f" ] || { say "bench: $f is missing (run make)" >&2; exit 1; }
done

for p in $redis_port 8181 8182 8183 8184 8185 8186 8187 8188 8189 8193 \
         $consul_port $((consul_port + 1)) $((consul_port + 2)) 9211 9214 \
         $agent_base $((agent_base + 7)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        say "bench: 127.0.0.1:$p is in use (a bench or demo still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/run"

spawn redis redis-server --bind 127.0.0.1 --port $redis_port --save '' \
    --appendonly no
wait_for redis redis-cli -p $redis_port PING

i=0
servers=
while [ $i -lt 8 ]; do
    port=$((agent_base + i))
    spawn "agent-$i" "$agent" --listen "127.0.0.1:$port" --id "bench-$i" \
        --service bench --registry "redis://127.0.0.1:$redis_port" --ttl 60s
    servers="$servers        server 127.0.0.1:$port;
"
    i=$((i + 1))
done

i=0
while [ $i -lt 8 ]; do
    wait_for "agent $i" curl -sf -o /dev/null \
        "http://127.0.0.1:$((agent_base + i))/health"
    i=$((i + 1))
done

# 10,000 records of service bench-many, each pointing at one of the 8 agents
awk -v n="$many" -v base=$agent_base 'BEGIN {
    for (i = 0; i < n; i++) {
        id = sprintf("many-%05d", i)
        rec = sprintf("{\"id\":\"%s\",\"service\":\"bench-many\",\"address\":\"127.0.0.1\",\"port\":%d,\"weight\":1}", id, base + i % 8)
        key = "farm:bench-many:agent:" id
        printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nPX\r\n$7\r\n3600000\r\n", length(key), key, length(rec), rec
        printf "*3\r\n$4\r\nSADD\r\n$22\r\nfarm:bench-many:agents\r\n$%d\r\n%s\r\n", length(id), id
    }
}' | redis-cli -p $redis_port --pipe > "$dir/logs/pipe.log"

# the same number of records for the filtered run: 10 regions, 20 caps
awk -v n="$many" -v base=$agent_base 'BEGIN {
    for (i = 0; i < n; i++) {
        id = sprintf("geo-%05d", i)
        k = int(i / 10)
        rec = sprintf("{\"id\":\"%s\",\"service\":\"bench-geo\",\"address\":\"127.0.0.1\",\"port\":%d,\"region\":\"r%d\",\"caps\":[\"c%d\",\"c%d\",\"c%d\"]}", id, base + i % 8, i % 10, k % 20, (k + 5) % 20, (k + 11) % 20)
        key = "farm:bench-geo:agent:" id
        printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nPX\r\n$7\r\n3600000\r\n", length(key), key, length(rec), rec
        printf "*3\r\n$4\r\nSADD\r\n$21\r\nfarm:bench-geo:agents\r\n$%d\r\n%s\r\n", length(id), id
    }
}' | redis-cli -p $redis_port --pipe >> "$dir/logs/pipe.log"

many_servers=$(awk -v n="$many" -v base=$agent_base 'BEGIN {
    for (i = 0; i < n; i++) printf "        server 127.0.0.1:%d;\n", base + i % 8 }')

nginx_conf stock8 8181 "        least_conn;
$servers"
nginx_conf farm8 8182 "        farm_registry redis://127.0.0.1:$redis_port service=bench;
        farm_balance least_conn;"
nginx_conf farmN 8183 "        farm_registry redis://127.0.0.1:$redis_port service=bench-many max_agents=16384;
        farm_balance least_conn;"
nginx_conf stockN 8184 "        least_conn;
$many_servers"
nginx_conf conv 8186 "        farm_registry redis://127.0.0.1:$redis_port service=bench-conv;"

# every request asks for a region and a capability, from its $request_id
geo_maps='
    map $request_id $bench_region {
        ~^[08] r0; ~^[19] r1; ~^[2a] r2; ~^[3b] r3; ~^[4c] r4;
        ~^[5d] r5; ~^6 r6; ~^7 r7; ~^e r8; ~^f r9;
    }
    map $request_id $bench_cap {
        ~^.0 c0; ~^.1 c1; ~^.2 c2; ~^.3 c3; ~^.4 c4; ~^.5 c5; ~^.6 c6;
        ~^.7 c7; ~^.8 c8; ~^.9 c9; ~^.a c10; ~^.b c11; ~^.c c12;
        ~^.d c13; ~^.e c14; ~^.f c15;
    }'
nginx_conf farmF 8189 "        farm_registry redis://127.0.0.1:$redis_port service=bench-geo max_agents=16384;
        farm_balance least_conn;
        farm_region \$bench_region;
        farm_require \$bench_cap;" "$geo_maps"

known=$(curl -s "http://127.0.0.1:8189/farm?upstream=backends" \
        | grep -o '"totals":{"agents":[0-9]*' | grep -o '[0-9]*$')
if [ "$known" != "$many" ]; then
    say "bench: the filtered gateway knows $known of $many agents" >&2
    exit 1
fi

# every record must be loaded before measuring
known=$(curl -s "http://127.0.0.1:8183/farm?upstream=backends" \
        | grep -o '"totals":{"agents":[0-9]*' | grep -o '[0-9]*$')
if [ "$known" != "$many" ]; then
    say "bench: the gateway knows $known of $many agents" >&2
    exit 1
fi

configs="stock8:8181 farm8:8182 farmN:8183 stockN:8184 farmF:8189"

if command -v haproxy >/dev/null 2>&1; then
    {
        printf 'global\n    nbthread 1\n    maxconn 4096\n'
        printf 'defaults\n    mode http\n    timeout connect 5s\n'
        printf '    timeout client 30s\n    timeout server 30s\n'
        printf '    http-reuse always\n'
        printf 'frontend fe\n    bind 127.0.0.1:8185\n    default_backend be\n'
        printf 'backend be\n    balance leastconn\n'
        i=0
        while [ $i -lt 8 ]; do
            printf '    server a%d 127.0.0.1:%d\n' $i $((agent_base + i))
            i=$((i + 1))
        done
    } > "$dir/haproxy.cfg"
    spawn haproxy haproxy -db -f "$dir/haproxy.cfg"
    wait_for haproxy curl -sf -o /dev/null "http://127.0.0.1:8185$path"
    configs="$configs haproxy8:8185"
fi

say "bench: $rounds rounds x ${seconds}s, wrk -t1 -c$conns GET $path," \
    "one proxy worker each"

# --- measure ----------------------------------------------------------------

for c in $configs; do
    : > "$dir/${c%%:*}.rps"
done

r=1
while [ $r -le "$rounds" ]; do
    for c in $configs; do
        name=${c%%:*}
        port=${c##*:}
        rps=$(measure "$port")
        echo "$rps" >> "$dir/$name.rps"
        say "  round $r  $name  $rps req/s"
    done
    r=$((r + 1))
done

for c in $configs; do
    name=${c%%:*}
    eval "med_$name=$(median < "$dir/$name.rps")"
done

say ""
say "bench: convergence (registration in Redis -> first request routed to it)"
converge=$("$top/scripts/converge.pl" $redis_port 8186 "$path" bench-conv \
           $agent_base 50)
say "  $converge"

# --- failover ---------------------------------------------------------------

spawn_fo() {     # spawn_fo n
    spawn "fo-$1" "$agent" --listen "127.0.0.1:$((9210 + $1))" --id "fo-$1" \
        --service bench-fo --registry "redis://127.0.0.1:$redis_port" --ttl 60s
    wait_for "agent fo-$1" curl -sf -o /dev/null \
        "http://127.0.0.1:$((9210 + $1))/health"
}

for n in 1 2 3 4; do
    spawn_fo $n
done

nginx_conf foC 8187 "        farm_registry redis://127.0.0.1:$redis_port service=bench-fo;
        farm_balance least_conn;
        farm_health_check interval=500ms timeout=300ms rise=2 fall=2;
        farm_breaker failures=3 cooldown=5s;"
nginx_conf foN 8188 "        farm_registry redis://127.0.0.1:$redis_port service=bench-fo;
        farm_balance least_conn;"

fo_up() {        # every fo agent can take requests in gateway $1
    # (a breaker that half-opened closes on its first request)
    curl -s -o /dev/null "http://127.0.0.1:$1/work?ms=0"
    [ "$(curl -s "http://127.0.0.1:$1/farm" \
         | grep -oE '"state":"(up|half_open)"' | wc -l)" = 4 ]
}

say ""
say "bench: failover (one of 4 agents SIGKILLed under wrk -c8 load, GET, proxy_next_upstream on)"
wait_for "4 agents up" fo_up 8187
fo_checks=$("$top/scripts/failover.pl" 8187 fo-4 "$(cat "$dir/run/fo-4.pid")" 8)
say "  with farm_health_check + farm_breaker: $fo_checks"

spawn_fo 4
wait_for "fo-4 back" fo_up 8187
fo_plain=$("$top/scripts/failover.pl" 8188 fo-4 "$(cat "$dir/run/fo-4.pid")" 8)
say "  without (registry only):               $fo_plain"

# --- convergence on Consul ----------------------------------------------------

consul=$("$top/scripts/consul.sh")
spawn consul "$consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
    -node farm-bench -data-dir "$dir/consul" \
    -hcl "ports { http = $consul_port, serf_lan = $((consul_port + 1)), server = $((consul_port + 2)), serf_wan = -1, dns = -1, grpc = -1, grpc_tls = -1 }"
consul_leader() {
    curl -sf "http://127.0.0.1:$consul_port/v1/status/leader" | grep -q ':'
}
wait_for consul consul_leader

nginx_conf convc 8193 "        farm_registry consul://127.0.0.1:$consul_port service=bench-conv resync=30s;"

say "bench: convergence (registration in Consul -> first request routed to it)"
converge_consul=$("$top/scripts/converge.pl" --consul $consul_port 8193 \
                  "$path" bench-conv $agent_base 50)
say "  $converge_consul"

# shellcheck disable=SC2154
{
    say ""
    say "| configuration | req/s (median) |"
    say "|---|---|"
    say "| stock nginx least_conn, 8 servers | $med_stock8 |"
    say "| farm least_conn, 8 agents | $med_farm8 |"
    say "| farm least_conn, $many agents | $med_farmN |"
    say "| stock nginx least_conn, $many servers | $med_stockN |"
    say "| farm least_conn, $many agents, region + capability per request | $med_farmF |"
    if [ -n "${med_haproxy8:-}" ]; then
        say "| HAProxy leastconn, 8 servers | $med_haproxy8 |"
    fi
    say ""
    say "farm / stock nginx at 8:               $(ratio "$med_farm8" "$med_stock8")  (target >= 0.95)"
    say "farm at $many / farm at 8:          $(ratio "$med_farmN" "$med_farm8")  (target >= 0.90)"
    say "stock nginx at $many / stock at 8:  $(ratio "$med_stockN" "$med_stock8")"
    say "farm at $many / stock nginx at $many: $(ratio "$med_farmN" "$med_stockN")"
    say "farm at $many filtered / farm at 8: $(ratio "$med_farmF" "$med_farm8")  (target >= 0.85)"
    if [ -n "${med_haproxy8:-}" ]; then
        say "farm / HAProxy at 8:                   $(ratio "$med_farm8" "$med_haproxy8")"
    fi
    say ""
    say "Redis convergence:  $converge  (target p99 <= 100 ms)"
    say "Consul convergence: $converge_consul  (target p99 <= 1 s)"
    say ""
    say "Failover, one of 4 agents killed under load:"
    say "  with health checks + breakers: $fo_checks"
    say "  without:                       $fo_plain"
} | tee "$dir/results.md"

# --- rate limits --------------------------------------------------------------
#
# A separate run with its own ports (8281-8289, Redis 6392), after this
# bench's processes are gone: farm_limit accuracy (local, and Redis shared by
# two gateways) and its throughput cost.  Alone: scripts/bench-limit.sh.

cleanup
say ""
say "bench: rate limits (scripts/bench-limit.sh)"
"$top/scripts/bench-limit.sh"

say "bench: Kong plugins, rate-limiting + key-auth vs no plugins" \
    "(scripts/bench-kong-plugins.sh)"
"$top/scripts/bench-kong-plugins.sh"

say "bench: Kong routing, 10,000 routes vs a plain proxy_pass location" \
    "(scripts/bench-kong-routes.sh)"
"$top/scripts/bench-kong-routes.sh"

say "bench: Kong loading, credentials and routes" \
    "(scripts/bench-kong-creds.sh)"
"$top/scripts/bench-kong-creds.sh"

say "bench: farm-agent --app (scripts/bench-agent.sh)"
"$top/scripts/bench-agent.sh"

# --- the registry ---------------------------------------------------------------
#
# Churn and full resyncs at 100,000 agents (ports 18491-18494, Redis 16479).
# Alone: scripts/bench-registry.sh.

say ""
say "bench: registry churn and full resyncs (scripts/bench-registry.sh)"
"$top/scripts/bench-registry.sh"

# A Consul answer of 100,000 entries once a second (ports 18495-18496,
# agents 19453-19454).  Alone: scripts/bench-consul.sh.

say ""
say "bench: Consul answers of 100,000 agents (scripts/bench-consul.sh)"
"$top/scripts/bench-consul.sh"

# 100,000 consumers re-read from Redis every second (Redis 18497, gateway
# 18498, agent 19455).  Alone: scripts/bench-consumers.sh.

say ""
say "bench: consumers refreshes of 100,000 consumers (scripts/bench-consumers.sh)"
"$top/scripts/bench-consumers.sh"

# --- health checks at scale ---------------------------------------------------
#
# 10,000 agents whose /health hangs, under checks, on its own ports (8481,
# 9451-9460, Redis 6396).  Alone: scripts/bench-health.sh.

say ""
say "bench: health checks at scale (scripts/bench-health.sh)"
"$top/scripts/bench-health.sh"

# --- the core: reloads and name churn ------------------------------------------
#
# 100 reloads under wrk, a million registrations of new names (ports 8195,
# 9251-9258, Redis 6395).  Alone: scripts/bench-core.sh.

say ""
say "bench: reloads and name churn (scripts/bench-core.sh)"
"$top/scripts/bench-core.sh"

# --- the queue ----------------------------------------------------------------
#
# An idle region's throughput with 9,000 requests waiting for a saturated one,
# on its own ports (8291, 9301-9302, Redis 6393).  Alone: scripts/bench-queue.sh.

say ""
say "bench: the queue (scripts/bench-queue.sh)"
"$top/scripts/bench-queue.sh"

# --- metrics --------------------------------------------------------------------
#
# Throughput while farm_metrics is scraped every second, and the scrape time at
# 10,000 agents, on its own ports (8521, 9521-9524, Redis 6521).  Alone:
# scripts/bench-metrics.sh.

say ""
say "bench: metrics (scripts/bench-metrics.sh)"
"$top/scripts/bench-metrics.sh"
