# The script that trained the zoo's three models side by side on one H200 (2026-11-26), as it ran:
# `bash .gpu/zoo.sh "" 545` from the repository root, with CBSD432 copied to .gpu/cbsd432 (the lent
# GPU machine sees only the repository). Each model is one plain `n2n train --config models/NAME.toml`;
# the greyscale copies are made as models/gaussian-gray.toml says. Logs and run folders: docs/zoo/NAME/.
# Usage: bash .gpu/zoo.sh [BUDGET] [KILL_S]
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
OUT=${OUT:-/tmp/zoo-out}; mkdir -p "$OUT"
BUDGET=${1:-}; KILL=${2:-560}
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tail -1
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
git log -1 --format=%H 2>/dev/null
mkdir -p ../shared/datasets runs
[ -e ../shared/datasets/cbsd432 ] || ln -s "$PWD/.gpu/cbsd432" ../shared/datasets/cbsd432
python3 -c "from pathlib import Path; from PIL import Image; out = Path('../shared/datasets/cbsd432-gray'); out.mkdir(exist_ok=True); [Image.open(p).convert('L').save(out / (p.stem + '.png')) for p in Path('../shared/datasets/cbsd432').glob('*.jpg')]"
ls ../shared/datasets/cbsd432-gray | wc -l
for m in gaussian gaussian-gray poisson; do
  extra=(); [ -n "$BUDGET" ] && extra=(--time-budget "$BUDGET")
  timeout "$KILL" python3 -m noise2noise train --quiet --config models/$m.toml --out runs/$m "${extra[@]}" >"$OUT/$m.log" 2>&1 &
done
sleep 120; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>&1 | tail -1
wait
for m in gaussian gaussian-gray poisson; do tail -3 "$OUT/$m.log"; tar czf "$OUT/$m.tgz" -C runs "$m"; done
ls -la "$OUT"; date -u
