#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/screenshots/) from a realistic project: 20 runs — every preset
# on the built-in sentiment task and four on entailment, 80 steps each (about 90 s on 2 cores) — each view
# rendered at 1280 × 800 by the workbench itself (offscreen, no display needed).
#   scripts/screenshots.sh [BIN_DIR]        (default build/release/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release/bin}
out=docs/screenshots
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project="$work/study-of-twenty-runs.peftproj"

"$bin/peftwb" project new "$project" >/dev/null
"$bin/peftwb" project queue "$project" --preset all --steps 80 --task sentiment >/dev/null
"$bin/peftwb" project queue "$project" --preset full,lora,mam,prefix --steps 80 --task entailment >/dev/null
echo "training 20 runs…"
"$bin/peftwb" project run "$project" --threads 2 >/dev/null

shot() {  # FILE, then the workbench's options
    local file=$1
    shift
    HOME="$work" QT_QPA_PLATFORM=offscreen "$bin/peft-workbench" "$project" --screenshot "$out/$file" "$@"
    echo "$out/$file"
}
shot main-window.png --view design
shot training.png --view training
shot compare.png --view compare
shot lambda.png --view lambda --lambda-run 14  # MAM: a gated prefix
shot parameters.png --view parameters
shot presentation.png --presentation --view compare
# Run ▸ Submit to Slurm on four more runs, queued (a seed of their own) after the others trained.
"$bin/peftwb" project queue "$project" --preset lora,prefix,mam,pa-ffn --steps 80 --task entailment --seed 1 >/dev/null
shot submit-to-slurm.png --slurm-dialog
# The Studies view on a built-in study's shipped results (a copy: the shipped file stays as it is).
if [ -f resources/studies/results/insertion-form.peftproj ]; then
    cp resources/studies/results/insertion-form.peftproj "$work/insertion-form.peftproj"
    HOME="$work" QT_QPA_PLATFORM=offscreen "$bin/peft-workbench" "$work/insertion-form.peftproj" \
        --study insertion-form --view studies --screenshot "$out/studies.png"
    echo "$out/studies.png"
fi
