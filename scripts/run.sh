#!/bin/sh
# Smoke test of the unpacked bundle: the WebGPU adapter Dawn finds (if any), then a few SWG
# training steps and one guided-sampling call on the backend named by $1 (auto, gpu, wasm, cpu;
# default auto). Needs nothing but this folder: Node is node_modules/node/bin/node.
set -eu
cd "$(dirname "$0")"
export PATH="$PWD/node_modules/node/bin:$PATH"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
node --version
node scripts/adapter.ts || echo "(no WebGPU adapter: the gpu backend is unavailable here)"
node scripts/smoke.ts "${1:-auto}"
