# gaussian stage 2 alone on one GPU: bash .gpu/stage2.sh  (CBSD432 carried in .gpu/cbsd432)
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=8
OUT=${OUT:-/tmp/s2-out}; mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tail -1
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$OUT/env.txt"
mkdir -p ../shared/datasets runs
[ -e ../shared/datasets/cbsd432 ] || ln -s "$PWD/.gpu/cbsd432" ../shared/datasets/cbsd432
cp noise2noise/weights/gaussian.pt runs/gaussian-stage1.pt
python3 - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import torch
from noise2noise.noise import GaussianNoise, input_and_target_noise
first, second = input_and_target_noise(GaussianNoise((25.0, 25.0), clip=False), torch.device("cuda"), shape=(32, 3, 128, 128))
print("input/target noise correlation on cuda:", torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1].item())
PY
timeout 545 python3 -m noise2noise train --quiet --config models/gaussian.stage2.toml --out runs/gaussian.stage2 >"$OUT/train.log" 2>&1 &
sleep 100; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv | tail -1 | tee -a "$OUT/env.txt"
wait; echo "train exit $?" | tee -a "$OUT/env.txt"
tail -4 "$OUT/train.log"
python3 -c "from noise2noise.zoo import pack_weights; print(pack_weights('runs/gaussian.stage2/checkpoint.pt', '$OUT/gaussian.pt'))"
cp runs/gaussian.stage2/checkpoint.pt "$OUT/checkpoint.pt"
tar czf "$OUT/run.tgz" --exclude=checkpoint.pt -C runs gaussian.stage2
ls -la "$OUT"; date -u
