#!/usr/bin/env bash
# The reference: width 24 from the start, the same two stages (120k crops at lr 1e-3, then 40k at 3e-4).
set -euo pipefail
B=runs/grow
n2n=.venv/bin/n2n
$n2n train --config models/gaussian.stage7.toml --init-weights none --lr 1e-3 --width 24 --crop-px 64 --val-whole-images 0 --device cpu --time-budget "120000 images" --eval-every-s 600 --checkpoint-every-s 120 --quiet --out $B/base24 > $B/base24.log 2>&1
.venv/bin/python -c "import sys; from noise2noise.zoo import pack_weights; pack_weights(sys.argv[1], sys.argv[2], float16=False)" $B/base24/checkpoint.pt $B/base24.pt
$n2n train --config models/gaussian.stage7.toml --crop-px 64 --val-whole-images 0 --device cpu --time-budget "40000 images" --eval-every-s 600 --checkpoint-every-s 120 --quiet --lr 3e-4 --init-weights $B/base24.pt --width 24 --out $B/S24 > $B/S24.log 2>&1
PYTHONPATH=. .venv/bin/python benchmarks/quality.py --split val --max-images 16 --models $B/S24/checkpoint.pt,$B/Z24/checkpoint.pt --methods noisy --out $B/quality-16-S24.json > $B/quality-16-S24.log 2>&1
echo done > $B/scratch24.done
