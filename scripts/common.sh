# Sourced by the demo and benchmark scripts: what they all need.
# The sourcing script sets "me" (its name in messages) first.

say() { printf '%s\n' "$*"; }

# wait_for WHAT COMMAND...: until COMMAND succeeds, polling every 50 ms for
# at most 10 s; then a message naming WHAT, and failure.
wait_for() {
    wait_polling 200 0.05 "$@"
}

# wait_long WHAT COMMAND...: the same, polling every 0.5 s for at most 180 s
# (a registry of 100,000 agents read on a busy machine).
wait_long() {
    wait_polling 360 0.5 "$@"
}

# wait_polling TRIES INTERVAL WHAT COMMAND...: what both run.
wait_polling() {
    most=$1
    every=$2
    what=$3
    shift 3
    tries=0
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -gt "$most" ]; then
            say "$me: timed out waiting for $what" >&2
            return 1
        fi
        sleep "$every"
    done
}

# stop_all: every nginx under $dir/*/logs and every process spawn() started,
# QUIT and TERM first, KILL half a second later (for an EXIT trap).
stop_all() {
    for f in "$dir"/*/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -QUIT "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$dir"/run/*.pid; do
        [ -e "$f" ] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.5
    for f in "$dir"/run/*.pid "$dir"/*/logs/nginx.pid; do
        [ -e "$f" ] || continue
        kill -KILL "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}

# stop_nginx NAME: QUIT to the nginx under $dir/NAME, then up to 10 s for
# it to end (its pid file names it).
stop_nginx() {
    f=$dir/$1/logs/nginx.pid
    [ -e "$f" ] || return 0
    pid=$(cat "$f")
    kill -QUIT "$pid" 2>/dev/null || true
    tries=0
    while kill -0 "$pid" 2>/dev/null && [ $tries -lt 100 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
}

# wrk_summary FILE: "requests non2xx p99 max" (ms) of wrk --latency output.
wrk_summary() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        /^ +Latency +[0-9]/ { max = ms($4) }
        /^ +99%/      { p99 = ms($2) }
        /requests in/ { req = $1 }
        /Non-2xx/     { bad = $NF }
        END { printf "%d %d %.2f %.2f\n", req, bad, p99, max }
    ' "$1"
}

# port_busy PORT: something already listens on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# spawn NAME COMMAND...: runs COMMAND in the background, its output in
# $dir/logs/NAME.log and its pid in $dir/run/NAME.pid (the sourcing script
# sets "dir" and makes both folders).
spawn() {
    name=$1
    shift
    "$@" > "$dir/logs/$name.log" 2>&1 &
    echo $! > "$dir/run/$name.pid"
}
