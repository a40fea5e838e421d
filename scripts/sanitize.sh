#!/bin/bash
# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer:
# nginx itself is built from Debian's source package (the installed
# version's, else the newest the archive has) with Debian's configure
# flags, the module with it, and the C unit tests too.  Any report from a
# sanitizer (but the known ones of nginx's own code, in
# scripts/ubsan.supp and scripts/lsan.supp), or any failing test, fails
# the run.
#
#   scripts/sanitize.sh            (about 10 minutes here; root, apt-get)
#
# Everything goes to build/asan/ (BUILD=dir: dir/asan); the reports, if
# any, to build/asan/logs/.

set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$PWD
B=${BUILD:-$ROOT/build}/asan
case $B in /*) ;; *) B=$ROOT/$B ;; esac
SAN="-fsanitize=address,undefined"

./scripts/deps.sh --tests

if ! command -v dpkg-source > /dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends dpkg-dev
fi

mkdir -p "$B"

# Debian's nginx source: a deb-src line for the archive the machine
# installs from, if it has none
if [ -z "$(apt-cache showsrc nginx 2>/dev/null)" ] \
   && [ -f /etc/apt/sources.list.d/debian.sources ] \
   && ! grep -q deb-src /etc/apt/sources.list.d/debian.sources
then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
        > /etc/apt/sources.list.d/tier-router-src.sources
    apt-get update -q > /dev/null
fi

# -- nginx and the module, from Debian's source ------------------------------

# a module that gained or lost a file needs nginx configured again
if [ -f "$B/src/objs/Makefile" ] && [ "$ROOT/config" -nt "$B/src/objs/Makefile" ]
then
    rm -f "$B/src/objs/nginx"
fi

if [ ! -x "$B/src/objs/nginx" ]; then
    rm -rf "$B/src" "$B/dl"
    mkdir -p "$B/dl"
    (
        cd "$B/dl"
        # the installed version first, then the others the archive lists
        # (a security update's source may not be fetchable)
        ok=
        for v in $(dpkg-query -W -f='${Version}' nginx) \
                 $(apt-cache showsrc nginx | sed -n 's/^Version: //p')
        do
            if apt-get source --download-only "nginx=$v" > get.log 2>&1
            then
                ok=$v
                break
            fi
            rm -f nginx_*
        done
        [ -n "$ok" ] || { cat get.log;
            echo "sanitize: no nginx source (a deb-src line?)" >&2; exit 1; }
        echo "sanitize: nginx source $ok"
        dpkg-source -x nginx_*.dsc "$B/src" > /dev/null
    )

    (
        cd "$B/src"
        . /usr/share/nginx/src/conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt="-g -O1 -fno-omit-frame-pointer $SAN" \
            --with-ld-opt="$SAN -lcrypt" \
            --add-dynamic-module="$ROOT" --builddir=objs > "$B/configure.log"
        make -j"$(nproc)" -f objs/Makefile > "$B/make.log" 2>&1 \
            || { tail -30 "$B/make.log"; exit 1; }
    )
fi

(cd "$B/src" && make -f objs/Makefile modules > "$B/make-module.log" 2>&1) \
    || { tail -30 "$B/make-module.log"; exit 1; }

NGINX=$B/src/objs/nginx
MODULE=$B/src/objs/ngx_http_tier_router_module.so

echo "sanitize: $($NGINX -v 2>&1) with $SAN"

# -- the C unit tests, built the same way ------------------------------------

make -s all
make -s unit BUILD="$B/unit" CFLAGS="-g -O1 -fno-omit-frame-pointer $SAN"

rm -rf "$B/logs"
mkdir -p "$B/logs"

# nginx and a dynamic module both define ngx_module_names, by design
export ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0:log_path=$B/logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$B/logs/ubsan:suppressions=$ROOT/scripts/ubsan.supp"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"

rc=0

for u in "$B"/unit/test_*; do
    [ -x "$u" ] || continue
    if ! out=$(TIER_ROUTER_DATA=$ROOT/t/data/routing "$u" 2>&1); then
        echo "sanitize: $(basename "$u") failed" >&2
        rc=1
    fi
    if grep -q '^not ok' <<< "$out"; then
        grep '^not ok' <<< "$out" | head >&2
        rc=1
    fi
done

echo "sanitize: unit tests done"

# -- every nginx test against the sanitized nginx and module -----------------

TEST_NGINX_BINARY=$NGINX TEST_NGINX_MODULE=$MODULE TEST_FUZZ_SECONDS=0 \
    prove -r t/ || rc=1

if [ -n "$(ls -A "$B/logs")" ]; then
    echo "sanitize: sanitizer reports:" >&2
    for f in "$B"/logs/*; do
        echo "== $f" >&2
        head -40 "$f" >&2
    done
    rc=1
else
    echo "sanitize: no sanitizer report"
fi

exit $rc
