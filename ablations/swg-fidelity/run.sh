#!/usr/bin/env bash
# The main offline table (presets/offline-cpu.json, into results/) with the SWG fidelity ablation
# (issue #16) beside it, per (seed, task):
#   reference clip, smooth expectile weights (κ = 3): the main table itself (every method of the preset), and its
#     guidance-scale sweep ρ ∈ {1, 5, …, 30} (into ablations/rho-sweep);
#   reference clip, hard expectile weights (hard.json): a second SWG model on a copy of the same critic
#     (runs/sf-hard/TASK/seedN), with every column that samples the SWG model (SWG, SWG-R, diffusion BC, IDQL and
#     QGPO, whose Q and energy networks are trained on that model) into ablations/swg-fidelity/hard, and its ρ sweep
#     (into ablations/rho-sweep-hard);
#   data-range clip, hard expectile (data-range.json): the hard arm's model evaluated with the clip the agent had
#     before issue #16 (SWG, SWG-R).
# The arms run first (they need only the critic), then the table's stages, then the sweeps.
# Every stage resumes or is skipped when done, so the script can be re-run after an interruption.
# Usage: ablations/swg-fidelity/run.sh [seeds] [tasks]   (from the repository root)
source "$(dirname "$0")/../lib.sh"
dir=ablations/swg-fidelity
for s in $seeds; do
  for t in $tasks; do
    run=runs/$t/seed$s hard=runs/sf-hard/$t/seed$s
    a=(--task "$t" --seed "$s")
    h=("${a[@]}" --config $dir/hard.json --run-dir "$hard")
    cli dataset generate --name "$t"   # from its pinned recipe in datasets/
    cli train-critic "${a[@]}" --run-dir "$run"
    mkdir -p "$hard" && cp -p "$run/critic.safetensors" "$hard/"
    cli train-swg "${h[@]}"
    cli train-qgpo "${h[@]}"
    cli evaluate "${h[@]}" --results $dir/hard --methods swg,swg-r,diffusion-bc,idql,qgpo
    cli evaluate "${a[@]}" --config $dir/data-range.json --run-dir "$hard" --results $dir/data-range --methods swg,swg-r
    cli table --tasks "$t" --seeds "$s"
    cli sweep "${a[@]}" --run-dir "$run" --results ablations/rho-sweep
    cli sweep "${h[@]}" --results ablations/rho-sweep-hard
  done
done
echo "[$(date +%T)] done"
