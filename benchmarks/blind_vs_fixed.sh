#!/usr/bin/env bash
# Blind vs fixed sigma: what one network for every sigma in 0..50 (the shipped `gaussian`'s
# recipe) loses at sigma=25 against a network trained at sigma=25 only, and what the fixed one
# loses away from 25. Two `n2n train` runs that differ only in --noise-level, with the same
# work (training images, not seconds), side by side with one thread each; then
# benchmarks/quality.py on the whole held-out CBSD432 photos at sigma 15, 25 and 50.
# An interrupted run continues where it stopped when the script is started again.
#
#     bash benchmarks/blind_vs_fixed.sh [IMAGES] [OUT]      # default 40000 images, runs/blind-vs-fixed
#
# CONFIG (default models/gaussian.toml), FIXED (the fixed run's sigma, default 25) and EXTRA
# (more `n2n train` options for both runs) change the pair, e.g. a shipped grey model trained
# on from its weights, blind against sigma 15 alone:
#
#     CONFIG=models/gaussian-gray.stage2.toml FIXED=15 \
#       EXTRA="--data runs/cbsd432-gray --init-weights gaussian-gray --lr 3e-4" \
#       bash benchmarks/blind_vs_fixed.sh 48000 runs/grey-blind-vs-fixed15
set -eu
IMAGES=${1:-40000}
OUT=${2:-runs/blind-vs-fixed}
FIXED=${FIXED:-25}
read -r -a extra <<< "${EXTRA:-}"
common=(--config "${CONFIG:-models/gaussian.toml}" --crop-px 64 --time-budget "$IMAGES images" --val-whole-images 0
        --eval-every-s 300 --checkpoint-every-s 120 --device cpu --quiet "${extra[@]}")
mkdir -p "$OUT"
pids=()
for run in blind:0,50 "fixed$FIXED:$FIXED"; do
  name=${run%%:*}
  [ -e "$OUT/$name/results.json" ] && continue  # finished
  resume=(); [ -e "$OUT/$name/checkpoint.pt" ] && resume=(--resume)
  OMP_NUM_THREADS=1 python -m noise2noise train "${common[@]}" --noise-level "${run#*:}" --out "$OUT/$name" \
    "${resume[@]}" > "$OUT/$name.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # set -e: a failed run stops the script (see OUT/NAME.log)
python benchmarks/quality.py --split val --models "$OUT/blind/checkpoint.pt,$OUT/fixed$FIXED/checkpoint.pt" \
  --levels 15,25,50 --methods noisy --out "$OUT/quality.json"
