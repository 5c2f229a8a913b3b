#!/usr/bin/env bash
# The main offline table (presets/offline-cpu.json, into results/) with the SWG fidelity ablation
# (issue #16) beside it, per (seed, task):
#   reference clip, hard expectile weights: the main table itself (every method of the preset);
#   data-range clip: the same SWG model evaluated with the old clip (SWG, SWG-R);
#   smooth expectile (κ = 3): a second SWG model on the same critic (SWG, SWG-R, diffusion BC);
#   and the guidance-scale sweep ρ ∈ {1, 5, …, 30} of the main table's SWG model (into ablations/rho-sweep).
# The ablation arms run first (they need only the critic and the SWG model), then the table's stages.
# Every stage resumes or is skipped when done, so the script can be re-run after an interruption.
# Usage: ablations/swg-fidelity/run.sh [seeds] [tasks]   (from the repository root)
set -euo pipefail
seeds=${1:-0,1,2}
tasks=${2:-hopper-medium-replay-v2,walker2d-medium-expert-v2,halfcheetah-medium-v2,maze2d-umaze-v1,maze2d-medium-v1}
dir=ablations/swg-fidelity
cli() { echo "[$(date +%T)] $*"; npm run --silent cli -- "$@"; }
for s in ${seeds//,/ }; do
  for t in ${tasks//,/ }; do
    run=runs/$t/seed$s smooth=runs/sf-smooth/$t/seed$s
    a=(--task "$t" --seed "$s")
    if [ ! -f $dir/data-range/$t/swg-r-seed$s.json ] || [ ! -f $dir/smooth/$t/diffusion-bc-seed$s.json ]; then
      cli dataset generate --name "$t"   # from its pinned recipe in datasets/
      cli train-critic "${a[@]}" --run-dir "$run"
      cli train-swg "${a[@]}" --run-dir "$run"
    fi
    if [ ! -f $dir/data-range/$t/swg-r-seed$s.json ]; then
      cli evaluate "${a[@]}" --config $dir/data-range.json --run-dir "$run" --results $dir/data-range --methods swg,swg-r
    fi
    if [ ! -f $dir/smooth/$t/diffusion-bc-seed$s.json ]; then
      mkdir -p "$smooth" && cp -n "$run/critic.safetensors" "$smooth/"
      cli train-swg "${a[@]}" --config $dir/smooth.json --run-dir "$smooth"
      cli evaluate "${a[@]}" --config $dir/smooth.json --run-dir "$smooth" --results $dir/smooth --methods swg,swg-r,diffusion-bc
    fi
    cli table --tasks "$t" --seeds "$s"
    if [ ! -f ablations/rho-sweep/$t/swg-rho30-seed$s.json ]; then
      cli sweep "${a[@]}" --run-dir "$run" --results ablations/rho-sweep
    fi
  done
done
echo "[$(date +%T)] done"
