#!/bin/bash
# Install, with apt-get, whatever the build, the example and the benchmark
# need and is missing, and with --tests what the tests need too (clang for
# the fuzz targets, chromium for the status page).  Idempotent and quiet
# when nothing is missing.
# With --nginx-src what building nginx itself from source needs
# (scripts/build-nginx.sh), with --dates the faketime library
# (scripts/test-dates.sh), with --deb the Debian packaging tools (make
# deb; --tests too, for t/deb.t).  Debian bookworm (nginx 1.22.1); run as
# root.
#
#   scripts/deps.sh [--tests] [--nginx-src] [--dates] [--deb]

set -euo pipefail

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" \
        = "install ok installed" ]
}

missing=()

# a compiler: build-essential, or at least gcc, make and the libc headers
if ! installed build-essential; then
    for p in gcc make libc6-dev; do
        installed "$p" || { missing+=(build-essential); break; }
    done
fi

for p in nginx nginx-dev libjansson-dev libcurl4-openssl-dev libhiredis-dev \
         perl curl wrk ca-certificates
do
    installed "$p" || missing+=("$p")
done

# --tests: also clang and its libFuzzer runtime, for the fuzz targets
# (t/fuzz.t, make fuzz), redis-server (t/redis.t), chromium (headless, for
# the status page in t/status_html.t), node and npm (t/sdk.t installs the
# official SDKs from the npm registry) and the packaging tools (t/deb.t);
# --nginx-src: PCRE2 and zlib for nginx itself; --dates: libfaketime;
# --deb: dpkg-buildpackage, debhelper (dh_nginx comes with nginx-dev) and
# lintian
deb="dpkg-dev debhelper lintian"

for arg in "$@"; do
    case $arg in
    --tests) want="clang libclang-rt-14-dev redis-server chromium $deb"
             # node and npm for the official SDKs (t/sdk.t), unless there
             command -v node > /dev/null && command -v npm > /dev/null \
                 || want="$want nodejs npm" ;;
    --nginx-src) want="libpcre2-dev zlib1g-dev" ;;
    --dates) want="faketime" ;;
    --deb) want="$deb" ;;
    *) echo "deps.sh: unknown option $arg" >&2; exit 1 ;;
    esac

    for p in $want; do
        installed "$p" || missing+=("$p")
    done
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
