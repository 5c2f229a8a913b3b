#!/usr/bin/env bash
# The smooth-expectile arm's baselines that sample the SWG model (issue #16): IDQL (its candidates) and QGPO (its
# support actions) on the arm's own SWG model, so that, were the smooth expectile made the default, every column
# that depends on the SWG model exists for it. Per (seed, task) whose smooth SWG model run.sh has trained
# (runs/sf-smooth/TASK/seedN, beside a copy of the main run's critic): QGPO's Q and energy network, then the
# evaluation of SWG, SWG-R, diffusion BC, IDQL and QGPO from that one model into ablations/swg-fidelity/smooth (where
# the arm's SWG model is missing, it is trained again first). Stages resume or are skipped when done.
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
    [ -f $dir/smooth/$t/qgpo-seed$s.json ] && grep -q '"checkpoints"' $dir/smooth/$t/swg-seed$s.json && continue
    if [ ! -f "$smooth/swg.safetensors" ]; then
      # the arm's model is gone (trained in another checkout): train it again on the main run's critic (same seed,
      # same config)
      [ -f runs/$t/seed$s/critic.safetensors ] || { echo "skipping $t seed $s: no critic in runs/$t/seed$s"; continue; }
      mkdir -p "$smooth" && cp -n runs/$t/seed$s/critic.safetensors "$smooth/"
      cli train-swg "${a[@]}"
    fi
    cli train-qgpo "${a[@]}"
    # all five columns from the model that is there now: results that do not record the checkpoint they were
    # evaluated from (written before results did) are evaluated again (--fresh), the others are kept while it is unchanged
    fresh=()
    grep -q '"checkpoints"' $dir/smooth/$t/swg-seed$s.json || fresh=(--fresh)
    cli evaluate "${a[@]}" --results $dir/smooth --methods swg,swg-r,diffusion-bc,idql,qgpo "${fresh[@]}"
  done
done
echo "[$(date +%T)] done"
