#!/bin/bash
# nginx tests with the packaged nginx and the module run under valgrind
# (memcheck): invalid reads and writes, uses of uninitialised values and
# definite leaks in any nginx process fail the run.
#
#   scripts/valgrind.sh [TEST...]   (default: every test that runs nginx;
#                                    about 3 minutes here)
#
# Reports go to build/valgrind/ (BUILD=dir: dir/valgrind).

set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$PWD
V=${BUILD:-$ROOT/build}/valgrind
case $V in /*) ;; *) V=$ROOT/$V ;; esac

./scripts/deps.sh

if ! command -v valgrind > /dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends valgrind
fi

make -s all

rm -rf "$V"
mkdir -p "$V/logs"

# what the harness runs as nginx
cat > "$V/nginx" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=yes --error-exitcode=0 \\
    --leak-check=full --show-leak-kinds=definite \\
    --errors-for-leak-kinds=definite --num-callers=30 \\
    --suppressions=$ROOT/scripts/valgrind.supp \\
    --log-file=$V/logs/vg.%p /usr/sbin/nginx "\$@"
WRAP
chmod +x "$V/nginx"

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=()
    for f in t/*.t; do
        case $f in t/fuzz.t|t/unit.t|t/classify.t) ;; *) tests+=("$f") ;; esac
    done
fi

rc=0

TEST_NGINX_BINARY=$V/nginx TEST_FUZZ_SECONDS=0 prove "${tests[@]}" || rc=1

# a log with anything in it is a report

bad=0
for f in "$V"/logs/vg.*; do
    [ -s "$f" ] || continue
    bad=$((bad + 1))
    if [ $bad -le 5 ]; then
        echo "== $f" >&2
        head -40 "$f" >&2
    fi
done

if [ $bad -gt 0 ]; then
    echo "valgrind: $bad processes with reports" >&2
    rc=1
else
    echo "valgrind: $(ls "$V"/logs | wc -l) nginx processes, no report"
fi

exit $rc
