#!/usr/bin/env bash
# converged.sh's steps after long16 was interrupted: resume it, then the three branches and the evaluation
set -euo pipefail
B=runs/grow
n2n=.venv/bin/n2n
pack() { .venv/bin/python -c "import sys; from noise2noise.zoo import pack_weights; pack_weights(sys.argv[1], sys.argv[2], float16=False)" "$1" "$2"; }
common=(--config models/gaussian.stage7.toml --crop-px 64 --val-whole-images 0 --device cpu --eval-every-s 600
        --checkpoint-every-s 120 --quiet)
$n2n train --out $B/long16 --resume --quiet >> $B/long16.log 2>&1
pack $B/long16/checkpoint.pt $B/long16.pt
$n2n train "${common[@]}" --init-weights $B/long16.pt --time-budget "40000 images" --width 16 --lr 3e-4 --out $B/L16 > $B/L16.log 2>&1
$n2n train "${common[@]}" --init-weights $B/long16.pt --time-budget "40000 images" --width 24 --lr 3e-4 --out $B/LZ24 > $B/LZ24.log 2>&1
$n2n train "${common[@]}" --init-weights $B/long16.pt --time-budget "40000 images" --width 24 --lr 1e-3 --out $B/LZ24hi > $B/LZ24hi.log 2>&1
PYTHONPATH=. .venv/bin/python benchmarks/quality.py --split val --max-images 16 --models $B/long16/checkpoint.pt,$B/L16/checkpoint.pt,$B/LZ24/checkpoint.pt,$B/LZ24hi/checkpoint.pt --methods noisy --out $B/quality-16-long.json > $B/quality-16-long.log 2>&1
echo done > $B/converged.done
