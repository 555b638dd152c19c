// rowDots dispatch and its reference (see row_dots.h).
#include "cpu/row_dots.h"

#include "facestyle/capabilities.h"

namespace facestyle::cpu {

namespace {

// Eight partial sums (the compiler vectorises them at the baseline ISA; one running sum would be a
// single dependency chain, and GCC does not reorder float additions without -ffast-math), then the
// tail, then the partials, always in that order.
float dotProduct(const float* a, const float* b, int64_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) part[j] += a[k + j] * b[k + j];
  float sum = 0.f;
  for (; k < n; ++k) sum += a[k] * b[k];
  for (int j = 0; j < 8; ++j) sum += part[j];
  return sum;
}

}  // namespace

void rowDotsReference(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y) {
  for (int64_t m = 0; m < M; ++m) y[m] = dotProduct(w + m * ldw, x, K);
}

void rowDots(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return rowDotsAvx512(w, ldw, M, K, x, y);
    case SimdLevel::Avx2: return rowDotsAvx2(w, ldw, M, K, x, y);
#endif
    default: return rowDotsReference(w, ldw, M, K, x, y);
  }
}

}  // namespace facestyle::cpu
