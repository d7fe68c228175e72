#!/usr/bin/env bash
# Stage 7 trained on at Adam 1e-3 on this 2-core CPU: the growth test (docs/zoo/growth/) found the rate,
# not the width, made its gain, and stages 2-7 all went on at 3e-4. Stage 7's settings otherwise
# (128 px crops, photos halved once, channels in a random order), 40k crops (1,250 steps of 32).
# Resumable: run it again after an interruption and it continues (--resume).
set -euo pipefail
B=runs/cpu8
mkdir -p $B
resume=(); [ -e $B/hi/checkpoint.pt ] && resume=(--resume)
.venv/bin/n2n train --config models/gaussian.stage7.toml --init-weights noise2noise/weights/gaussian.pt \
    --lr 1e-3 --time-budget "40000 images" --device cpu --val-whole-images 0 --eval-every-s 900 \
    --checkpoint-every-s 300 --quiet --out $B/hi "${resume[@]}" >> $B/hi.log 2>&1
models=gaussian,$B/hi/checkpoint.pt
q=(.venv/bin/python benchmarks/quality.py --models $models --methods noisy)
PYTHONPATH=. "${q[@]}" --split val --out $B/quality-65.json > $B/quality-65.log 2>&1
PYTHONPATH=. "${q[@]}" --data runs/wheel_photos --split all --per-image --out $B/wheel.json > $B/wheel.log 2>&1
PYTHONPATH=. "${q[@]}" --data embedded --split all --per-image --out $B/embedded.json > $B/embedded.log 2>&1
echo done > $B/run.done
