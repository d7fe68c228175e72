#!/usr/bin/env bash
# Train the shipped models side by side (on one GPU, or wherever `device = "auto"` lands)
# and pack them into noise2noise/weights/. Run from the repository root, with CBSD432 at
# ../shared/datasets/cbsd432 (the path in models/*.toml):
#
#     bash models/train_zoo.sh [BUDGET] [MODEL ...]     # e.g. bash models/train_zoo.sh 460s poisson
#
# BUDGET overrides each config's time_budget (a duration or a work amount, "275k images");
# the default is the configs' own. Shipping weights trained with another BUDGET: write it
# into models/NAME.toml too (tests/test_zoo.py checks that a model's config is its file's;
# a model with a models/NAME.stage2.toml ships the weights of that second run). Run folders go to runs/NAME (an existing one is replaced
# only once its new run has finished). First, the noise draws are checked on the device the
# runs will use: Noise2Noise needs each input's noise independent of its target's.
set -euo pipefail
budget=${1:-}
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(gaussian gaussian-gray poisson)
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
pids=()
for name in "${models[@]}"; do
  extra=()
  [ -n "$budget" ] && extra=(--time-budget "$budget")
  overwrite=()
  [ -e "runs/$name" ] && overwrite=(--overwrite)
  "$python" -m noise2noise train --quiet --config "models/$name.toml" --out "runs/$name" "${extra[@]}" \
    "${overwrite[@]}" > "runs/$name.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!models[@]}"; do
  if wait "${pids[$i]}"; then
    tail -n 3 "runs/${models[$i]}.log"
  else
    echo "${models[$i]}: training failed, see runs/${models[$i]}.log" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1

# A model with a stage 2 (models/NAME.stage2.toml) goes on from its packed stage-1 weights.
for name in "${models[@]}"; do
  run=runs/$name
  if [ -f "models/$name.stage2.toml" ]; then
    "$python" -c "from noise2noise.zoo import pack_weights; pack_weights('$run/checkpoint.pt', 'runs/$name-stage1.pt', overwrite=True)"
    overwrite=()
    [ -e "runs/$name.stage2" ] && overwrite=(--overwrite)
    "$python" -m noise2noise train --quiet --config "models/$name.stage2.toml" --out "runs/$name.stage2" \
      "${overwrite[@]}" > "runs/$name.stage2.log" 2>&1 || { echo "$name stage 2 failed, see runs/$name.stage2.log" >&2; exit 1; }
    run=runs/$name.stage2
  fi
  "$python" -c "from noise2noise.zoo import pack_weights; print(pack_weights('$run/checkpoint.pt', 'noise2noise/weights/$name.pt', overwrite=True))"
done
