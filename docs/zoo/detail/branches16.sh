#!/usr/bin/env bash
# Crops drawn by detail (detail_share) on the width-16 test bed of docs/zoo/growth/: from long16 (width 16,
# 360k crops), 40k more crops each, with stage 7's settings at 64 px. L16 / L16hi repeat the growth test's
# controls with this code (the uniform draw must be unchanged); D16 / D16hi draw half their crops by detail.
# --detail-share existed from commit 50de2e9 to eed5002; it was removed after these tests (docs/models.md).
set -euo pipefail
B=runs/detail
G=runs/grow
n2n=.venv/bin/n2n
mkdir -p $B
common=(--config models/gaussian.stage7.toml --crop-px 64 --val-whole-images 0 --device cpu --eval-every-s 600
        --checkpoint-every-s 120 --quiet --init-weights $G/long16.pt --time-budget "40000 images" --width 16)
$n2n train "${common[@]}" --lr 3e-4 --out $B/L16 > $B/L16.log 2>&1
$n2n train "${common[@]}" --lr 3e-4 --detail-share 0.5 --out $B/D16 > $B/D16.log 2>&1
$n2n train "${common[@]}" --lr 1e-3 --out $B/L16hi > $B/L16hi.log 2>&1
$n2n train "${common[@]}" --lr 1e-3 --detail-share 0.5 --out $B/D16hi > $B/D16hi.log 2>&1
models=$B/L16/checkpoint.pt,$B/D16/checkpoint.pt,$B/L16hi/checkpoint.pt,$B/D16hi/checkpoint.pt
q=(.venv/bin/python benchmarks/quality.py --models $models --methods noisy)
PYTHONPATH=. "${q[@]}" --split val --max-images 16 --out $B/quality-16.json > $B/quality-16.log 2>&1
PYTHONPATH=. "${q[@]}" --data runs/wheel_photos --split all --per-image --out $B/wheel.json > $B/wheel.log 2>&1
PYTHONPATH=. "${q[@]}" --data embedded --split all --per-image --out $B/embedded.json > $B/embedded.log 2>&1
echo done > $B/branches16.done
