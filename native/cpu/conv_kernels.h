// Conv2D and ConvTranspose2D on CPU: geometry (checked), the fast paths and the plain reference
// loops they are tested against (native/test/test_conv.cc). Also the 2-D window attributes that
// pooling shares. NCHW float32; pads are [top, left, bottom, right] as in ONNX.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "cpu/pool_for.h"
#include "facestyle/ops.h"
#include "facestyle/tensor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace facestyle::cpu {

// Index of the calling thread inside an OpenMP team (0 outside one or without OpenMP).
inline int threadIndex() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Runs body(i) for i in [0, n) on `threads` OpenMP threads (dynamic schedule). An exception in
// any iteration (e.g. out of memory in sgemm) is rethrown after the loop: one escaping an OpenMP
// region would terminate the process.
template <typename Body>
void parallelFor(int64_t n, int threads, Body body) {
  if (threads < 2 || n < 2) {  // no OpenMP region at all (cpu/pool_for.h says why)
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    try {
      body(i);
    } catch (...) {
#pragma omp critical(facestyle_parallel_for_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Output indices o in [0, outLen) whose input index o * stride + offset lies in [0, inLen), as
// [lo, hi) (empty when lo == hi). Lets window loops run without per-element bounds checks.
inline void validRange(int64_t offset, int64_t stride, int64_t inLen, int64_t outLen, int64_t& lo, int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = inLen - 1 - offset < 0 ? 0 : (inLen - 1 - offset) / stride + 1;
  lo = lo < outLen ? lo : outLen;
  hi = hi < outLen ? hi : outLen;
  if (hi < lo) hi = lo;
}

// strides >= 1, pads >= 0 (top, left, bottom, right), dilations >= 1; throws Error(Shape) otherwise.
struct Window2D {
  int64_t sh = 1, sw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t dh = 1, dw = 1;
};
Window2D parseWindow2D(const Attrs& attrs);

// One convolution's sizes. For Conv2D: X [n,c,h,w], W [m,c/group,kh,kw], Y [n,m,oh,ow].
// For ConvTranspose2D: X [n,c,h,w], W [c,m/group,kh,kw], Y [n,m,oh,ow].
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t m = 0, oh = 0, ow = 0;       // output
  int64_t kh = 0, kw = 0, group = 1;
  Window2D win;
  int64_t cg() const { return c / group; }  // input channels per group
  int64_t mg() const { return m / group; }  // output channels per group
  // A 1x1 kernel with stride 1 and no padding (any group count): each output pixel reads only its own input pixel.
  bool plainPointwise() const { return kh == 1 && kw == 1 && win.sh == 1 && win.sw == 1 && win.pt == 0 && win.pl == 0 && win.pb == 0 && win.pr == 0; }
};

// A conv node's attributes, checked: window, group >= 1 and (ConvTranspose2D) output_padding in
// [0, max(stride, dilation)). Parsed once per node by the kernels (KernelContext::state): reading
// them from Attrs (string keys, vectors) on every run cost more than a small layer's arithmetic.
struct ConvAttrs {
  Window2D win;
  int64_t group = 1;
  int64_t outputPadding[2] = {0, 0};
};
ConvAttrs parseConvAttrs(const Attrs& attrs, bool transposed);

// Validate shapes and attributes exactly as the TS schema does; throw Error(Shape) on mismatch.
// `bias` is null when there is no bias input.
ConvGeometry conv2DGeometry(const Shape& x, const Shape& w, const Shape* bias, const ConvAttrs& attrs);
ConvGeometry convTranspose2DGeometry(const Shape& x, const Shape& w, const Shape* bias, const ConvAttrs& attrs);
inline ConvGeometry conv2DGeometry(const Shape& x, const Shape& w, const Shape* bias, const Attrs& attrs) {
  return conv2DGeometry(x, w, bias, parseConvAttrs(attrs, false));
}
inline ConvGeometry convTranspose2DGeometry(const Shape& x, const Shape& w, const Shape* bias, const Attrs& attrs) {
  return convTranspose2DGeometry(x, w, bias, parseConvAttrs(attrs, true));
}

// Plain direct loops (float64 accumulation): the ground truth of the C++ tests.
void conv2dReference(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);
void convTranspose2dReference(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);

// An activation applied to a convolution's output (Conv2D's fused `activation` attribute), with the
// same definitions as the Relu / LeakyRelu / Tanh / Sigmoid / Clip ops.
struct ConvActivation {
  enum Kind { None, Relu, LeakyRelu, Tanh, Sigmoid, Clip } kind = None;
  float alpha = 0.01f;                            // LeakyRelu slope
  float lo = -3.4028235e38f, hi = 3.4028235e38f;  // Clip bounds
  float apply(float v) const {
    switch (kind) {
      case Relu: return v > 0.f ? v : 0.f;
      case LeakyRelu: return v >= 0.f ? v : alpha * v;
      case Tanh: return std::tanh(v);
      case Sigmoid: return 1.f / (1.f + std::exp(-v));
      case Clip: return std::min(hi, std::max(lo, v));
      case None: break;
    }
    return v;
  }
};

// Scratch memory for the conv fast paths (im2col columns, the direct kernel's padded input), kept
// per calling thread and reused across calls: a fresh multi-megabyte allocation per call costs page
// faults that show in small models. Slots 0, 1 and 2 are independent; contents are undefined; a buffer
// only grows (the largest layer's scratch stays allocated while the thread lives).
float* convScratch(int slot, size_t floats);

// act(v) for each of the n values at y, in place (OpenMP over `threads` for large n).
void applyConvActivation(const ConvActivation& act, float* y, int64_t n, int threads);

// The fused activation of a conv node: attributes `<prefix>activation` ('' = none, Relu, LeakyRelu, Tanh,
// Sigmoid, Clip), `<prefix>activation_alpha`, `_min`, `_max`. Throws Error(Shape) for an unknown kind.
ConvActivation parseConvActivation(const Attrs& attrs, const std::string& prefix);
// The fused pool of a conv node (attribute `pool`): false for '' (none), true for 'MaxPool2x2' (2x2,
// stride 2, no pads, after the activation). Throws Error(Shape) for anything else.
bool parseConvPool(const Attrs& attrs);

// Fast paths: Winograd F(4x4, 3x3) for wide 3x3 stride-1 layers, the direct flat kernel for other
// kernels larger than 1x1, the stem kernel for 3x3 on 1-4 input channels (cpu/conv_stem_kernels.h),
// 1x1 on the mobile kernels or sgemm (im2col + sgemm with strides or pads), direct depthwise;
// ConvTranspose2D 2x2 / 2 on its direct kernel (cpu/conv_transpose_direct.h), other kernel == stride
// on one sgemm + a scatter, the rest on sgemm + col2im. Large layers split across threads on the mobile
// pool (cpu/mobile_pool.h) or OpenMP.
// `bias` may be null; `act` (null = none) is applied to the output, inside the GEMM's or direct
// kernel's store (in registers: every kind for the direct and Winograd kernels; Relu, LeakyRelu,
// Clip for GEMM, then a sweep for Tanh / Sigmoid).
void conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
            const ConvActivation* act = nullptr);
void convTranspose2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads);

// Direct Conv2D (cpu/conv_direct.h) for layers with few input or output channels per group, any
// stride / pad / dilation / group (conv2d() now prefers conv2dFlat, level or faster everywhere). The AVX2 / AVX-512
// entries may only run when detectedSimdLevel() reports that level; conv2dDirect dispatches.
void conv2dDirect(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                  const ConvActivation* act = nullptr);
void conv2dDirectScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act = nullptr);
void conv2dDirectAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act = nullptr);
void conv2dDirectAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act = nullptr);

// Direct Conv2D over flattened zero-padded phase planes (cpu/conv_direct_flat.h): any kernel, stride,
// pad, dilation and group; the dense path for 3x3 layers at every channel count. Same contract as
// conv2dDirect (the AVX2 / AVX-512 entries only when detectedSimdLevel() reports that level).
void conv2dFlat(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                const ConvActivation* act = nullptr);
void conv2dFlatScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act = nullptr);
void conv2dFlatAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation* act = nullptr);
void conv2dFlatAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation* act = nullptr);

// Direct 3x3 Conv2D, stride 1, dilation 1, pads 1, 1-4 output channels per group, straight from the
// unpadded input with vector-aligned loads (cpu/conv_rows3x3.h): for rows that are a whole number of
// vectors wide; returns false (and does nothing) otherwise. Any input channels, group and batch. Same
// contract as conv2dDirect for the ISA entries.
bool conv2dRows3x3(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                   const ConvActivation* act = nullptr);
bool conv2dRows3x3Scalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act = nullptr);
bool conv2dRows3x3Avx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                       const ConvActivation* act = nullptr);
bool conv2dRows3x3Avx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act = nullptr);

// Winograd F(4x4, 3x3) (cpu/conv_winograd.h): only for kh = kw = 3, stride 1, dilation 1, group 1
// (any pads, batch, activation); winogradApplies() says whether a geometry qualifies. Less exact than
// direct convolution (see the header: about 1e-5 of the output's magnitude).
bool winogradApplies(const ConvGeometry& g);
void conv2dWinograd(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation* act = nullptr);
void conv2dWinogradScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation* act = nullptr);
void conv2dWinogradAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* act = nullptr);
void conv2dWinogradAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation* act = nullptr);

// Depthwise (group == C == M), stride 1, via a flattened zero-padded plane (cpu/conv_direct.h): for
// small planes, where the row-wise depthwise kernel (cpu/conv_fast.h) is mostly edge code.
void depthwiseFlat(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                   const ConvActivation* act = nullptr);
void depthwiseFlatScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act = nullptr);
void depthwiseFlatAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                       const ConvActivation* act = nullptr);
void depthwiseFlatAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation* act = nullptr);

}  // namespace facestyle::cpu
