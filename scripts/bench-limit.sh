#!/bin/sh
# Rate-limit benchmark (called at the end of scripts/bench.sh, or alone):
#
#   1. accuracy, policy=local: one gateway, 2 workers, farm_limit second=N
#      on one key, flooded by wrk; admitted requests counted per second
#      window from the access log, against N (target: within 1%).
#   2. accuracy, policy=redis: two gateways (2 workers each) sharing one
#      Redis zone, each flooded by its own wrk at the same time; admitted
#      requests of both counted per window (target: within 2%).
#   3. throughput: one gateway, one worker, the same small response
#      (empty_gif) without a limit, with a local limit and with a Redis
#      limit that never rejects; rounds interleaved; medians, and the
#      median of each round's ratio to no limit.
#
# A request is attributed to the window of its start ($msec - $request_time
# in the access log); the first and last (partial) windows are dropped, and
# a window only counts if it also saw rejections (the flood saturated it).
#
# Ports 8281-8289 and Redis on 6392 only, 127.0.0.1 only: it never meets
# the main bench (818x, 6391) or the demo.
#
#   LIMIT_RATE (1000)  LIMIT_SECONDS (6)  BENCH_SECONDS (5)  BENCH_ROUNDS (3)
#   BENCH_CONNS (32)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-limit
. "$top/scripts/common.sh"
dir=$top/.bench-limit
nginx=${NGINX:-/usr/sbin/nginx}
module=$top/build/ngx_http_farm_module.so

rate=${LIMIT_RATE:-1000}
flood=${LIMIT_SECONDS:-6}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}

redis_port=6392
port_local=8281
port_r1=8282
port_r2=8283
port_tp=8284


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


# gateway name port workers "location body" -> started, listening
gateway() {
    mkdir -p "$dir/$1/logs" "$dir/$1/conf" "$dir/$1/tmp"
    cat > "$dir/$1/conf/nginx.conf" <<EOF
load_module $module;
worker_processes $3;
error_log logs/error.log warn;
pid logs/nginx.pid;
worker_rlimit_nofile 65536;
events { worker_connections 4096; }
http {
    log_format lim '\$msec \$request_time \$status';
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location = /ready { empty_gif; }
$4
    }
}
EOF
    "$nginx" -p "$dir/$1" -c conf/nginx.conf
    wait_for "gateway $1" curl -sf -o /dev/null "http://127.0.0.1:$2/ready"
}

stop_gateway() {   # graceful: the access log is flushed
    pid=$(cat "$dir/$1/logs/nginx.pid")
    kill -QUIT "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.05
    done
}

# accuracy LOG... -> "windows W, admitted min/mean/max, worst deviation D%"
accuracy() {
    cat "$@" | awk -v limit="$rate" '
        { s = int($1 - $2); total[s]++; if ($3 == 200) ok[s]++
          if (first == "" || s < first) first = s
          if (s > last) last = s }
        END {
            n = 0; worst = 0; sum = 0; min = -1; max = 0; unsat = 0
            for (s = first + 1; s < last; s++) {
                if (!(s in total)) continue
                if (total[s] == ok[s]) { unsat++; continue }
                n++; sum += ok[s]
                if (min < 0 || ok[s] < min) min = ok[s]
                if (ok[s] > max) max = ok[s]
                d = (ok[s] - limit) / limit; if (d < 0) d = -d
                if (d > worst) worst = d
            }
            if (n == 0) { print "no saturated window"; exit 1 }
            printf "%d windows of %d: admitted min %d, mean %.1f, max %d; " \
                   "worst deviation %.2f%%", n, limit, min, sum / n, max, \
                   worst * 100
            if (unsat) printf " (%d unsaturated windows skipped)", unsat
            printf "\n"
        }'
}

worst() {   # the worst deviation, in %, of an accuracy() line
    sed -n 's/.*worst deviation \([0-9.]*\)%.*/\1/p'
}

measure() {      # measure URL -> requests/s (integer)
    wrk -t1 -c"$conns" -d"${seconds}s" "$1" > "$dir/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$dir/wrk.out"; then
        say "bench-limit: non-2xx responses from $1:" >&2
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

for f in "$nginx" "$module"; do
    [ -e "$f" ] || { say "bench-limit: $f is missing (run make)" >&2; exit 1; }
done

command -v wrk >/dev/null || { say "bench-limit: wrk is missing" >&2; exit 1; }

for p in $redis_port 8281 8282 8283 8284 8285 8286 8287 8288 8289; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        say "bench-limit: 127.0.0.1:$p is in use (a bench still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/run" "$dir/logs"

redis-server --bind 127.0.0.1 --port $redis_port --save '' --appendonly no \
    > "$dir/logs/redis.log" 2>&1 &
echo $! > "$dir/run/redis.pid"
wait_for redis redis-cli -p $redis_port PING

redis_url=redis://127.0.0.1:$redis_port

# --- 1. accuracy, local -------------------------------------------------------

gateway local $port_local 2 "        location = /t {
            farm_limit zone=bench:1m key=\$remote_addr second=$rate;
            access_log logs/limit.log lim buffer=256k;
            empty_gif;
        }"

say "bench-limit: accuracy, policy=local: second=$rate, one key," \
    "2 workers, wrk -t2 -c64 for ${flood}s"
wrk -t2 -c64 -d"${flood}s" "http://127.0.0.1:$port_local/t" \
    > "$dir/wrk-local.out" 2>&1
stop_gateway local
acc_local=$(accuracy "$dir/local/logs/limit.log")
say "  $acc_local"

# --- 2. accuracy, redis, two gateways -----------------------------------------

for g in r1:$port_r1 r2:$port_r2; do
    gateway "${g%%:*}" "${g##*:}" 2 "        location = /t {
            farm_limit zone=bench key=\$remote_addr second=$rate
                       policy=redis redis=$redis_url;
            access_log logs/limit.log lim buffer=256k;
            empty_gif;
        }"
done

say "bench-limit: accuracy, policy=redis: second=$rate, one key, two" \
    "gateways of 2 workers, one wrk -t1 -c32 each for ${flood}s"
wrk -t1 -c32 -d"${flood}s" "http://127.0.0.1:$port_r1/t" \
    > "$dir/wrk-r1.out" 2>&1 &
w1=$!
wrk -t1 -c32 -d"${flood}s" "http://127.0.0.1:$port_r2/t" \
    > "$dir/wrk-r2.out" 2>&1
wait $w1
stop_gateway r1
stop_gateway r2
acc_redis=$(accuracy "$dir/r1/logs/limit.log" "$dir/r2/logs/limit.log")
say "  $acc_redis"

# --- 3. throughput --------------------------------------------------------------

gateway tp $port_tp 1 "        location = /none {
            empty_gif;
        }
        location = /local {
            farm_limit zone=tp:1m key=\$remote_addr minute=4000000000;
            empty_gif;
        }
        location = /redis {
            farm_limit zone=tpr key=\$remote_addr minute=4000000000
                       policy=redis redis=$redis_url;
            empty_gif;
        }"

say "bench-limit: throughput, one worker, empty_gif, $rounds rounds x" \
    "${seconds}s, wrk -t1 -c$conns"

for c in none local redis; do
    : > "$dir/$c.rps"
done

: > "$dir/local.ratio"
: > "$dir/redis.ratio"

r=1
while [ $r -le "$rounds" ]; do
    for c in none local redis; do
        rps=$(measure "http://127.0.0.1:$port_tp/$c")
        echo "$rps" >> "$dir/$c.rps"
        eval "rps_$c=$rps"
        say "  round $r  $c  $rps req/s"
    done
    # shellcheck disable=SC2154
    ratio "$rps_local" "$rps_none" >> "$dir/local.ratio"
    echo >> "$dir/local.ratio"
    ratio "$rps_redis" "$rps_none" >> "$dir/redis.ratio"
    echo >> "$dir/redis.ratio"
    r=$((r + 1))
done

med_none=$(median < "$dir/none.rps")
med_local=$(median < "$dir/local.rps")
med_redis=$(median < "$dir/redis.rps")

# each round's ratio compares measurements seconds apart: steadier than
# the ratio of medians on a machine whose speed drifts
rat_local=$(median < "$dir/local.ratio")
rat_redis=$(median < "$dir/redis.ratio")

if grep -q "Non-2xx\|error" "$dir/tp/logs/error.log" 2>/dev/null; then
    say "bench-limit: errors in the throughput gateway's log:" >&2
    cat "$dir/tp/logs/error.log" >&2
fi

{
    say ""
    say "| measurement | result | target |"
    say "|---|---|---|"
    say "| accuracy, local, 2 workers | worst window off by $(echo "$acc_local" | worst)% | within 1% |"
    say "| accuracy, redis, 2 gateways x 2 workers | worst window off by $(echo "$acc_redis" | worst)% | within 2% |"
    say "| no limit (empty_gif), median | $med_none req/s | |"
    say "| farm_limit policy=local, median | $med_local req/s | |"
    say "| farm_limit policy=redis, median | $med_redis req/s | |"
    say "| local / no limit, median of the rounds' ratios | $rat_local | |"
    say "| redis / no limit, median of the rounds' ratios | $rat_redis | |"
    say ""
    say "local: $acc_local"
    say "redis: $acc_redis"
} | tee "$dir/results.md"
