// Direct ConvTranspose2D 2x2 / 2 built with the avx512 flags (see conv_transpose_direct.h). Layers with
// at least 32 input channels per group (compute-bound): 2 channels x 4 taps x 3 vectors of accumulators
// in the 32 zmm registers; fewer input channels (memory-bound): 1 channel x 4 taps x 6 vectors, half
// the output and Z streams in flight per task. Measured (1 thread): 64->64 at 32x32 0.18 ms with 2 x 3
// vs 0.21 with 1 x 6; 16->16 at 128x128 with Z 0.36-0.53 ms with 1 x 6 vs 0.51-0.72 with 2 x 3.
#define FACESTYLE_DIRECT_VECTOR_BYTES 64
#define FACESTYLE_UP_MB 2
#define FACESTYLE_UP_U 3
#define FACESTYLE_UP_NARROW_U 6
#include "cpu/conv_transpose_direct.h"

#include "cpu/conv_transpose.h"

namespace facestyle::cpu {

void convTransposeUpAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                           int threads, const ConvActivation* act) {
  upConvAll(g, x, w, bias, z, y, threads, act);
}

}  // namespace facestyle::cpu
