#include "facestyle/capabilities.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FACESTYLE_VERSION
#define FACESTYLE_VERSION "0.0.0"
#endif

namespace facestyle {

const char* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2: return "avx2";
    default: return "scalar";
  }
}

SimdLevel detectedSimdLevel() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  // Every extension the level's files are compiled with (CMakeLists.txt, binding.gyp): the AVX-512 kernels
  // use BW / DQ / VL instructions (xmm16-31, masked byte ops), which a CPU with AVX-512F alone (Xeon Phi)
  // lacks, and both levels convert halves with F16C.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return SimdLevel::Avx512;
  if (avx2) return SimdLevel::Avx2;
#endif
  return SimdLevel::Scalar;
}

SimdLevel simdLevel() {
  static const SimdLevel level = [] {
    SimdLevel detected = detectedSimdLevel();
    const char* forced = std::getenv("FACESTYLE_SIMD");
    if (!forced) return detected;
    SimdLevel wanted = detected;
    if (!std::strcmp(forced, "scalar")) wanted = SimdLevel::Scalar;
    else if (!std::strcmp(forced, "avx2")) wanted = SimdLevel::Avx2;
    else if (!std::strcmp(forced, "avx512")) wanted = SimdLevel::Avx512;
    return wanted < detected ? wanted : detected;
  }();
  return level;
}

int hardwareThreads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
#endif
}

const char* versionString() { return FACESTYLE_VERSION; }

}  // namespace facestyle
