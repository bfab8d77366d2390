#!/bin/sh
# Times a newcomer's "make demo" on a fresh Debian 12: a bookworm root made
# by debootstrap (the default variant: Debian's required and important
# packages, no compiler, no make), a clean "git clone" of this repository's
# branch in it, and, timed from there, what a newcomer types as root:
#
#     apt-get update && apt-get install make    (a fresh Debian has no make)
#     make demo                                 (packages, build, demo)
#
# until "make demo" returns: the gateway up, the agents registered, traffic
# routed and the failover shown.  Prints the breakdown (apt: the package
# lists, download and install; build; the demo up to its failover) and the
# total, and keeps the whole output with a timestamp a line.  Then stops the
# demo with its own stop path ("make demo-stop"), stops by pid any process
# still running in the root, unmounts and removes the root.  Not part of
# "make test" or CI: it needs root, debootstrap and minutes.  Measured
# figures: docs/benchmarks.md.
#
#   scripts/fresh-demo-timing.sh
#
#   FRESH_DIR (/var/tmp/ngx-farm-fresh)  where the roots go: base/ (the
#       debootstrap, made once and kept: KEEP_BASE=0 removes it), run/
#       (a copy of base/ for one measurement), last-run.log (the output),
#       demo-logs/ (the demo's logs, when it did not finish)
#   MIRROR (http://deb.debian.org/debian)  SECURITY_MIRROR
#       (http://deb.debian.org/debian-security): what the root's apt uses,
#       bookworm, bookworm-updates and bookworm-security as an installed
#       Debian 12 has them
#   BRANCH (the checked-out branch)  what is cloned: its last commit, not
#       the working tree's changes
#   GATEWAY_PORT, AGENT_PORT  passed to the demo when set (the root shares
#       the machine's network: 8080 and 9101-9103 by default)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${FRESH_DIR:-/var/tmp/ngx-farm-fresh}
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
branch=${BRANCH:-$(git -C "$top" rev-parse --abbrev-ref HEAD)}
base=$dir/base
root=$dir/run
log=$dir/last-run.log

if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-demo-timing: needs root (debootstrap, chroot, mount)" >&2
    exit 1
fi
if ! command -v debootstrap > /dev/null; then
    echo "fresh-demo-timing: needs debootstrap (apt-get install debootstrap)" >&2
    exit 1
fi
case "$dir" in
    "$top"|"$top"/*)
        echo "fresh-demo-timing: FRESH_DIR must be outside the repository" >&2
        exit 1 ;;
esac

mkdir -p "$dir"

# --- the fresh machine: made once, copied for every measurement -----------
if [ ! -f "$base/.fresh-base-done" ]; then
    rm -rf "$base"
    echo "fresh-demo-timing: debootstrap bookworm into $base (minutes)"
    debootstrap bookworm "$base" "$mirror" > "$dir/debootstrap.log" 2>&1 || {
        tail -20 "$dir/debootstrap.log" >&2
        exit 1
    }
    cat > "$base/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
    # as a machine that has not run "apt-get update" yet
    find "$base/var/lib/apt/lists" -maxdepth 1 -type f -delete
    rm -f "$base"/var/cache/apt/*.bin
    touch "$base/.fresh-base-done"
fi

# Everything this script started in the root: mounts, and processes whose
# root directory is the root (the demo's, and anything left by a failure).
mounted=
cleanup() {
    set +e
    if [ -x "$root/usr/bin/make" ] && [ -d "$root/root/ngx_farm/.demo" ]; then
        chroot "$root" /bin/sh -c 'cd /root/ngx_farm && make demo-stop' \
            > "$dir/demo-stop.log" 2>&1
    fi
    for proc in /proc/[0-9]*; do
        [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] || continue
        pid=${proc#/proc/}
        echo "fresh-demo-timing: $pid still ran in the root, stopped" >&2
        kill -TERM "$pid" 2>/dev/null
        sleep 1
        [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] \
            && kill -KILL "$pid" 2>/dev/null
    done
    for m in $mounted; do
        umount "$root$m"
    done
    if grep -q " $root/" /proc/mounts; then
        echo "fresh-demo-timing: $root still has mounts; not removed" >&2
    else
        rm -rf "$root"
    fi
}

if grep -q " $root/" /proc/mounts; then
    echo "fresh-demo-timing: $root has mounts from an earlier run" >&2
    exit 1
fi
rm -rf "$root"
cp -a "$base" "$root"
trap cleanup EXIT
trap 'exit 1' INT TERM

cp /etc/resolv.conf "$root/etc/resolv.conf"
git clone -q --branch "$branch" "file://$top" "$root/root/ngx_farm"
commit=$(git -C "$root/root/ngx_farm" rev-parse --short HEAD)

mount -t proc proc "$root/proc"
mounted="/proc"
mount -t sysfs sys "$root/sys"
mounted="/sys $mounted"
mount --bind /dev "$root/dev"
mounted="/dev $mounted"
mount --bind /dev/pts "$root/dev/pts"
mounted="/dev/pts $mounted"

ports=
[ -n "${GATEWAY_PORT:-}" ] && ports="GATEWAY_PORT=$GATEWAY_PORT"
[ -n "${AGENT_PORT:-}" ] && ports="$ports AGENT_PORT=$AGENT_PORT"

echo "fresh-demo-timing: $branch at $commit on a fresh bookworm root," \
     "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# The newcomer's commands, as root in the clone; every line stamped with
# the seconds since the start.
times > "$dir/times"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/sh -c "
        set -e
        cd /root/ngx_farm
        echo '== timing: apt-get install make'
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q make
        echo '== timing: make demo'
        env $ports make demo
        echo '== timing: done'
    " 2>&1 | perl -MTime::HiRes=time -ne '
        BEGIN { $| = 1; $t0 = time }
        printf "%6.1f %s", time - $t0, $_' > "$log" || true
# the CPU time of the commands and everything they waited for (not of the
# demo's processes, which keep running), to read the wall time on a busy
# machine against
times >> "$dir/times"
cpu=$(sed -n '2p; 4p' "$dir/times" | tr ms '  ' \
      | awk '{ s = $1 * 60 + $2 + $3 * 60 + $4 }
             NR == 1 { before = s } END { printf "%.1f", s - before }')

if ! grep -q '== timing: done' "$log"; then
    tail -30 "$log" >&2
    echo "fresh-demo-timing: the demo did not finish; output in $log" >&2
    # the demo's logs (gateway, agents), before the root goes
    rm -rf "$dir/demo-logs"
    if [ -d "$root/root/ngx_farm/.demo/logs" ]; then
        cp -r "$root/root/ngx_farm/.demo/logs" "$dir/demo-logs"
        echo "fresh-demo-timing: the demo's logs in $dir/demo-logs" >&2
    fi
    exit 1
fi

# The phases, from the stamps: apt (both installs: make, then
# scripts/deps.sh demo with the nginx-dev tree) until the build's first
# line; the build until the demo's first line; the demo until it returned.
CPU=$cpu LOAD=$(cut -d' ' -f1-3 /proc/loadavg) perl -ne '
    ($t, $line) = /^\s*([\d.]+) (.*)/ or next;
    $build //= $t if !defined $demo && $seen_deps && $line =~
        m{^(?:\S*make\b.* all|(?:CC=\S+ )?\./scripts/build-module|cc )};
    $seen_deps = 1 if $line =~ /^deps: |Setting up /;
    $demo //= $t if $line =~ /^== (?:gateway|Redis|Consul)/;
    $done = $t if $line =~ /^== timing: done/;
    END {
        die "fresh-demo-timing: phases not found\n"
            unless defined $build && defined $demo && defined $done;
        printf "apt (lists, download, install): %5.1f s\n", $build;
        printf "build (module, farm-agent):     %5.1f s\n", $demo - $build;
        printf "demo (up, routing, failover):   %5.1f s\n", $done - $demo;
        printf "total:                          %5.1f s\n", $done;
        printf "cpu (user+sys of the commands): %5.1f s, load then %s\n",
            $ENV{CPU}, $ENV{LOAD};
    }' "$log"
echo "fresh-demo-timing: whole output in $log"

[ "${KEEP_BASE:-1}" = 1 ] || rm -rf "$base"
