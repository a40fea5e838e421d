#!/bin/bash
# Throughput of the tier router against a plain proxy_pass, side by side.
#
#   bench/run.sh                 about 1.5 minutes
#   BENCH_DURATION=2 BENCH_REPEAT=2 bench/run.sh      quicker
#
# One nginx (worker_processes 1) with three servers: plain proxy_pass, the
# module (tier_router on; proxy_pass http://$tier_router_upstream) with all
# four tiers on the same upstream, and the module with spend accounting
# (one tenant with a budget: admission, the usage read from the answer,
# settlement).  The upstream is a second nginx that
# answers every request at once with a small OpenAI-shaped JSON answer.
# wrk POSTs chat bodies of about 1, 9 and 64 KB built from real prompts;
# runs alternate plain/module and the median of BENCH_REPEAT runs is shown.
# With two CPUs or more the proxy's worker has the last CPU to itself and
# wrk and the upstream share the others (BENCH_PIN=0: no pinning), and the
# worker's CPU time per request is measured beside the throughput.
# See bench/README.md.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
MODULE=$BUILD/ngx_http_tier_router_module.so
WORK=${BENCH_DIR:-$ROOT/run/bench}
DURATION=${BENCH_DURATION:-4}
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNECTIONS:-16}
PORT=${BENCH_PORT:-18090}       # upstream; plain +1, module +2, budget +3
UP_PORT=$PORT PLAIN_PORT=$((PORT + 1)) MOD_PORT=$((PORT + 2))
BUDGET_PORT=$((PORT + 3))
URI=/v1/chat/completions
SIZES="${BENCH_SIZES:-1k 9k 64k}"
NCPU=$(nproc)
PIN=${BENCH_PIN:-1}
LEARNED=${BENCH_LEARNED:-0}     # 1: the learned scorer and tier shares on
ATTEMPTS=${BENCH_ATTEMPTS:-0}   # budget server: 1 fallback and escalation,
                                # fallback: fallback only
SESSION=${BENCH_SESSION:-0}     # 1: the module server keeps sessions (every
                                # request the same conversation's lookup)
REDIS=${BENCH_REDIS:-0}         # 1: a fourth server, budgets in a shared
                                # Redis ledger (redis-server on port +5)
REDIS_PORT=$((PORT + 5)) LEDGER_PORT=$((PORT + 4))
[ "$NCPU" -ge 2 ] || PIN=0

# the proxy on the last CPU, the load generator and upstream on the rest
if [ "$PIN" = 1 ]; then
    PROXY_MASK=1$(printf '0%.0s' $(seq $((NCPU - 1))))
    UP_MASK=$(printf '1%.0s' $(seq $((NCPU - 1))))
    WRK="taskset -c 0-$((NCPU - 2)) wrk"
else
    WRK=wrk
fi

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

command -v wrk > /dev/null || die "wrk is not installed (scripts/deps.sh)"
[ -x "$NGINX" ] || die "no nginx at $NGINX"

cd "$ROOT"
make -s module
[ -f "$MODULE" ] || die "$MODULE was not built"

stop_nginx() {                  # pidfile
    local pid _
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    stop_nginx "$WORK/upstream.pid"
    stop_nginx "$WORK/proxy.pid"
    stop_nginx "$WORK/redis.pid"
}

cleanup                         # left over from an interrupted run
trap cleanup EXIT
trap 'exit 130' INT TERM

ports="$UP_PORT $PLAIN_PORT $MOD_PORT $BUDGET_PORT"
[ "$REDIS" = 1 ] && ports="$ports $LEDGER_PORT $REDIS_PORT"
for p in $ports; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is in use (set BENCH_PORT)"
    fi
done

rm -rf "$WORK/bodies" "$WORK/tmp" "$WORK/logs"
mkdir -p "$WORK/logs" "$WORK/tmp" "$WORK/bodies"
chmod 755 "$WORK" "$WORK/tmp"

if [ "$REDIS" = 1 ]; then
    command -v redis-server > /dev/null \
        || die "redis-server is not installed (scripts/deps.sh --tests)"
    mkdir -p "$WORK/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" \
        --save '' --appendonly no --daemonize yes \
        --pidfile "$WORK/redis.pid" --logfile "$WORK/logs/redis.log"
    printf 'a benchmark hash key, 32 bytes.' > "$WORK/hash.key"
    for _ in $(seq 50); do
        redis-cli -p "$REDIS_PORT" ping > /dev/null 2>&1 && break
        sleep 0.1
    done
fi

# --- request bodies ------------------------------------------------------

perl bench/make_bodies.pl "$WORK/bodies" > "$WORK/bodies.txt"
src=$(awk 'NR == 1 { print $4 }' "$WORK/bodies.txt")

# --- nginx configs -------------------------------------------------------

common() {                      # name
    local mask=$UP_MASK
    [ "$1" = proxy ] && mask=$PROXY_MASK
    cat <<EOF
worker_processes  1;
$([ "$PIN" = 1 ] && echo "worker_cpu_affinity $mask;")
pid               $WORK/$1.pid;
error_log         $WORK/logs/$1-error.log warn;
events { worker_connections 4096; }
EOF
}

temp_paths() {                  # name
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        echo "    ${t}_temp_path $WORK/tmp/$1-$t;"
    done
}

{
    common upstream
    cat <<EOF
http {
$(temp_paths upstream)
    access_log          off;
    keepalive_requests  1000000;
    server {
        listen  127.0.0.1:$UP_PORT backlog=4096;
        location / {
            default_type  application/json;
            add_header    X-Bench-Request-Length \$content_length always;
            return 200 '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"The answer is 42."},"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":6,"total_tokens":256}}';
        }
    }
}
EOF
} > "$WORK/upstream.conf"

{
    echo "load_module $MODULE;"
    common proxy
    cat <<EOF
http {
$(temp_paths proxy)
    access_log               off;
    keepalive_requests       1000000;
    # the same for both servers: bodies up to 1m stay in memory
    client_body_buffer_size  1m;
    client_max_body_size     4m;

    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }

    tier_router_tier  small     model=gpt-4.1-nano  upstream=bench_upstream;
    tier_router_tier  mid       model=gpt-4.1-mini  upstream=bench_upstream;
    tier_router_tier  frontier  model=gpt-4.1       upstream=bench_upstream
                                $([ "$LEARNED" = 1 ] && echo share=20%);
    tier_router_tier  thinking  model=o3            upstream=bench_upstream
                                $([ "$LEARNED" = 1 ] && echo share=5%)
                                reasoning=high;
$([ "$LEARNED" = 1 ] && printf '    %s\n    %s\n' \
    "tier_router_model $ROOT/models/default.json;" \
    "tier_router_shares zone=shares:64k;")

    tier_router_price  gpt-4.1-nano  input=0.10 output=0.40;
    tier_router_price  gpt-4.1-mini  input=0.40 output=1.60;
    tier_router_price  gpt-4.1       input=2    output=8;
    tier_router_price  o3            input=2    output=8;

    tier_router_budget_zone  zone=bench:1m period=month;
$([ "$REDIS" = 1 ] && printf '    %s\n    %s\n' \
    "tier_router_budget_zone zone=fleet:1m period=month hash_key=$WORK/hash.key;" \
    "tier_router_budget_redis zone=fleet server=127.0.0.1:$REDIS_PORT;")
$([ "$SESSION" = 1 ] && printf '    %s\n' \
    "tier_router_session_zone zone=sessions:10m;")

    proxy_http_version  1.1;
    proxy_set_header    Connection "";

    server {
        listen  127.0.0.1:$PLAIN_PORT backlog=4096;
        location / {
            proxy_pass  http://bench_upstream;
        }
    }

    server {
        listen  127.0.0.1:$MOD_PORT backlog=4096;
        location / {
            tier_router  on;
$([ "$SESSION" = 1 ] && printf '            %s\n' \
    "tier_router_session zone=sessions;")
            proxy_pass   http://\$tier_router_upstream;
        }
    }

    server {
        listen  127.0.0.1:$BUDGET_PORT backlog=4096;
        location / {
            tier_router         on;
            tier_router_budget  zone=bench key=\$http_authorization
                                limit=100000;
$([ "$ATTEMPTS" != 0 ] && printf '            %s\n' \
    "tier_router_fallback error timeout http_429 http_502 http_503;")
$([ "$ATTEMPTS" = 1 ] && printf '            %s\n' \
    "tier_router_escalate length empty refusal json;")
            proxy_pass          http://\$tier_router_upstream;
        }
    }
$([ "$REDIS" = 1 ] && cat <<EOR
    server {
        listen  127.0.0.1:$LEDGER_PORT backlog=4096;
        location = /status {
            tier_router_status  fleet;
        }
        location / {
            tier_router         on;
            tier_router_budget  zone=fleet key=\$http_authorization
                                limit=100000;
            proxy_pass          http://\$tier_router_upstream;
        }
    }
EOR
)
}
EOF
} > "$WORK/proxy.conf"

for n in upstream proxy; do
    "$NGINX" -p "$WORK/" -e "$WORK/logs/$n-error.log" -c "$WORK/$n.conf" -t -q \
        || die "nginx -t failed on $WORK/$n.conf"
    "$NGINX" -p "$WORK/" -e "$WORK/logs/$n-error.log" -c "$WORK/$n.conf"
done

for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/" && break
    sleep 0.1
done

# --- check that both servers answer 200 and that the module routes -------

[ "$LEARNED" = 1 ] && echo "BENCH_LEARNED=1: the learned scorer and tier shares are on"
[ "$SESSION" = 1 ] && echo "BENCH_SESSION=1: the module server keeps sessions"
[ "$ATTEMPTS" != 0 ] && echo "BENCH_ATTEMPTS=$ATTEMPTS: the budget server also falls back${ATTEMPTS/#fallback/}${ATTEMPTS/#1/ and escalates}"
echo "tier router benchmark: plain proxy_pass vs tier_router (and with budgets), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes 1"
echo "bodies: OpenAI chat requests built from $src (model \"auto\")"
echo "client_body_buffer_size 1m on both servers: every body stays in memory"
echo "wrk -t1 -c$CONNS -d${DURATION}s, $REPEAT runs per server and size, alternating; median shown"
if [ "$PIN" = 1 ]; then
    echo "pinned: the proxy worker on CPU $((NCPU - 1)), wrk and the upstream" \
         "on CPU 0-$((NCPU - 2))"
else
    echo "not pinned: wrk, the upstream and the proxy share the CPUs"
fi
echo

check() {                       # port body-file -> "status tier score reason length"
    local hdr=$WORK/check.headers
    local code
    code=$(curl -s -o "$WORK/check.body" -D "$hdr" -w '%{http_code}' \
        --max-time 5 -H 'Content-Type: application/json' \
        -H 'Authorization: Bearer sk-bench' \
        --data-binary "@$2" "http://127.0.0.1:$1$URI") || code=000
    printf '%s %s %s %s %s\n' "$code" \
        "$(hdr_value "$hdr" X-Tier-Router-Tier)" \
        "$(hdr_value "$hdr" X-Tier-Router-Score)" \
        "$(hdr_value "$hdr" X-Tier-Router-Reason)" \
        "$(hdr_value "$hdr" X-Bench-Request-Length)"
}

hdr_value() {
    local v
    v=$(grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | tr -d ' \r')
    echo "${v:--}"
}

declare -A MODEL=([small]=gpt-4.1-nano [mid]=gpt-4.1-mini [frontier]=gpt-4.1
                  [thinking]=o3)
bad=0

printf '%-5s %7s  %-9s %-6s %s\n' body bytes tier score "reason (upstream got N bytes)"
for s in $SIZES; do
    body=$WORK/bodies/body-$s.json
    size=$(stat -c %s "$body")

    read -r pcode _ _ _ plen <<< "$(check "$PLAIN_PORT" "$body")"
    if [ "$pcode" != 200 ] || [ "$plen" != "$size" ]; then
        echo "bench: plain proxy: $s body: status $pcode, upstream got $plen of $size bytes" >&2
        bad=1
    fi

    read -r bcode _ _ _ blen <<< "$(check "$BUDGET_PORT" "$body")"
    if [ "$bcode" != 200 ]; then
        echo "bench: budget: $s body: status $bcode, not 200:" >&2
        head -c 300 "$WORK/check.body" >&2; echo >&2
        bad=1
    fi

    read -r code tier score reason len <<< "$(check "$MOD_PORT" "$body")"
    printf '%-5s %7s  %-9s %-6s %s (%s)\n' "$s" "$size" "$tier" "$score" \
        "$reason" "$len"

    if [ "$code" != 200 ]; then
        echo "bench: module: $s body: status $code, not 200:" >&2
        head -c 300 "$WORK/check.body" >&2; echo >&2
        bad=1
    elif [ -z "${MODEL[$tier]:-}" ]; then
        echo "bench: module: $s body: not routed (X-Tier-Router-Tier: $tier)" >&2
        bad=1
    elif [ "$tier" != thinking ] \
         && [ "$len" != $((size - 4 + ${#MODEL[$tier]})) ]; then
        # "auto" replaced by the tier's model, nothing else changed
        echo "bench: module: $s body: upstream got $len bytes," \
             "expected $((size - 4 + ${#MODEL[$tier]}))" >&2
        bad=1
    elif [ "$tier" = thinking ] && ! [ "$len" -gt "$size" ] 2>/dev/null; then
        echo "bench: module: $s body: upstream got $len bytes" >&2
        bad=1
    fi
done
echo

[ "$bad" = 0 ] || die "the checks failed: no benchmark (logs in $WORK/logs)"

# --- measure -------------------------------------------------------------

worker_ticks() {                # utime + stime of the proxy's worker
    local pid
    pid=$(pgrep -P "$(cat "$WORK/proxy.pid")" | head -n 1)
    awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

run_wrk() {                     # port body-file duration; sets RPS, CPU_US
    local out t0 t1 n
    RPS=0 CPU_US=0
    t0=$(worker_ticks)
    out=$(BENCH_BODY=$2 $WRK -t1 -c"$CONNS" -d"$3"s -s bench/post.lua \
        "http://127.0.0.1:$1$URI" 2>&1) || die "wrk failed: $out"
    t1=$(worker_ticks)
    echo "$out" >> "$WORK/wrk.log"
    if grep -q 'Non-2xx\|Socket errors' <<< "$out"; then
        echo "bench: errors during the run on port $1:" >&2
        grep 'Non-2xx\|Socket errors' <<< "$out" >&2
        bad=1
    fi
    RPS=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' <<< "$out")
    n=$(awk '/requests in/ { print $1 }' <<< "$out")
    # the worker's CPU microseconds per request (clock ticks of 1/HZ s)
    CPU_US=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
}

cpu_median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
        END { print v[int((NR + 1) / 2)] }'
}

median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

ratio() { awk -v m="$1" -v p="$2" 'BEGIN { printf "%.2f", p ? m / p : 0 }'; }

fmedian() {                     # of decimals
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f", m }'
}

rotate() {                      # round -> the servers' order in it
    case $(( ($1 - 1) % 3 )) in
    0) echo p m b ;;
    1) echo m b p ;;
    2) echo b p m ;;
    esac
}

: > "$WORK/wrk.log"
results=()
REDIS_RESULTS=()
for s in $SIZES; do
    body=$WORK/bodies/body-$s.json
    # warm up both servers and the upstream keepalive connections
    run_wrk "$PLAIN_PORT" "$body" 1
    run_wrk "$MOD_PORT" "$body" 1
    run_wrk "$BUDGET_PORT" "$body" 1
    [ "$REDIS" = 1 ] && run_wrk "$LEDGER_PORT" "$body" 1
    plain=() mod=() bud=() pcpu=() mcpu=() bcpu=() red=() mr=() br=()
    for round in $(seq "$REPEAT"); do
        # each round in another order: plain first, last, in the middle
        for k in $(rotate "$round"); do
            case $k in
            p)  run_wrk "$PLAIN_PORT" "$body" "$DURATION"
                plain+=("$RPS") pcpu+=("$CPU_US") r_plain=$RPS ;;
            m)  run_wrk "$MOD_PORT" "$body" "$DURATION"
                mod+=("$RPS") mcpu+=("$CPU_US") r_mod=$RPS ;;
            b)  run_wrk "$BUDGET_PORT" "$body" "$DURATION"
                bud+=("$RPS") bcpu+=("$CPU_US") r_bud=$RPS ;;
            esac
        done
        # the round's own ratios: the machine's drift between rounds
        # moves all three servers of a round alike
        mr+=("$(ratio "$r_mod" "$r_plain")")
        br+=("$(ratio "$r_bud" "$r_plain")")
        if [ "$REDIS" = 1 ]; then
            run_wrk "$LEDGER_PORT" "$body" "$DURATION"
            red+=("$RPS")
        fi
    done
    if [ "$REDIS" = 1 ]; then
        REDIS_RESULTS+=("$s $(median "${bud[@]}") $(median "${red[@]}")")
    fi
    p=$(median "${plain[@]}") m=$(median "${mod[@]}") b=$(median "${bud[@]}")
    pc=$(cpu_median "${pcpu[@]}") mc=$(cpu_median "${mcpu[@]}")
    bc=$(cpu_median "${bcpu[@]}")
    results+=("$s $(stat -c %s "$body") $p $m $b $pc $mc $bc \
$(fmedian "${mr[@]}") $(fmedian "${br[@]}")")
    printf '  %s: plain %s (%s us/req)  module %s (%s us/req)  budget %s (%s us/req)  ratios %s / %s\n' \
        "$s" "${plain[*]}" "${pcpu[*]}" "${mod[*]}" "${mcpu[*]}" \
        "${bud[*]}" "${bcpu[*]}" "${mr[*]}" "${br[*]}" >&2
done

[ "$bad" = 0 ] || die "errors during the runs: see $WORK/wrk.log"

delta() { awk -v m="$1" -v p="$2" 'BEGIN { printf "%+.1f", m - p }'; }

echo
printf '%-6s %6s %9s %9s %9s %6s %6s   %7s %7s %7s\n' body bytes "plain" \
    "module" "budget" "ratio" "ratio" "plain" "+module" "+budget"
printf '%-6s %6s %9s %9s %9s %6s %6s   %7s %7s %7s\n' "" "" RPS RPS RPS \
    module budget us/req us/req us/req
for line in "${results[@]}"; do
    read -r s size p m b pc mc bc mr br <<< "$line"
    printf '%-6s %6s %9s %9s %9s %6s %6s   %7s %7s %7s\n' "$s" "$size" \
        "$p" "$m" "$b" "$mr" "$br" "$pc" \
        "$(delta "$mc" "$pc")" "$(delta "$bc" "$pc")"
done
echo
echo "RPS: medians; ratio: the median of each round's RPS / plain RPS (a"
echo "round runs the three servers one after the other, in turn first);"
echo "us/req: the proxy worker's CPU time per request (user + system,"
echo "medians), and what the module and the module with budgets add to it"
echo
if [ "$REDIS" = 1 ]; then
    echo
    echo "budgets in a shared Redis ledger (tier_router_budget_redis), beside"
    echo "the same budget in shared memory only:"
    printf '%-5s %9s %9s %6s\n' body budget redis ratio
    for line in "${REDIS_RESULTS[@]}"; do
        read -r s b r <<< "$line"
        printf '%-5s %9s %9s %6s\n' "$s" "$b" "$r" "$(ratio "$r" "$b")"
    done
    curl -s "http://127.0.0.1:$LEDGER_PORT/status?limit=0" | perl -MJSON::PP \
        -0777 -ne 'my $s = decode_json($_); my $l = $s->{ledger};
            printf "redis round trips per request: %.5f (%d commands: %d " .
                "leases, %d batches, heartbeats; %d requests)\n",
                $l->{commands} / ($s->{requests} || 1), $l->{commands},
                $l->{leases_asked}, $l->{batches}, $s->{requests}'
fi
echo
echo "wrk output: $WORK/wrk.log"
