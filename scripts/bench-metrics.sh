#!/bin/sh
# Metrics benchmark (called by scripts/bench.sh, or alone): what does a
# Prometheus scrape of farm_metrics cost?
#
#   One gateway, 1 worker, two farm upstreams: "agents" over 4 farm-agents
#   (the traffic) and "many" with 10,000 registered records (each pointing
#   at one of the 4), so every scrape walks 10,004 agents.
#   1. Throughput: wrk -t1 -c32 GET /work?ms=0 for BENCH_SECONDS, without
#      a scraper, then with one that scrapes /metrics every second at the
#      default level (agents=state: 3 series per agent; METRICS_LEVEL=all
#      for 10); rounds interleaved, medians, and the median of the rounds'
#      ratios (target >= 0.97).
#   2. Scrape time at 10,000 agents, idle gateway: SCRAPES scrapes at each
#      level (agents=none, state, all); the median time, the size and the
#      number of series; promtool check metrics on the largest.
#
# Ports 8521 (gateway), 9521-9524 (agents) and Redis on 6521, 127.0.0.1
# only: it never meets the other benches or the demo.
#
#   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  SCRAPES (9)  MANY (10000)
#   METRICS_LEVEL (state)
#   SCRAPER (keepalive): keepalive, one curl process scraping every second
#   on one kept-alive connection, as Prometheus does; fork, a new curl
#   process per scrape (the design before: its ~17 ms of CPU to start curl
#   is paid on the gateway's cores every second)
#   FARM_MODULE (build/ngx_http_farm_module.so): the module to measure
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-metrics
. "$top/scripts/common.sh"
dir=$top/.bench-metrics
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=${FARM_MODULE:-$top/build/ngx_http_farm_module.so}

seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
scrapes=${SCRAPES:-9}
many=${MANY:-10000}
level=${METRICS_LEVEL:-state}
scraper=${SCRAPER:-keepalive}

redis_port=6521
port=8521
agent_base=9520


cleanup() {      # what spawn started and the gateway: TERM, then KILL
    pids=$(cat "$dir"/run/*.pid "$dir"/gw/logs/nginx.pid 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 0.3
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    rm -f "$dir"/run/*.pid
}
trap cleanup EXIT INT TERM

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

worker_ticks() {    # CPU time of the gateway's worker(s) so far, in ticks
    master=$(cat "$dir/gw/logs/nginx.pid")
    for s in /proc/[0-9]*/stat; do
        cat "$s" 2>/dev/null || true
    done | awk -v m="$master" '{
        # the command may hold spaces: fields counted after its ")"
        sub(/^.*\) /, ""); if ($2 == m) t += $12 + $13 } END { print t + 0 }'
}

throughput() {   # -> "requests/s, the worker's CPU us per request"
    t0=$(worker_ticks)
    wrk -t1 -c32 -d"${seconds}s" "http://127.0.0.1:$port/work?ms=0" \
        > "$dir/wrk.out" 2>&1
    t1=$(worker_ticks)
    if grep -q 'Non-2xx' "$dir/wrk.out"; then
        say "$me: non-2xx responses:" >&2
        cat "$dir/wrk.out" >&2
        exit 1
    fi
    awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '
        /^Requests\/sec/ { rps = $2 }
        / requests in / { n = $1 }
        END { printf "%d %d\n", rps, n ? t * 1000000 / hz / n : 0 }' \
        "$dir/wrk.out"
}

scraper_start() {    # a scrape of /metrics every second, in the background
    if [ "$scraper" = fork ]; then
        # a new curl process (and a new connection) per scrape
        spawn "scraper-$r" sh -c "while :; do
            curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' \
                'http://127.0.0.1:$port/metrics?agents=$level'
            sleep 1
        done"
    else
        # as Prometheus scrapes: one process, one kept-alive connection, a
        # scrape every second (curl --rate, the URL globbed into 1000)
        # (-w on stderr, which is not buffered: the line of each scrape is
        # in the log when curl is stopped)
        spawn "scraper-$r" curl -s --rate 1/s -o /dev/null \
            -w '%{stderr}%{http_code} %{time_total} %{size_download}\n' \
            "http://127.0.0.1:$port/metrics?agents=$level&scrape=[1-1000]"
    fi
}

scraper_stop() {
    kill -TERM "$(cat "$dir/run/scraper-$r.pid")" 2>/dev/null || true
    rm -f "$dir/run/scraper-$r.pid"
}

# --- set up -----------------------------------------------------------------

for f in "$nginx" "$agent" "$module"; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done
command -v wrk > /dev/null || { say "$me: wrk is missing (make deps)" >&2; exit 1; }

for p in $redis_port $port $((agent_base + 1)) $((agent_base + 2)) \
    $((agent_base + 3)) $((agent_base + 4))
do
    if port_busy "$p"; then
        say "$me: 127.0.0.1:$p is in use (a bench still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/run" "$dir/gw/logs" "$dir/gw/conf" "$dir/gw/tmp"

spawn redis redis-server --bind 127.0.0.1 --port $redis_port --save '' \
    --appendonly no
wait_for redis redis-cli -p $redis_port PING

i=1
while [ $i -le 4 ]; do
    spawn "agent-$i" "$agent" --listen "127.0.0.1:$((agent_base + i))" \
        --id "bm-$i" --service bm --registry "redis://127.0.0.1:$redis_port" \
        --ttl 600s
    i=$((i + 1))
done

# MANY records of service bm-many in 10 regions, each pointing at one of the
# 4 agents: Redis' inline commands (the JSON in single quotes)
seq 0 $((many - 1)) | awk -v base=$agent_base '{
    id = sprintf("many-%05d", $1)
    printf "SET farm:bm-many:agent:%s '"'"'{\"id\":\"%s\",\"service\":\"bm-many\",", id, id
    printf "\"address\":\"127.0.0.1\",\"port\":%d,\"region\":\"r%d\"}'"'"' PX 3600000\r\n", base + 1 + $1 % 4, $1 % 10
    printf "SADD farm:bm-many:agents %s\r\n", id
}' | redis-cli -p $redis_port --pipe > "$dir/logs/pipe.log"

cat > "$dir/gw/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    upstream agents {
        farm_registry redis://127.0.0.1:$redis_port service=bm;
        farm_balance least_conn;
        keepalive 64;
    }
    upstream many {
        farm_registry redis://127.0.0.1:$redis_port service=bm-many
                      max_agents=16384;
        farm_balance least_conn;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://agents;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /farm {
            farm_status;
        }
        location = /metrics {
            farm_metrics agents=all max_agent_series=200000;
        }
    }
}
EOF
"$nginx" -p "$dir/gw" -c conf/nginx.conf
wait_for "the gateway" curl -sf -o /dev/null "http://127.0.0.1:$port/farm"

known() {
    curl -s "http://127.0.0.1:$port/metrics?agents=none" \
        | awk -v want="$1" -v pool="$2" '
            index($0, "farm_agents{pool=\"" pool "\",state=\"up\"} ") == 1 {
                ok = ($2 == want) } END { exit !ok }'
}
wait_for "the 4 agents" known 4 agents
tries=0
while ! known "$many" many; do
    tries=$((tries + 1))
    if [ $tries -gt 600 ]; then
        say "$me: the gateway does not know the $many records" >&2
        exit 1
    fi
    sleep 0.1
done

# --- 1. throughput with and without a scrape every second --------------------

say "$me: proxy req/s without and with a scrape of /metrics (agents=$level," \
    "$((many + 4)) agents) every second (wrk -t1 -c32, ${seconds}s," \
    "$rounds rounds, 1 worker, scraper: $scraper)"

: > "$dir/rounds"    # a line per round: req/s, CPU us/request; without, with
r=1
while [ "$r" -le "$rounds" ]; do
    without=$(throughput)
    scraper_start
    with=$(throughput)
    scraper_stop
    echo "$without $with" >> "$dir/rounds"
    # shellcheck disable=SC2086
    set -- $without $with
    say "  round $r: no scrape $1 req/s ($2 us CPU/request)," \
        "scraping every second $3 req/s ($4 us CPU/request)"
    r=$((r + 1))
done

column() {       # the median of column $1 of the rounds
    awk -v c="$1" '{ print $c }' "$dir/rounds" | median
}

bad=$(cat "$dir"/logs/scraper-*.log | awk '$1 != 200' | wc -l)
say "$me: medians: no scrape $(column 1) req/s, scraping $(column 3) req/s;" \
    "$(cat "$dir"/logs/scraper-*.log | wc -l) scrapes, $bad not 200"
say "$me: with / without scrapes, median of the rounds' ratios:" \
    "$(awk '{ printf "%.3f\n", $3 / $1 }' "$dir/rounds" | median)" \
    "(target >= 0.97); the worker's CPU per request (scrapes included)" \
    "$(column 2) us without, $(column 4) us with"

# --- 2. scrape time at 10,000 agents ------------------------------------------

say "$me: scrape time of /metrics at $((many + 4)) agents, idle gateway" \
    "(median of $scrapes)"

for l in none state all; do
    : > "$dir/time-$l"
    t0=$(worker_ticks)
    n=1
    while [ "$n" -le "$scrapes" ]; do
        curl -s -o "$dir/scrape-$l.txt" -w '%{time_total}\n' \
            "http://127.0.0.1:$port/metrics?agents=$l" >> "$dir/time-$l"
        n=$((n + 1))
    done
    t1=$(worker_ticks)
    series=$(grep -vc '^#' "$dir/scrape-$l.txt")
    bytes=$(wc -c < "$dir/scrape-$l.txt")
    ms=$(median < "$dir/time-$l" | awk '{ printf "%.1f", $1 * 1000 }')
    cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$scrapes" \
        'BEGIN { printf "%.1f", t * 1000 / hz / n }')
    say "  agents=$l: $ms ms (the worker's CPU: $cpu ms), $series series," \
        "$bytes bytes"
done

if command -v promtool > /dev/null; then
    if promtool check metrics < "$dir/scrape-all.txt" > "$dir/promtool.out" 2>&1
    then
        say "$me: promtool check metrics: the agents=all scrape passes"
    else
        say "$me: promtool check metrics FAILED on the agents=all scrape:" >&2
        head -20 "$dir/promtool.out" >&2
        exit 1
    fi
fi
