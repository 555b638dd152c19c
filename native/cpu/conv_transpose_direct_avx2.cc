// Direct ConvTranspose2D 2x2 / 2 built with the avx2 flags (see conv_transpose_direct.h): 16 ymm
// registers hold 1 channel x 4 taps x 3 vectors of accumulators, the 3 input vectors and a weight.
#define FACESTYLE_DIRECT_VECTOR_BYTES 32
#define FACESTYLE_UP_MB 1
#define FACESTYLE_UP_U 3
#include "cpu/conv_transpose_direct.h"

#include "cpu/conv_transpose.h"

namespace facestyle::cpu {

void convTransposeUpAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                         const ConvActivation* act) {
  upConvAll(g, x, w, bias, z, y, threads, act);
}

}  // namespace facestyle::cpu
