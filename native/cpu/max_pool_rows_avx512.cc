// maxPool2x2Stride2Row (max_pool_rows.h) built with the avx512 flags.
#include "cpu/max_pool_rows.h"

namespace facestyle::cpu {

void maxPool2x2Stride2RowAvx512(const float* r0, const float* r1, float* y, int64_t n) { maxPool2x2Stride2RowImpl(r0, r1, y, n); }

}  // namespace facestyle::cpu
