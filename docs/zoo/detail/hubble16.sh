#!/usr/bin/env bash
# Crops drawn by detail on an image that is mostly empty background: scikit-image's Hubble deep field,
# its top half to train on (runs/hubble/train/top.png) and its bottom half to test (runs/hubble/test/),
# written by an inline script from skimage.data.hubble_deep_field(). Width 16 from a random init,
# stage 7's settings at 64 px and Adam 1e-3, 80k crops; U uniform, D half of the crops by detail.
# --detail-share existed from commit 50de2e9 to eed5002; it was removed after these tests (docs/models.md).
set -euo pipefail
B=runs/hubble
n2n=.venv/bin/n2n
common=(--config models/gaussian.stage7.toml --data $B/train --val-data $B/test --val-fraction 0 --crop-px 64
        --train-scales 1 --val-whole-images 0 --device cpu --eval-every-s 600 --checkpoint-every-s 120 --quiet
        --init-weights none --width 16 --lr 1e-3 --time-budget "80000 images")
$n2n train "${common[@]}" --out $B/U > $B/U.log 2>&1
$n2n train "${common[@]}" --detail-share 0.5 --out $B/D > $B/D.log 2>&1
PYTHONPATH=. .venv/bin/python benchmarks/quality.py --data $B/test --split all --models $B/U/checkpoint.pt,$B/D/checkpoint.pt \
    --methods noisy,bm3d --out $B/quality.json > $B/quality.log 2>&1
echo done > $B/hubble16.done
