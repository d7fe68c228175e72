#!/usr/bin/env bash
# Mean matching (denoise.match_means) on and off for the shipped `gaussian`, on the same noisy
# inputs (seed 0): the 65 held-out CBSD432 photos, the nine scikit-image images and the eight
# package-index photos (runs/wheel_photos: python benchmarks/wheel_photos.py). PSNR only: the
# runs shared the CPU with tests, so their seconds per image are not speed figures.
set -euo pipefail
out=docs/zoo/mean_match
q() { PYTHONPATH=. python benchmarks/quality.py --models gaussian --methods noisy "$@"; }
for match in on off; do
  flag=(); [ "$match" = off ] && flag=(--no-mean-match)
  q --split val "${flag[@]}" --per-image --out "$out/65-$match.json" > "$out/65-$match.log" 2>&1
  q --data embedded --split all "${flag[@]}" --per-image --out "$out/embedded-$match.json" > "$out/embedded-$match.log" 2>&1
  q --data runs/wheel_photos --split all "${flag[@]}" --per-image --out "$out/wheel-$match.json" > "$out/wheel-$match.log" 2>&1
done
