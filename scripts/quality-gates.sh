#!/usr/bin/env bash
# The built-in world's quality gates (issue "built-in world"), measured with the shipped backbone:
#   1. full fine-tuning on sentiment and entailment (dev accuracy), pretrained vs random init, same steps;
#   2. every preset on sentiment: dev accuracy over wall time, and when it first comes within 2 points of its best;
#   3. every preset on every task: the metric, trained %, training time (the README table).
# Usage: scripts/quality-gates.sh [OUTDIR]   (default build/quality-gates; takes a while on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bin/peftwb
out="${1:-build/quality-gates}"
mkdir -p "$out"
steps="${STEPS:-600}"

run() {  # run NAME ARGS…: one JSON summary line into $out/NAME.json, metrics into $out/NAME.jsonl
    local name=$1
    shift
    "$bin" train --quiet --json --metrics "$out/$name.jsonl" "$@" > "$out/$name.json"
    echo "$name: $(cat "$out/$name.json")"
}

for task in sentiment entailment; do
    run "full-$task" --task "$task" --preset full --steps "$steps" --eval-every 50
    run "full-$task-random" --task "$task" --preset full --steps "$steps" --eval-every 50 --random-init
done
for preset in $("$bin" presets --json | python3 -c 'import json,sys; print(" ".join(p["id"] for p in json.load(sys.stdin)))'); do
    for task in sentiment entailment; do
        run "$preset-$task" --task "$task" --preset "$preset" --steps "$steps" --eval-every 50
    done
    if [ "${GENERATION:-1}" = 1 ]; then
        for task in summarization translation; do
            run "$preset-$task" --task "$task" --preset "$preset" --steps "$steps" --eval-every "$steps" --max-eval 200
        done
    fi
done
