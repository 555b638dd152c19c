// Direct Conv2D for few-channel layers: the baseline build of conv_direct.h and the run-time dispatch.
#include "cpu/conv_direct.h"
#include "cpu/conv_direct_flat.h"

#include "facestyle/capabilities.h"

namespace facestyle::cpu {

void conv2dDirectScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act) {
  directConvAll(g, x, w, bias, y, threads, act);
}

void conv2dFlatScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act) {
  flatConvAll(g, x, w, bias, y, threads, act);
}

void depthwiseFlatScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act) {
  depthwiseFlatAll(g, x, w, bias, y, threads, act);
}

void conv2dDirect(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                  const ConvActivation* act) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return conv2dDirectAvx512(g, x, w, bias, y, threads, act);
    case SimdLevel::Avx2: return conv2dDirectAvx2(g, x, w, bias, y, threads, act);
#endif
    default: return conv2dDirectScalar(g, x, w, bias, y, threads, act);
  }
}

void conv2dFlat(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                const ConvActivation* act) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return conv2dFlatAvx512(g, x, w, bias, y, threads, act);
    case SimdLevel::Avx2: return conv2dFlatAvx2(g, x, w, bias, y, threads, act);
#endif
    default: return conv2dFlatScalar(g, x, w, bias, y, threads, act);
  }
}

void depthwiseFlat(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                   const ConvActivation* act) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return depthwiseFlatAvx512(g, x, w, bias, y, threads, act);
    case SimdLevel::Avx2: return depthwiseFlatAvx2(g, x, w, bias, y, threads, act);
#endif
    default: return depthwiseFlatScalar(g, x, w, bias, y, threads, act);
  }
}

}  // namespace facestyle::cpu
