#!/usr/bin/env bash
# Issue 8's GPU checks, in one command on the accelerator machine (no Node needed for 1-2):
#   1. build the native core + C++ tests with CUDA for the local GPU (FACESTYLE_CUDA=ON);
#   2. ctest: test_cuda_ops runs every op on CUDA against the CPU kernel (forward and gradients);
#   3. if node is there (carry .device/ made by ../shared/tools/device-prep.sh and source .device/env.sh
#      first) and node_modules + dist/ were carried: the vitest op table on cuda and bench/gpu.mjs
#      (native CUDA vs the same generator in PyTorch, bench/torch_generator.py).
# Logs go to $OUT (or ./device-out). Usage on the device tool:
#   run: source .device/env.sh; bash scripts/device-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-device-out}
mkdir -p "$out"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
arch=${arch:-90}
{
  nvidia-smi || true
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFACESTYLE_CUDA=ON -DFACESTYLE_CUDA_ARCHS="$arch" &&
    cmake --build build-gpu -j"$(nproc)"
} >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
ctest --test-dir build-gpu --output-on-failure 2>&1 | tee "$out/ctest.log"
status=${PIPESTATUS[0]}
if command -v node >/dev/null && [ -d node_modules ] && [ -d dist ]; then
  FACESTYLE_BUILD_DIR=build-gpu FACESTYLE_CUDA=ON node scripts/build-native.mjs >"$out/addon.log" 2>&1 &&
    FACESTYLE_ADDON=$PWD/build-gpu/Release/facestyle.node npx vitest run test/ops.test.ts 2>&1 | tail -40 | tee "$out/vitest-ops.log"
  FACESTYLE_ADDON=$PWD/build-gpu/Release/facestyle.node node bench/gpu.mjs --device cuda --out "$out" 2>&1 | tee "$out/gpu-bench.log"
else
  echo "node, node_modules or dist/ not carried: vitest on cuda and bench/gpu.mjs skipped" | tee "$out/skipped.txt"
fi
exit "$status"
