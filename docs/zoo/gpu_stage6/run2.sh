#!/usr/bin/env bash
# The second GPU call of 2026-11-26 (night), as it ran: one run alone on the GPU (alone it
# trains at about 2,200 crops/s, five side by side at about 380 each), going on from the
# `gaussian` stage 6 just shipped (noise2noise/weights/gaussian.pt at commit f547d58) with
# stage 6's own config and a larger work budget: does more work win back what the channel
# augmentation cost on CBSD432 (0.02-0.04 dB), and move the sharp photos at sigma 15?
#   F  gaussian stage 6 + 300k crops, the same settings
# Packed as run.sh packs its runs.
set -uo pipefail
SRC=${SRC:-.gpu}; DEST=${DEST:-runs/gpu}; BUDGET=${BUDGET:-300k}
python=${PYTHON:-python3}
mkdir -p "$DEST"
OMP_NUM_THREADS=8 PYTHONUNBUFFERED=1 timeout -s INT "${LIMIT_S:-185}" "$python" -m noise2noise train \
  --config models/gaussian.stage6.toml --data "$SRC/cbsd432" --init-weights noise2noise/weights/gaussian.pt \
  --time-budget "$BUDGET images" --eval-every-s 60 --checkpoint-every-s 30 --out "$DEST/F" >"$DEST/F.log" 2>&1
echo "F exit $?" >>"$DEST/F.log"
"$python" - "$DEST/F" <<'PY'
import sys, torch
from pathlib import Path
run = Path(sys.argv[1])
if (run / "checkpoint.pt").exists():
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    payload.pop("optimizer", None)
    torch.save(payload, run / "weights.pt")
    (run / "checkpoint.pt").unlink()
PY
tar -cf "$DEST/F.tar" -C "$DEST" F F.log
tail -3 "$DEST/F.log"
