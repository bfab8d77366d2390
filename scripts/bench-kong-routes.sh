#!/bin/sh
# Kong routing benchmark (called by scripts/bench.sh, or alone): what does
# routing by a large kong.yml cost per request, against a plain proxy_pass
# location of the same nginx, in the same run (issue 10 target: >= 0.9 with
# 10,000 routes), and what does loading it cost?
#
# A generated kong.yml: 1,000 services, 10 routes each (10,000 routes):
# 8 prefix paths, one prefix path on a host of its own, one regex path.
# One gateway, one worker, two servers: farm_kong with that file, and a
# plain "location / { proxy_pass ...; }"; the service is a server of the
# same nginx answering 204.  wrk -t1 runs a script that sends every request
# to a different route (a stride through all 10,000, hosts set where the
# route needs one), to both servers alike.  Rounds interleave; medians and
# the median of each round's ratio.  Then the load: nginx -t's wall time
# and peak memory with and without the farm_kong server, and the worker's
# resident memory, per route.
#
# Ports 8297-8299, 127.0.0.1 only.
#
#   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  BENCH_CONNS (32)
#   KONG_SERVICES (1000): 10 routes each
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-kong-routes
. "$top/scripts/common.sh"
dir=$top/.bench-kong-routes
nginx=${NGINX:-/usr/sbin/nginx}
module=$top/build/ngx_http_farm_module.so

seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}
services=${KONG_SERVICES:-1000}

kong=8297
plain=8298
backend=8299

cleanup() {
    f=$dir/logs/nginx.pid
    if [ -e "$f" ]; then
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

for f in "$nginx" "$module" /usr/bin/time; do
    [ -e "$f" ] || { say "$me: $f is missing" >&2; exit 1; }
done

command -v wrk >/dev/null || { say "$me: wrk is missing" >&2; exit 1; }

for p in $kong $plain $backend; do
    if port_busy $p; then
        say "$me: 127.0.0.1:$p is in use (a bench still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/conf" "$dir/tmp"

# the file: service s has routes /s<s>/p0 .. /s<s>/p7, /s<s>/h on host
# s<s>.example.test, and the regex ~/s<s>/re/\d+$
awk -v n="$services" -v port="$backend" 'BEGIN {
    print "_format_version: \"3.0\""
    print "services:"
    for (s = 0; s < n; s++) {
        printf "- name: svc%d\n  url: http://127.0.0.1:%d/up%d\n  routes:\n", \
            s, port, s
        for (j = 0; j < 8; j++) {
            printf "  - name: s%d-p%d\n    paths: [/s%d/p%d]\n", s, j, s, j
        }
        printf "  - name: s%d-h\n    hosts: [s%d.example.test]\n", s, s
        printf "    paths: [/s%d/h]\n", s
        printf "  - name: s%d-re\n    paths: [\"~/s%d/re/\\\\d+$\"]\n", s, s
    }
}' > "$dir/conf/kong.yml"

# every request to another route: a stride through the 10 x services
# requests, co-prime with their number
cat > "$dir/routes.lua" <<_LUA_
local reqs = {}
local n, i, stride = 0, 0, 7919

init = function(args)
    for s = 0, $services - 1 do
        for j = 0, 7 do
            reqs[#reqs + 1] = wrk.format("GET", "/s" .. s .. "/p" .. j .. "/x")
        end
        reqs[#reqs + 1] = wrk.format("GET", "/s" .. s .. "/h/x",
                                     { Host = "s" .. s .. ".example.test" })
        reqs[#reqs + 1] = wrk.format("GET", "/s" .. s .. "/re/" .. s)
    end
    n = #reqs
end

request = function()
    i = (i + stride) % n
    return reqs[i + 1]
end
_LUA_

conf() {         # conf WITH_KONG(0|1) -> nginx.conf on stdout
    cat <<_CONF_
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
    upstream plain_backend {
        server 127.0.0.1:$backend;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$backend backlog=4096;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:$plain backlog=4096;
        location / {
            proxy_pass http://127.0.0.1:$backend;
        }
    }
_CONF_
    if [ "$1" = 1 ]; then
        cat <<_CONF_
    server {
        listen 127.0.0.1:$kong backlog=4096;
        farm_kong kong.yml;
        location / {
            proxy_pass \$farm_kong_url;
            proxy_set_header Host \$farm_kong_host;
        }
    }
_CONF_
    fi
    echo "}"
}

conf 0 > "$dir/conf/plain.conf"
conf 1 > "$dir/conf/nginx.conf"

# the load: nginx -t with and without the file (wall seconds, peak KB)
load() {
    /usr/bin/time -f '%e %M' -o "$dir/time.out" \
        "$nginx" -t -q -p "$dir" -c "conf/$1" 2>> "$dir/logs/t.log"
    cat "$dir/time.out"
}

t_plain=$(load plain.conf)
t_kong=$(load nginx.conf)

"$nginx" -p "$dir" -c conf/nginx.conf
wait_for gateway curl -sf -o /dev/null "http://127.0.0.1:$kong/s0/p1"
wait_for "regex route" curl -sf -o /dev/null \
    "http://127.0.0.1:$kong/s$((services - 1))/re/7"
wait_for "host route" curl -sf -o /dev/null \
    -H "Host: s0.example.test" "http://127.0.0.1:$kong/s0/h/x"

measure() {      # measure PORT -> requests/s (integer)
    wrk -t1 -c"$conns" -d"${seconds}s" -s "$dir/routes.lua" \
        "http://127.0.0.1:$1" > "$dir/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$dir/wrk.out"; then
        say "$me: non-2xx responses from port $1:" >&2
        cat "$dir/wrk.out" >&2
        exit 1
    fi
    awk '/^Requests\/sec/ { printf "%d\n", $2 }' "$dir/wrk.out"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

say "$me: $((services * 10)) routes over $services services; one worker," \
    "a 204 service, $rounds rounds x ${seconds}s, wrk -t1 -c$conns," \
    "every request to another route"

: > "$dir/plain.rps"
: > "$dir/kong.rps"
: > "$dir/ratio"

r=1
while [ $r -le "$rounds" ]; do
    p=$(measure $plain)
    k=$(measure $kong)
    echo "$p" >> "$dir/plain.rps"
    echo "$k" >> "$dir/kong.rps"
    awk -v a="$k" -v b="$p" 'BEGIN { printf "%.3f\n", a / b }' >> "$dir/ratio"
    say "  round $r  plain location $p req/s, farm_kong $k req/s"
    r=$((r + 1))
done

wpid=$(pgrep -P "$(cat "$dir/logs/nginx.pid")" | head -1)
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$wpid/status")

if grep -q '\[error\]\|\[alert\]\|\[emerg\]' "$dir/logs/error.log"; then
    say "$me: errors in the gateway's log:" >&2
    cat "$dir/logs/error.log" >&2
fi

set -- $t_plain
tp=$1 mp=$2
set -- $t_kong
tk=$1 mk=$2

{
    say ""
    say "| what | value |"
    say "|---|---|"
    say "| plain proxy_pass location, median | $(median < "$dir/plain.rps") req/s |"
    say "| farm_kong, $((services * 10)) routes, median | $(median < "$dir/kong.rps") req/s |"
    say "| farm_kong / plain (median of the rounds; target >= 0.9) | $(median < "$dir/ratio") |"
    say "| nginx -t, without / with the file | ${tp} s / ${tk} s |"
    say "| nginx -t peak memory, without / with the file | $((mp / 1024)) MB / $((mk / 1024)) MB |"
    say "| the worker's resident memory after the rounds | $((rss / 1024)) MB |"
    say "| load memory per route ((with - without) / routes) | $(( (mk - mp) * 1024 / (services * 10) )) bytes |"
} | tee "$dir/results.md"
