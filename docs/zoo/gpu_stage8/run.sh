#!/usr/bin/env bash
# The GPU call of 2026-11-27, as it ran: three runs side by side on one GPU, each going on from
# a shipped model's packed weights (noise2noise/weights/) with its shipped stage's config and
# the same time budget (all three share the GPU the whole time; each run records the crops it saw).
#   W  gaussian stage 7 grown from width 48 to 64 (unet.embedded_state: it starts out computing
#      exactly what stage 7 does; the 1.8x multiply-adds fit the bf16 speed headroom on a CPU).
#      The lever against barbara and rocket, which a network trained at sigma 15 alone did not close.
#   C  the control: gaussian stage 7, width 48, the same settings and time.
#   G  gaussian-gray stage 5 (told sigma) at 128 px for far more crops than its 12k CPU crops.
# $SRC (default .gpu) holds cbsd432/; the grey photos are made from it as models/train_zoo.sh does.
# A run still going after LIMIT_S seconds is stopped as Ctrl-C stops it (its checkpoint is kept).
# Each run folder is packed into $DEST/NAME.tar (float32 weights without the optimiser state).
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu}; BUDGET=${BUDGET:-360s}
python=${PYTHON:-python3}; W=noise2noise/weights
mkdir -p "$DEST" "$SRC/cbsd432-gray"
"$python" -c "import sys; from pathlib import Path; from PIL import Image; src, out = Path(sys.argv[1]), Path(sys.argv[2]); [Image.open(p).convert('L').save(out / (p.stem + '.png')) for p in src.glob('*.jpg')]" "$SRC/cbsd432" "$SRC/cbsd432-gray"
common=(--time-budget "$BUDGET" --eval-every-s 60 --checkpoint-every-s 60 --device "${DEVICE:-auto}")
run() {  # NAME n2n-train-options...
  local name=$1; shift
  OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-450}" "$python" -m noise2noise train "$@" \
    "${common[@]}" --out "$DEST/$name" >"$DEST/$name.log" 2>&1
  echo "$name exit $?" >>"$DEST/$name.log"
}
run W --config models/gaussian.stage7.toml --data "$SRC/cbsd432" --init-weights $W/gaussian.pt --width 64 &
run C --config models/gaussian.stage7.toml --data "$SRC/cbsd432" --init-weights $W/gaussian.pt &
run G --config models/gaussian-gray.stage5.toml --data "$SRC/cbsd432-gray" --init-weights $W/gaussian-gray.pt &
wait
for name in W C G; do
  if [ -e "$DEST/$name/checkpoint.pt" ]; then
    "$python" -c "import sys; from noise2noise.zoo import pack_weights; pack_weights(sys.argv[1], sys.argv[2], float16=False)" \
      "$DEST/$name/checkpoint.pt" "$DEST/$name/weights.pt" && rm "$DEST/$name/checkpoint.pt"
  fi
  tar -cf "$DEST/$name.tar" -C "$DEST" "$name" "$name.log"
  tail -3 "$DEST/$name.log"
done
