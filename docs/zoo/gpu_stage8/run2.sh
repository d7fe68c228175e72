#!/usr/bin/env bash
# The second GPU call of 2026-11-27, as it ran: does width 64 beat width 48 at all with the
# shipped recipe? In run.sh the grown network (W) left its new channels almost unused (their
# weights into the output stayed 1/16 of the old ones' after 175k crops) and matched the control
# to 0.01 dB. So here two networks start from a random init, side by side for the same time:
#   S48  models/gaussian.stage7.toml's settings, width 48, Adam 1e-3 (stage 1's rate), no init_weights
#   S64  the same at width 64
# Packed as run.sh packs its runs.
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu}; BUDGET=${BUDGET:-280s}
python=${PYTHON:-python3}
mkdir -p "$DEST"
common=(--config models/gaussian.stage7.toml --data "$SRC/cbsd432" --init-weights none --lr 1e-3
        --time-budget "$BUDGET" --eval-every-s 60 --checkpoint-every-s 60 --device "${DEVICE:-auto}")
run() {  # NAME n2n-train-options...
  local name=$1; shift
  OMP_NUM_THREADS=6 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-330}" "$python" -m noise2noise train "$@" \
    "${common[@]}" --out "$DEST/$name" >"$DEST/$name.log" 2>&1
  echo "$name exit $?" >>"$DEST/$name.log"
}
run S48 --width 48 &
run S64 --width 64 &
wait
for name in S48 S64; do
  if [ -e "$DEST/$name/checkpoint.pt" ]; then
    "$python" -c "import sys; from noise2noise.zoo import pack_weights; pack_weights(sys.argv[1], sys.argv[2], float16=False)" \
      "$DEST/$name/checkpoint.pt" "$DEST/$name/weights.pt" && rm "$DEST/$name/checkpoint.pt"
  fi
  tar -cf "$DEST/$name.tar" -C "$DEST" "$name" "$name.log"
  tail -3 "$DEST/$name.log"
done
