// CUDA kernel for ResizeBackward; mirrors native/cpu/resize_backward.cc (lib/ops/backward.ts is the
// reference): the adjoint of Resize on the last two axes of NCHW. Each dY element is scattered to
// the (up to four) input taps Resize read it from, with the same weights, by atomic adds into the
// zeroed dX (so the summation order, and the last bits, vary from run to run). Coordinates are
// computed in double with the CPU kernel's formulas.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

enum CoordMode { kHalfPixel = 0, kAlignCorners = 1, kAsymmetric = 2, kPytorchHalfPixel = 3 };
enum NearestMode { kRoundPreferFloor = 0, kRoundPreferCeil = 1, kFloor = 2, kCeil = 3 };

struct ResizeBackGeometry {
  int h, w, oh, ow;
  double scaleH, scaleW;
  int coord, nearest;
  bool linear;
};

__device__ double sourceCoordinate(int mode, int o, int in, int out, double scale) {
  if (mode == kAlignCorners) return out == 1 ? 0.0 : static_cast<double>(o) * (in - 1) / static_cast<double>(out - 1);
  if (mode == kAsymmetric) return o / scale;
  if (mode == kPytorchHalfPixel) return out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  return (o + 0.5) / scale - 0.5;
}

__device__ void axisTap(const ResizeBackGeometry& g, int o, int in, int out, double scale, int& i0, int& i1, float& w0, float& w1) {
  double x = sourceCoordinate(g.coord, o, in, out, scale);
  if (g.linear) {
    x = fmin(fmax(x, 0.0), static_cast<double>(in - 1));
    i0 = static_cast<int>(floor(x));
    i1 = min(i0 + 1, in - 1);
    w1 = static_cast<float>(x - i0);
    w0 = 1.f - w1;
  } else {
    const double f = floor(x);
    double r;
    if (g.nearest == kFloor) r = f;
    else if (g.nearest == kCeil) r = ceil(x);
    else if (x - f == 0.5) r = g.nearest == kRoundPreferCeil ? f + 1 : f;
    else r = round(x);
    r = fmin(fmax(r, 0.0), static_cast<double>(in - 1));
    i0 = i1 = static_cast<int>(r);
    w0 = 1.f;
    w1 = 0.f;
  }
}

__global__ void resizeBackwardImpl(const float* __restrict__ dy, float* __restrict__ dx, int64_t n, ResizeBackGeometry g) {
  FACESTYLE_CUDA_LOOP(flat, n) {
    const int ox = static_cast<int>(flat % g.ow);
    const int oy = static_cast<int>((flat / g.ow) % g.oh);
    const int64_t plane = flat / (static_cast<int64_t>(g.ow) * g.oh);
    int y0, y1, x0, x1;
    float wy0, wy1, wx0, wx1;
    axisTap(g, oy, g.h, g.oh, g.scaleH, y0, y1, wy0, wy1);
    axisTap(g, ox, g.w, g.ow, g.scaleW, x0, x1, wx0, wx1);
    const float v = dy[flat];
    float* d = dx + plane * g.h * g.w;
    // Same four products as the CPU kernel (zero-weight taps add zero).
    atomicAdd(&d[y0 * g.w + x0], v * wy0 * wx0);
    if (wx1 != 0.f) atomicAdd(&d[y0 * g.w + x1], v * wy0 * wx1);
    if (wy1 != 0.f) atomicAdd(&d[y1 * g.w + x0], v * wy1 * wx0);
    if (wy1 != 0.f && wx1 != 0.f) atomicAdd(&d[y1 * g.w + x1], v * wy1 * wx1);
  }
}

void resizeBackwardKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, dy.rank() == 4 && dx.rank() == 4 && dy.shape[0] == dx.shape[0] && dy.shape[1] == dx.shape[1],
              "expects NCHW dY and dX resized on H and W only but received " + shapeToString(dy.shape) + " and " + shapeToString(dx.shape));
  const Attrs& a = ctx.attrs();
  const std::string mode = a.getString("mode", "nearest");
  const std::string ctm = a.getString("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = a.getString("nearest_mode", "round_prefer_floor");
  ResizeBackGeometry g{};
  g.linear = mode == "linear";
  g.coord = ctm == "align_corners" ? kAlignCorners : ctm == "asymmetric" ? kAsymmetric : ctm == "pytorch_half_pixel" ? kPytorchHalfPixel : kHalfPixel;
  g.nearest = nearest == "floor" ? kFloor : nearest == "ceil" ? kCeil : nearest == "round_prefer_ceil" ? kRoundPreferCeil : kRoundPreferFloor;
  g.h = static_cast<int>(dx.shape[2]);
  g.w = static_cast<int>(dx.shape[3]);
  g.oh = static_cast<int>(dy.shape[2]);
  g.ow = static_cast<int>(dy.shape[3]);
  const std::vector<double> scales = a.getFloats("scales", {});
  g.scaleH = scales.size() == 4 ? scales[2] : static_cast<double>(g.oh) / g.h;
  g.scaleW = scales.size() == 4 ? scales[3] : static_cast<double>(g.ow) / g.w;
  if (dx.size() == 0) return;
  check(cudaMemsetAsync(dx.data, 0, static_cast<size_t>(dx.size()) * sizeof(float), streamOf(ctx)), "cudaMemsetAsync");
  const int64_t n = dy.size();
  if (n == 0) return;
  resizeBackwardImpl<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(dy.data, dx.data, n, g);
  checkLaunch("ResizeBackward");
}

}  // namespace

void registerCudaResizeBackwardKernels() { registerKernel(OpKind::ResizeBackward, Device::CUDA, resizeBackwardKernel); }

}  // namespace facestyle
