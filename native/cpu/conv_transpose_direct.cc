// Direct ConvTranspose2D 2x2 / 2: the baseline build of conv_transpose_direct.h and the run-time dispatch.
#include "cpu/conv_transpose_direct.h"

#include "cpu/conv_transpose.h"
#include "facestyle/capabilities.h"

namespace facestyle::cpu {

bool convTransposeUpApplies(const ConvGeometry& g) { return upConvApplies(g); }

void convTransposeUpScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                           int threads, const ConvActivation* act) {
  upConvAll(g, x, w, bias, z, y, threads, act);
}

void convTransposeUp(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                     const ConvActivation* act) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return convTransposeUpAvx512(g, x, w, bias, z, y, threads, act);
    case SimdLevel::Avx2: return convTransposeUpAvx2(g, x, w, bias, z, y, threads, act);
#endif
    default: return convTransposeUpScalar(g, x, w, bias, z, y, threads, act);
  }
}

}  // namespace facestyle::cpu
