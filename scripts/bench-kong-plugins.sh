#!/bin/sh
# Kong plugins benchmark (called by scripts/bench.sh, or alone): the
# throughput of one farm_kong route with Kong's most used pair,
# rate-limiting + key-auth, against the same route without plugins, in the
# same run (issue 11 target: >= 0.85; Kong 3.15's own figure for this pair
# is 0.74).  Also each plugin alone, for its cost.
#
# One gateway, one worker; the service is a server of the same nginx
# answering 204, so that the gateway's own work dominates; wrk -t1 with an
# apikey header and a jwt (HS256, made here with openssl) on every route;
# each configuration measured BENCH_ROUNDS
# times, interleaved; the medians, and the median of each round's ratio to
# the route without plugins.
#
# Ports 8295-8296, 127.0.0.1 only.
#
#   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  BENCH_CONNS (32)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-kong-plugins
. "$top/scripts/common.sh"
dir=$top/.bench-kong-plugins
nginx=${NGINX:-/usr/sbin/nginx}
module=$top/build/ngx_http_farm_module.so

seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-32}

port=8295
backend=8296

cleanup() {
    f=$dir/logs/nginx.pid
    if [ -e "$f" ]; then
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

for f in "$nginx" "$module"; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done

command -v wrk >/dev/null || { say "$me: wrk is missing" >&2; exit 1; }

for p in $port $backend; do
    if port_busy $p; then
        say "$me: 127.0.0.1:$p is in use (a bench still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/conf" "$dir/tmp"

cat > "$dir/conf/kong.yml" <<_YML_
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:$backend
  routes:
  - name: none
    paths: [/none]
  - name: both
    paths: [/both]
    plugins:
    - name: key-auth
    - name: rate-limiting
      config: {year: 4000000000}
  - name: key-auth
    paths: [/key-auth]
    plugins:
    - name: key-auth
  - name: rate-limiting
    paths: [/rate-limiting]
    plugins:
    - name: rate-limiting
      config: {year: 4000000000}
  - name: jwt
    paths: [/jwt]
    plugins:
    - name: jwt
      config: {claims_to_verify: [exp]}
  - name: correlation-id
    paths: [/correlation-id]
    plugins:
    - name: correlation-id
  - name: prometheus
    paths: [/prometheus]
    plugins:
    - name: prometheus
      config: {status_code_metrics: true, latency_metrics: true,
               bandwidth_metrics: true, upstream_health_metrics: true}
  - name: response-transformer
    paths: [/response-transformer]
    plugins:
    - name: response-transformer
      config: {remove: {headers: [Server]}, add: {headers: ['X-A:1']}}
consumers:
- username: bench
  keyauth_credentials:
  - key: bench-key
  jwt_secrets:
  - key: bench-iss
    secret: bench-jwt-secret
_YML_

b64url() {
    openssl base64 -A | tr '+/' '-_' | tr -d '='
}

jwt_in=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url).$(printf \
    '{"iss":"bench-iss","exp":%s}' $(($(date +%s) + 86400)) | b64url)
jwt=$jwt_in.$(printf '%s' "$jwt_in" \
    | openssl dgst -sha256 -hmac bench-jwt-secret -binary | b64url)

cat > "$dir/conf/nginx.conf" <<_CONF_
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
    server {
        listen 127.0.0.1:$backend backlog=4096;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        farm_kong kong.yml;
        location / {
            proxy_pass \$farm_kong_url;
            proxy_set_header Host \$farm_kong_host;
        }
    }
}
_CONF_

"$nginx" -p "$dir" -c conf/nginx.conf
wait_for gateway curl -sf -o /dev/null -H 'apikey: bench-key' \
    "http://127.0.0.1:$port/both"

measure() {      # measure PATH -> requests/s (integer)
    wrk -t1 -c"$conns" -d"${seconds}s" -H 'apikey: bench-key' \
        -H "Authorization: Bearer $jwt" \
        "http://127.0.0.1:$port$1" > "$dir/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$dir/wrk.out"; then
        say "$me: non-2xx responses from $1:" >&2
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

cases="none both key-auth rate-limiting jwt correlation-id prometheus response-transformer"

say "$me: one worker, a 204 service, $rounds rounds x ${seconds}s," \
    "wrk -t1 -c$conns"

for c in $cases; do
    : > "$dir/$c.rps"
    : > "$dir/$c.ratio"
done

r=1
while [ $r -le "$rounds" ]; do
    for c in $cases; do
        rps=$(measure "/$c")
        echo "$rps" >> "$dir/$c.rps"
        echo "$c $rps" >> "$dir/round$r"
        say "  round $r  $c  $rps req/s"
    done
    none=$(awk '$1 == "none" { print $2 }' "$dir/round$r")
    for c in $cases; do
        v=$(awk -v c="$c" '$1 == c { print $2 }' "$dir/round$r")
        ratio "$v" "$none" >> "$dir/$c.ratio"
        echo >> "$dir/$c.ratio"
    done
    r=$((r + 1))
done

if grep -q '\[error\]\|\[alert\]\|\[emerg\]' "$dir/logs/error.log"; then
    say "$me: errors in the gateway's log:" >&2
    cat "$dir/logs/error.log" >&2
fi

{
    say ""
    say "| route | median req/s | / no plugins (median of the rounds) | target |"
    say "|---|---|---|---|"
    for c in $cases; do
        t=
        [ "$c" = both ] && t=">= 0.85 (Kong 3.15: 0.74)"
        say "| $c | $(median < "$dir/$c.rps") | $(median < "$dir/$c.ratio") | $t |"
    done
} | tee "$dir/results.md"
