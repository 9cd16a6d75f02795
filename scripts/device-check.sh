#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The GPU check, run once on a machine with an NVIDIA GPU and PyTorch (the project's lent H200):
#   1. builds core + CLI (no Qt) against the CUDA LibTorch inside the installed PyTorch, with the Debian -dev
#      packages it lacks unpacked from .deb files in $DEBS (nlohmann-json3-dev, libsqlite3-dev,
#      libsqlite3-0, libutf8proc-dev, libutf8proc2: `apt-get download` them on a Debian 12 machine);
#   2. trains presets on the built-in sentiment task on `cuda`;
#   3. runs the training-step benchmark on `cuda` (ratios against the GPU's own fp32 matmul peak and
#      against full fine-tuning, measured in the same run);
#   4. cross-checks tokenizer ids and logits against Hugging Face transformers (scripts/hf_crosscheck.py).
# Usage: DEBS=.devdeps OUT=/tmp/out scripts/device-check.sh [all|hf|peft]
#   hf: build, then step 4 only; peft: build, then the adapter cross-check against the PEFT library (step 5)
set -uo pipefail
OUT=${OUT:-/tmp/device-check}
STAGES=${1:-all}
DEBS=${DEBS:-.devdeps}
mkdir -p "$OUT"
exec > >(tee "$OUT/device-check.log") 2>&1
step() { echo; echo "=== $* ($(date +%T))"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
nproc

step "dependencies from $DEBS"
mkdir -p /tmp/deps
for f in "$DEBS"/*.deb; do dpkg -x "$f" /tmp/deps; done
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
TORCH_CMAKE=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export TORCH_CUDA_ARCH_LIST=9.0

configure_and_build() {
    rm -rf /tmp/build
    cmake -S . -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPEFT_BUILD_GUI=OFF -DPEFT_BUILD_TESTS=OFF \
        -DCMAKE_CXX_STANDARD="$1" -DCMAKE_PREFIX_PATH="$TORCH_CMAKE;/tmp/deps/usr" \
        -Dnlohmann_json_DIR=/tmp/deps/usr/share/cmake/nlohmann_json >/tmp/configure.log 2>&1 ||
        { tail -30 /tmp/configure.log; return 1; }
    cmake --build /tmp/build -j "$(nproc)" --target peftwb 2>&1 | grep -E "error|FAILED|warning: unused" | head -40
    test -x /tmp/build/bin/peftwb
}
step "build core + CLI against $TORCH_CMAKE"
SECONDS=0
configure_and_build 17 || { echo "C++17 build failed; trying C++20"; configure_and_build 20; } || exit 1
echo "built in ${SECONDS} s"
B=/tmp/build/bin/peftwb
$B --version

if [ "$STAGES" = all ]; then
step "train on cuda: sentiment, shipped backbone"
for p in full lora prefix mam; do
    $B train --task sentiment --preset "$p" --device cuda --steps 300 --eval-every 100 --quiet \
        --metrics "$OUT/train-$p.jsonl" 2>&1 | tail -4
done

step "train the same LoRA run on cpu, for the time ratio (16 threads)"
$B train --task sentiment --preset lora --device cpu --steps 300 --eval-every 100 --quiet 2>&1 | tail -3

step "benchmark on cuda"
$B bench --device cuda --steps 20 --presets full,bitfit,lora,prefix,houlsby,pa-ffn,mam,ia3 --json >"$OUT/bench-cuda.json"
$B bench --device cuda --steps 20 --presets full,bitfit,lora,prefix,houlsby,pa-ffn,mam,ia3 --backbones d512 --batch 64

fi

if [ "$STAGES" != peft ]; then
step "Hugging Face cross-check"
python3 scripts/hf_crosscheck.py "$B" tests/data/tokenizers --out "$OUT/hf-crosscheck.json" --keep /tmp/hf
echo "cross-check exit status $?"

step "train on cuda on the imported Hugging Face folders (built-in tasks through their tokenizers)"
$B train --model /tmp/hf/bert --task sentiment --preset lora --device cuda --steps 200 --eval-every 100 --quiet 2>&1 | tail -3
$B train --model /tmp/hf/roberta --task entailment --preset mam --device cuda --steps 200 --eval-every 100 --quiet 2>&1 | tail -3
$B train --model /tmp/hf/gpt2 --task sentiment --preset prefix --device cuda --steps 200 --eval-every 100 --quiet 2>&1 | tail -3
fi

if [ "$STAGES" = all ] || [ "$STAGES" = peft ]; then
step "adapters against the PEFT library"
python3 scripts/peft_crosscheck.py "$B" tests/data/tokenizers --out "$OUT/peft-crosscheck.json"
echo "peft cross-check exit status $?"
fi
step "done"
