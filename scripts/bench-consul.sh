#!/bin/sh
# Consul answers at scale (called by scripts/bench.sh, or alone): the worst
# request latency on the sync owner while it takes a full Consul answer of
# MANY (100,000) agents once a second.
#
# The registry here is NOT Consul: a plain nginx (no module) serves a saved
# answer of /v1/health/service/many in Consul's format (one node, MANY
# services with a serfHealth and a TTL check each, about 45 MB) with an
# X-Consul-Index header.  It answers at once instead of blocking, with the
# same index, so the gateway takes the whole list again once a second (its
# rule for an answer without a newer index): a full sync per second, every
# entry parsed and looked up.  Two saved answers, which differ in one
# entry's weight, are served at random, so the gateway cannot skip an
# answer as the same as the last one it applied.  Registering 100,000 services in a real
# Consul takes longer than the bench; the tests (t/20-consul.t,
# t/27-consul-limits.t) use the real one.
#
# One gateway with ONE worker (the sync owner serves the requests too, the
# worst case), wrk -t1 -c8 --latency for BENCH_SECONDS:
#   quiet: the fake answers 503, the gateway routes to the last known
#          agents (no parse, no sync; measured once the status page says
#          the registry is down, so no parse is still running);
#   syncs: the fake answers the list, a full sync every second.
# Both with the module under test (FARM_MODULE, build/...) and, when
# FARM_MODULE_BEFORE names another build (the module before the answer
# moved to a thread), with that one.
#
# Ports 18495-18496, agents 19453-19454, 127.0.0.1 only.
#
#   BENCH_SECONDS (10)  CONSUL_AGENTS (100000)
#   FARM_MODULE (build/ngx_http_farm_module.so)  FARM_MODULE_BEFORE (none)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=bench-consul
. "$top/scripts/common.sh"
dir=$top/.bench-consul
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=${FARM_MODULE:-$top/build/ngx_http_farm_module.so}
before=${FARM_MODULE_BEFORE:-}

seconds=${BENCH_SECONDS:-10}
many=${CONSUL_AGENTS:-100000}

fake_port=18495
gw_port=18496
agent_a=19453
agent_b=19454

trap stop_all EXIT INT TERM

# the fake registry: the saved answer, or 503 while $dir/fake/down exists
fake() {
    mkdir -p "$dir/fake/logs" "$dir/fake/conf" "$dir/fake/tmp"
    cat > "$dir/fake/conf/nginx.conf" <<EOF
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    split_clients "\${msec}\${connection}" \$answer {
        50%     answer.json;
        *       answer-b.json;
    }
    server {
        listen 127.0.0.1:$fake_port;
        root $dir/fake;
        location = /v1/health/service/many {
            if (-f $dir/fake/down) {
                return 503 "down";
            }
            default_type application/json;
            add_header X-Consul-Index 7;
            try_files /\$answer =404;
        }
    }
}
EOF
    "$nginx" -p "$dir/fake" -c conf/nginx.conf
}

gateway() {      # gateway name module
    mkdir -p "$dir/$1/logs" "$dir/$1/conf" "$dir/$1/tmp"
    cat > "$dir/$1/conf/nginx.conf" <<EOF
load_module $2;
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
    upstream backends {
        farm_registry consul://127.0.0.1:$fake_port service=many
                      timeout=30s max_agents=$many;
        farm_balance least_conn;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$gw_port backlog=4096;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /farm {
            farm_status;
        }
    }
}
EOF
    "$nginx" -p "$dir/$1" -c conf/nginx.conf
    wait_for "nginx $1" curl -sf -o /dev/null "http://127.0.0.1:$gw_port/farm"
}

agents_known() {
    curl -s "http://127.0.0.1:$gw_port/farm" \
        | grep -o '"totals":{"agents":[0-9]*' | grep -o '[0-9]*$'
}

all_known() { [ "$(agents_known)" = "$many" ]; }


registry_down() {
    curl -s "http://127.0.0.1:$gw_port/farm?limit=1" \
        | grep -q '"registry_up":false'
}

full_syncs() {
    curl -s "http://127.0.0.1:$gw_port/farm" \
        | grep -o '"full_syncs":[0-9]*' | grep -o '[0-9]*$'
}

# wrk_latency seconds -> "requests non2xx p99 max" (latencies in ms)
wrk_latency() {
    wrk -t1 -c8 -d"$1s" --timeout 60s --latency \
        "http://127.0.0.1:$gw_port/work?ms=0" > "$dir/wrk.out" 2>&1
    wrk_summary "$dir/wrk.out"
}

# run name module: "quiet: req bad p99 max | syncs: req bad p99 max syncs"
run() {
    touch "$dir/fake/down"
    rm -f "$dir/fake/down"
    gateway "$1" "$2"
    wait_long "$many agents ($1)" all_known
    touch "$dir/fake/down"
    wait_long "the registry down ($1)" registry_down
    set -- "$1" $(wrk_latency "$seconds")
    q="$2 $3 $4 $5"
    rm -f "$dir/fake/down"
    sleep 2
    s0=$(full_syncs)
    set -- "$1" $(wrk_latency "$seconds")
    s1=$(full_syncs)
    rss=$(ps -o rss= --ppid "$(cat "$dir/$1/logs/nginx.pid")" \
          | awk '{ s += $1 } END { printf "%d", s / 1024 }')
    echo "$q $2 $3 $4 $5 $((s1 - s0)) $rss"
    stop_nginx "$1"
}

# --- set up -----------------------------------------------------------------

for f in "$nginx" "$agent" "$module" $before; do
    [ -e "$f" ] || { say "$me: $f is missing (run make)" >&2; exit 1; }
done

for p in $fake_port $gw_port $agent_a $agent_b; do
    if ss -Htln "sport = :$p" | grep -q .; then
        say "$me: 127.0.0.1:$p is in use (a bench or demo still running?)" >&2
        exit 1
    fi
done

rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/run" "$dir/fake"

for p in $agent_a $agent_b; do
    spawn "agent-$p" "$agent" --listen "127.0.0.1:$p" --id "real-$p"
    wait_for "agent $p" curl -sf -o /dev/null "http://127.0.0.1:$p/health"
done

awk -v n="$many" -v a=$agent_a -v b=$agent_b 'BEGIN {
    printf "["
    for (i = 0; i < n; i++) {
        id = sprintf("m-%06d", i)
        printf "%s{\"Node\":{\"ID\":\"0b2f14a0-0000-4000-8000-000000000001\",\"Node\":\"bench\",\"Address\":\"127.0.0.1\",\"Datacenter\":\"dc1\",\"CreateIndex\":5,\"ModifyIndex\":5},", i ? "," : ""
        printf "\"Service\":{\"ID\":\"%s\",\"Service\":\"many\",\"Tags\":[\"c%d\"],\"Address\":\"127.0.0.1\",\"Meta\":{\"region\":\"r%d\"},\"Port\":%d,\"Weights\":{\"Passing\":1,\"Warning\":1},\"EnableTagOverride\":false,\"CreateIndex\":7,\"ModifyIndex\":7},", id, i % 20, i % 10, i % 2 ? a : b
        printf "\"Checks\":[{\"Node\":\"bench\",\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\",\"Status\":\"passing\",\"Output\":\"Agent alive and reachable\",\"ServiceID\":\"\",\"ServiceName\":\"\",\"CreateIndex\":5,\"ModifyIndex\":5},"
        printf "{\"Node\":\"bench\",\"CheckID\":\"service:%s\",\"Name\":\"farm-agent\",\"Status\":\"passing\",\"Output\":\"\",\"ServiceID\":\"%s\",\"ServiceName\":\"many\",\"CreateIndex\":7,\"ModifyIndex\":7}]}", id, id
    }
    printf "]"
}' > "$dir/fake/answer.json"
sed '0,/"Weights":{"Passing":1,/s//"Weights":{"Passing":2,/' \
    "$dir/fake/answer.json" \
    > "$dir/fake/answer-b.json"

fake
wait_for "fake registry" curl -sf -o /dev/null \
    "http://127.0.0.1:$fake_port/v1/health/service/many"

size=$(wc -c < "$dir/fake/answer.json")
say "bench: Consul answers of $many agents ($size bytes, a fake registry: a saved answer served by nginx), one worker, wrk -t1 -c8 ${seconds}s"

set -- $(run after "$module")
a_q="$1 $2 $3 $4" a_s="$5 $6 $7 $8" a_n=$9 a_rss=${10}
say "  $module: quiet: $a_q; a full sync a second: $a_s ($a_n syncs); worker RSS $a_rss MB"

if [ -n "$before" ]; then
    set -- $(run before "$before")
    b_q="$1 $2 $3 $4" b_s="$5 $6 $7 $8" b_n=$9 b_rss=${10}
    say "  $before: quiet: $b_q; a full sync a second: $b_s ($b_n syncs); worker RSS $b_rss MB"
fi

row() {          # row label quiet(req bad p99 max) syncs(req bad p99 max) n rss
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
        "$2" "$4" "$5" "$6" "$8" "$9" "${10}" \
        "$(awk -v a="$9" -v b="$5" 'BEGIN { printf "%.1f", a - b }')" "${11}"
}

{
    say ""
    say "| module | quiet: requests | p99 ms | max ms | full syncs: requests | p99 ms | max ms | syncs | max added ms | worker RSS MB |"
    say "|---|---|---|---|---|---|---|---|---|---|"
    row "after" $a_q $a_s $a_n $a_rss
    if [ -n "$before" ]; then
        row "before" $b_q $b_s $b_n $b_rss
    fi
} | tee "$dir/results.md"
