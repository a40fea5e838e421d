#!/bin/bash
# Runs the libFuzzer targets (fuzz/fuzz_*.c, built by `make fuzz-build`
# with AddressSanitizer and UBSan) for FUZZ_SECONDS each (default 60), as
# many at once as there are CPUs, each from its seed corpus in
# fuzz/corpus/NAME plus what earlier runs found (build/fuzz/corpus-NAME).
#
#   scripts/fuzz.sh [TARGET...]            (default: every target)
#   FUZZ_SECONDS=3600 scripts/fuzz.sh      a long run
#
# Prints, per target, the executions, the corpus and any crash (its input
# is kept in build/fuzz/crash-NAME-*); exits 1 if any target failed.

set -uo pipefail
cd "$(dirname "$0")/.."

B=${BUILD:-build}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=$(nproc)

make -s fuzz-build || exit 1

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do
        n=${f#fuzz/fuzz_}
        targets+=("${n%.c}")
    done
fi

run() {                         # NAME
    local n=$1 dir=$B/fuzz/corpus-$1
    mkdir -p "$dir"
    "$B/fuzz/fuzz_$n" "$dir" "fuzz/corpus/$n" \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
        -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$B/fuzz/crash-$n-" \
        > "$B/fuzz/$n.log" 2>&1
    echo $? > "$B/fuzz/$n.rc"
}

i=0
for n in "${targets[@]}"; do
    run "$n" &
    i=$((i + 1))
    if [ $((i % JOBS)) -eq 0 ]; then
        wait
    fi
done
wait

rc=0
printf '%-10s %12s %10s %8s  %s\n' target executions "exec/s" corpus result
for n in "${targets[@]}"; do
    log=$B/fuzz/$n.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    corpus=$(find "$B/fuzz/corpus-$n" -type f | wc -l)
    if [ "$(cat "$B/fuzz/$n.rc")" = 0 ]; then
        result=ok
    else
        result="FAILED (see $log)"
        rc=1
        grep -m 5 -E 'ERROR|SUMMARY|runtime error|deadly signal' "$log" \
            | sed 's/^/    /'
    fi
    printf '%-10s %12s %10s %8s  %s\n' "$n" "${execs:-?}" "${speed:-?}" \
        "$corpus" "$result"
done

exit $rc
