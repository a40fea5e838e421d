#!/bin/bash
# The whole suite on other dates than today's, to prove that no test
# depends on the date it runs: each test file runs under faketime(1)
# from the date given, so that every file (its nginx, mock servers and
# the test itself, on one shared clock) starts at that second and a
# period boundary, if the date is one, passes under its first requests.
#
#   scripts/test-dates.sh                      # the dates below
#   scripts/test-dates.sh '2027-12-31 23:59:59' ...
#
# The defaults: the last second of a month, the first second of a year,
# a leap day and a date in 2037; about 90 s each here (the fuzz targets
# are left out: TEST_FUZZ_SECONDS=0 unless set).  Exits non-zero if any
# file fails on any date.

set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
    set -- '2027-04-30 23:59:59' '2028-01-01 00:00:00' \
           '2028-02-29 12:00:00' '2037-07-15 06:30:00'
fi

./scripts/deps.sh --tests --dates
make -s all

export TEST_FUZZ_SECONDS=${TEST_FUZZ_SECONDS:-0}

failed=()

for date in "$@"; do
    echo "== $date"

    for f in t/*.t; do
        if ! faketime "$date" prove "$f"; then
            failed+=("$date $f")
        fi
    done
done

if [ ${#failed[@]} -ne 0 ]; then
    printf 'test-dates: failed: %s\n' "${failed[@]}" >&2
    exit 1
fi

echo "test-dates: every file passed on $# date(s)"
