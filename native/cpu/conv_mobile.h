// Fast paths for the layers of mobile detectors and landmark models (YuNet, PFLD, RFB: 1x1
// pointwise and depthwise convs on small planes). conv2d() in native/cpu/conv.cc offers each such
// layer here first; a function returns false when it has no better path for that geometry, and
// conv.cc then runs its general one. The kernels live in conv_pointwise_kernels.h,
// conv_depthwise_kernels.h, conv_stem_kernels.h, conv_pwdw_kernels.h and conv_inverted_residual_kernels.h (on
// conv_mobile_common.h), built once per SIMD level
// (conv_mobile.cc: baseline 4-lane vectors; conv_mobile_avx2.cc; conv_mobile_avx512.cc), and split
// across threads on the pool in mobile_pool.h rather than OpenMP; native/test/test_conv_mobile.cc
// checks every level against conv2dReference.
#pragma once
#include "cpu/conv_kernels.h"

namespace facestyle::cpu {

// 1x1, stride 1, no padding, any group count. Returns true when it wrote y (activation applied).
// z: an optional residual input of y's shape (a fused Add), added before the activation in registers:
// y = act(conv(x) + bias + z); z may be y itself.
bool conv2dPointwiseFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, const float* z = nullptr);

// group == C == M. Returns true when it wrote y (activation applied). pool2x2: y is the 2x2 / stride-2
// max pool of the activated output instead ([N, C, oh / 2, ow / 2], rounded down, as ONNX MaxPool with no
// padding and ceil_mode 0), computed in registers from each pair of output rows, so the full-size output
// never goes to memory; only where depthwisePooledSupports (otherwise false, nothing written).
bool conv2dDepthwiseFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, bool pool2x2 = false);

// The first layer of an image model (conv_stem_kernels.h): 3x3, at most 4 input channels, group 1,
// stride 1 or 2, dilation 1. Returns true when it wrote y (activation applied).
bool conv2dStemFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation& act);

// A 1x1 conv (pg: stride 1, no pads, one group) and the depthwise 3x3 "same" conv on its output (dg) in one
// pass (conv_pwdw_kernels.h): y = act2(depthwise(act1(pointwise(x) + b1)) + b2), or its 2x2 / stride-2 max
// pool when `pool`; the pointwise output is never written whole. Returns true when it wrote y; false
// (nothing written) where pointwiseDepthwiseSupports says no.
bool conv2dPointwiseDepthwiseFast(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                  const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y,
                                  int threads);
bool pointwiseDepthwiseSupports(const ConvGeometry& pg, const ConvGeometry& dg, const ConvActivation& a1, const ConvActivation& a2, bool pool);

// An inverted residual block (conv_inverted_residual_kernels.h): the pair above (no pool) and a 1x1
// projection qg of its output, y = act3(pointwise(d) + b3 + z) with d = the pair's output, each thread a band
// of rows through all three layers; d is never written whole. z: optional, of y's shape (may be y). y must
// not overlap x. Returns true when it wrote y; false (nothing written) where invertedResidualSupports says no.
bool conv2dInvertedResidualFast(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg,
                                const float* w3, const float* b3, const ConvActivation& a3, const float* z, float* y, int threads);
bool invertedResidualSupports(const ConvGeometry& pg, const ConvGeometry& dg, const ConvGeometry& qg, const ConvActivation& a1,
                              const ConvActivation& a2, const ConvActivation& a3);

// Whether the pointwise / depthwise / stem kernels take this geometry (the same answer at every SIMD level).
bool pointwiseMobileSupports(const ConvGeometry& g);
bool depthwiseMobileSupports(const ConvGeometry& g);
// The pooled depthwise path: 3x3, stride 1, pad 1 on both sides of each row, no dilation (YuNet's layers
// before its max pools), an activation applied in registers (not Tanh / Sigmoid), output at least 2x2.
bool depthwisePooledSupports(const ConvGeometry& g, const ConvActivation& act);
bool stemMobileSupports(const ConvGeometry& g);

// Per SIMD level, for tests and benchmarks: the geometry must be supported (see above), and the AVX2 /
// AVX-512 entries may only run when detectedSimdLevel() reports that level. `threads` >= 1.
void pointwiseMobileScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, const float* z = nullptr);
void pointwiseMobileAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, const float* z = nullptr);
void pointwiseMobileAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, const float* z = nullptr);
void stemMobileScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation& act);
void stemMobileAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation& act);
void stemMobileAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation& act);
void depthwiseMobileScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, bool pool2x2 = false);
void depthwiseMobileAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, bool pool2x2 = false);
void depthwiseMobileAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, bool pool2x2 = false);
using PointwiseDepthwiseEntry = void (*)(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                         const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y,
                                         int threads);
void pointwiseDepthwiseScalar(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                              const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y, int threads);
void pointwiseDepthwiseAvx2(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                            const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y, int threads);
void pointwiseDepthwiseAvx512(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                              const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y, int threads);
using InvertedResidualEntry = void (*)(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                       const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg,
                                       const float* w3, const float* b3, const ConvActivation& a3, const float* z, float* y, int threads);
void invertedResidualScalar(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1, const ConvGeometry& dg,
                            const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg, const float* w3, const float* b3,
                            const ConvActivation& a3, const float* z, float* y, int threads);
void invertedResidualAvx2(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1, const ConvGeometry& dg,
                          const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg, const float* w3, const float* b3,
                          const ConvActivation& a3, const float* z, float* y, int threads);
void invertedResidualAvx512(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1, const ConvGeometry& dg,
                            const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg, const float* w3, const float* b3,
                            const ConvActivation& a3, const float* z, float* y, int threads);

}  // namespace facestyle::cpu
