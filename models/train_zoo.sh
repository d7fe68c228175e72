#!/usr/bin/env bash
# Train the shipped models side by side (on one GPU, or wherever `device = "auto"` lands)
# and pack them into noise2noise/weights/. Run from the repository root, with CBSD432 at
# ../shared/datasets/cbsd432 (the path in models/*.toml):
#
#     bash models/train_zoo.sh [BUDGET] [MODEL ...]     # e.g. bash models/train_zoo.sh 460s poisson
#
# BUDGET overrides each config's time_budget (a duration or a work amount, "275k images");
# the default is the configs' own. Shipping weights trained with another BUDGET: write it
# into models/NAME.toml too (tests/test_zoo.py checks that a model's config is its file's).
# A model trained in stages (noise2noise/zoo.py: `stages`, e.g. gaussian then gaussian.stage2)
# ships the weights of its last run; each later run starts from the packed weights of the one
# before, and a run shared by several models is trained once. The first runs go side by side,
# the later ones one at a time. Run folders go to runs/CONFIG (an existing one is replaced
# only once its new run has finished). First, the noise draws are checked on the device the
# runs will use: Noise2Noise needs each input's noise independent of its target's.
set -euo pipefail
budget=${1:-}
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(gaussian gaussian-correlated gaussian-gray poisson)  # every shipped model
python=${PYTHON:-python}

"$python" - <<'EOF'
import torch
from noise2noise.devices import resolve_device
from noise2noise.noise import GaussianNoise, PoissonNoise, input_and_target_noise

device = resolve_device("auto")
for noise in (GaussianNoise((25.0, 25.0), clip=False), PoissonNoise((50.0, 50.0), clip=False)):
    for shape in ((32, 3, 128, 128), (32, 1, 128, 128)):  # the zoo's RGB and grey training batches
        first, second = input_and_target_noise(noise, device, shape=shape)
        correlation = torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1].item()
        print(f"{type(noise).__name__} on {device}, {shape}: input/target noise correlation {correlation:+.4f}")
        if abs(correlation) > 0.02:
            raise SystemExit(f"{type(noise).__name__} draws on {device} are correlated; training would be wrong")
EOF

if [[ " ${models[*]} " == *" gaussian-gray "* && ! -d ../shared/datasets/cbsd432-gray ]]; then
  "$python" -c "from pathlib import Path; from PIL import Image; out = Path('../shared/datasets/cbsd432-gray'); out.mkdir(exist_ok=True); [Image.open(p).convert('L').save(out / (p.stem + '.png')) for p in Path('../shared/datasets/cbsd432').glob('*.jpg')]"
fi

mkdir -p runs
# The plan, from the zoo: "first RUN" lines, then "next PREVIOUS RUN PACKED" lines, each once.
mapfile -t plan < <("$python" - "${models[@]}" <<'EOF' | awk '!seen[$0]++'
import sys
from noise2noise.zoo import MODELS
for name in sys.argv[1:]:
    print("first", MODELS[name].runs[0])
for name in sys.argv[1:]:
    model = MODELS[name]
    for index in range(1, len(model.runs)):
        print("next", model.runs[index - 1], model.runs[index], model.packed_stage(index - 1))
EOF
)

train() {  # CONFIG [n2n train options...]: trains models/CONFIG.toml into runs/CONFIG
  local run=$1; shift
  local overwrite=()
  [ -e "runs/$run" ] && overwrite=(--overwrite)
  "$python" -m noise2noise train --quiet --config "models/$run.toml" --out "runs/$run" "${overwrite[@]}" "$@" \
    > "runs/$run.log" 2>&1 || { echo "$run: training failed, see runs/$run.log" >&2; return 1; }
  tail -n 3 "runs/$run.log"
}

extra=()
[ -n "$budget" ] && extra=(--time-budget "$budget")
pids=()
for line in "${plan[@]}"; do
  read -r kind run _ <<< "$line"
  [ "$kind" = first ] || continue
  train "$run" "${extra[@]}" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || exit 1

for line in "${plan[@]}"; do
  read -r kind previous run packed <<< "$line"
  [ "$kind" = next ] || continue
  "$python" -c "from noise2noise.zoo import pack_weights; pack_weights('runs/$previous/checkpoint.pt', '$packed', overwrite=True)"
  train "$run"
done

for name in "${models[@]}"; do
  "$python" -c "from noise2noise.zoo import MODELS, pack_weights; print(pack_weights(MODELS['$name'].run_checkpoint, 'noise2noise/weights/$name.pt', overwrite=True))"
done
