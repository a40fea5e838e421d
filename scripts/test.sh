#!/bin/bash
# The single test command (README, CI): install what is missing, build
# everything (module, CLI, unit tests), run every test.  Exits with prove's
# status.  BUILD=dir builds into dir (as in the Makefile) and tests that
# build of the module.

set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh --tests
make all

if [ -n "${BUILD:-}" ] && [ -z "${TEST_NGINX_MODULE:-}" ]; then
    case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
    export TEST_NGINX_MODULE=$BUILD/ngx_http_tier_router_module.so
fi

set +e
prove -r t/
exit $?
