#!/bin/sh
# make demo [REGISTRY=redis|consul] / make demo-stop
#
# Starts, on 127.0.0.1 only: the gateway (Debian's nginx with
# ngx_http_farm_module) on port 8080 and three farm-agents in different
# regions with different capabilities, which register themselves; sends
# traffic through the gateway and shows which agent answered; kills one
# agent to show its traffic moving to the others, and brings it back; then
# leaves everything running, with a light stream of background traffic,
# until "make demo-stop".
#
# The registry: by default the gateway's own (farm_registry builtin: the
# agents register over HTTP, at the farm_registry_api location, with a
# token), so nothing else runs.  REGISTRY=redis: a Redis server;
# REGISTRY=consul: a Consul dev agent built by scripts/consul.sh (the first
# time takes minutes).
#
#   REGISTRY (builtin)  GATEWAY_PORT (8080)  REDIS_PORT (6390)
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
registry=${REGISTRY:-builtin}
token_file=$dir/conf/agents.token

case "$registry" in
    builtin) registry_url=http://127.0.0.1:$gw_port/farm/registry
             registry_ports= ;;
    redis)   registry_url=redis://127.0.0.1:$redis_port
             registry_ports=$redis_port ;;
    consul)  registry_url=consul://127.0.0.1:$consul_port
             registry_ports="$consul_port $((consul_port + 1)) $((consul_port + 2))" ;;
    *)       printf 'demo: REGISTRY must be builtin, redis or consul, not "%s"\n' \
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
    for f in "$dir"/agent-*.pid; do
        [ -e "$f" ] && stop_pid "$f" TERM
    done
    stop_pid "$dir/logs/nginx.pid" QUIT
    stop_pid "$dir/redis.pid" TERM
    stop_pid "$dir/consul.pid" TERM
    say "demo: stopped"
}

start_agent() {   # start_agent id port region caps weight
    id=$1 port=$2
    set -- --listen "127.0.0.1:$port" --id "$id" --service agents \
        --registry "$registry_url" --region "$3" --cap "$4" --weight "$5" \
        --ttl 6s
    if [ "$registry" = builtin ]; then
        set -- "$@" --token-file "$token_file"
    fi
    "$agent" "$@" > "$dir/logs/agent-$id.log" 2>&1 &
    echo $! > "$dir/agent-$id.pid"
    wait_for "agent $id to register (see $dir/logs/agent-$id.log)" \
        registered "$port"
}

# The agent's own word: its /metrics says the registry holds its record.
registered() {
    curl -sf "http://127.0.0.1:$1/metrics" \
        | grep -q '^farm_agent_registered 1'
}

# The gateway's status shows agent $1 up (healthy, routable).
routable() {
    curl -sf "http://127.0.0.1:$gw_port/farm" | tr -d ' \n' \
        | grep -q "\"id\":\"$1\"[^}]*\"state\":\"up\""
}

list_agents() {
    case "$registry" in
    builtin)
        curl -s -H "Authorization: Bearer $(cat "$token_file")" \
            "http://127.0.0.1:$gw_port/farm/registry/agents/agents" \
            | grep -o '"id":"[^"]*","ttl_ms_left"' \
            | sed 's/^"id":"\([^"]*\)".*/\1/' | sort ;;
    consul)
        curl -s "http://127.0.0.1:$consul_port/v1/health/service/agents?passing" \
            | grep -o '"ServiceID": *"[^"][^"]*"' | sort -u \
            | sed 's/.*"\([^"]*\)"$/\1/' ;;
    redis)
        redis-cli -p "$redis_port" --raw SMEMBERS farm:agents:agents | sort ;;
    esac
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

request() {      # request path -> prints "agent status"
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

# nginx.conf; with $1 = 1 also /farm/metrics and /farm/dashboard.
write_conf() {
    if [ "$registry" = builtin ]; then
        upstream_registry="farm_registry builtin service=agents token_file=$token_file ttl=6s;"
        api_location="location /farm/registry/ { farm_registry_api; }"
    else
        upstream_registry="farm_registry $registry_url service=agents resync=2s;"
        api_location=
    fi

    extras=
    if [ "$1" = 1 ]; then
        extras="location = /farm/metrics { farm_metrics; }
        location = /farm/dashboard { farm_dashboard; }"
    fi

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
        $upstream_registry
        farm_balance least_conn;
        farm_health_check uri=/health interval=1s timeout=1s rise=1 fall=1;
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

        $api_location

        location = /farm {
            farm_status;
        }

        $extras
    }
}
EOF
}

# The gateway, with the metrics and dashboard pages when this build of the
# module has them (else nginx -t says "unknown directive": then without).
start_gateway() {
    if [ "$registry" = builtin ]; then
        say "== gateway on 127.0.0.1:$gw_port, its registry built in" \
            "(farm_registry builtin)"
    else
        say "== gateway on 127.0.0.1:$gw_port"
    fi

    write_conf 1
    if ! "$nginx" -p "$dir" -c conf/nginx.conf -t -q \
        > "$dir/logs/nginx-t.log" 2>&1; then
        write_conf 0
        if ! "$nginx" -p "$dir" -c conf/nginx.conf -t -q \
            > "$dir/logs/nginx-t.log" 2>&1; then
            cat "$dir/logs/nginx-t.log" >&2
            say "demo: nginx refuses $dir/conf/nginx.conf (above)" >&2
            exit 1
        fi
    fi

    "$nginx" -p "$dir" -c conf/nginx.conf
    wait_for "gateway" curl -sf "http://127.0.0.1:$gw_port/farm"
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

    # the service's token: the gateway and the agents read it, nobody else
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' \
        > "$token_file")

    if [ "$registry" = builtin ]; then
        start_gateway
    else
        start_registry
    fi

    say "== three agents register themselves in $registry_url"
    start_agent eu-1 "$agent_port"         eu-central gpu,browser 2
    start_agent us-1 $((agent_port + 1))   us-east    browser     1
    start_agent ap-1 $((agent_port + 2))   ap-south   pdf         1
    list_agents | sed 's/^/  registered: /'

    if [ "$registry" != builtin ]; then
        start_gateway
    fi

    for id in eu-1 us-1 ap-1; do
        wait_for "$id to be routable" routable "$id"
    done

    say "== 12 requests through the gateway (least_conn, eu-1 has weight 2)"
    show_traffic 12 "/work?ms=20"

    say "== failover: us-1 is killed (SIGKILL, no goodbye); the gateway" \
        "retries its requests on the others and its health check takes it out"
    stop_pid "$dir/agent-us-1.pid" KILL
    show_traffic 8 "/work?ms=20"

    say "== us-1 comes back and registers again"
    start_agent us-1 $((agent_port + 1)) us-east browser 1
    wait_for "us-1 to be routable again" routable us-1
    show_traffic 9 "/work?ms=20"

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
    say "The demo keeps running, with background traffic.  Where to look:"
    say "  status:     curl -s http://127.0.0.1:$gw_port/farm"
    if curl -sf -o /dev/null "http://127.0.0.1:$gw_port/farm/metrics"; then
        say "  metrics:    curl -s http://127.0.0.1:$gw_port/farm/metrics"
    fi
    if curl -sf -o /dev/null "http://127.0.0.1:$gw_port/farm/dashboard"; then
        say "  dashboard:  http://127.0.0.1:$gw_port/farm/dashboard" \
            "(in a browser)"
    fi
    say "  traffic:    curl -si 'http://127.0.0.1:$gw_port/work?ms=100'"
    if [ "$registry" = builtin ]; then
        say "  registry:   curl -s -H \"Authorization: Bearer \$(cat" \
            "$token_file)\" http://127.0.0.1:$gw_port/farm/registry/agents/agents"
    fi
    say "  an agent:   curl -s http://127.0.0.1:$agent_port/metrics"
    say "  logs:       $dir/logs/"
    say "  stop:       make demo-stop"
}

case "${1:-start}" in
    start) start ;;
    stop)  stop ;;
    *)     say "usage: $0 start|stop" >&2; exit 2 ;;
esac
