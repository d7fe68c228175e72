#!/usr/bin/env bash
# Ready for the next GPU session, not yet run: one network of width 64 trained alone from a
# random init with the shipped recipe (models/gaussian.stage7.toml's settings, Adam 1e-3),
# for the whole of one call. run2.sh measured width 64 ahead of width 48 by 0.16-0.21 dB on
# the 65 held-out photos after the same 280 s side by side (230k-240k crops); the shipped
# width-48 `gaussian` saw about 2.3M crops over seven stages. A time budget lets the cosine
# schedule end at the call's end whatever the GPU's speed; the run records the crops it saw.
#   L64  width 64, from scratch, $BUDGET alone
# Then, on the CPU: python benchmarks/quality.py --split val --models gaussian,runs/gpu/L64.pt --methods noisy
# (and --data runs/wheel_photos --split all --per-image), and the speed in bf16 with
# python benchmarks/inference.py --repeats 5 --device cpu --precision fp32,bf16 (width 64 has
# 1.8x the multiply-adds: about 20x BM3D's speed in bf16 on the 2-core CPU, 12x in float32).
# Packed as run.sh packs its runs.
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu}; BUDGET=${BUDGET:-500s}
python=${PYTHON:-python3}
mkdir -p "$DEST"
OMP_NUM_THREADS=8 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-560}" "$python" -m noise2noise train \
  --config models/gaussian.stage7.toml --data "$SRC/cbsd432" --init-weights none --lr 1e-3 --width 64 \
  --time-budget "$BUDGET" --eval-every-s 60 --checkpoint-every-s 60 --device "${DEVICE:-auto}" \
  --out "$DEST/L64" >"$DEST/L64.log" 2>&1
echo "L64 exit $?" >>"$DEST/L64.log"
if [ -e "$DEST/L64/checkpoint.pt" ]; then
  "$python" -c "import sys; from noise2noise.zoo import pack_weights; pack_weights(sys.argv[1], sys.argv[2], float16=False)" \
    "$DEST/L64/checkpoint.pt" "$DEST/L64/weights.pt" && rm "$DEST/L64/checkpoint.pt"
fi
tar -cf "$DEST/L64.tar" -C "$DEST" L64 L64.log
tail -3 "$DEST/L64.log"
