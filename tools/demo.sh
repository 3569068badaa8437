#!/usr/bin/env bash
# The main job on the shipped corpus: set up (apt packages when missing, release build), prepare the
# Korean constitution, train a small LSTM for about two minutes, and sample from it.
# Usage: bash tools/demo.sh [minutes]   (default 2). Output goes to ./demo/ (replaced on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-2}"
bash tools/setup.sh release
gasa=.build/release/gasa
out=demo
rm -rf "$out"
mkdir -p "$out"

echo "== 1. prepare: data/constitution_ko (char granularity)"
"$gasa" prepare data/constitution_ko/constitution_ko.txt --out "$out/prep" --batch-size 16 --seq-length 64

echo
echo "== 2. train: 2 x 128 LSTM, dropout 0.3, for up to $minutes minute(s) (stops early once validation stops improving)"
"$gasa" train "$out/prep" --out "$out/run" --dropout 0.3 --max-epochs 0 --max-minutes "$minutes" --eval-every 50 --patience 5

echo
echo "== 3. sample: 300 characters after \"대한민국은 \""
"$gasa" sample "$out/run" --prime "대한민국은 " --length 300 --temperature 0.8 --seed 7 --stats
