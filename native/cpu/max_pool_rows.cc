// maxPool2x2Stride2Row (max_pool_rows.h): the baseline build and the run-time dispatch.
#include "cpu/max_pool_rows.h"

#include "facestyle/capabilities.h"

namespace facestyle::cpu {

void maxPool2x2Stride2RowScalar(const float* r0, const float* r1, float* y, int64_t n) { maxPool2x2Stride2RowImpl(r0, r1, y, n); }

void maxPool2x2Stride2Row(const float* r0, const float* r1, float* y, int64_t n) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return maxPool2x2Stride2RowAvx512(r0, r1, y, n);
    case SimdLevel::Avx2: return maxPool2x2Stride2RowAvx2(r0, r1, y, n);
#endif
    default: return maxPool2x2Stride2RowScalar(r0, r1, y, n);
  }
}

}  // namespace facestyle::cpu
