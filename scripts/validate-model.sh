#!/bin/bash
# The learned scorer on prompts it was not trained on: for each half of
# the routing data (split by a hash of the row's id), train on the other
# half and score this one with RouteLLM's metrics, beside the rules (tuned
# on all of the data, so in-sample) and prompt length.
#
#   scripts/validate-model.sh [DATA_DIR]      (default t/data/routing)
#
# Builds what it needs (make cli); writes nothing outside build/.

set -euo pipefail
cd "$(dirname "$0")/.."

D=${1:-t/data/routing}
B=${BUILD:-build}
SETS="gsm8k mmlu"

make -s cli

printf '%-7s %-5s %-10s %6s %9s %9s %9s\n' set half router APGR "CPT(50%)" \
    "CPT(80%)" "95%"

for half in even odd; do
    model=$B/validate-$half.json
    files=()
    for s in $SETS; do files+=("$D/${s}_dev.jsonl"); done
    "$B/tier-router-train" --holdout "$half" "${files[@]}" > "$model"

    for s in $SETS; do
        data=$D/${s}_dev.jsonl
        "$B/tier-router-classify" --model "$model" "$data" \
            > "$B/validate-scores.jsonl"
        "$B/tier-router-classify" "$data" > "$B/validate-rules.jsonl"

        for r in learned rules length; do
            case $r in
            learned) args=(--scores "$B/validate-scores.jsonl") ;;
            rules)   args=(--scores "$B/validate-rules.jsonl") ;;
            length)  args=(--baseline length) ;;
            esac
            tools/tier-router-score --data "$data" "${args[@]}" \
                --split "$half" --json | perl -MJSON::PP -e '
                my $j = decode_json(scalar <STDIN>);
                printf "%-7s %-5s %-10s %6.3f %8.1f%% %8.1f%% %8.1f%%\n",
                    @ARGV, $j->{apgr}, 100 * $j->{cpt50}, 100 * $j->{cpt80},
                    100 * $j->{strong95};' "$s" "$half" "$r"
        done
    done
done
