// CUDA kernel for Resize; mirrors native/cpu/resize.cc (lib/ops/resize.ts is the reference):
// nearest on any axis, linear on the last two axes. Coordinates are computed in float32 step by
// step with explicitly rounded operations (__fdiv_rn etc. are never contracted into FMAs), as
// ONNX Runtime and the TS reference do, so rounding ties land on the same side.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

enum CoordMode { kHalfPixel = 0, kAlignCorners = 1, kAsymmetric = 2, kPytorchHalfPixel = 3 };
enum NearestMode { kRoundPreferFloor = 0, kRoundPreferCeil = 1, kFloor = 2, kCeil = 3 };

struct ResizeGeometry {
  int rank = 0;
  int coord = kHalfPixel;
  int nearest = kRoundPreferFloor;
  int inDims[kMaxRank] = {};
  int outDims[kMaxRank] = {};
  float scales[kMaxRank] = {};
};

__device__ float originalCoordinate(int mode, int o, float scale, int lengthIn, int lengthOut) {
  switch (mode) {
    case kAsymmetric:
      return __fdiv_rn(static_cast<float>(o), scale);
    case kAlignCorners:
      return lengthOut == 1 ? 0.f
                            : __fdiv_rn(static_cast<float>(static_cast<int64_t>(o) * (lengthIn - 1)), static_cast<float>(lengthOut - 1));
    case kPytorchHalfPixel:
      return lengthOut > 1 ? __fsub_rn(__fdiv_rn(__fadd_rn(static_cast<float>(o), 0.5f), scale), 0.5f) : 0.f;
    default:
      return __fsub_rn(__fdiv_rn(__fadd_rn(static_cast<float>(o), 0.5f), scale), 0.5f);
  }
}

__device__ int nearestIndex(int mode, float v, int lengthIn) {
  float r;
  if (mode == kFloor) r = floorf(v);
  else if (mode == kCeil) r = ceilf(v);
  else if (v - floorf(v) == 0.5f) r = mode == kRoundPreferCeil ? ceilf(v) : floorf(v);
  else r = rintf(v);  // nearest integer; ties were handled above
  int i = static_cast<int>(fmaxf(fminf(r, 2147483520.f), -2147483520.f));
  return i < 0 ? 0 : (i > lengthIn - 1 ? lengthIn - 1 : i);
}

__global__ void resizeNearest(const float* __restrict__ x, float* __restrict__ y, int64_t n, ResizeGeometry g) {
  FACESTYLE_CUDA_LOOP(flat, n) {
    int rest = static_cast<int>(flat);
    int src = 0, stride = 1;
    for (int a = g.rank - 1; a >= 0; --a) {
      const int o = rest % g.outDims[a];
      rest /= g.outDims[a];
      const int i = nearestIndex(g.nearest, originalCoordinate(g.coord, o, g.scales[a], g.inDims[a], g.outDims[a]), g.inDims[a]);
      src += i * stride;
      stride *= g.inDims[a];
    }
    y[flat] = x[src];
  }
}

// Two neighbours and their weights along one axis; the coordinate is clamped into the input.
__device__ void linearTaps(int mode, int o, float scale, int lengthIn, int lengthOut, int& i0, int& i1, float& w0, float& w1) {
  float v = originalCoordinate(mode, o, scale, lengthIn, lengthOut);
  v = fminf(fmaxf(v, 0.f), static_cast<float>(lengthIn - 1));
  i0 = min(static_cast<int>(floorf(v)), lengthIn - 1);
  i1 = min(i0 + 1, lengthIn - 1);
  const float t = v - static_cast<float>(i0);
  if (i0 == i1) {
    w0 = 0.5f;
    w1 = 0.5f;
  } else {
    w0 = 1.f - t;
    w1 = t;
  }
}

__global__ void resizeLinear(const float* __restrict__ x, float* __restrict__ y, int64_t n, int h, int w, int oh, int ow,
                             float scaleH, float scaleW, int coord) {
  FACESTYLE_CUDA_LOOP(flat, n) {
    const int ox = static_cast<int>(flat % ow);
    const int oy = static_cast<int>((flat / ow) % oh);
    const int64_t plane = flat / (static_cast<int64_t>(ow) * oh);
    int y0, y1, x0, x1;
    float wy0, wy1, wx0, wx1;
    linearTaps(coord, oy, scaleH, h, oh, y0, y1, wy0, wy1);
    linearTaps(coord, ox, scaleW, w, ow, x0, x1, wx0, wx1);
    const float* p = x + plane * h * w;
    y[flat] = wy0 * (wx0 * p[y0 * w + x0] + wx1 * p[y0 * w + x1]) + wy1 * (wx0 * p[y1 * w + x0] + wx1 * p[y1 * w + x1]);
  }
}

void resizeKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const Attrs& at = ctx.attrs();
  const int rank = x.rank();
  FACESTYLE_REQUIRE(ctx, rank >= 1 && y.rank() == rank, "expected an output of the input's rank");
  if (rank > kMaxRank) throw Error(ErrorCode::Unsupported, "Node '" + ctx.node.name + "': CUDA Resize supports rank <= 8");
  const std::string mode = at.getString("mode", "nearest");
  const std::string coord = at.getString("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = at.getString("nearest_mode", "round_prefer_floor");
  FACESTYLE_REQUIRE(ctx, mode == "nearest" || mode == "linear", "expected mode 'nearest' or 'linear' but received '" + mode + "'");
  ResizeGeometry g;
  g.rank = rank;
  if (coord == "half_pixel") g.coord = kHalfPixel;
  else if (coord == "align_corners") g.coord = kAlignCorners;
  else if (coord == "asymmetric") g.coord = kAsymmetric;
  else if (coord == "pytorch_half_pixel") g.coord = kPytorchHalfPixel;
  else ctx.fail("unsupported coordinate_transformation_mode '" + coord + "'");
  if (nearest == "round_prefer_floor") g.nearest = kRoundPreferFloor;
  else if (nearest == "round_prefer_ceil") g.nearest = kRoundPreferCeil;
  else if (nearest == "floor") g.nearest = kFloor;
  else if (nearest == "ceil") g.nearest = kCeil;
  else ctx.fail("unsupported nearest_mode '" + nearest + "'");
  const std::vector<double> scales = at.getFloats("scales", {});
  const std::vector<int64_t> sizes = at.getInts("sizes", {});
  FACESTYLE_REQUIRE(ctx, scales.empty() != sizes.empty(), "expected exactly one of scales or sizes");
  FACESTYLE_REQUIRE(ctx, scales.empty() || static_cast<int>(scales.size()) == rank, "expected one scale per axis");
  FACESTYLE_REQUIRE(ctx, sizes.empty() || static_cast<int>(sizes.size()) == rank, "expected one size per axis");
  for (int a = 0; a < rank; ++a) {
    FACESTYLE_REQUIRE(ctx, x.shape[a] > 0, "expected a non-empty input but received " + shapeToString(x.shape));
    // Same float32 scale as the reference: the given scale, or float(size / length).
    const float s = scales.empty() ? static_cast<float>(static_cast<double>(sizes[a]) / static_cast<double>(x.shape[a]))
                                   : static_cast<float>(scales[a]);
    FACESTYLE_REQUIRE(ctx, s > 0 && std::isfinite(s), "expected positive scales");
    const int64_t out = scales.empty() ? sizes[a] : static_cast<int64_t>(std::floor(s * static_cast<float>(x.shape[a])));
    FACESTYLE_REQUIRE(ctx, out == y.shape[a], "expected output " + shapeToString(y.shape) + " but the attributes give dimension " +
                                       std::to_string(a) + " = " + std::to_string(out));
    g.inDims[a] = static_cast<int>(x.shape[a]);
    g.outDims[a] = static_cast<int>(y.shape[a]);
    g.scales[a] = s;
  }
  const int64_t n = y.size();
  if (n == 0) return;
  if (mode == "nearest") {
    resizeNearest<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(x.data, y.data, n, g);
  } else {
    FACESTYLE_REQUIRE(ctx, rank >= 2, "linear Resize expects rank >= 2");
    for (int a = 0; a < rank - 2; ++a) FACESTYLE_REQUIRE(ctx, x.shape[a] == y.shape[a], "linear Resize scales only the last two axes");
    resizeLinear<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(x.data, y.data, n, g.inDims[rank - 2], g.inDims[rank - 1],
                                                               g.outDims[rank - 2], g.outDims[rank - 1], g.scales[rank - 2],
                                                               g.scales[rank - 1], g.coord);
  }
  checkLaunch("Resize");
}

}  // namespace

void registerCudaResizeKernels() { registerKernel(OpKind::Resize, Device::CUDA, resizeKernel); }

}  // namespace facestyle
