#!/bin/sh
# make demo [REGISTRY=consul] / make demo-stop
#
# Starts, on 127.0.0.1 only: a registry (Redis, or with REGISTRY=consul a
# Consul dev agent built by scripts/consul.sh), three farm-agents in
# different regions with different capabilities, and the gateway (Debian's
# nginx with ngx_http_farm_module) on port 8080; sends traffic through it
# and shows which agent answered; then leaves everything running, with a
# light stream of background traffic, until "make demo-stop".
#
#   REGISTRY (redis)  GATEWAY_PORT (8080)  REDIS_PORT (6390)
#   CONSUL_PORT (8590; Consul also takes the next two ports)
#   AGENT_PORT (9101, 9102, 9103)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=demo
. "$top/scripts/common.sh"
dir=$top/.demo
nginx=${NGINX:-/usr/sbin/nginx}
agent=$top/build/farm-agent
module=$top/build/ngx_http_farm_module.so

gw_port=${GATEWAY_PORT:-8080}
redis_port=${REDIS_PORT:-6390}
consul_port=${CONSUL_PORT:-8590}
agent_port=${AGENT_PORT:-9101}
registry=${REGISTRY:-redis}

case "$registry" in
    redis)  registry_url=redis://127.0.0.1:$redis_port
            registry_ports=$redis_port ;;
    consul) registry_url=consul://127.0.0.1:$consul_port
            registry_ports="$consul_port $((consul_port + 1)) $((consul_port + 2))" ;;
    *)      printf 'demo: REGISTRY must be redis or consul, not "%s"\n' \
                "$registry" >&2
            exit 2 ;;
esac




stop_pid() {    # stop_pid file signal
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$2" "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

stop() {
    [ -d "$dir" ] || return 0
    stop_pid "$dir/traffic.pid" TERM
    stop_pid "$dir/logs/nginx.pid" QUIT
    for f in "$dir"/agent-*.pid; do
        [ -e "$f" ] && stop_pid "$f" TERM
    done
    stop_pid "$dir/redis.pid" TERM
    stop_pid "$dir/consul.pid" TERM
    say "demo: stopped"
}

start_agent() {   # start_agent id port region caps weight
    "$agent" --listen "127.0.0.1:$2" --id "$1" --service agents \
        --registry "$registry_url" --region "$3" \
        --cap "$4" --weight "$5" --ttl 6s \
        > "$dir/logs/agent-$1.log" 2>&1 &
    echo $! > "$dir/agent-$1.pid"
    wait_for "agent $1 to register" registered "$1"
}

registered() {
    if [ "$registry" = consul ]; then
        curl -sf -o /dev/null \
            "http://127.0.0.1:$consul_port/v1/agent/service/$1"
    else
        [ "$(redis-cli -p "$redis_port" --raw EXISTS "farm:agents:agent:$1")" = 1 ]
    fi
}

list_agents() {
    if [ "$registry" = consul ]; then
        curl -s "http://127.0.0.1:$consul_port/v1/health/service/agents?passing" \
            | grep -o '"ServiceID": *"[^"][^"]*"' | sort -u \
            | sed 's/.*"\([^"]*\)"$/\1/'
    else
        redis-cli -p "$redis_port" --raw SMEMBERS farm:agents:agents
    fi
}

start_registry() {
    if [ "$registry" = consul ]; then
        consul=$("$top/scripts/consul.sh")
        say "== Consul registry (dev agent, $("$consul" version | head -1))" \
            "on 127.0.0.1:$consul_port"
        "$consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
            -node farm-demo -data-dir "$dir/consul" \
            -hcl "ports { http = $consul_port, serf_lan = $((consul_port + 1)), server = $((consul_port + 2)), serf_wan = -1, dns = -1, grpc = -1, grpc_tls = -1 }" \
            > "$dir/logs/consul.log" 2>&1 &
        echo $! > "$dir/consul.pid"
        wait_for "consul" consul_leader
    else
        say "== Redis registry on 127.0.0.1:$redis_port"
        redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
            --appendonly no --notify-keyspace-events Kx \
            > "$dir/logs/redis.log" 2>&1 &
        echo $! > "$dir/redis.pid"
        wait_for "redis" redis-cli -p "$redis_port" PING
    fi
}

consul_leader() {
    curl -sf "http://127.0.0.1:$consul_port/v1/status/leader" | grep -q ':'
}

request() {      # request path -> prints "agent region status"
    curl -s -o /dev/null -D - "http://127.0.0.1:$gw_port$1" \
        | tr -d '\r' | awk -F': ' '
            /^HTTP/        { code = $0; sub(/^[^ ]* /, "", code) }
            /^X-Farm-Agent/ { agent = $2 }
            END            { printf "%-8s %s\n", agent, code }'
}

show_traffic() {   # show_traffic n path
    n=$1
    i=1
    : > "$dir/round.txt"
    while [ $i -le "$n" ]; do
        line=$(request "$2")
        printf '  request %2d -> %s\n' "$i" "$line"
        echo "$line" | awk '{print $1}' >> "$dir/round.txt"
        i=$((i + 1))
    done
    say "  share: $(sort "$dir/round.txt" | uniq -c \
        | awk '{printf "%s=%s ", $2, $1}')"
}

start() {
    for f in "$nginx" "$agent" "$module"; do
        if [ ! -x "$f" ] && [ ! -f "$f" ]; then
            say "demo: $f is missing (run make)" >&2
            exit 1
        fi
    done

    stop >/dev/null 2>&1 || true

    for p in "$gw_port" $registry_ports "$agent_port" $((agent_port + 1)) \
             $((agent_port + 2)); do
        if port_busy "$p"; then
            say "demo: 127.0.0.1:$p is already in use; set GATEWAY_PORT," \
                "REDIS_PORT, CONSUL_PORT or AGENT_PORT" >&2
            exit 1
        fi
    done

    rm -rf "$dir"
    mkdir -p "$dir/logs" "$dir/conf" "$dir/tmp"

    start_registry

    say "== three agents register themselves"
    start_agent eu-1 "$agent_port"         eu-central gpu,browser 2
    start_agent us-1 $((agent_port + 1))   us-east    browser     1
    start_agent ap-1 $((agent_port + 2))   ap-south   pdf         1
    list_agents | sed 's/^/  registered: /'

    say "== gateway on 127.0.0.1:$gw_port"
    cat > "$dir/conf/nginx.conf" <<EOF
load_module $module;
worker_processes 2;
error_log logs/error.log notice;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log logs/access.log;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    upstream agents {
        farm_registry $registry_url service=agents resync=2s;
        farm_balance least_conn;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:$gw_port;

        location / {
            proxy_pass http://agents;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
        }

        location = /farm {
            farm_status;
        }
    }
}
EOF
    "$nginx" -p "$dir" -c conf/nginx.conf
    wait_for "gateway" curl -sf "http://127.0.0.1:$gw_port/farm"

    say "== 12 requests through the gateway (least_conn, eu-1 has weight 2)"
    show_traffic 12 "/work?ms=20"

    say "== us-1 leaves gracefully (SIGTERM: deregisters, then drains)"
    stop_pid "$dir/agent-us-1.pid" TERM
    show_traffic 6 "/work?ms=20"

    say "== us-1 comes back and registers again"
    start_agent us-1 $((agent_port + 1)) us-east browser 1
    show_traffic 8 "/work?ms=20"

    # a light stream of traffic so the status page keeps moving
    (
        trap 'exit 0' TERM
        while :; do
            curl -s -o /dev/null "http://127.0.0.1:$gw_port/work?ms=30" \
                || true
            sleep 0.2
        done
    ) > /dev/null 2>&1 &
    echo $! > "$dir/traffic.pid"

    say ""
    say "The demo keeps running, with background traffic:"
    say "  status:   curl -s http://127.0.0.1:$gw_port/farm"
    say "  traffic:  curl -si 'http://127.0.0.1:$gw_port/work?ms=100'"
    say "  logs:     $dir/logs/"
    say "  stop:     make demo-stop"
}

case "${1:-start}" in
    start) start ;;
    stop)  stop ;;
    *)     say "usage: $0 start|stop" >&2; exit 2 ;;
esac
