#!/usr/bin/env bash
# Mean matching on and off for the shipped `gaussian-gray` (told sigma: given the true level),
# on the same noisy inputs: the 65 held-out CBSD432 photos and the eight package-index photos, in grey.
set -euo pipefail
out=docs/zoo/mean_match
for match in on off; do
  flag=(); [ "$match" = off ] && flag=(--no-mean-match)
  PYTHONPATH=. python benchmarks/quality.py --models gaussian-gray --methods noisy --split val "${flag[@]}" \
    --out "$out/grey-65-$match.json" > "$out/grey-65-$match.log" 2>&1
  PYTHONPATH=. python benchmarks/quality.py --models gaussian-gray --methods noisy --data runs/wheel_photos \
    --split all --per-image "${flag[@]}" --out "$out/grey-wheel-$match.json" > "$out/grey-wheel-$match.log" 2>&1
done
