#!/bin/bash
# The two runs as they ran (code b841f0b, 2026-11-26, 2-core CPU, one thread each, nothing else
# running): independent vs channel-correlated training noise, differing only in --noise, the same
# work. Then, from the repository root:
#   python benchmarks/passthrough.py --models runs/corr/gaussian/checkpoint.pt,runs/corr/gaussian-correlated/checkpoint.pt \
#     --levels 5,15,25,50 --channel-correlation RHO          # RHO = 0, 0.5, 1: passthrough.txt
#   python benchmarks/quality.py --split val --max-images 16 --models (the same two) --levels 15,25,50 \
#     --methods noisy --out quality.json
export OMP_NUM_THREADS=1
for noise in gaussian gaussian-correlated; do
  python -m noise2noise train --config models/gaussian.toml --noise $noise --crop-px 64 --time-budget "16000 images" \
    --val-whole-images 0 --eval-every-s 300 --device cpu --quiet --out runs/corr/$noise > runs/corr-$noise.log 2>&1 &
done
wait
