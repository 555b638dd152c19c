// Direct Conv2D built with the avx2 flags (see conv_direct.h): 16 ymm registers hold 12 accumulators,
// 6 channels x 2 vectors of columns in the row kernel and 4 x 3 in the flat phase-plane kernel
// (conv_direct_flat.h). On an AMD EPYC (Zen 3, AVX2 only; 2026-11-25, /tmp bench harness, 2 threads,
// interleaved rounds) 4 x 3 against 6 x 2: 32->16 at 128 1.02-1.25 vs 1.16-1.41 ms, 16->16 at 256
// 2.25-2.71 vs 2.45-3.19 ms, 32->32 at 66 0.60-0.73 vs 0.67-0.80 ms; stride 2 level to 10% faster (one
// load and two broadcasts fewer per 12 multiply-adds).
#define FACESTYLE_DIRECT_VECTOR_BYTES 32
#define FACESTYLE_DIRECT_MB 6
#define FACESTYLE_DIRECT_U 2
#define FACESTYLE_FLAT_MB 4
#define FACESTYLE_FLAT_U 3
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
