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
#   FARM_ASAN=1               build build/asan/ngx_http_farm_module.so with
#                             clang, AddressSanitizer and UBSan instead, for
#                             scripts/nginx-asan (make test-asan), and the
#                             positive control beside it:
#                             build/asan/ngx_http_farm_asan_control_module.so
#                             (tests/asan/control).  Its own tree and objects
#                             in build/asan/: the normal build is untouched.
#   FARM_OUT (build)          the directory the module and nginx's private
#                             tree go to (make test-tcc: build/tcc)
#   CC (cc)                   the compiler, for nginx's configure.  When it
#                             is tcc, the Tiny C Compiler (scripts/deps.sh
#                             demo installs it as cc on a machine without a
#                             C compiler): no optimiser, no hardening flags,
#                             scripts/tcc-compat.h first in every file
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src=${NGINX_SRC:-/usr/share/nginx/src}
out=${FARM_OUT:-$top/build}
asan=${FARM_ASAN:-0}

if [ "$asan" = 1 ]; then
    if [ "${FARM_STATIC:-0}" = 1 ]; then
        echo "build-module: FARM_ASAN=1 builds dynamic modules only" >&2
        exit 1
    fi
    out=$top/build/asan
    work=$out/nginx
elif [ "${FARM_STATIC:-0}" = 1 ]; then
    work=$out/nginx-static-tree
else
    work=$out/nginx
fi
mkdir -p "$out"

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
cc=${CC:-cc}
cc_path=$(command -v "$cc" 2>/dev/null || true)
cc_path=$(readlink -f "$cc_path" 2>/dev/null || true)
if [ "${cc_path##*/}" = tcc ]; then
    cc_opt="-g -fPIC -include $top/scripts/tcc-compat.h"
    ld_opt="-fPIC"
fi

if [ "${FARM_STATIC:-0}" = 1 ]; then
    mode=--add-module
else
    mode=--add-dynamic-module
fi
addons="$mode=$top"
confs=$top/config

if [ "$asan" = 1 ]; then
    # clang, because gcc's libubsan, loaded by dlopen() as a dependency of
    # the module, writes its reports to stderr (nginx's error.log) whatever
    # UBSAN_OPTIONS=log_path says; clang's shared ASan runtime carries UBSan
    # and honours log_path.  -shared-libasan: the module needs the runtime
    # that scripts/nginx-asan preloads into the uninstrumented nginx, not a
    # copy of its own.  No _FORTIFY_SOURCE: its __memcpy_chk and friends
    # would bypass ASan's interceptors.
    rt=$(clang -print-file-name="libclang_rt.asan-$(uname -m).so" 2>/dev/null) || rt=
    if [ ! -f "$rt" ]; then
        echo "build-module: FARM_ASAN=1 needs clang and clang's ASan runtime" \
             "(libclang-rt-14-dev: make deps)" >&2
        exit 1
    fi
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
    cc_opt="-g -O1 -fno-omit-frame-pointer $san -Wformat -Werror=format-security -fPIC"
    ld_opt="$san -shared-libasan -Wl,-rpath,$(dirname "$rt") -Wl,-z,relro -Wl,-z,now -fPIC"
    flags="--with-cc=clang $flags"
    addons="$addons $mode=$top/tests/asan/control"
    confs="$confs $top/tests/asan/control/config"
fi

# Reconfigure only when our addon scripts, the flags, the mode or the
# compiler (nginx's configure takes CC from the environment) changed.
# shellcheck disable=SC2086
want="$addons $flags $cc_opt $ld_opt cc=$cc $cc_path $(cat $confs | cksum)"
if [ ! -f "$work/objs/Makefile" ] || [ "$(cat "$work/.farm-conf" 2>/dev/null)" != "$want" ]
then
    cd "$work"
    # shellcheck disable=SC2086
    set -- $flags
    # shellcheck disable=SC2086
    ./configure "$@" --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
        $addons \
        > "$out/configure.log" 2>&1 || {
        echo "build-module: configure failed, see $out/configure.log" >&2
        tail -20 "$out/configure.log" >&2
        exit 1
    }
    if [ "$asan" = 1 ]; then
        # The generated objs/<module>_modules.c defines ngx_modules[] and
        # ngx_module_names[], which the nginx executable's own arrays of the
        # same names interpose.  Instrumented, the module registers "its"
        # 32-byte ngx_modules with ASan, ASan poisons the executable's
        # larger array after 32 bytes, and the master aborts at the first
        # reload (ngx_cycle_modules copies the whole array).  These files
        # hold only tables: build them without any sanitizer.
        printf '\n%s\n' 'objs/%_modules.o: CFLAGS += -fno-sanitize=all' \
            >> objs/Makefile
    fi
    echo "$want" > "$work/.farm-conf"
fi

cd "$work"

# the dashboard's page as C (config did it at configure time; an edited page
# must reach this build too); rewritten only when it changed, and then only
# the one object that includes it is rebuilt
page=objs/addon/farm/ngx_http_farm_dashboard_html.h
mkdir -p objs/addon/farm
was=$(cksum < "$page" 2>/dev/null || true)
perl "$top/scripts/dashboard-html.pl" "$top/html/farm-dashboard.html" "$page"
if [ "$was" != "$(cksum < "$page")" ]; then
    rm -f objs/addon/ngx_farm_module/ngx_http_farm_dashboard.o
fi

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
install_result() {
    cp "$1" "$2.tmp"
    mv -f "$2.tmp" "$2"
    echo "built $2"
}

install_result "$result" "$dest"
if [ "$asan" = 1 ]; then
    install_result objs/ngx_http_farm_asan_control_module.so \
        "$out/ngx_http_farm_asan_control_module.so"
fi
