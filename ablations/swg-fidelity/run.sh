#!/usr/bin/env bash
# The SWG fidelity ablation (issue #16) and the diffusion-BC check (issue #18) in one run:
# per (seed, task), one critic and IQL actor, two SWG models (hard and smooth expectile weights),
# evaluated as: reference clip (every method), data-range clip (SWG, SWG-R), smooth (SWG, SWG-R, BC).
# Every stage resumes or is skipped when done, so the script can be re-run after an interruption.
# Usage: ablations/swg-fidelity/run.sh [seeds] [tasks]   (from the repository root)
set -euo pipefail
seeds=${1:-0,1,2}
tasks=${2:-hopper-medium-replay-v2,walker2d-medium-expert-v2,halfcheetah-medium-v2,maze2d-umaze-v1,maze2d-medium-v1}
dir=ablations/swg-fidelity
cli() { echo "[$(date +%T)] $*"; npm run --silent cli -- "$@"; }
for s in ${seeds//,/ }; do
  for t in ${tasks//,/ }; do
    hard=runs/sf-hard/$t/seed$s smooth=runs/sf-smooth/$t/seed$s
    if [ -f $dir/smooth/$t/diffusion-bc-seed$s.json ] && [ -f $dir/data-range/$t/swg-r-seed$s.json ] && [ -f $dir/reference/$t/iql-seed$s.json ]; then
      echo "$t seed $s: every result file exists, skipped"; continue
    fi
    cli dataset generate --name "$t"   # from its pinned recipe in datasets/ when there is one
    a=(--task "$t" --seed "$s")
    cli train-critic "${a[@]}" --config $dir/reference.json --run-dir "$hard"
    cli train-swg "${a[@]}" --config $dir/reference.json --run-dir "$hard"
    cli train-baseline "${a[@]}" --config $dir/reference.json --run-dir "$hard"
    cli evaluate "${a[@]}" --config $dir/reference.json --run-dir "$hard" --results $dir/reference
    cli evaluate "${a[@]}" --config $dir/data-range.json --run-dir "$hard" --results $dir/data-range --methods swg,swg-r
    mkdir -p "$smooth" && cp -n "$hard/critic.safetensors" "$smooth/"
    cli train-swg "${a[@]}" --config $dir/smooth.json --run-dir "$smooth"
    cli evaluate "${a[@]}" --config $dir/smooth.json --run-dir "$smooth" --results $dir/smooth --methods swg,swg-r,diffusion-bc
  done
done
echo "[$(date +%T)] done"
