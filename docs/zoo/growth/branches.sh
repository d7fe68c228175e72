#!/usr/bin/env bash
# From base16 (width 16, 120k crops of 64 px from scratch, lr 1e-3): 40k more crops at lr 3e-4 as
# C16 (the same width), Z24 (grown to 24, growth zero) and P24 (grown to 24, growth split); one at a time.
set -euo pipefail
B=runs/grow
n2n=.venv/bin/n2n
.venv/bin/python -c "import sys; from noise2noise.zoo import pack_weights; pack_weights(sys.argv[1], sys.argv[2], float16=False)" $B/base16/checkpoint.pt $B/base16.pt
common=(--config models/gaussian.stage7.toml --crop-px 64 --val-whole-images 0 --device cpu --time-budget "40000 images"
        --eval-every-s 600 --checkpoint-every-s 120 --quiet --lr 3e-4 --init-weights $B/base16.pt)
$n2n train "${common[@]}" --width 16 --out $B/C16 > $B/C16.log 2>&1
$n2n train "${common[@]}" --width 24 --growth zero --out $B/Z24 > $B/Z24.log 2>&1
$n2n train "${common[@]}" --width 24 --growth split --out $B/P24 > $B/P24.log 2>&1
PYTHONPATH=. .venv/bin/python benchmarks/quality.py --split val --max-images 16 --models $B/base16/checkpoint.pt,$B/C16/checkpoint.pt,$B/Z24/checkpoint.pt,$B/P24/checkpoint.pt --methods noisy --out $B/quality-16.json > $B/quality-16.log 2>&1
echo done > $B/branches.done
