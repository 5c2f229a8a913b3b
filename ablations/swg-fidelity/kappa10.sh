#!/usr/bin/env bash
# A follow-up arm of the SWG fidelity ablation (issue #16), run after the default was chosen: the smooth expectile
# with κ = 10 instead of the reference code's 3 (kappa10.json, otherwise the cpu preset). κ multiplies the advantage,
# so a larger κ spreads the weights of a task whose advantages are small (maze2d-umaze's; docs/methods.md §2.3).
# Per (seed, task): a third SWG model on a copy of the main run's critic (runs/sf-kappa10/TASK/seedN), sampled as
# SWG, SWG-R and diffusion BC into ablations/swg-fidelity/kappa10. Stages resume or are skipped when done.
# Usage: ablations/swg-fidelity/kappa10.sh [seeds] [tasks]   (from the repository root, after run.sh or table has
# trained the critic of each (task, seed))
set -- "${1:-0,1,2}" "${2:-maze2d-umaze-v1,hopper-medium-replay-v2,walker2d-medium-expert-v2,halfcheetah-medium-v2,maze2d-medium-v1}"
source "$(dirname "$0")/../lib.sh"
dir=ablations/swg-fidelity
for s in $seeds; do
  for t in $tasks; do
    run=runs/$t/seed$s arm=runs/sf-kappa10/$t/seed$s
    [ -f "$run/critic.safetensors" ] || { echo "skipping $t seed $s: no critic in $run (run.sh trains it)"; continue; }
    a=(--task "$t" --seed "$s" --config $dir/kappa10.json --run-dir "$arm")
    mkdir -p "$arm" && cp -p "$run/critic.safetensors" "$arm/"
    cli train-swg "${a[@]}"
    cli evaluate "${a[@]}" --results $dir/kappa10 --methods swg,swg-r,diffusion-bc
  done
done
echo "[$(date +%T)] done"
