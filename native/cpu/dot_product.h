// A float dot product the compiler vectorises at any SIMD level: eight partial sums (one running sum
// is a single dependency chain, and GCC does not reorder float additions without -ffast-math), then
// the tail, then the partials, always in that order so every caller gets the same rounding.
#pragma once
#include <cstdint>

namespace facestyle::cpu {

inline float dotProduct(const float* a, const float* b, int64_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) part[j] += a[k + j] * b[k + j];
  float sum = 0.f;
  for (; k < n; ++k) sum += a[k] * b[k];
  for (int j = 0; j < 8; ++j) sum += part[j];
  return sum;
}

}  // namespace facestyle::cpu
