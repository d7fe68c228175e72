#!/usr/bin/env bash
# The GPU call of 2026-11-26 (night), as it ran: five runs side by side on one GPU, each going
# on from a shipped model's packed weights (noise2noise/weights/, as of commit e66a8a5) with its
# shipped stage's config and a work budget. The lever under test is `--augment channels` (the
# colour channels in a random order per pair): the shipped RGB models have learnt CBSD432's
# colour balance and lose up to 5.5 dB when a photo's channels are reordered (docs/models.md).
# $SRC (default .gpu) holds cbsd432/; the grey photos are made from it as models/train_zoo.sh does.
#   A  gaussian stage 5 + --augment channels                     (stage 6 candidate)
#   B  gaussian stage 5 + --augment channels + --train-scales 3  (sharper copies again: rocket)
#   E  gaussian-correlated stage 2 + --augment channels
#   P  poisson stage 3 + --augment channels (stage 3 stopped at 93% of its budget)
#   G  gaussian-gray stage 2 + --train-scales 2 (the halved copies that lifted gaussian stage 5)
# A run still going after LIMIT_S seconds is stopped as Ctrl-C stops it (its checkpoint is kept).
# Each run folder is packed into $DEST/NAME.tar (the checkpoint without the optimiser state).
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu}; BIG=${BIG:-200k}; SMALL=${SMALL:-160k}
python=${PYTHON:-python3}; W=noise2noise/weights
mkdir -p "$DEST" "$SRC/cbsd432-gray"
"$python" -c "import sys; from pathlib import Path; from PIL import Image; src, out = Path(sys.argv[1]), Path(sys.argv[2]); [Image.open(p).convert('L').save(out / (p.stem + '.png')) for p in src.glob('*.jpg')]" "$SRC/cbsd432" "$SRC/cbsd432-gray"
common=(--eval-every-s 60 --checkpoint-every-s 60)
run() {  # NAME n2n-train-options...
  local name=$1; shift
  OMP_NUM_THREADS=3 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-470}" "$python" -m noise2noise train "$@" \
    "${common[@]}" --out "$DEST/$name" >"$DEST/$name.log" 2>&1
  echo "$name exit $?" >>"$DEST/$name.log"
}
run A --config models/gaussian.stage5.toml --data "$SRC/cbsd432" --init-weights $W/gaussian.pt \
  --augment channels --time-budget "$BIG images" &
run B --config models/gaussian.stage5.toml --data "$SRC/cbsd432" --init-weights $W/gaussian.pt \
  --augment channels --train-scales 3 --time-budget "$BIG images" &
run E --config models/gaussian-correlated.stage2.toml --data "$SRC/cbsd432" --init-weights $W/gaussian-correlated.pt \
  --augment channels --time-budget "$SMALL images" &
run P --config models/poisson.stage3.toml --data "$SRC/cbsd432" --init-weights $W/poisson.pt \
  --augment channels --time-budget "$SMALL images" &
run G --config models/gaussian-gray.stage2.toml --data "$SRC/cbsd432-gray" --init-weights $W/gaussian-gray.pt \
  --train-scales 2 --time-budget "$SMALL images" &
wait
for name in A B E P G; do
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
  tail -2 "$DEST/$name.log"
done
