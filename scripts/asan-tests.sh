#!/usr/bin/env bash
# The C++ kernel tests (ctest) built with AddressSanitizer in a Debug build of their own (build-asan/ by
# default, FACESTYLE_ASAN_DIR to change it): out-of-bounds reads and writes, use after free or after
# scope, leaks. Not part of `npm test` (the build takes about 5 minutes on 2 cores and the tests run
# several times slower); run it after changing a kernel.
#
#   scripts/asan-tests.sh [ctest arguments, e.g. -R conv_mobile]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${FACESTYLE_ASAN_DIR:-build-asan}"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-fsanitize=address -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address" >/dev/null
# The test executables only (not the addon, which Node would have to load with the ASan runtime).
targets=$(ninja -C "$dir" -t targets all | grep -oE '^test_[a-z0-9_]+' | sort -u)
ninja -C "$dir" -j "${CMAKE_BUILD_PARALLEL_LEVEL:-2}" $targets
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" ctest --test-dir "$dir" --output-on-failure "$@"
