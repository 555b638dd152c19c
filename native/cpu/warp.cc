// CPU kernel for WarpAffine (see lib/ops/warp.ts for the convention): bilinear sampling at
// M[n] * (x, y, 1) for each output pixel centre, border taps resolved by constant/reflect/edge.
// The sampling itself (tap positions, border rule, blend) is cpu/bilinear.h, shared with paste_blend.cc.
#include <string>

#include "cpu/bilinear.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

using cpu::SampleBorder;

void warpAffineKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 2 && ctx.outputs.size() == 1, "expects inputs X, M and 1 output");
  const Tensor& x = ctx.in(0);
  const Tensor& m = ctx.in(1);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4, "expected X of shape [N,C,H,W] but received " + shapeToString(x.shape));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  // M [K,2,3] with K == N, or N == 1: K crops of one image.
  FACESTYLE_REQUIRE(ctx, m.rank() == 3 && m.dim(1) == 2 && m.dim(2) == 3 && (m.dim(0) == n || n == 1),
              "expected M of shape [K,2,3] with K == N or N == 1 but received " + shapeToString(m.shape) + " for X " + shapeToString(x.shape));
  const int64_t k = m.dim(0);
  const int64_t oh = ctx.attrs().getInt("out_height", -1), ow = ctx.attrs().getInt("out_width", -1);
  FACESTYLE_REQUIRE(ctx, (y.shape == Shape{k, c, oh, ow}), "output shape " + shapeToString(y.shape) + " does not match out_height/out_width");
  const std::string borderName = ctx.attrs().getString("border", "constant");
  SampleBorder border;
  if (borderName == "constant") border = SampleBorder::Constant;
  else if (borderName == "reflect") border = SampleBorder::Reflect;
  else if (borderName == "edge") border = SampleBorder::Edge;
  else ctx.fail("unknown border '" + borderName + "' (expected constant, reflect or edge)");
  FACESTYLE_REQUIRE(ctx, border == SampleBorder::Constant || (h > 0 && w > 0), "border '" + borderName + "' needs a non-empty input");
  const float value = static_cast<float>(ctx.attrs().getFloat("value", 0.0));
  const float* px = x.data;
  const float* pm = m.data;
  float* py = y.data;
  const int64_t rows = k * c * oh;

  // One output row per iteration: rows of all images and channels are independent.
#pragma omp parallel for num_threads(ctx.threads) if (rows * ow > 32768) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t oy = row % oh;
    const int64_t plane = row / oh;  // b * c + ch of the output
    const int64_t b = plane / c;
    const int64_t srcPlane = n == 1 ? plane % c : plane;
    const double a0 = pm[b * 6 + 0], a1 = pm[b * 6 + 1], a2 = pm[b * 6 + 2];
    const double a3 = pm[b * 6 + 3], a4 = pm[b * 6 + 4], a5 = pm[b * 6 + 5];
    const float* src = px + srcPlane * h * w;
    float* dst = py + row * ow;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const double sx = a0 * ox + a1 * oy + a2;
      const double sy = a3 * ox + a4 * oy + a5;
      // NaN coordinates read the constant; huge ones are clamped so the integer taps stay in range
      // (1e9 pixels outside, every tap is a border tap anyway).
      const cpu::BilinearTaps t = cpu::bilinearTaps(sx, sy);
      if (!t.valid) {  // NaN coordinates read the constant
        dst[ox] = value;
        continue;
      }
      const int64_t x0 = t.x0, y0 = t.y0;
      float v00, v01, v10, v11;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        // Fast path: all four taps inside.
        const float* p = src + y0 * w + x0;
        v00 = p[0];
        v01 = p[1];
        v10 = p[w];
        v11 = p[w + 1];
      } else {
        auto tap = [&](int64_t iy, int64_t ix) -> float {
          const int64_t ry = cpu::borderIndex(iy, h, border), rx = cpu::borderIndex(ix, w, border);
          return ry < 0 || rx < 0 ? value : src[ry * w + rx];
        };
        v00 = tap(y0, x0);
        v01 = tap(y0, x0 + 1);
        v10 = tap(y0 + 1, x0);
        v11 = tap(y0 + 1, x0 + 1);
      }
      dst[ox] = cpu::bilinearBlend(v00, v01, v10, v11, t.tx, t.ty);
    }
  }
}

}  // namespace

void registerCpuWarpKernels() { registerKernel(OpKind::WarpAffine, Device::CPU, warpAffineKernel); }

}  // namespace facestyle
