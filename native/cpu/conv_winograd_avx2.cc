// Winograd F(4x4, 3x3) Conv2D built with the avx2 flags (see conv_winograd.h): transforms on 32-byte vectors.
#define FACESTYLE_DIRECT_VECTOR_BYTES 32
#define FACESTYLE_WINO_MB 6
#define FACESTYLE_WINO_U 2
#include "cpu/conv_winograd.h"

namespace facestyle::cpu {

void conv2dWinogradAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act) {
  winogradConvAll(g, x, w, bias, y, threads, act);
}

}  // namespace facestyle::cpu
