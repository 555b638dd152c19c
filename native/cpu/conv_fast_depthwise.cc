// Depthwise conv: the baseline build of conv_fast_depthwise.h and the run-time dispatch.
#include "cpu/conv_fast.h"
#include "cpu/conv_fast_depthwise.h"
#include "facestyle/capabilities.h"

namespace facestyle::cpu {

void depthwiseConv2dScalar(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  depthwiseAll(s, x, w, bias, y, threads);
}

void depthwiseConv2d(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return depthwiseConv2dAvx512(s, x, w, bias, y, threads);
    case SimdLevel::Avx2: return depthwiseConv2dAvx2(s, x, w, bias, y, threads);
#endif
    default: return depthwiseConv2dScalar(s, x, w, bias, y, threads);
  }
}

}  // namespace facestyle::cpu
