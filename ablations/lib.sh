# Sourced by the ablation scripts (from the repository root): the script's first two arguments are the seeds and the
# tasks, comma-separated (by default seeds 0–2 and the results table's five tasks), split into words in `seeds` and
# `tasks`; `cli` runs one command of the project's CLI, printing it with the time first.
set -euo pipefail
seeds=${1:-0,1,2}
seeds=${seeds//,/ }
tasks=${2:-hopper-medium-replay-v2,walker2d-medium-expert-v2,halfcheetah-medium-v2,maze2d-umaze-v1,maze2d-medium-v1}
tasks=${tasks//,/ }
cli() { echo "[$(date +%T)] $*"; npm run --silent cli -- "$@"; }
