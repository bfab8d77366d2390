#!/bin/sh
# make bench, section 7: what farm-agent --app costs.  Each app is
# measured straight and through a farm-agent --app in front of it, in the
# same run, interleaved ROUNDS times: p50 latency with one connection, and
# throughput with BENCH_CONNS connections; medians reported.  The apps
# (BENCH_APPS, all by default; one missing its runtime is skipped):
#
#   c       a farm-agent serving its built-in /work?ms=0: a fast C server
#           doing almost nothing, so the agent's own cost weighs the most
#           it can (the worst case: wrk, the app and the agent share the
#           machine's cores)
#   node    scripts/bench-apps/worker.js, node's http module building a
#           small JSON document per request (GET /work)
#   python  scripts/bench-apps/worker.py, the standard library's threaded
#           http.server doing the same
#
#   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  BENCH_CONNS (32)
#   BENCH_APPS ("c node python")
#   BENCH_AGENT_FLAGS ("")   more flags for the agent in front (e.g.
#                            "--busy-poll 200")
#   FARM_AGENT_BINARY        the farm-agent to use (build/farm-agent)
#
# Alone: scripts/bench-agent.sh (after make).  Loopback only; ports
# 9281-9286.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-agent
. "$top/scripts/common.sh"
dir=$top/.bench-agent
agent=${FARM_AGENT_BINARY:-$top/build/farm-agent}
flags=${BENCH_AGENT_FLAGS:-}

seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}
apps=${BENCH_APPS:-c node python}

cleanup() {
    for f in "$dir"/*.pid; do
        [ -e "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT INT TERM

mkdir -p "$dir"

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

# bench NAME APP_PORT PROXY_PORT: the app already listens on APP_PORT;
# puts an agent in front of it on PROXY_PORT and measures both.
bench() {
    name=$1
    app_port=$2
    proxy_port=$3

    "$agent" --listen 127.0.0.1:$proxy_port --id proxy --log-level warn \
        --app http://127.0.0.1:$app_port --app-health /health $flags \
        > "$dir/proxy-$name.log" 2>&1 &
    echo $! > "$dir/proxy-$name.pid"

    wait_for "the $name app" curl -sf "http://127.0.0.1:$app_port/health"
    wait_for "the agent in front of the $name app" curl -sf \
        "http://127.0.0.1:$proxy_port/_farm/health"

    # warm-up, not counted: the app's first requests (node compiles its
    # handler) and the agent's pool of app connections
    keep=$seconds
    seconds=1
    run $proxy_port "$conns" > /dev/null
    seconds=$keep

    : > "$dir/direct.lat"; : > "$dir/proxy.lat"
    : > "$dir/direct.rps"; : > "$dir/proxy.rps"

    load0=$(cut -d' ' -f1 /proc/loadavg)
    i=0
    while [ $i -lt "$rounds" ]; do
        run $app_port 1 | awk '{ print $1 }' >> "$dir/direct.lat"
        run $proxy_port 1 | awk '{ print $1 }' >> "$dir/proxy.lat"
        run $app_port "$conns" | awk '{ print $2 }' >> "$dir/direct.rps"
        run $proxy_port "$conns" | awk '{ print $2 }' >> "$dir/proxy.rps"
        i=$((i + 1))
    done
    load1=$(cut -d' ' -f1 /proc/loadavg)

    dl=$(median < "$dir/direct.lat")
    pl=$(median < "$dir/proxy.lat")
    dr=$(median < "$dir/direct.rps")
    pr=$(median < "$dir/proxy.rps")

    say "bench: farm-agent --app in front of the $name app ($path)," \
        "$rounds rounds of ${seconds}s, medians; load average" \
        "$load0 -> $load1"
    say "  p50 latency, 1 connection:  straight ${dl} us, through the agent ${pl} us, added $((pl - dl)) us"
    say "  throughput, $conns connections: straight $dr/s, through the agent $pr/s, ratio $(awk -v a="$pr" -v b="$dr" 'BEGIN { printf "%.3f", a / b }')"

    cleanup
}

for name in $apps; do
    case "$name" in
        c)      app_port=9281; proxy_port=9282; path="/work?ms=0"
                runtime=$agent ;;
        node)   app_port=9283; proxy_port=9284; path="/work"
                runtime=node ;;
        python) app_port=9285; proxy_port=9286; path="/work"
                runtime=python3 ;;
        *)      say "$me: BENCH_APPS: no app named $name" >&2
                exit 1 ;;
    esac

    if ! command -v "$runtime" > /dev/null 2>&1; then
        say "bench: farm-agent --app in front of the $name app: skipped," \
            "no $runtime"
        continue
    fi

    for p in $app_port $proxy_port; do
        if port_busy $p; then
            say "$me: port $p is in use" >&2
            exit 1
        fi
    done

    case "$name" in
        c)      "$agent" --listen 127.0.0.1:$app_port --id app \
                    --log-level warn > "$dir/app-c.log" 2>&1 & ;;
        node)   node "$top/scripts/bench-apps/worker.js" $app_port \
                    > "$dir/app-node.log" 2>&1 & ;;
        python) python3 "$top/scripts/bench-apps/worker.py" $app_port \
                    > "$dir/app-python.log" 2>&1 & ;;
    esac
    echo $! > "$dir/app-$name.pid"

    bench "$name" $app_port $proxy_port
done
