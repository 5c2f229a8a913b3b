#!/usr/bin/env bash
# The smooth-expectile arm's baselines that sample the SWG model (issue #16): IDQL (its candidates) and QGPO (its
# support actions) on the arm's own SWG model, so that, were the smooth expectile made the default, every column
# that depends on the SWG model exists for it. Per (seed, task) whose smooth SWG model run.sh has trained
# (runs/sf-smooth/TASK/seedN, beside a copy of the main run's critic): QGPO's Q and energy network, then the
# evaluation of IDQL and QGPO into ablations/swg-fidelity/smooth (and, where the arm's SWG model is missing, that
# model trained again and all five of its methods evaluated). Stages resume or are skipped when done.
# Usage: ablations/swg-fidelity/smooth-baselines.sh [seeds] [tasks]   (from the repository root)
set -euo pipefail
seeds=${1:-0,1,2}
tasks=${2:-hopper-medium-replay-v2,walker2d-medium-expert-v2,halfcheetah-medium-v2,maze2d-umaze-v1,maze2d-medium-v1}
dir=ablations/swg-fidelity
cli() { echo "[$(date +%T)] $*"; npm run --silent cli -- "$@"; }
for s in ${seeds//,/ }; do
  for t in ${tasks//,/ }; do
    smooth=runs/sf-smooth/$t/seed$s
    a=(--task "$t" --seed "$s" --config $dir/smooth.json --run-dir "$smooth")
    if [ ! -f $dir/smooth/$t/diffusion-bc-seed$s.json ]; then echo "skipping $t seed $s: run.sh has not evaluated its smooth SWG model yet"; continue; fi
    [ -f $dir/smooth/$t/qgpo-seed$s.json ] && continue
    methods=idql,qgpo
    if [ ! -f "$smooth/swg.safetensors" ]; then
      # the arm's model is gone (trained in another checkout): train it again on the main run's critic (same seed,
      # same config) and evaluate every method that samples it, so all five columns come from one model
      [ -f runs/$t/seed$s/critic.safetensors ] || { echo "skipping $t seed $s: no critic in runs/$t/seed$s"; continue; }
      mkdir -p "$smooth" && cp -n runs/$t/seed$s/critic.safetensors "$smooth/"
      cli train-swg "${a[@]}"
      methods=swg,swg-r,diffusion-bc,idql,qgpo
    fi
    cli train-qgpo "${a[@]}"
    cli evaluate "${a[@]}" --results $dir/smooth --methods $methods
  done
done
echo "[$(date +%T)] done"
