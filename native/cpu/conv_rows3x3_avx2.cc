// Direct 3x3 stride-1 Conv2D on aligned rows built with the avx2 flags (see conv_rows3x3.h); the same
// vector width and register blocking as the avx2 direct kernels (conv_direct_avx2.cc).
#define FACESTYLE_DIRECT_VECTOR_BYTES 32
#define FACESTYLE_DIRECT_MB 6
#define FACESTYLE_DIRECT_U 2
#include "cpu/conv_direct.h"
#include "cpu/conv_rows3x3.h"

namespace facestyle::cpu {

bool conv2dRows3x3Avx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act) {
  return rows3x3All(g, x, w, bias, y, threads, act);
}

}  // namespace facestyle::cpu
