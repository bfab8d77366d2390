# Sourced by the demo and benchmark scripts: what they all need.
# The sourcing script sets "me" (its name in messages) first.

say() { printf '%s\n' "$*"; }

# wait_for WHAT COMMAND...: until COMMAND succeeds, polling every 50 ms for
# at most 10 s; then a message naming WHAT, and failure.
wait_for() {
    what=$1
    shift
    tries=0
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -gt 200 ]; then
            say "$me: timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.05
    done
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
