#!/bin/sh
# Installs every Debian package the build, the tests, the demo and the
# benchmark need, then builds the Consul binary the tests and the Consul
# demo use (scripts/consul.sh: the first run takes minutes, later runs find
# it in the cache).  Idempotent: does nothing when all are there.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

packages="
    gcc make pkg-config perl curl procps openssl
    clang llvm llvm-14 libclang-rt-14-dev
    nginx nginx-dev
    libpcre2-dev libssl-dev zlib1g-dev
    libhiredis-dev libjansson-dev libevent-dev libcurl4-openssl-dev
    libhttp-parser-dev
    libyaml-dev libcmocka-dev
    redis-server wrk haproxy
    chromium
"

missing=
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
        | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

consul() {
    "$top/scripts/consul.sh" > /dev/null
}

if [ -z "$missing" ]; then
    consul
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
else
    sudo=
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
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing

consul
