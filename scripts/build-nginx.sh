#!/bin/bash
# nginx and the module from one of nginx.org's sources in
# ../shared/nginx-src/ (stable 1.30.x, mainline 1.31.x), with -Werror, so
# that the module is known to build against current releases and the
# suite can run on that nginx:
#
#   scripts/build-nginx.sh 1.30.4        # build/nginx-1.30.4/objs/{nginx,*.so}
#   TEST_NGINX_BINARY=build/nginx-1.30.4/objs/nginx \
#   TEST_NGINX_MODULE=build/nginx-1.30.4/objs/ngx_http_tier_router_module.so \
#       prove -r t/
#
# NGINX_SRC_DIR=dir takes the tarballs from dir; BUILD=dir builds into
# dir/nginx-VERSION.  The configure flags are the ones the tests need:
# --with-compat as the packages have it, HTTP/2, auth_request, threads.
# About a minute here; nothing is rebuilt when the binary is newer than
# every source of the module.

set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$PWD
VERSION=${1:?usage: scripts/build-nginx.sh VERSION}
SRC_DIR=${NGINX_SRC_DIR:-$ROOT/../shared/nginx-src}
TARBALL=$SRC_DIR/nginx-$VERSION.tar.gz
B=${BUILD:-$ROOT/build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
D=$B/nginx-$VERSION

[ -f "$TARBALL" ] || { echo "build-nginx: no $TARBALL" >&2; exit 1; }

./scripts/deps.sh --nginx-src

mod=ngx_http_tier_router_module

if [ -x "$D/objs/nginx" ] && [ -f "$D/objs/$mod.so" ] \
   && [ -z "$(find "$ROOT/config" "$ROOT/$mod" -newer "$D/objs/$mod.so" \
              -print -quit)" ]
then
    exit 0
fi

rm -rf "$D"
mkdir -p "$B"
tar -xzf "$TARBALL" -C "$B"
[ -d "$D" ] || { echo "build-nginx: $TARBALL has no nginx-$VERSION/" >&2;
                 exit 1; }

cd "$D"

# repository snapshots keep configure in auto/, release tarballs at the top
if [ -x auto/configure ]; then
    configure=auto/configure
else
    configure=./configure
fi

echo "build-nginx: nginx $VERSION with the module, -Werror"

$configure --prefix="$D/prefix" --error-log-path=stderr \
    --with-compat --with-debug --with-threads \
    --with-http_v2_module --with-http_auth_request_module \
    --with-cc-opt="-O2 -g -Werror" \
    --add-dynamic-module="$ROOT" > configure.log 2>&1 \
    || { tail -20 configure.log; exit 1; }

make -s -j2 > make.log 2>&1 || { grep -B2 -A8 -m5 'error' make.log; exit 1; }

echo "build-nginx: $D/objs/nginx $D/objs/$mod.so"
