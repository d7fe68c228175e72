# From the new gaussian (stage 2) weights, two side-by-side fine-tunes on one GPU that differ only in --noise.
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=8
OUT=${OUT:-/tmp/corr-out}; mkdir -p "$OUT" ../shared/datasets runs
[ -e ../shared/datasets/cbsd432 ] || ln -s "$PWD/.gpu/cbsd432" ../shared/datasets/cbsd432
B=${1:-150s}; K=${2:-200}
for n in gaussian gaussian-correlated; do
  timeout "$K" python3 -m noise2noise train --quiet --config models/gaussian.stage2.toml --init-weights .gpu/gaussian-s2.pt \
    --noise $n --time-budget "$B" --eval-every-s 0 --val-whole-images 0 --out runs/ft-$n >"$OUT/ft-$n.log" 2>&1 &
done
wait
for n in gaussian gaussian-correlated; do
  tail -2 "$OUT/ft-$n.log"
  python3 -c "from noise2noise.zoo import pack_weights; pack_weights('runs/ft-$n/checkpoint.pt', '$OUT/ft-$n.pt')"
  cp runs/ft-$n/results.json "$OUT/ft-$n.results.json"
done
ls -la "$OUT"
