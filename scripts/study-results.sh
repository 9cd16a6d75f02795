#!/usr/bin/env bash
# Rebuilds the shipped results of the built-in studies: resources/studies/results/ID.peftproj (metrics and
# summaries, no checkpoints) and resources/studies/results/ID/ (report.md, runs.csv, table.tex, plot.svg, and
# plot.png, which `study report` has the workbench's Studies view draw when BIN_DIR holds peft-workbench).
#   [STUDY_RESULTS=DIR] scripts/study-results.sh [BIN_DIR] [STUDY …]   (default build/release/bin, every
#   built-in study but the gates: scripts/study-results.sh build/release/bin gate-sentiment gate-entailment)
# 77 min on 2 cores for all five (two runs at a time, two threads each; 138 min of CPU time).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release/bin}
shift || true
studies=("$@")
[ ${#studies[@]} -gt 0 ] || studies=(insertion-form composition mam modified-representation figure1)
out=${STUDY_RESULTS:-resources/studies/results}  # STUDY_RESULTS: elsewhere (then copy it over)
mkdir -p "$out"
for id in "${studies[@]}"; do
    project="$out/$id.peftproj"
    echo "== $id"
    "$bin/peftwb" study run "$id" --project "$project" --parallel 2 --threads 2
    "$bin/peftwb" project compact "$project" --drop-checkpoints
    # A rollback journal, not WAL: the shipped file opens read-only from a read-only folder (no -shm needed).
    sqlite3 "$project" "PRAGMA journal_mode=DELETE;" >/dev/null
    "$bin/peftwb" study report "$id" --project "$project" --out "$out/$id"
done
