#!/bin/sh
# Builds a real Consul binary from its Go module with this machine's Go and
# caches it, so only the first run pays (several minutes: downloads and a
# large compile).  Prints the binary's path on stdout.
#
#   scripts/consul.sh           build if needed, print the path
#   scripts/consul.sh --path    print where the binary is (or would be)
#
# Why v1.14.11 (docs/testing.md): it is the newest patch of the 1.14 line
# the Go module proxy serves; it is MPL-2.0, and its build needs neither
# github.com/hashicorp/consul/envoyextensions nor .../troubleshoot (added in
# 1.15), which are not under an open-source licence.  The script checks
# both before it builds.
#
# "go install consul@version" refuses a module with replace directives, so
# the build goes through a small wrapper module written into the cache dir:
# it requires consul and the submodules that consul's go.mod replaces with
# local directories (api, sdk, proto-public) at the versions that go.mod
# names, and repeats its other replace and exclude lines.
#
#   CONSUL_VERSION   (v1.14.11)
#   NGX_FARM_CACHE   (${XDG_CACHE_HOME:-~/.cache}/ngx_farm)
#   GO               (/usr/local/go/bin/go, else go on PATH)
set -eu

version=${CONSUL_VERSION:-v1.14.11}
cache=${NGX_FARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ngx_farm}
dir=$cache/consul-$version
bin=$dir/bin/consul

if [ "${1:-}" = --path ]; then
    echo "$bin"
    exit 0
fi

if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "^Consul ${version}\$"
then
    echo "$bin"
    exit 0
fi

say() { printf 'consul.sh: %s\n' "$*" >&2; }

if [ -n "${GO:-}" ]; then
    go=$GO
elif [ -x /usr/local/go/bin/go ]; then
    go=/usr/local/go/bin/go
elif command -v go >/dev/null 2>&1; then
    go=$(command -v go)
else
    say "no Go toolchain (looked for /usr/local/go/bin/go and go on PATH)"
    exit 1
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

say "building Consul $version with $($go version | cut -d' ' -f3)" \
    "into $dir (first run only; takes several minutes)"

src=$dir/src
rm -rf "$src"
mkdir -p "$src" "$dir/bin"

# consul's own go.mod, and its source for the licence check
info=$(cd "$src" && "$go" mod download -json "github.com/hashicorp/consul@$version")
gomod=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
moddir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')

if [ ! -f "$gomod" ] || [ ! -d "$moddir" ]; then
    say "cannot download github.com/hashicorp/consul@$version:"
    printf '%s\n' "$info" >&2
    exit 1
fi

mpl() {     # mpl dir: its LICENSE is the Mozilla Public License 2.0
    head -5 "$1/LICENSE" 2>/dev/null \
        | grep -q 'Mozilla Public License,* [Vv]ersion 2\.0'
}

if ! mpl "$moddir"; then
    say "$moddir/LICENSE is not MPL-2.0; refusing to build"
    exit 1
fi

# The wrapper module: what consul's go.mod replaces with ./dir becomes a
# plain requirement at the version consul requires; other replace lines
# and every exclude line are repeated as they are.
cat > "$src/go.mod" <<EOF
// Written by ngx_farm's scripts/consul.sh to build Consul $version.
module ngx-farm.invalid/consul-build

go 1.20

require github.com/hashicorp/consul $version
EOF

awk '
    /^(require|replace|exclude)[[:space:]]*\($/ { block = $1; next }
    block != "" && /^\)/                          { block = ""; next }
    {
        line = $0
        sub(/\/\/.*/, "", line)
        n = split(line, f, /[[:space:]]+/)
        j = 0
        for (i = 1; i <= n; i++) if (f[i] != "") w[++j] = f[i]
        if (j == 0) next
        kind = block
        if (kind == "") { kind = w[1]; for (i = 1; i < j; i++) w[i] = w[i + 1]; j-- }
        if (kind == "require" && j >= 2) req[w[1]] = w[2]
        if (kind == "exclude" && j >= 2) print "exclude " w[1] " " w[2]
        if (kind == "replace") {
            # old [ver] => new [ver]
            for (a = 1; a <= j; a++) if (w[a] == "=>") break
            old = w[1]; if (a == 3) old = old " " w[2]
            new = w[a + 1]; if (a + 2 <= j) new = new " " w[a + 2]
            if (substr(w[a + 1], 1, 2) == "./") local[w[1]] = 1
            else print "replace " old " => " new
        }
    }
    END {
        for (m in local) {
            if (!(m in req)) { print "missing " m; continue }
            print "require " m " " req[m]
        }
    }
' "$gomod" > "$src/lines"

if grep -q '^missing ' "$src/lines"; then
    say "consul's go.mod replaces a module it does not require:"
    grep '^missing ' "$src/lines" >&2
    exit 1
fi

cat "$src/lines" >> "$src/go.mod"
rm -f "$src/lines"

say "wrapper module:"
sed 's/^/    /' "$src/go.mod" >&2

# the licence rule of this project: nothing outside open-source licences
if (cd "$src" && "$go" list -m all) \
    | grep -E '^github\.com/hashicorp/consul/(envoyextensions|troubleshoot)( |$)'
then
    say "Consul $version needs a module that is not under an open-source" \
        "licence (see above); refusing to build"
    exit 1
fi

for m in $(grep '^require github.com/hashicorp/consul/' "$src/go.mod" \
           | awk '{ print $2 "@" $3 }'); do
    d=$(cd "$src" && "$go" mod download -json "$m" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
    if ! mpl "$d"; then
        say "$m is not MPL-2.0 ($d/LICENSE); refusing to build"
        exit 1
    fi
done

start=$(date +%s)

(cd "$src" && "$go" build -trimpath -ldflags '-s -w' -o "$bin.tmp" \
    github.com/hashicorp/consul)

if ! "$bin.tmp" version | grep -q "^Consul ${version}\$"; then
    say "the binary built does not report Consul $version:"
    "$bin.tmp" version >&2 || true
    exit 1
fi

mv -f "$bin.tmp" "$bin"
cp -f "$moddir/LICENSE" "$dir/LICENSE"

say "built $bin in $(( $(date +%s) - start )) s"
echo "$bin"
