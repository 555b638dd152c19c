// CPU kernel for WarpAffine (see lib/ops/warp.ts for the convention): bilinear sampling at
// M[n] * (x, y, 1) for each output pixel centre, border taps resolved by constant/reflect/edge.
// Coordinates are computed in double so large images keep sub-pixel accuracy; the blend is float.
#include <cmath>
#include <cstdlib>
#include <string>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

enum class Border { Constant, Reflect, Edge };

// Input index of a tap at `i` on an axis of `n` pixels, or -1 for "read the constant".
inline int64_t borderIndex(int64_t i, int64_t n, Border border) {
  if (i >= 0 && i < n) return i;
  if (border == Border::Constant) return -1;
  if (border == Border::Edge || n == 1) return i < 0 ? 0 : n - 1;
  const int64_t period = 2 * (n - 1);
  int64_t r = std::llabs(i) % period;
  if (r >= n) r = period - r;
  return r;
}

void warpAffineKernel(KernelContext& ctx) {
  ctx.require(ctx.inputs.size() == 2 && ctx.outputs.size() == 1, "expects inputs X, M and 1 output");
  const Tensor& x = ctx.in(0);
  const Tensor& m = ctx.in(1);
  Tensor& y = ctx.out(0);
  ctx.require(x.rank() == 4, "expected X of shape [N,C,H,W] but received " + shapeToString(x.shape));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  // M [K,2,3] with K == N, or N == 1: K crops of one image.
  ctx.require(m.rank() == 3 && m.dim(1) == 2 && m.dim(2) == 3 && (m.dim(0) == n || n == 1),
              "expected M of shape [K,2,3] with K == N or N == 1 but received " + shapeToString(m.shape) + " for X " + shapeToString(x.shape));
  const int64_t k = m.dim(0);
  const int64_t oh = ctx.attrs().getInt("out_height", -1), ow = ctx.attrs().getInt("out_width", -1);
  ctx.require(y.shape == Shape{k, c, oh, ow}, "output shape " + shapeToString(y.shape) + " does not match out_height/out_width");
  const std::string borderName = ctx.attrs().getString("border", "constant");
  Border border;
  if (borderName == "constant") border = Border::Constant;
  else if (borderName == "reflect") border = Border::Reflect;
  else if (borderName == "edge") border = Border::Edge;
  else ctx.fail("unknown border '" + borderName + "' (expected constant, reflect or edge)");
  ctx.require(border == Border::Constant || (h > 0 && w > 0), "border '" + borderName + "' needs a non-empty input");
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
      if (std::isnan(sx) || std::isnan(sy)) {
        dst[ox] = value;
        continue;
      }
      const double cx = std::fmin(std::fmax(sx, -1e9), 1e9), cy = std::fmin(std::fmax(sy, -1e9), 1e9);
      const double fx = std::floor(cx), fy = std::floor(cy);
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
      const float tx = static_cast<float>(cx - fx), ty = static_cast<float>(cy - fy);
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
          const int64_t ry = borderIndex(iy, h, border), rx = borderIndex(ix, w, border);
          return ry < 0 || rx < 0 ? value : src[ry * w + rx];
        };
        v00 = tap(y0, x0);
        v01 = tap(y0, x0 + 1);
        v10 = tap(y0 + 1, x0);
        v11 = tap(y0 + 1, x0 + 1);
      }
      dst[ox] = (1.f - ty) * ((1.f - tx) * v00 + tx * v01) + ty * ((1.f - tx) * v10 + tx * v11);
    }
  }
}

}  // namespace

void registerCpuWarpKernels() { registerKernel(OpKind::WarpAffine, Device::CPU, warpAffineKernel); }

}  // namespace facestyle
