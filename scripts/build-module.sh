#!/bin/sh
# Builds build/ngx_http_farm_module.so.
#
# Default: against Debian's nginx-dev (/usr/share/nginx/src: nginx's headers,
# its auto/ scripts and conf_flags, the exact configure flags of Debian's
# /usr/sbin/nginx), so the module loads into the packaged nginx.
#
#   NGINX_SRC=/path/to/nginx  build against an nginx source tree instead
#   NGX_CONF_FLAGS="..."      configure flags when the tree has no conf_flags
#   FARM_STATIC=1             also build an nginx binary with the module
#                             linked in (--add-module; needs a full tree)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src=${NGINX_SRC:-/usr/share/nginx/src}
out=$top/build

if [ "${FARM_STATIC:-0}" = 1 ]; then
    work=$out/nginx-static-tree
else
    work=$out/nginx
fi

if [ ! -f "$src/auto/configure" ] && [ ! -f "$src/configure" ]; then
    echo "build-module: no nginx tree at $src (install nginx-dev: make deps," \
         "or set NGINX_SRC)" >&2
    exit 1
fi

# configure writes objs/ into the tree: work on a private copy, refreshed when
# the source tree changes.
stamp="$src $(ls -ld --time-style=+%s "$src" | awk '{print $6}')"
if [ ! -f "$work/.farm-src" ] || [ "$(cat "$work/.farm-src")" != "$stamp" ]
then
    rm -rf "$work"
    mkdir -p "$work"
    cp -a "$src"/. "$work"/
    echo "$stamp" > "$work/.farm-src"
fi

if [ -f "$work/conf_flags" ]; then
    # shellcheck disable=SC1091
    flags=$(bash -c ". '$work/conf_flags'; printf '%s\n' \"\${NGX_CONF_FLAGS[@]}\"")
else
    flags=${NGX_CONF_FLAGS:---with-compat}
fi

cc_opt="-g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2"
ld_opt="-Wl,-z,relro -Wl,-z,now -fPIC"

if [ "${FARM_STATIC:-0}" = 1 ]; then
    mode=--add-module
else
    mode=--add-dynamic-module
fi

# Reconfigure only when our addon script, the flags or the mode changed.
want="$mode $flags $(cksum < "$top/config")"
if [ ! -f "$work/objs/Makefile" ] || [ "$(cat "$work/.farm-conf" 2>/dev/null)" != "$want" ]
then
    cd "$work"
    # shellcheck disable=SC2086
    set -- $flags
    ./configure "$@" --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
        "$mode=$top" \
        > "$out/configure.log" 2>&1 || {
        echo "build-module: configure failed, see $out/configure.log" >&2
        tail -20 "$out/configure.log" >&2
        exit 1
    }
    echo "$want" > "$work/.farm-conf"
fi

cd "$work"
if [ "$mode" = --add-module ]; then
    target=
    result=objs/nginx
    dest=$out/nginx-static
else
    target=modules
    result=objs/ngx_http_farm_module.so
    dest=$out/ngx_http_farm_module.so
fi

# shellcheck disable=SC2086
if ! make -f objs/Makefile -j2 $target > "$out/module-build.log" 2>&1; then
    grep -E 'error|warning' "$out/module-build.log" >&2 \
        || tail -30 "$out/module-build.log" >&2
    echo "build-module: failed, see $out/module-build.log" >&2
    exit 1
fi

# a new file, not an overwrite: a running nginx keeps the old one mapped
cp "$result" "$dest.tmp"
mv -f "$dest.tmp" "$dest"
echo "built $dest"
