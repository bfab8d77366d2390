#!/bin/sh
# make bench, section 7: what farm-agent --app costs.  The same app (a
# farm-agent serving its built-in /work?ms=0, a fast C server) is measured
# straight and through a second farm-agent --app in front of it, in the
# same run, interleaved ROUNDS times: p50 latency with one connection, and
# throughput with BENCH_CONNS connections; medians reported.
#
#   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  BENCH_CONNS (32)
#
# Alone: scripts/bench-agent.sh (after make).  Loopback only.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-agent
. "$top/scripts/common.sh"
dir=$top/.bench-agent
agent=$top/build/farm-agent

seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}

app_port=9281
proxy_port=9282
path="/work?ms=0"

cleanup() {
    for f in "$dir"/*.pid; do
        [ -e "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT INT TERM

for p in $app_port $proxy_port; do
    if port_busy $p; then
        say "$me: port $p is in use" >&2
        exit 1
    fi
done

mkdir -p "$dir"

"$agent" --listen 127.0.0.1:$app_port --id app --log-level warn \
    > "$dir/app.log" 2>&1 &
echo $! > "$dir/app.pid"
"$agent" --listen 127.0.0.1:$proxy_port --id proxy --log-level warn \
    --app http://127.0.0.1:$app_port --app-health /health \
    > "$dir/proxy.log" 2>&1 &
echo $! > "$dir/proxy.pid"

wait_for "the app" curl -sf "http://127.0.0.1:$app_port/health"
wait_for "the agent in front" curl -sf \
    "http://127.0.0.1:$proxy_port/_farm/health"

# wrk PORT CONNS -> "p50_us rps"
run() {
    wrk -t1 -c"$2" -d"${seconds}s" --latency "http://127.0.0.1:$1$path" \
        > "$dir/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$dir/wrk.out"; then
        say "$me: non-2xx responses on port $1:" >&2
        cat "$dir/wrk.out" >&2
        exit 1
    fi
    awk '
        function us(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v * 1000 }
            sub(/s$/, "", v); return v * 1000000
        }
        $1 == "50%" { p50 = us($2) }
        /^Requests\/sec/ { rps = $2 }
        END { printf "%d %d\n", p50, rps }' "$dir/wrk.out"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

: > "$dir/direct.lat"; : > "$dir/proxy.lat"
: > "$dir/direct.rps"; : > "$dir/proxy.rps"

i=0
while [ $i -lt "$rounds" ]; do
    run $app_port 1 | awk '{ print $1 }' >> "$dir/direct.lat"
    run $proxy_port 1 | awk '{ print $1 }' >> "$dir/proxy.lat"
    run $app_port "$conns" | awk '{ print $2 }' >> "$dir/direct.rps"
    run $proxy_port "$conns" | awk '{ print $2 }' >> "$dir/proxy.rps"
    i=$((i + 1))
done

dl=$(median < "$dir/direct.lat")
pl=$(median < "$dir/proxy.lat")
dr=$(median < "$dir/direct.rps")
pr=$(median < "$dir/proxy.rps")

say "bench: farm-agent --app, $rounds rounds of ${seconds}s, medians"
say "  p50 latency, 1 connection:  straight ${dl} us, through the agent ${pl} us, added $((pl - dl)) us"
say "  throughput, $conns connections: straight $dr/s, through the agent $pr/s, ratio $(awk -v a="$pr" -v b="$dr" 'BEGIN { printf "%.3f", a / b }')"
