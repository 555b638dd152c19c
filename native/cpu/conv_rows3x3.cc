// Direct 3x3 stride-1 Conv2D on aligned rows: the baseline build of conv_rows3x3.h and the run-time
// dispatch.
#include "cpu/conv_direct.h"
#include "cpu/conv_rows3x3.h"

#include "facestyle/capabilities.h"

namespace facestyle::cpu {

bool conv2dRows3x3Scalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act) {
  return rows3x3All(g, x, w, bias, y, threads, act);
}

bool conv2dRows3x3(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                   const ConvActivation* act) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return conv2dRows3x3Avx512(g, x, w, bias, y, threads, act);
    case SimdLevel::Avx2: return conv2dRows3x3Avx2(g, x, w, bias, y, threads, act);
#endif
    default: return conv2dRows3x3Scalar(g, x, w, bias, y, threads, act);
  }
}

}  // namespace facestyle::cpu
