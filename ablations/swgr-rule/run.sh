#!/usr/bin/env bash
# SWG-R's selection rule: the table picks, among 16 candidates sampled jointly with their weights, the one with the
# highest generated weight (greedy); the SWG paper (v1 App. C.1) also names a categorical draw with probability
# proportional to the weight, and does not say which its results use. This evaluates the table's own SWG models
# (runs/TASK/seedN, trained by `table` or ablations/swg-fidelity/run.sh) with the categorical rule
# (categorical.json: the cpu preset but for evaluation.swgRRule) into ablations/swgr-rule/categorical; the greedy
# column is the main table's. Evaluation only; results are kept when done.
# Usage: ablations/swgr-rule/run.sh [seeds] [tasks]   (from the repository root)
source "$(dirname "$0")/../lib.sh"
for s in $seeds; do
  for t in $tasks; do
    [ -f runs/$t/seed$s/swg.safetensors ] || { echo "skipping $t seed $s: no SWG model in runs/$t/seed$s"; continue; }
    cli evaluate --task "$t" --seed "$s" --config ablations/swgr-rule/categorical.json --run-dir runs/$t/seed$s \
      --results ablations/swgr-rule/categorical --methods swg-r
  done
done
echo "[$(date +%T)] done"
