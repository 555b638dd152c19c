// Winograd F(4x4, 3x3) Conv2D built with the avx512 flags (see conv_winograd.h): transforms on 64-byte vectors.
#define FACESTYLE_DIRECT_VECTOR_BYTES 64
#define FACESTYLE_WINO_MB 12
#define FACESTYLE_WINO_U 2
#include "cpu/conv_winograd.h"

namespace facestyle::cpu {

void conv2dWinogradAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation* act) {
  winogradConvAll(g, x, w, bias, y, threads, act);
}

}  // namespace facestyle::cpu
