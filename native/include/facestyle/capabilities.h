// What this build and this machine can do. The SIMD level is detected at run time from CPUID and
// can be lowered (never raised) with FACESTYLE_SIMD=scalar|avx2|avx512, so tests cover every path.
#pragma once
#include <string>

namespace facestyle {

enum class SimdLevel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* simdLevelName(SimdLevel level);
SimdLevel detectedSimdLevel();  // what the CPU supports
SimdLevel simdLevel();          // what kernels use: detected, lowered by FACESTYLE_SIMD
int hardwareThreads();
const char* versionString();

}  // namespace facestyle
