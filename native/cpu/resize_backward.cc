// CPU kernel for ResizeBackward: the adjoint of Resize (linear or nearest) on the last two axes of
// an NCHW tensor. Each output gradient is scattered back to the input taps Resize read it from,
// with the same weights, so the coordinate rules must match Resize exactly (ONNX semantics).
#include <algorithm>
#include <cmath>
#include <vector>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

// Input coordinate of output index o along one axis (ONNX coordinate_transformation_mode).
double sourceCoordinate(const std::string& mode, int64_t o, int64_t in, int64_t out, double scale) {
  if (mode == "align_corners") return out == 1 ? 0.0 : double(o) * double(in - 1) / double(out - 1);
  if (mode == "asymmetric") return double(o) / scale;
  if (mode == "pytorch_half_pixel") return out > 1 ? (double(o) + 0.5) / scale - 0.5 : 0.0;
  return (double(o) + 0.5) / scale - 0.5;  // half_pixel
}

std::vector<Tap> axisTaps(const Attrs& a, int64_t in, int64_t out, double scale) {
  const std::string mode = a.getString("mode", "nearest");
  const std::string ctm = a.getString("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = a.getString("nearest_mode", "round_prefer_floor");
  std::vector<Tap> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double x = sourceCoordinate(ctm, o, in, out, scale);
    if (mode == "linear") {
      x = std::min(std::max(x, 0.0), double(in - 1));
      int64_t i0 = static_cast<int64_t>(std::floor(x));
      int64_t i1 = std::min(i0 + 1, in - 1);
      float w1 = static_cast<float>(x - double(i0));
      taps[o] = {i0, i1, 1.f - w1, w1};
    } else {
      double f = std::floor(x);
      int64_t i;
      if (nearest == "floor") i = static_cast<int64_t>(f);
      else if (nearest == "ceil") i = static_cast<int64_t>(std::ceil(x));
      else if (x - f == 0.5) i = static_cast<int64_t>(nearest == "round_prefer_ceil" ? f + 1 : f);
      else i = static_cast<int64_t>(std::round(x));
      i = std::min(std::max(i, int64_t(0)), in - 1);
      taps[o] = {i, i, 1.f, 0.f};
    }
  }
  return taps;
}

// Inputs: dY [N,C,OH,OW]; output dX [N,C,H,W] (shape from the input_shape attribute).
void resizeBackwardKernel(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, dy.rank() == 4 && dx.rank() == 4 && dy.shape[0] == dx.shape[0] && dy.shape[1] == dx.shape[1],
              "expects NCHW dY and dX resized on H and W only but received " + shapeToString(dy.shape) + " and " + shapeToString(dx.shape));
  const Attrs& a = ctx.attrs();
  auto scales = a.getFloats("scales", {});
  const int64_t h = dx.shape[2], w = dx.shape[3], oh = dy.shape[2], ow = dy.shape[3];
  const double sh = scales.size() == 4 ? scales[2] : double(oh) / double(h);
  const double sw = scales.size() == 4 ? scales[3] : double(ow) / double(w);
  std::vector<Tap> ty = axisTaps(a, h, oh, sh), tx = axisTaps(a, w, ow, sw);
  const int64_t planes = dy.shape[0] * dy.shape[1];
  std::fill(dx.data, dx.data + dx.size(), 0.f);
#pragma omp parallel for num_threads(ctx.threads) if (planes > 1)
  for (int64_t p = 0; p < planes; ++p) {
    const float* g = dy.data + p * oh * ow;
    float* d = dx.data + p * h * w;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const Tap& y = ty[oy];
      for (int64_t ox = 0; ox < ow; ++ox) {
        const Tap& x = tx[ox];
        const float v = g[oy * ow + ox];
        d[y.i0 * w + x.i0] += v * y.w0 * x.w0;
        d[y.i0 * w + x.i1] += v * y.w0 * x.w1;
        d[y.i1 * w + x.i0] += v * y.w1 * x.w0;
        d[y.i1 * w + x.i1] += v * y.w1 * x.w1;
      }
    }
  }
}

}  // namespace

void registerCpuResizeBackwardKernels() {
  registerKernel(OpKind::ResizeBackward, Device::CPU, resizeBackwardKernel);
}

}  // namespace facestyle
