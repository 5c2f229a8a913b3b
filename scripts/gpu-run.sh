#!/bin/bash
# The real-GPU run: unpacks the bundle (npm run bundle) in a fresh folder and, each step under its
# own timeout, writes to $OUT (default ./gpu-out):
#   adapter.json        the WebGPU adapter Dawn picked (vendor, device, features, limits)
#   gpu-tier.log/.json  REQUIRE_GPU=1 vitest run --project gpu
#   bench-gpu.log/.json node src/cli.ts bench --backend gpu
#   bench-torch.log, bench-torch-cuda.json   the PyTorch peer on CUDA, same machine, same run
# Usage: scripts/gpu-run.sh BUNDLE.tar.xz PATH/TO/torch_swg_bench.py
# Needs an NVIDIA driver with its Vulkan ICD, the Vulkan loader (libvulkan1) and, for the peer,
# python3 with torch. Where the ICD is not found on its own, set VK_DRIVER_FILES to its JSON.
set -uo pipefail
bundle=$(realpath "$1")
peer=$(realpath "$2")
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$bundle" || exit 1
cd "$work/dgrl"
export PATH="$PWD/node_modules/node/bin:$PATH" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
echo "== adapter"
timeout 30 node scripts/adapter.ts > "$OUT/adapter.json"; echo "adapter rc=$?"; head -c 400 "$OUT/adapter.json"; echo
echo "== gpu tier"
REQUIRE_GPU=1 timeout "${TIER_TIMEOUT:-170}" node node_modules/vitest/vitest.mjs run --project gpu \
  --reporter=default --reporter=json --outputFile.json="$OUT/gpu-tier.json" 2>&1 | tee "$OUT/gpu-tier.log" | grep -v "^ *✓"
echo "gpu tier rc=${PIPESTATUS[0]}"
echo "== bench (gpu)"
timeout "${BENCH_TIMEOUT:-110}" node src/cli.ts bench --backend gpu ${BENCH_FLAGS:-} --json "$OUT/bench-gpu.json" 2>&1 | tee "$OUT/bench-gpu.log"
echo "bench rc=${PIPESTATUS[0]}"
echo "== PyTorch peer (cuda)"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-90}" python3 "$peer" --device cuda --max-wait 20 --json-out "$OUT/bench-torch-cuda.json" 2>&1 | tee "$OUT/bench-torch.log"
echo "torch rc=${PIPESTATUS[0]}"
