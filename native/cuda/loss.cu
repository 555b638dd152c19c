// CUDA kernels for the fused losses and their gradients; mirrors native/cpu/loss.cc
// (lib/ops/loss.ts is the reference): L1, MSE, LSGAN, colour (YUV), BCE with logits, hinge and
// total variation. A loss is a mean over elements (pixels for ColorLoss): each block sums its
// share, already divided by the count, in double and adds it into the zeroed scalar output with
// one float atomic (so the last bits vary with the order blocks finish). Gradients are
// elementwise and read dL from the device.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

enum LossKind { kL1 = 0, kMse = 1, kLsgan = 2, kColor = 3, kBce = 4, kHinge = 5, kTv = 6 };

// Scalars of one loss launch. t: LSGAN/BCE target or hinge sign; invCount: 1 / element count;
// TV: invX, invY divide the horizontal and vertical sums, h and w are the plane size.
struct LossParams {
  double t, invCount, invX, invY;
  int64_t hw, h, w;
};

__device__ __forceinline__ double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

// BT.601 RGB -> YUV rows, as the CPU kernel.
__constant__ float kYuv[3][3] = {{0.299f, 0.587f, 0.114f}, {-0.14713f, -0.28886f, 0.436f}, {0.615f, -0.51499f, -0.10001f}};

__device__ __forceinline__ double colorTerm(const float* a, const float* b, int64_t img, int64_t p, int64_t hw) {
  float d[3];
  for (int c = 0; c < 3; ++c) d[c] = a[(img * 3 + c) * hw + p] - b[(img * 3 + c) * hw + p];
  double sum = 0;
  for (int k = 0; k < 3; ++k) {
    const double e = static_cast<double>(kYuv[k][0] * d[0]) + kYuv[k][1] * d[1] + kYuv[k][2] * d[2];
    const double ae = fabs(e);
    sum += k == 0 ? ae : (ae < 1.0 ? 0.5 * e * e : ae - 0.5);
  }
  return sum;
}

// n = element count (pixels for colour). Every term is divided by its count before the sum.
template <int kKind>
__global__ void lossImpl(const float* __restrict__ a, const float* __restrict__ b, float* out, int64_t n, LossParams q) {
  double local = 0.0;
  FACESTYLE_CUDA_LOOP(i, n) {
    if (kKind == kColor) {
      local += colorTerm(a, b, i / q.hw, i % q.hw, q.hw) * q.invCount;
    } else if (kKind == kBce) {
      const double v = a[i];
      local += (q.t * softplus(-v) + (1 - q.t) * softplus(v)) * q.invCount;
    } else if (kKind == kHinge) {
      const double v = a[i];
      local += (q.t == 0 ? -v : fmax(0.0, 1 - q.t * v)) * q.invCount;
    } else if (kKind == kTv) {
      // Differences to the right and below, each mean over its own count.
      const int64_t col = i % q.w, row = (i / q.w) % q.h;
      if (col + 1 < q.w) local += fabs(static_cast<double>(a[i + 1]) - a[i]) * q.invX;
      if (row + 1 < q.h) local += fabs(static_cast<double>(a[i + q.w]) - a[i]) * q.invY;
    } else {
      const double d = kKind == kLsgan ? static_cast<double>(a[i]) - q.t : static_cast<double>(a[i]) - b[i];
      local += (kKind == kL1 ? fabs(d) : d * d) * q.invCount;
    }
  }
  for (int o = 16; o > 0; o >>= 1) local += __shfl_down_sync(0xffffffffu, local, o);
  __shared__ double warps[kThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += warps[w];
    atomicAdd(out, static_cast<float>(total));
  }
}

template <int kKind>
void lossKernel(KernelContext& ctx) {
  const bool pair = kKind == kL1 || kKind == kMse || kKind == kColor;
  requireArity(ctx, pair ? 2 : 1, pair ? 2 : 1, 1);
  const Tensor& a = ctx.in(0);
  if (pair)
    FACESTYLE_REQUIRE(ctx, a.shape == ctx.in(1).shape, "expects prediction and target of one shape but received " + shapeToString(a.shape) + " and " +
                                               shapeToString(ctx.in(1).shape));
  FACESTYLE_REQUIRE(ctx, a.size() > 0, "expects a non-empty prediction");
  FACESTYLE_REQUIRE(ctx, ctx.out(0).size() == 1, "expects a scalar output");
  int64_t n = a.size();
  LossParams q{};
  q.t = ctx.attrs().getFloat(kKind == kHinge ? "sign" : "target", 1.0);
  if (kKind == kColor) {
    FACESTYLE_REQUIRE(ctx, a.rank() == 4 && a.shape[1] == 3, "expects RGB [N,3,H,W] but received " + shapeToString(a.shape));
    q.hw = a.shape[2] * a.shape[3];
    n = a.shape[0] * q.hw;
  }
  if (kKind == kTv) {
    FACESTYLE_REQUIRE(ctx, a.rank() == 4 && a.shape[2] >= 2 && a.shape[3] >= 2, "expects NCHW with H, W >= 2");
    const int64_t planes = a.shape[0] * a.shape[1];
    q.h = a.shape[2];
    q.w = a.shape[3];
    q.invX = 1.0 / static_cast<double>(planes * q.h * (q.w - 1));
    q.invY = 1.0 / static_cast<double>(planes * (q.h - 1) * q.w);
  }
  q.invCount = 1.0 / static_cast<double>(n);
  cudaStream_t s = streamOf(ctx);
  check(cudaMemsetAsync(ctx.out(0).data, 0, sizeof(float), s), "cudaMemsetAsync");
  lossImpl<kKind><<<std::min<unsigned>(blocksFor(n), 1024), kThreads, 0, s>>>(a.data, pair ? ctx.in(1).data : nullptr, ctx.out(0).data, n, q);
  checkLaunch(opKindName(ctx.node.op));
}

__device__ __forceinline__ float signOf(float d) { return d > 0.f ? 1.f : (d < 0.f ? -1.f : 0.f); }

// dA for L1 / MSE / LSGAN: scale * f'(a - b); scale = dL / n (x2 for the squares).
template <int kKind>
__global__ void lossGradImpl(const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ dl, float* __restrict__ da,
                             int64_t n, float target) {
  const float scale = dl[0] / static_cast<float>(n);
  FACESTYLE_CUDA_LOOP(i, n) {
    if (kKind == kL1) da[i] = scale * signOf(a[i] - b[i]);
    else if (kKind == kMse) da[i] = scale * (2.f * (a[i] - b[i]));
    else da[i] = (2.f * dl[0] / static_cast<float>(n)) * (a[i] - target);
  }
}

__global__ void colorGradImpl(const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ dl, float* __restrict__ da,
                              int64_t pixels, int64_t hw) {
  const float scale = dl[0] / static_cast<float>(pixels);
  FACESTYLE_CUDA_LOOP(i, pixels) {
    const int64_t img = i / hw, p = i % hw;
    float d[3], g[3];
    for (int c = 0; c < 3; ++c) d[c] = a[(img * 3 + c) * hw + p] - b[(img * 3 + c) * hw + p];
    for (int k = 0; k < 3; ++k) {
      const float e = kYuv[k][0] * d[0] + kYuv[k][1] * d[1] + kYuv[k][2] * d[2];
      g[k] = k == 0 ? signOf(e) : fmaxf(-1.f, fminf(1.f, e));
    }
    for (int c = 0; c < 3; ++c) da[(img * 3 + c) * hw + p] = scale * (kYuv[0][c] * g[0] + kYuv[1][c] * g[1] + kYuv[2][c] * g[2]);
  }
}

// BCE-with-logits and hinge gradients, in double as the CPU kernel: dA = dL / n * f'(a).
template <int kKind>
__global__ void unaryLossGradImpl(const float* __restrict__ a, const float* __restrict__ dl, float* __restrict__ da, int64_t n, double t) {
  const double scale = static_cast<double>(dl[0]) / static_cast<double>(n);
  FACESTYLE_CUDA_LOOP(i, n) {
    const double v = a[i];
    double g;
    if (kKind == kBce) g = 1.0 / (1.0 + exp(-v)) - t;
    else g = t == 0 ? -1.0 : (1 - t * v > 0 ? -t : 0.0);
    da[i] = static_cast<float>(scale * g);
  }
}

// Total variation gradient in gather form: each element collects the signs of the (up to four)
// differences it takes part in, so no atomics are needed.
__global__ void tvGradImpl(const float* __restrict__ x, const float* __restrict__ dl, float* __restrict__ dx, int64_t n, int h, int w,
                           float countX, float countY) {
  const float kx = dl[0] / countX, ky = dl[0] / countY;
  FACESTYLE_CUDA_LOOP(i, n) {
    const int col = static_cast<int>(i % w), row = static_cast<int>((i / w) % h);
    const float v = x[i];
    float g = 0.f;
    if (col > 0) g += signOf(v - x[i - 1]) * kx;
    if (col + 1 < w) g -= signOf(x[i + 1] - v) * kx;
    if (row > 0) g += signOf(v - x[i - w]) * ky;
    if (row + 1 < h) g -= signOf(x[i + w] - v) * ky;
    dx[i] = g;
  }
}

template <int kKind>
void lossGradKernel(KernelContext& ctx) {
  const bool pair = kKind == kL1 || kKind == kMse || kKind == kColor;
  requireArity(ctx, pair ? 3 : 2, pair ? 3 : 2, 1);
  const Tensor& a = ctx.in(0);
  const Tensor& dl = ctx.in(pair ? 2 : 1);
  if (pair)
    FACESTYLE_REQUIRE(ctx, a.shape == ctx.in(1).shape, "expects prediction and target of one shape but received " + shapeToString(a.shape) + " and " +
                                               shapeToString(ctx.in(1).shape));
  FACESTYLE_REQUIRE(ctx, a.size() > 0, "expects a non-empty prediction");
  FACESTYLE_REQUIRE(ctx, dl.size() >= 1, "expects a scalar dL");
  FACESTYLE_REQUIRE(ctx, ctx.out(0).shape == a.shape, "expects dA of the prediction's shape");
  cudaStream_t s = streamOf(ctx);
  if constexpr (kKind == kColor) {
    FACESTYLE_REQUIRE(ctx, a.rank() == 4 && a.shape[1] == 3, "expects RGB [N,3,H,W] but received " + shapeToString(a.shape));
    const int64_t hw = a.shape[2] * a.shape[3], pixels = a.shape[0] * hw;
    colorGradImpl<<<blocksFor(pixels), kThreads, 0, s>>>(a.data, ctx.in(1).data, dl.data, ctx.out(0).data, pixels, hw);
  } else if constexpr (kKind == kBce || kKind == kHinge) {
    const double t = ctx.attrs().getFloat(kKind == kHinge ? "sign" : "target", 1.0);
    unaryLossGradImpl<kKind><<<blocksFor(a.size()), kThreads, 0, s>>>(a.data, dl.data, ctx.out(0).data, a.size(), t);
  } else if constexpr (kKind == kTv) {
    FACESTYLE_REQUIRE(ctx, a.rank() == 4 && a.shape[2] >= 2 && a.shape[3] >= 2, "expects NCHW with H, W >= 2");
    const int64_t planes = a.shape[0] * a.shape[1], h = a.shape[2], w = a.shape[3];
    // The same float divisors as the CPU kernel: dL / float(count).
    tvGradImpl<<<blocksFor(a.size()), kThreads, 0, s>>>(a.data, dl.data, ctx.out(0).data, a.size(), static_cast<int>(h), static_cast<int>(w),
                                                        static_cast<float>(planes * h * (w - 1)), static_cast<float>(planes * (h - 1) * w));
  } else {
    const float target = static_cast<float>(ctx.attrs().getFloat("target", 1.0));
    lossGradImpl<kKind><<<blocksFor(a.size()), kThreads, 0, s>>>(a.data, pair ? ctx.in(1).data : nullptr, dl.data, ctx.out(0).data,
                                                                 a.size(), target);
  }
  checkLaunch(opKindName(ctx.node.op));
}

}  // namespace

void registerCudaLossKernels() {
  registerKernel(OpKind::L1Loss, Device::CUDA, lossKernel<kL1>);
  registerKernel(OpKind::L1LossGrad, Device::CUDA, lossGradKernel<kL1>);
  registerKernel(OpKind::MseLoss, Device::CUDA, lossKernel<kMse>);
  registerKernel(OpKind::MseLossGrad, Device::CUDA, lossGradKernel<kMse>);
  registerKernel(OpKind::LsganLoss, Device::CUDA, lossKernel<kLsgan>);
  registerKernel(OpKind::LsganLossGrad, Device::CUDA, lossGradKernel<kLsgan>);
  registerKernel(OpKind::ColorLoss, Device::CUDA, lossKernel<kColor>);
  registerKernel(OpKind::ColorLossGrad, Device::CUDA, lossGradKernel<kColor>);
  registerKernel(OpKind::BceLogitsLoss, Device::CUDA, lossKernel<kBce>);
  registerKernel(OpKind::BceLogitsLossGrad, Device::CUDA, lossGradKernel<kBce>);
  registerKernel(OpKind::HingeLoss, Device::CUDA, lossKernel<kHinge>);
  registerKernel(OpKind::HingeLossGrad, Device::CUDA, lossGradKernel<kHinge>);
  registerKernel(OpKind::TotalVariationLoss, Device::CUDA, lossKernel<kTv>);
  registerKernel(OpKind::TotalVariationLossGrad, Device::CUDA, lossGradKernel<kTv>);
}

}  // namespace facestyle
