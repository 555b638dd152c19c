// Shared by conv.cu, conv_transpose.cu and conv_backward.cu: the convolution geometry, the
// bias + activation epilogue, and the transposed (gather-form) convolution GEMM that serves
// ConvTranspose2D and Conv2DBackpropInput.
#pragma once
#include <cstdint>

#include "cuda/gemm_core.cuh"
#include "facestyle/kernel.h"

namespace facestyle::cuda {

// A convolution seen from its input X [n, c, h, w] to its output Y [n, m, oh, ow]. For a
// transposed convolution, X is the transposed op's input (e.g. dY) and Y its output (e.g. dX).
struct ConvGeometry {
  int n, c, h, w;     // input
  int m, oh, ow;      // output channels and size
  int group, cg, mg;  // channels per group (input, output)
  int kh, kw, sh, sw, pt, pl, dh, dw;
  int act;            // gemm_core.cuh Activation of the fused epilogue (Conv2D only)
  float alpha;        // LeakyRelu slope of the fused epilogue
  float lo, hi;       // Clip bounds of the fused epilogue
};

// Shared epilogue: y[img, oc, pixel] = act(v + bias[oc] + z[img, oc, pixel]); z is the residual input
// Z the fuseResidualAdd pass gives a conv (null = none; shaped like y).
struct ConvOutput {
  float* y;
  const float* bias;
  int mTotal, mg, ohw, act;
  float alpha, lo, hi;
  const float* z = nullptr;
  __device__ __forceinline__ void put(int group, int m, int n, float v) const {
    const int oc = group * mg + m;
    const int img = n / ohw, pixel = n - img * ohw;
    const int64_t at = (static_cast<int64_t>(img) * mTotal + oc) * ohw + pixel;
    if (bias) v += bias[oc];
    if (z) v += z[at];
    y[at] = activate(v, act, alpha, lo, hi);
  }
};

// Y = ConvTranspose(X, W) (+ bias, + z, activation): W [c, mg, kh, kw]; Y (and z, when not null) hold
// n*m*oh*ow floats.
void launchTransposedConv(const KernelContext& ctx, const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                          const char* name, const float* z = nullptr);

}  // namespace facestyle::cuda
