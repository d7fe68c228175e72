#!/usr/bin/env bash
# The GPU session of 2026-11-26 (afternoon), as it ran: four runs side by side on one GPU,
# each from a shipped model's packed weights, with work budgets. Run from the repository root
# with CBSD432 and the start weights in $SRC (default .gpu): $SRC/cbsd432/, $SRC/gaussian.stage4.pt
# (`git show effea8d:noise2noise/weights/gaussian.pt`), $SRC/gaussian-correlated.pt (the shipped one).
#   A  gaussian stage 4 + train_scales 2, 128 px crops      (stage 5 candidate)
#   B  gaussian stage 4, the same settings, train_scales 1   (control: more work alone)
#   D  gaussian stage 4 + train_scales 2, 64 px crops
#   E  gaussian-correlated + P = 8 and unclipped targets     (its stage 2 candidate)
# A run still going after LIMIT_S seconds is stopped as Ctrl-C stops it (its checkpoint is kept).
# Each run folder is packed into $DEST/NAME.tar (the checkpoint without the optimiser state).
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu}; BIG=${BIG:-200k}; SMALL=${SMALL:-320k}
python=${PYTHON:-python3}
mkdir -p "$DEST"
common=(--data "$SRC/cbsd432" --eval-every-s 60 --checkpoint-every-s 60)
s4=(--config models/gaussian.stage4.toml --init-weights "$SRC/gaussian.stage4.pt" "${common[@]}")
run() {  # NAME n2n-train-options...
  local name=$1; shift
  OMP_NUM_THREADS=3 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-470}" "$python" -m noise2noise train "$@" --out "$DEST/$name" \
    >"$DEST/$name.log" 2>&1
  echo "$name exit $?" >>"$DEST/$name.log"
}
run A "${s4[@]}" --train-scales 2 --crop-px 128 --time-budget "$BIG images" &
run B "${s4[@]}" --crop-px 128 --time-budget "$BIG images" &
run D "${s4[@]}" --train-scales 2 --crop-px 64 --time-budget "$SMALL images" &
run E --config models/gaussian-correlated.toml --init-weights "$SRC/gaussian-correlated.pt" "${common[@]}" \
  --noise-level-power 8 --no-clip-targets --time-budget "$BIG images" &
wait
for name in A B D E; do
  "$python" - "$DEST/$name" <<'PY'
import sys, torch
from pathlib import Path
run = Path(sys.argv[1])
if (run / "checkpoint.pt").exists():
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    payload.pop("optimizer", None)
    torch.save(payload, run / "weights.pt")
    (run / "checkpoint.pt").unlink()
PY
  tar -cf "$DEST/$name.tar" -C "$DEST" "$name" "$name.log"
  tail -3 "$DEST/$name.log"
done
