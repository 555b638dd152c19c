// CUDA kernel for WarpAffine; mirrors native/cpu/warp.cc (lib/ops/warp.ts is the reference):
// output pixel (x, y) of crop k samples its image at M[k] * (x, y, 1) (integer coordinates are
// pixel centres) bilinearly; taps outside the input read `value` (constant), the mirrored pixel
// (reflect, edge not repeated) or the nearest edge pixel (edge). X [N,C,H,W] with N == K, or
// N == 1 (K crops of one image). One thread per output pixel computes the source coordinate in
// double, as the CPU kernel does, and then loops over the channels.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

enum Border { kConstant = 0, kReflect = 1, kEdge = 2 };

__device__ __forceinline__ int64_t borderIndex(int64_t i, int64_t n, int border) {
  if (i >= 0 && i < n) return i;
  if (border == kConstant) return -1;
  if (border == kEdge || n == 1) return i < 0 ? 0 : n - 1;
  const int64_t period = 2 * (n - 1);
  int64_t r = (i < 0 ? -i : i) % period;
  if (r >= n) r = period - r;
  return r;
}

struct WarpGeometry {
  int n, c, h, w, k, oh, ow, border;
  float value;
};

__global__ void warpAffineImpl(const float* __restrict__ x, const float* __restrict__ mats, float* __restrict__ y, int64_t pixels,
                               WarpGeometry g) {
  FACESTYLE_CUDA_LOOP(p, pixels) {
    const int ox = static_cast<int>(p % g.ow);
    const int oy = static_cast<int>((p / g.ow) % g.oh);
    const int b = static_cast<int>(p / (static_cast<int64_t>(g.ow) * g.oh));
    const float* m = mats + b * 6;
    const double sx = static_cast<double>(m[0]) * ox + static_cast<double>(m[1]) * oy + m[2];
    const double sy = static_cast<double>(m[3]) * ox + static_cast<double>(m[4]) * oy + m[5];
    const int64_t plane = static_cast<int64_t>(g.h) * g.w;
    const int64_t outPlane = static_cast<int64_t>(g.oh) * g.ow;
    float* dst = y + static_cast<int64_t>(b) * g.c * outPlane + static_cast<int64_t>(oy) * g.ow + ox;
    const float* src0 = x + static_cast<int64_t>(g.n == 1 ? 0 : b) * g.c * plane;
    if (isnan(sx) || isnan(sy)) {  // NaN coordinates read the constant
      for (int ch = 0; ch < g.c; ++ch) dst[ch * outPlane] = g.value;
      continue;
    }
    // Huge coordinates are clamped so the integer taps stay in range (every tap is a border tap).
    const double cx = fmin(fmax(sx, -1e9), 1e9), cy = fmin(fmax(sy, -1e9), 1e9);
    const double fx = floor(cx), fy = floor(cy);
    const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
    const float tx = static_cast<float>(cx - fx), ty = static_cast<float>(cy - fy);
    const int64_t rx0 = borderIndex(x0, g.w, g.border), rx1 = borderIndex(x0 + 1, g.w, g.border);
    const int64_t ry0 = borderIndex(y0, g.h, g.border), ry1 = borderIndex(y0 + 1, g.h, g.border);
    for (int ch = 0; ch < g.c; ++ch) {
      const float* src = src0 + ch * plane;
      const float v00 = (ry0 < 0 || rx0 < 0) ? g.value : src[ry0 * g.w + rx0];
      const float v01 = (ry0 < 0 || rx1 < 0) ? g.value : src[ry0 * g.w + rx1];
      const float v10 = (ry1 < 0 || rx0 < 0) ? g.value : src[ry1 * g.w + rx0];
      const float v11 = (ry1 < 0 || rx1 < 0) ? g.value : src[ry1 * g.w + rx1];
      dst[ch * outPlane] = (1.f - ty) * ((1.f - tx) * v00 + tx * v01) + ty * ((1.f - tx) * v10 + tx * v11);
    }
  }
}

void warpAffineKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 2, 1);
  const Tensor &x = ctx.in(0), &m = ctx.in(1);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4, "expected X of shape [N,C,H,W] but received " + shapeToString(x.shape));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  FACESTYLE_REQUIRE(ctx, m.rank() == 3 && m.dim(1) == 2 && m.dim(2) == 3 && (m.dim(0) == n || n == 1),
              "expected M of shape [K,2,3] with K == N or N == 1 but received " + shapeToString(m.shape) + " for X " + shapeToString(x.shape));
  const int64_t k = m.dim(0);
  const int64_t oh = ctx.attrs().getInt("out_height", -1), ow = ctx.attrs().getInt("out_width", -1);
  FACESTYLE_REQUIRE(ctx, (y.shape == Shape{k, c, oh, ow}), "output shape " + shapeToString(y.shape) + " does not match out_height/out_width");
  const std::string borderName = ctx.attrs().getString("border", "constant");
  WarpGeometry g{};
  if (borderName == "constant") g.border = kConstant;
  else if (borderName == "reflect") g.border = kReflect;
  else if (borderName == "edge") g.border = kEdge;
  else ctx.fail("unknown border '" + borderName + "' (expected constant, reflect or edge)");
  FACESTYLE_REQUIRE(ctx, g.border == kConstant || (h > 0 && w > 0), "border '" + borderName + "' needs a non-empty input");
  g.n = static_cast<int>(n);
  g.c = static_cast<int>(c);
  g.h = static_cast<int>(h);
  g.w = static_cast<int>(w);
  g.k = static_cast<int>(k);
  g.oh = static_cast<int>(oh);
  g.ow = static_cast<int>(ow);
  g.value = static_cast<float>(ctx.attrs().getFloat("value", 0.0));
  const int64_t pixels = k * oh * ow;
  if (pixels == 0 || c == 0) return;
  warpAffineImpl<<<blocksFor(pixels), kThreads, 0, streamOf(ctx)>>>(x.data, m.data, y.data, pixels, g);
  checkLaunch("WarpAffine");
}

}  // namespace

void registerCudaWarpKernels() { registerKernel(OpKind::WarpAffine, Device::CUDA, warpAffineKernel); }

}  // namespace facestyle
