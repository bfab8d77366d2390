#!/bin/sh
# Installs the Debian packages a part of the project needs; idempotent:
# does nothing when they are all there.
#
#   scripts/deps.sh              everything: the build, every test (prometheus
#                                for its promtool, which checks farm_metrics;
#                                chromium, which loads the dashboard),
#                                the benchmarks and the demos, and the Consul
#                                binary the tests use (scripts/consul.sh:
#                                the first run takes minutes, later runs
#                                find it in the cache)
#   scripts/deps.sh demo         only what "make demo" needs: the build and
#                                nginx (the gateway's built-in registry).
#                                On an amd64 machine without a C compiler
#                                (no cc), tcc and libc6-dev instead of gcc:
#                                the Tiny C Compiler, 1 package (0.8 MB)
#                                where gcc is 24 (176 MB), builds the demo
#                                in about 10 s where gcc takes 35-40; its
#                                package makes it cc until gcc is installed
#                                (docs/benchmarks.md).
#                                Not the nginx-dev package, whose
#                                dependencies (debhelper, libgd-dev, ...) are
#                                for building Debian's own modules: its files
#                                (nginx's source tree with Debian's configure
#                                flags) are unpacked into build/nginx-dev,
#                                unless it is installed
#   scripts/deps.sh demo redis   ... and redis-server (make demo REGISTRY=redis)
#   scripts/deps.sh demo consul  ... and the Consul binary (REGISTRY=consul)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
registry=${2:-builtin}

# the module (against nginx's tree: nginx-dev; the dashboard's C header is
# made from its page by perl-base, there on every Debian) and farm-agent;
# curl for the demo's calls
build="
    make curl
    nginx
    libpcre2-dev libssl-dev zlib1g-dev
    libhiredis-dev libjansson-dev libevent-dev libcurl4-openssl-dev
    libhttp-parser-dev libyaml-dev libxxhash-dev libnghttp2-dev
"

# the tests, the sanitizer and fuzzer builds, the benchmarks (nodejs and
# python3 run the workers of scripts/bench-agent.sh; python3-h2 the gRPC
# health server of t/44-kong-grpc-check.t)
tests="
    perl procps openssl
    clang llvm llvm-14 libclang-rt-14-dev
    libcmocka-dev tcc
    redis-server wrk haproxy
    nodejs python3 python3-h2
    prometheus
    chromium
"

case "$what" in
    all)
        packages="gcc $build nginx-dev $tests"
        consul=1 ;;
    demo)
        if ! command -v cc > /dev/null \
            && [ "$(dpkg --print-architecture)" = amd64 ]; then
            packages="tcc libc6-dev $build"
        else
            packages="gcc $build"
        fi
        consul=
        case "$registry" in
            builtin) ;;
            redis)   packages="$packages redis-server" ;;
            consul)  consul=1 ;;
            *)       echo "deps: REGISTRY must be builtin, redis or consul," \
                         "not \"$registry\"" >&2
                     exit 2 ;;
        esac ;;
    *)
        echo "usage: $0 [all | demo [builtin|redis|consul]]" >&2
        exit 2 ;;
esac

missing=
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
        | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
else
    sudo=
fi

consul() {
    if [ -n "$consul" ]; then
        "$top/scripts/consul.sh" > /dev/null
    fi
}

# The demo: nginx's tree from the nginx-dev package of the installed
# nginx's version, unpacked without its dependencies, where the Makefile
# looks for it when /usr/share/nginx/src is absent.
nginx_tree() {
    [ "$what" = demo ] || return 0
    [ -f /usr/share/nginx/src/configure ] && return 0
    dest=$top/build/nginx-dev
    [ -f "$dest/usr/share/nginx/src/configure" ] && return 0

    version=$(dpkg-query -W -f='${Version}' nginx)
    tmp=$(mktemp -d)
    echo "deps: unpacking nginx-dev $version into build/nginx-dev"
    if ! (cd "$tmp" && apt-get download -q "nginx-dev=$version") \
        > "$tmp/log" 2>&1; then
        $sudo apt-get update -q
        (cd "$tmp" && apt-get download -q "nginx-dev=$version")
    fi
    mkdir -p "$dest"
    dpkg-deb -x "$tmp"/nginx-dev_*.deb "$dest"
    rm -rf "$tmp"
}

if [ -z "$missing" ]; then
    nginx_tree
    consul
    exit 0
fi

echo "deps: installing$missing"

# Packages such as nginx, redis-server and haproxy would start system
# services on install; the project runs its own on loopback ports instead.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    own_policy=1
fi

cleanup() {
    if [ -n "$own_policy" ]; then
        $sudo rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Package lists fetched in the last hour (a newcomer's "apt-get update"
# before "apt-get install make") are used as they are: the directory's
# time is that of the last update that changed a list.  Older or absent
# lists are updated first; an install that fails on recent ones is tried
# again after an update.
# shellcheck disable=SC2086
if [ -n "$(find /var/lib/apt/lists -maxdepth 0 -mmin -60 2>/dev/null)" ] \
    && ls /var/lib/apt/lists/*_Packages > /dev/null 2>&1 \
    && $sudo apt-get install -y -q --no-install-recommends $missing
then
    :
else
    $sudo apt-get update -q
    # shellcheck disable=SC2086
    $sudo apt-get install -y -q --no-install-recommends $missing
fi

nginx_tree
consul
