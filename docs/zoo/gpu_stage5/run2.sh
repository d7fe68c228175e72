#!/usr/bin/env bash
# The second GPU call of 2026-11-26 (afternoon), as it ran: two runs side by side on one GPU,
# from the shipped `gaussian-gray` and `poisson` weights, with the two levers that lifted
# `gaussian` (docs/models.md): where the weak end of the noise range is drawn more often, and
# the targets' noise left unclipped. $SRC (default .gpu) holds cbsd432/, gaussian-gray.pt and
# poisson.pt (the shipped files); the grey photos are made from cbsd432 as models/train_zoo.sh does.
#   G  gaussian-gray + P = 8 (sigma = 50 u^8: low sigma more often) and unclipped targets
#   P  poisson + P = 0.5 (lambda = 5 + 45 u^0.5: mild noise more often) and unclipped targets
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu2}; BUDGET=${BUDGET:-250k}
python=${PYTHON:-python3}
mkdir -p "$DEST" "$SRC/cbsd432-gray"
"$python" -c "import sys; from pathlib import Path; from PIL import Image; src, out = Path(sys.argv[1]), Path(sys.argv[2]); [Image.open(p).convert('L').save(out / (p.stem + '.png')) for p in src.glob('*.jpg')]" "$SRC/cbsd432" "$SRC/cbsd432-gray"
common=(--eval-every-s 60 --checkpoint-every-s 60 --no-clip-targets --time-budget "$BUDGET images")
run() {  # NAME n2n-train-options...
  local name=$1; shift
  OMP_NUM_THREADS=6 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-470}" "$python" -m noise2noise train "$@" \
    --out "$DEST/$name" >"$DEST/$name.log" 2>&1
  echo "$name exit $?" >>"$DEST/$name.log"
}
run G --config models/gaussian-gray.toml --data "$SRC/cbsd432-gray" --init-weights "$SRC/gaussian-gray.pt" \
  --noise-level-power 8 "${common[@]}" &
run P --config models/poisson.stage2.toml --data "$SRC/cbsd432" --init-weights "$SRC/poisson.pt" \
  --noise-level-power 0.5 "${common[@]}" &
wait
for name in G P; do
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
