#!/usr/bin/env bash
# The C++ kernel tests (ctest) built with AddressSanitizer in a Debug build of their own (build-asan/ by
# default, FACESTYLE_ASAN_DIR to change it): out-of-bounds reads and writes, use after free or after
# scope, leaks. Not part of `npm test` (the build takes about 5 minutes on 2 cores); run it after changing
# a kernel.
#
#   scripts/asan-tests.sh [ctest arguments, e.g. -R conv_mobile]
#   scripts/asan-tests.sh --vitest [vitest arguments, e.g. test/face-detect.test.ts]
#
# --vitest builds the addon the same way and runs the vitest suites on it instead: Node loads it with
# libasan preloaded (LD_PRELOAD; leak checks off, V8 keeps memory to the end) through FACESTYLE_ADDON.
# Child processes inherit the preload; `ps` hangs under it, so a wrapper runs ps without it.
#
# FACESTYLE_SANITIZE picks the sanitizers of the C++ tests (default: address): e.g. undefined (UBSan,
# stopping at the first report) in its own FACESTYLE_ASAN_DIR. --vitest needs address.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(realpath -m "${FACESTYLE_ASAN_DIR:-build-asan}")"
jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
vitest=0
if [[ "${1:-}" == "--vitest" ]]; then vitest=1; shift; fi
napi_inc="$(node -p "require('node-api-headers').include_dir");$(node -p "require('path').resolve(require('node-addon-api').include_dir)")"
san="${FACESTYLE_SANITIZE:-address}"
if [[ $vitest == 1 && ",$san," != *,address,* ]]; then echo "asan-tests.sh: --vitest needs FACESTYLE_SANITIZE to include address" >&2; exit 2; fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-fsanitize=$san -fno-sanitize-recover=undefined -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$san" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=$san" -DCMAKE_JS_INC="$napi_inc" -DCMAKE_JS_VERSION=8.0.0 >/dev/null
if [[ $vitest == 0 ]]; then
  targets=$(ninja -C "$dir" -t targets all | grep -oE '^test_[a-z0-9_]+' | sort -u)
  ninja -C "$dir" -j "$jobs" $targets
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" ctest --test-dir "$dir" --output-on-failure "$@"
else
  ninja -C "$dir" -j "$jobs" facestyle
  npx tsc -p tsconfig.json
  wrap="$(mktemp -d)"
  trap 'rm -rf "$wrap"' EXIT
  printf '#!/bin/sh\nunset LD_PRELOAD\nexec "%s" "$@"\n' "$(command -v ps)" > "$wrap/ps"
  chmod +x "$wrap/ps"
  PATH="$wrap:$PATH" LD_PRELOAD="$(g++ -print-file-name=libasan.so)" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}" \
    FACESTYLE_ADDON="$dir/facestyle.node" npx vitest run "$@"
fi
