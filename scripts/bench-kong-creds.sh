#!/bin/sh
# Loading a big kong.yml (issue 11: a million credentials without the
# gateway's memory or startup time growing out of proportion; issue 10: 10,000
# routes and 1,000 services in <= 1 s and <= 50 MB).
#
# For each size N (consumers), a generated kong.yml: N consumers, each with a
# keyauth credential; every tenth also with a basicauth credential, an acl
# and a jwt secret (so N * 1.3 credentials); one route with key-auth.  Then
# a kong.yml of 10,000 routes over 1,000 services.  For each file:
#   - `farm-kong check FILE`: wall time, CPU time, peak RSS (/usr/bin/time);
#   - `nginx -t` with the module and `farm_kong FILE`: the same;
#   - nginx started with one worker: the worker's resident memory (RSS) and
#     its proportional share (PSS: pages shared with the master count half)
#     once it answers a request with a key of the file.
#
# Port 8297, 127.0.0.1 only.
#
#   BENCH_CREDS_SIZES ("10000 100000 1000000")   BENCH_CREDS_ROUTES (1: on)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-kong-creds
. "$top/scripts/common.sh"
dir=$top/.bench-kong-creds
nginx=${NGINX:-/usr/sbin/nginx}
module=$top/build/ngx_http_farm_module.so
cli=$top/build/farm-kong

sizes=${BENCH_CREDS_SIZES:-10000 100000 1000000}
routes=${BENCH_CREDS_ROUTES:-1}
port=8297
backend=8298

cleanup() {
    f=$dir/logs/nginx.pid
    if [ -e "$f" ]; then
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

for f in "$nginx" "$module" "$cli" /usr/bin/time; do
    [ -e "$f" ] || { say "$me: $f is missing (run make all kong)" >&2; exit 1; }
done

for p in $port $backend; do
    if port_busy $p; then
        say "$me: 127.0.0.1:$p is in use (a bench still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/conf" "$dir/tmp"

# gen_creds N FILE
gen_creds() {
    perl -e '
        my ($n, $port) = @ARGV;
        print "_format_version: \"3.0\"\nservices:\n- name: s\n",
              "  url: http://127.0.0.1:$port\n  routes:\n",
              "  - name: r\n    paths: [/]\n    plugins:\n",
              "    - name: key-auth\n";
        print "consumers:\n";
        for my $i (0 .. $n - 1) {
            my $k = sprintf("%08x", $i);
            print "- username: user-$i\n  keyauth_credentials:\n",
                  "  - key: key-$k-0123456789abcdef0123456789\n";
            next if $i % 10;
            print "  basicauth_credentials:\n",
                  "  - username: basic-$i\n    password: pass-$k\n",
                  "  acls:\n  - group: group-", $i % 100, "\n",
                  "  jwt_secrets:\n  - key: iss-$k\n",
                  "    secret: secret-$k-0123456789abcdef\n";
        }
    ' "$1" $backend > "$2"
}

# gen_routes FILE: 1,000 services of 10 routes each
gen_routes() {
    perl -e '
        my ($port) = @ARGV;
        print "_format_version: \"3.0\"\nservices:\n";
        for my $s (0 .. 999) {
            print "- name: svc-$s\n  url: http://127.0.0.1:$port/s$s\n",
                  "  routes:\n";
            for my $r (0 .. 9) {
                print "  - name: route-$s-$r\n",
                      "    paths: [/api/s$s/r$r]\n",
                      "    hosts: [h$r.example.com]\n";
            }
        }
    ' $backend > "$1"
}

# timed LABEL COMMAND...: "LABEL wall cpu peak" from /usr/bin/time
timed() {
    label=$1
    shift
    if ! /usr/bin/time -f '%e %U %S %M' -o "$dir/time.out" "$@" \
        > "$dir/cmd.out" 2>&1
    then
        say "$me: $label failed:" >&2
        tail -5 "$dir/cmd.out" >&2
        exit 1
    fi
    awk -v l="$label" '{ printf "%-28s wall %6.2f s  cpu %6.2f s  peak %7.1f MB\n",
                         l, $1, $2 + $3, $4 / 1024 }' "$dir/time.out"
}

write_conf() {
    cat > "$dir/conf/nginx.conf" <<_CONF_
load_module $module;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {
        listen 127.0.0.1:$backend;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:$port;
        farm_kong $1;
        location / {
            proxy_pass \$farm_kong_url;
            proxy_set_header Host \$farm_kong_host;
        }
    }
}
_CONF_
}

# worker_mem PROBE-ARGS...: starts nginx, waits for the probe, prints the
# worker's RSS and PSS, stops nginx
worker_mem() {
    "$nginx" -p "$dir" -c conf/nginx.conf
    wait_for_long gateway curl -sf -o /dev/null "$@"
    master=$(cat "$dir/logs/nginx.pid")
    worker=$(pgrep -P "$master" | head -1)
    rss=$(awk '/^Rss:/ { print $2 }' "/proc/$worker/smaps_rollup")
    pss=$(awk '/^Pss:/ { print $2 }' "/proc/$worker/smaps_rollup")
    mrss=$(awk '/^Rss:/ { print $2 }' "/proc/$master/smaps_rollup")
    awk -v r="$rss" -v p="$pss" -v m="$mrss" 'BEGIN {
        printf "%-28s worker RSS %7.1f MB  PSS %7.1f MB  master RSS %7.1f MB\n",
               "running", r / 1024, p / 1024, m / 1024 }'
    kill -TERM "$master"
    n=0
    while [ -e "$dir/logs/nginx.pid" ] && [ $n -lt 600 ]; do
        sleep 0.1
        n=$((n + 1))
    done
}

# like wait_for, for up to 120 s (a big file takes a while to load)
wait_for_long() {
    what=$1
    shift
    tries=0
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -gt 1200 ]; then
            say "$me: timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}

say "$me: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

for n in $sizes; do
    f=$dir/conf/creds-$n.yml
    gen_creds "$n" "$f"
    say "-- $n consumers, $((n + n / 10 * 3)) credentials," \
        "$(($(wc -c < "$f") / 1048576)) MB of YAML"
    timed "farm-kong check" "$cli" check "$f"
    write_conf "$f"
    timed "nginx -t" "$nginx" -p "$dir" -c conf/nginx.conf -t
    worker_mem -H "apikey: key-$(printf %08x $((n - 1)))-0123456789abcdef0123456789" \
        "http://127.0.0.1:$port/"
    rm -f "$f"
done

if [ "$routes" = 1 ]; then
    f=$dir/conf/routes.yml
    gen_routes "$f"
    say "-- 10,000 routes, 1,000 services," \
        "$(($(wc -c < "$f") / 1024)) KB of YAML"
    timed "farm-kong check" "$cli" check "$f"
    write_conf "$f"
    timed "nginx -t" "$nginx" -p "$dir" -c conf/nginx.conf -t
    worker_mem -H "Host: h9.example.com" "http://127.0.0.1:$port/api/s999/r9"
fi
