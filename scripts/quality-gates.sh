#!/usr/bin/env bash
# The built-in world's quality gates (issue "built-in world"), measured with the shipped backbone:
#   1. full fine-tuning on sentiment and entailment (dev accuracy), pretrained vs random init, same steps;
#   2. every preset on sentiment: dev accuracy over wall time, and when it first comes within 2 points of its best;
#   3. every preset on every task: the metric, trained %, training time (the README table).
# Usage: [STEPS=600] [GENERATION=1] [LONG=0] scripts/quality-gates.sh [OUTDIR]   (default build/quality-gates;
#        ~70 min on 2 cores, LONG=1 adds ~70 min more)
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
run lora-sentiment-random --task sentiment --preset lora --steps "$steps" --eval-every 50 --random-init
# The entailment gate takes the long recipe (LONG=1; ~10 min a run on 2 cores): no dropout, a constant rate,
# batch 64, 200,000 examples, 6,000 steps; pretrained and randomly initialised.
if [ "${LONG:-0}" = 1 ]; then
    long=(--task entailment --preset full --dropout 0 --lr 3e-4 --schedule constant --warmup 0.02 --batch-size 64
          --train-size 200000 --steps "${LONG_STEPS:-6000}" --eval-every 500)
    run full-entailment-long "${long[@]}"
    run full-entailment-long-random "${long[@]}" --random-init
fi
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
