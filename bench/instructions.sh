#!/bin/bash
# Instructions per request under callgrind: deterministic where wrk's
# throughput is noise.  One nginx worker (master_process off) runs under
# valgrind --tool=callgrind with three servers on one upstream, as in
# bench/run.sh: plain proxy_pass, the module, and the module with spend
# accounting.  For each body size and server: warm up, zero the counters
# (callgrind_control -z), send BENCH_REQUESTS requests over one keep-alive
# connection, dump (callgrind_control -d) and divide the instructions
# (Ir) by the requests.  The ratio plain / module is the throughput the
# module would have if time followed instructions.
#
#   bench/instructions.sh                    about 2 minutes
#   BENCH_REQUESTS=50 BENCH_SIZES=64k bench/instructions.sh
#
# See bench/README.md.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
MODULE=$BUILD/ngx_http_tier_router_module.so
WORK=${BENCH_DIR:-$ROOT/run/bench-ir}
REQUESTS=${BENCH_REQUESTS:-100}
WARMUP=${BENCH_WARMUP:-10}
PORT=${BENCH_PORT:-18190}       # upstream; plain +1, module +2, budget +3
UP_PORT=$PORT PLAIN_PORT=$((PORT + 1)) MOD_PORT=$((PORT + 2))
BUDGET_PORT=$((PORT + 3))
URI=/v1/chat/completions
SIZES="${BENCH_SIZES:-1k 9k 64k 64k-zh}"

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

command -v valgrind > /dev/null \
    || die "valgrind is not installed (apt-get install valgrind)"
[ -x "$NGINX" ] || die "no nginx at $NGINX"

cd "$ROOT"
make -s module
[ -f "$MODULE" ] || die "$MODULE was not built"

VG_PID=

stop_all() {
    local pid _
    if [ -n "$VG_PID" ] && kill -0 "$VG_PID" 2>/dev/null; then
        kill -TERM "$VG_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$VG_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$VG_PID" 2>/dev/null || true
    fi
    if [ -s "$WORK/upstream.pid" ]; then
        pid=$(cat "$WORK/upstream.pid")
        kill -TERM "$pid" 2>/dev/null || true
    fi
}

trap stop_all EXIT
trap 'exit 130' INT TERM

for p in $UP_PORT $PLAIN_PORT $MOD_PORT $BUDGET_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is in use (set BENCH_PORT)"
    fi
done

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/tmp" "$WORK/bodies" "$WORK/callgrind"
chmod 755 "$WORK" "$WORK/tmp"

perl bench/make_bodies.pl "$WORK/bodies" > "$WORK/bodies.txt"

temp_paths() {                  # name
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        echo "    ${t}_temp_path $WORK/tmp/$1-$t;"
    done
}

cat > "$WORK/upstream.conf" <<EOF
worker_processes  1;
pid               $WORK/upstream.pid;
error_log         $WORK/logs/upstream-error.log warn;
events { worker_connections 1024; }
http {
$(temp_paths upstream)
    access_log          off;
    keepalive_requests  1000000;
    server {
        listen  127.0.0.1:$UP_PORT;
        location / {
            default_type  application/json;
            return 200 '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"The answer is 42."},"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":6,"total_tokens":256}}';
        }
    }
}
EOF

cat > "$WORK/proxy.conf" <<EOF
load_module $MODULE;
daemon            off;
master_process    off;
worker_processes  1;
pid               $WORK/proxy.pid;
error_log         $WORK/logs/proxy-error.log warn;
events { worker_connections 1024; }
http {
$(temp_paths proxy)
    access_log               off;
    keepalive_requests       1000000;
    client_body_buffer_size  1m;
    client_max_body_size     4m;

    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 16;
        keepalive_requests 1000000;
    }

    tier_router_tier  small     model=gpt-4.1-nano  upstream=bench_upstream;
    tier_router_tier  mid       model=gpt-4.1-mini  upstream=bench_upstream;
    tier_router_tier  frontier  model=gpt-4.1       upstream=bench_upstream;
    tier_router_tier  thinking  model=o3            upstream=bench_upstream
                                reasoning=high;

    tier_router_price  gpt-4.1-nano  input=0.10 output=0.40;
    tier_router_price  gpt-4.1-mini  input=0.40 output=1.60;
    tier_router_price  gpt-4.1       input=2    output=8;
    tier_router_price  o3            input=2    output=8;

    tier_router_budget_zone  zone=bench:1m period=month;

    proxy_http_version  1.1;
    proxy_set_header    Connection "";

    server {
        listen  127.0.0.1:$PLAIN_PORT;
        location / {
            proxy_pass  http://bench_upstream;
        }
    }

    server {
        listen  127.0.0.1:$MOD_PORT;
        location / {
            tier_router  on;
            proxy_pass   http://\$tier_router_upstream;
        }
    }

    server {
        listen  127.0.0.1:$BUDGET_PORT;
        location / {
            tier_router         on;
            tier_router_budget  zone=bench key=\$http_authorization
                                limit=100000;
            proxy_pass          http://\$tier_router_upstream;
        }
    }
}
EOF

"$NGINX" -p "$WORK/" -e "$WORK/logs/upstream-error.log" \
    -c "$WORK/upstream.conf"
"$NGINX" -p "$WORK/" -e "$WORK/logs/proxy-error.log" -c "$WORK/proxy.conf" \
    -t -q || die "nginx -t failed on $WORK/proxy.conf"

valgrind --tool=callgrind --quiet --compress-strings=no \
    --callgrind-out-file="$WORK/callgrind/out" \
    "$NGINX" -p "$WORK/" -e "$WORK/logs/proxy-error.log" \
    -c "$WORK/proxy.conf" 2> "$WORK/logs/valgrind.log" &
VG_PID=$!

for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$BUDGET_PORT") 2>/dev/null && break
    kill -0 "$VG_PID" 2>/dev/null || die "nginx under valgrind exited: $(
        tail -n 5 "$WORK/logs/valgrind.log" "$WORK/logs/proxy-error.log")"
    sleep 0.1
done

# the instructions of BENCH_REQUESTS requests, from a dump's totals
measure() {                     # name port body
    local n before
    perl bench/ir_client.pl "$2" "$URI" "$3" "$WARMUP" \
        || die "$1: the warm-up failed"
    callgrind_control -z "$VG_PID" > /dev/null 2>&1
    perl bench/ir_client.pl "$2" "$URI" "$3" "$REQUESTS" \
        || die "$1: a request failed"
    before=$(ls "$WORK/callgrind" | wc -l)
    callgrind_control -d "$1" "$VG_PID" > /dev/null 2>&1
    for _ in $(seq 100); do
        n=$(ls "$WORK/callgrind" | wc -l)
        [ "$n" -gt "$before" ] && break
        sleep 0.1
    done
    # the newest dump: "totals: IR" (or "summary: IR")
    awk '/^(totals|summary):/ { print $2; exit }' \
        "$(ls -t "$WORK"/callgrind/out* | head -n 1)"
}

echo "tier router instruction counts: callgrind, nginx" \
     "$("$NGINX" -v 2>&1 | sed 's|.*/||'), $REQUESTS requests per server" \
     "and size over one keep-alive connection"
echo
printf '%-6s %7s %10s %10s %10s %7s %7s %9s %9s\n' body bytes plain module \
    budget ratio ratio added added
printf '%-6s %7s %10s %10s %10s %7s %7s %9s %9s\n' '' '' Ir/req Ir/req \
    Ir/req module budget module budget

for s in $SIZES; do
    body=$WORK/bodies/body-$s.json
    size=$(stat -c %s "$body")
    plain=$(measure "plain-$s" "$PLAIN_PORT" "$body")
    module=$(measure "module-$s" "$MOD_PORT" "$body")
    budget=$(measure "budget-$s" "$BUDGET_PORT" "$body")
    awk -v s="$s" -v size="$size" -v n="$REQUESTS" -v p="$plain" \
        -v m="$module" -v b="$budget" 'BEGIN {
        p /= n; m /= n; b /= n;
        printf "%-6s %7d %10.0f %10.0f %10.0f %7.2f %7.2f %+9.0f %+9.0f\n",
               s, size, p, m, b, p / m, p / b, m - p, b - p
    }'
done
