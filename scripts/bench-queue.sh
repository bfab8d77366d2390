#!/bin/sh
# Queue benchmark (called at the end of scripts/bench.sh, or alone): does a
# saturated region's queue slow down the rest of the gateway?
#
#   One gateway, 2 workers, farm_region $http_x_region with no fallback
#   region that exists, farm_queue max=20000.  Agents: "ap" with max_conns=1,
#   held by one long request, and "eu", idle.  wrk -t1 -c8 sends
#   X-Region: eu requests for BENCH_SECONDS, first with no waiter, then
#   with QUEUE_WAITERS (9000) requests waiting for "ap" (held open by one
#   client process).  Rounds interleaved; medians, the median of the
#   rounds' ratios (with waiters / without), and the gateway workers' CPU
#   time per eu request (from /proc: steadier than req/s on a busy
#   machine).
#
# Ports 8291 (gateway), 9301-9302 (agents) and Redis on 6393, 127.0.0.1
# only: it never meets the main bench, the rate-limit bench or the demo.
#
#   QUEUE_WAITERS (9000)  BENCH_SECONDS (5)  BENCH_ROUNDS (3)
#   FARM_MODULE (build/ngx_http_farm_module.so): the module to measure
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-queue
. "$top/scripts/common.sh"
dir=$top/.bench-queue
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=${FARM_MODULE:-$top/build/ngx_http_farm_module.so}

waiters=${QUEUE_WAITERS:-9000}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}

redis_port=6393
port=8291
ap_port=9301
eu_port=9302


cleanup() {
    for f in "$dir"/run/*.pid "$dir"/gw/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.3
    for f in "$dir"/run/*.pid "$dir"/gw/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -KILL "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}
trap cleanup EXIT INT TERM

waiting() {      # requests waiting in the queue now
    curl -s "http://127.0.0.1:$port/farm" \
        | sed -n 's/.*"queue":{"waiting":\([0-9]*\).*/\1/p'
}

cpu_ticks() {    # CPU time of the gateway's workers so far, in clock ticks
    master=$(cat "$dir/gw/logs/nginx.pid")
    cat /proc/[0-9]*/stat 2>/dev/null \
        | awk -v m="$master" '$4 == m { t += $14 + $15 } END { print t + 0 }'
}

measure() {      # -> "eu requests/s, workers' CPU us per request"
    t0=$(cpu_ticks)
    wrk -t1 -c8 -d"${seconds}s" -H 'X-Region: eu' \
        "http://127.0.0.1:$port/work?ms=0" > "$dir/wrk.out" 2>&1
    t1=$(cpu_ticks)
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

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

fill() {         # QUEUE_WAITERS requests for ap, held open until killed
    spawn filler perl -MIO::Socket::INET -e '
        my ($port, $n) = @ARGV;
        my @s;
        for (1 .. $n) {
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1",
                                          PeerPort => $port)
                or die "connect: $!\n";
            print $s "GET /work?ms=0 HTTP/1.1\r\nHost: q\r\n"
                   . "X-Region: ap\r\n\r\n";
            push @s, $s;
        }
        sleep 100000;' "$port" "$waiters"
    tries=0
    while [ "$(waiting)" != "$waiters" ]; do
        tries=$((tries + 1))
        if [ $tries -gt 1200 ]; then
            say "$me: only $(waiting) of $waiters requests waiting" >&2
            exit 1
        fi
        sleep 0.05
    done
}

unfill() {
    kill -KILL "$(cat "$dir/run/filler.pid")"
    rm -f "$dir/run/filler.pid"
    wait_for "the queue to empty" sh -c "curl -s http://127.0.0.1:$port/farm | grep -q '\"queue\":{\"waiting\":0,'"
}

# --- set up -----------------------------------------------------------------

for f in "$nginx" "$agent" "$module"; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done

for p in $redis_port $port $ap_port $eu_port; do
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

spawn agent-ap "$agent" --listen "127.0.0.1:$ap_port" --id ap \
    --region ap --max-conns 1 --service bq \
    --registry "redis://127.0.0.1:$redis_port" --ttl 600s
spawn agent-eu "$agent" --listen "127.0.0.1:$eu_port" --id eu \
    --region eu --service bq --registry "redis://127.0.0.1:$redis_port" \
    --ttl 600s

cat > "$dir/gw/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 2;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    upstream agents {
        farm_registry redis://127.0.0.1:$redis_port service=bq;
        farm_region \$http_x_region;
        farm_region_fallback zz;
        farm_queue max=20000 timeout=600s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port backlog=16384;
        location / {
            proxy_pass http://agents;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 700s;
        }
        location = /farm {
            farm_status;
        }
    }
}
EOF
"$nginx" -p "$dir/gw" -c conf/nginx.conf
wait_for "the gateway" curl -sf -o /dev/null "http://127.0.0.1:$port/farm"
wait_for "both agents" sh -c "curl -s http://127.0.0.1:$port/farm \
    | grep -q '\"id\":\"eu\"' && curl -s http://127.0.0.1:$port/farm \
    | grep -q '\"id\":\"ap\"'"

# ap's one place, taken for the whole run
spawn hold curl -s -o /dev/null -H 'X-Region: ap' \
    "http://127.0.0.1:$port/work?ms=600000"
wait_for "ap held" sh -c "curl -s http://127.0.0.1:$port/farm \
    | grep -q '\"active\":1,'"

# --- measure ----------------------------------------------------------------

say "$me: eu req/s with 0 and with $waiters requests waiting for ap" \
    "(wrk -t1 -c8, ${seconds}s, $rounds rounds, 2 workers)"

: > "$dir/without"
: > "$dir/with"
: > "$dir/ratio"
: > "$dir/cpu_without"
: > "$dir/cpu_with"
r=1
while [ "$r" -le "$rounds" ]; do
    set -- $(measure)
    a=$1 ca=$2
    fill
    set -- $(measure)
    b=$1 cb=$2
    unfill
    echo "$a" >> "$dir/without"
    echo "$b" >> "$dir/with"
    echo "$ca" >> "$dir/cpu_without"
    echo "$cb" >> "$dir/cpu_with"
    awk -v a="$b" -v b="$a" 'BEGIN { printf "%.3f\n", a / b }' >> "$dir/ratio"
    say "  round $r: no waiter $a req/s ($ca us CPU/request)," \
        "$waiters waiting $b req/s ($cb us CPU/request)"
    r=$((r + 1))
done

say "$me: medians: eu req/s no waiter $(median < "$dir/without")," \
    "$waiters waiting $(median < "$dir/with");" \
    "workers' CPU per eu request $(median < "$dir/cpu_without") us and" \
    "$(median < "$dir/cpu_with") us"
say "$me: with / without waiters, median of the rounds' ratios:" \
    "$(median < "$dir/ratio") (target >= 0.9)"
