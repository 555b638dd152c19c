// Standalone conv fast paths for the conv kernels (native/cpu/conv.cc) to call. Each picks the best
// SIMD level at run time (facestyle::simdLevel(), honouring FACESTYLE_SIMD); the per-ISA entries are
// exposed for tests and benchmarks. All tensors are NCHW, float32, dense.
#pragma once
#include <cstdint>

namespace facestyle::cpu {

// Depthwise convolution: group == C == M, each channel filtered by its own kh x kw kernel.
// x [n, c, h, w], w [c, 1, kh, kw], bias [c] or null, y [n, c, oh, ow] (overwritten).
// pt / pl are the top / left pads; bottom / right pads are implied by oh / ow.
struct DepthwiseShape {
  int64_t n, c, h, w;
  int64_t oh, ow;
  int64_t kh, kw;
  int64_t sh, sw;  // strides >= 1
  int64_t dh, dw;  // dilations >= 1
  int64_t pt, pl;  // pads >= 0
};

void depthwiseConv2d(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads);

// Per ISA; the AVX2 / AVX-512 entries may only run when detectedSimdLevel() reports that level.
void depthwiseConv2dScalar(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads);
void depthwiseConv2dAvx2(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads);
void depthwiseConv2dAvx512(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads);

}  // namespace facestyle::cpu
