#!/usr/bin/env bash
# Blind vs fixed sigma: what one network for every sigma in 0..50 (the shipped `gaussian`'s
# recipe) loses at sigma=25 against a network trained at sigma=25 only, and what the fixed one
# loses away from 25. Two `n2n train` runs that differ only in --noise-level, with the same
# work (training images, not seconds), side by side with one thread each; then
# benchmarks/quality.py on the whole held-out CBSD432 photos at sigma 15, 25 and 50.
# An interrupted run continues where it stopped when the script is started again.
#
#     bash benchmarks/blind_vs_fixed.sh [IMAGES] [OUT]      # default 40000 images, runs/blind-vs-fixed
set -eu
IMAGES=${1:-40000}
OUT=${2:-runs/blind-vs-fixed}
common=(--config models/gaussian.toml --crop-px 64 --time-budget "$IMAGES images" --val-whole-images 0
        --eval-every-s 300 --checkpoint-every-s 120 --device cpu --quiet)
mkdir -p "$OUT"
pids=()
for run in blind:0,50 fixed25:25; do
  name=${run%%:*}
  [ -e "$OUT/$name/results.json" ] && continue  # finished
  resume=(); [ -e "$OUT/$name/checkpoint.pt" ] && resume=(--resume)
  OMP_NUM_THREADS=1 python -m noise2noise train "${common[@]}" --noise-level "${run#*:}" --out "$OUT/$name" \
    "${resume[@]}" > "$OUT/$name.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # set -e: a failed run stops the script (see OUT/NAME.log)
python benchmarks/quality.py --split val --models "$OUT/blind/checkpoint.pt,$OUT/fixed25/checkpoint.pt" \
  --levels 15,25,50 --methods noisy --out "$OUT/quality.json"
