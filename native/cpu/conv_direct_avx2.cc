// Direct Conv2D built with the avx2 flags (see conv_direct.h): 16 ymm registers hold 6 x 2 accumulators.
#define FACESTYLE_DIRECT_VECTOR_BYTES 32
#define FACESTYLE_DIRECT_MB 6
#define FACESTYLE_DIRECT_U 2
#include "cpu/conv_direct.h"
#include "cpu/conv_direct_flat.h"

namespace facestyle::cpu {

void conv2dDirectAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act) {
  directConvAll(g, x, w, bias, y, threads, act);
}

void conv2dFlatAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act) {
  flatConvAll(g, x, w, bias, y, threads, act);
}

void depthwiseFlatAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                       const ConvActivation* act) {
  depthwiseFlatAll(g, x, w, bias, y, threads, act);
}

}  // namespace facestyle::cpu
