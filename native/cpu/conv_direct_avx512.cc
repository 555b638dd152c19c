// Direct Conv2D built with the avx512 flags (see conv_direct.h): 32 zmm registers hold 8 x 3 accumulators.
#define FACESTYLE_DIRECT_VECTOR_BYTES 64
#define FACESTYLE_DIRECT_MB 8
#define FACESTYLE_DIRECT_U 3
#include "cpu/conv_direct.h"
#include "cpu/conv_direct_flat.h"

namespace facestyle::cpu {

void conv2dDirectAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act) {
  directConvAll(g, x, w, bias, y, threads, act);
}

void conv2dFlatAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act) {
  flatConvAll(g, x, w, bias, y, threads, act);
}

void depthwiseFlatAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act) {
  depthwiseFlatAll(g, x, w, bias, y, threads, act);
}

}  // namespace facestyle::cpu
