#!/usr/bin/env bash
# TD3+BC at α = 0.25 instead of the paper's 2.5 (presets/offline-cpu.json with td3bc.alpha changed):
# on our narrow ARS datasets α = 2.5 lets the actor leave the data and the critic diverges
# (docs/methods.md §6.1). Trains into runs/td3bc-alpha/<task>/seed<s>, results into this folder.
# Usage: ablations/td3bc-alpha/run.sh [seeds] [tasks]   (from the repository root)
source "$(dirname "$0")/../lib.sh"
dir=ablations/td3bc-alpha
for s in $seeds; do
  for t in $tasks; do
    [ -f $dir/$t/td3bc-seed$s.json ] && continue
    a=(--task "$t" --seed "$s" --config $dir/alpha-0.25.json --run-dir runs/td3bc-alpha/$t/seed$s)
    cli dataset generate --name "$t"
    cli train-td3bc "${a[@]}"
    cli evaluate "${a[@]}" --results $dir --methods td3bc
  done
done
cli results --results $dir
