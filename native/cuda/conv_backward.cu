// CUDA kernels for the convolution gradients; mirrors native/cpu/conv_backward.cc
// (lib/ops/backward.ts is the reference):
//   Conv2DBackpropInput: dX = ConvTranspose(dY, W): the gather-form GEMM of conv.cu, no col2im
//   buffer and no atomics.
//   Conv2DBackpropFilter: dW[g] = dY[g] (M/g x N*OH*OW) times im2col(X)^T, as an implicit GEMM whose
//   long reduction (every pixel of every image) is split over blocks (split-K) that add their
//   partial sums into the zeroed dW with atomics (so the summation order, and the last bits, vary
//   from run to run).
//   Conv2DBackpropBias: dB[m] = sum of dY over N, H, W, one block per channel.
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/conv.cuh"
#include "cuda/families.cuh"
#include "cuda/gemm_core.cuh"

namespace facestyle {

namespace {

using namespace cuda;

// Geometry of the forward convolution X [n,c,h,w] * W [m,cg,kh,kw] -> Y [n,m,oh,ow], checked
// against the three shapes the backward op sees.
ConvGeometry forwardGeometry(KernelContext& ctx, const Shape& x, const Shape& w, const Shape& dy) {
  FACESTYLE_REQUIRE(ctx, x.size() == 4 && w.size() == 4 && dy.size() == 4, "expects rank-4 X, W and dY");
  const Attrs& a = ctx.attrs();
  const std::vector<int64_t> s = a.getInts("strides", {1, 1}), p = a.getInts("pads", {0, 0, 0, 0}), d = a.getInts("dilations", {1, 1});
  const int64_t group = a.getInt("group", 1);
  FACESTYLE_REQUIRE(ctx, s.size() == 2 && s[0] >= 1 && s[1] >= 1 && d.size() == 2 && d[0] >= 1 && d[1] >= 1 && p.size() == 4 &&
                  p[0] >= 0 && p[1] >= 0 && p[2] >= 0 && p[3] >= 0,
              "expects 2 strides >= 1, 4 pads >= 0 and 2 dilations >= 1");
  FACESTYLE_REQUIRE(ctx, group >= 1 && x[1] == w[1] * group && w[0] % group == 0 && dy[0] == x[0] && dy[1] == w[0] && w[2] >= 1 && w[3] >= 1,
              "X " + shapeToString(x) + ", W " + shapeToString(w) + " and dY " + shapeToString(dy) + " do not match");
  const int64_t oh = (x[2] + p[0] + p[2] - d[0] * (w[2] - 1) - 1) / s[0] + 1;
  const int64_t ow = (x[3] + p[1] + p[3] - d[1] * (w[3] - 1) - 1) / s[1] + 1;
  FACESTYLE_REQUIRE(ctx, oh == dy[2] && ow == dy[3], "dY " + shapeToString(dy) + " is not the output size of this convolution");
  auto i = [](int64_t v) { return static_cast<int>(v); };
  ConvGeometry g{};
  g.n = i(x[0]);
  g.c = i(x[1]);
  g.h = i(x[2]);
  g.w = i(x[3]);
  g.m = i(w[0]);
  g.oh = i(oh);
  g.ow = i(ow);
  g.group = i(group);
  g.cg = i(w[1]);
  g.mg = i(w[0] / group);
  g.kh = i(w[2]);
  g.kw = i(w[3]);
  g.sh = i(s[0]);
  g.sw = i(s[1]);
  g.pt = i(p[0]);
  g.pl = i(p[1]);
  g.dh = i(d[0]);
  g.dw = i(d[1]);
  return g;
}

void backpropInputKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 2, 1);
  const Tensor &dy = ctx.in(0), &w = ctx.in(1);
  Tensor& dx = ctx.out(0);
  const ConvGeometry f = forwardGeometry(ctx, dx.shape, w.shape, dy.shape);
  if (dx.size() == 0) return;
  // As a transposed convolution: input dY [n, m, oh, ow], weights W [m, cg, kh, kw], output dX.
  ConvGeometry t = f;
  t.c = f.m;
  t.h = f.oh;
  t.w = f.ow;
  t.m = f.c;
  t.oh = f.h;
  t.ow = f.w;
  t.cg = f.mg;
  t.mg = f.cg;
  t.act = kActNone;
  launchTransposedConv(ctx, t, dy.data, w.data, nullptr, dx.data, "Conv2DBackpropInput");
}

// dW[g*mg + m][k] = sum over q = (img, pixel) of dY[img, g*mg + m, pixel] * im2col(X)[k, q].
struct FilterGradProblem {
  int M, N, K;  // mg, cg*kh*kw, n*oh*ow
  int splits, chunk;
  const float* x;
  const float* dy;
  float* dw;
  ConvGeometry g;
  struct Ctx {
    int grp, kb, ke;
  };
  struct Col {
    int64_t channel;  // X offset of channel (grp*cg + ic) in image 0
    int dy0, dx0;     // ky*dh - pt, kx*dw - pl
  };
  __device__ Ctx context(int z) const {
    const int grp = z / splits, split = z - grp * splits;
    const int kb = split * chunk;
    return {grp, kb, min(K, kb + chunk)};
  }
  __device__ int kBegin(const Ctx& c) const { return c.kb; }
  __device__ int kEnd(const Ctx& c) const { return c.ke; }
  __device__ Col column(const Ctx& c, int n) const {
    const int taps = g.kh * g.kw;
    const int ic = n / taps, r = n - ic * taps;
    const int ky = r / g.kw, kx = r - ky * g.kw;
    return {static_cast<int64_t>(c.grp * g.cg + ic) * g.h * g.w, ky * g.dh - g.pt, kx * g.dw - g.pl};
  }
  __device__ float a(const Ctx& c, int m, int q) const {
    const int ohw = g.oh * g.ow;
    const int img = q / ohw, pixel = q - img * ohw;
    return dy[(static_cast<int64_t>(img) * g.m + c.grp * g.mg + m) * ohw + pixel];
  }
  __device__ float b(const Ctx&, const Col& col, int q) const {
    const int ohw = g.oh * g.ow;
    const int img = q / ohw, pixel = q - img * ohw;
    const int oy = pixel / g.ow, ox = pixel - oy * g.ow;
    const int iy = oy * g.sh + col.dy0, ix = ox * g.sw + col.dx0;
    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return 0.f;
    return x[static_cast<int64_t>(img) * g.c * g.h * g.w + col.channel + static_cast<int64_t>(iy) * g.w + ix];
  }
  __device__ void store(const Ctx& c, int m, int n, float v) const {
    atomicAdd(&dw[static_cast<int64_t>(c.grp * g.mg + m) * N + n], v);
  }
};

void backpropFilterKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 2, 1);
  const Tensor &x = ctx.in(0), &dy = ctx.in(1);
  Tensor& dw = ctx.out(0);
  const ConvGeometry g = forwardGeometry(ctx, x.shape, dw.shape, dy.shape);
  if (dw.size() == 0) return;
  check(cudaMemsetAsync(dw.data, 0, static_cast<size_t>(dw.size()) * sizeof(float), streamOf(ctx)), "cudaMemsetAsync");
  const int64_t q = static_cast<int64_t>(g.n) * g.oh * g.ow;
  if (q == 0) return;
  FilterGradProblem p{};
  p.M = g.mg;
  p.N = g.cg * g.kh * g.kw;
  p.K = static_cast<int>(q);
  p.x = x.data;
  p.dy = dy.data;
  p.dw = dw.data;
  p.g = g;
  // Enough blocks to fill a large GPU (~1024), each reducing at least 512 pixels.
  const int64_t tiles = ((p.M + kTileM - 1) / kTileM) * ((p.N + kTileN - 1) / kTileN) * g.group;
  int64_t splits = std::max<int64_t>(1, std::min<int64_t>((1024 + tiles - 1) / tiles, (q + 511) / 512));
  int64_t chunk = (q + splits - 1) / splits;
  chunk = (chunk + kTileK - 1) / kTileK * kTileK;
  splits = (q + chunk - 1) / chunk;
  p.splits = static_cast<int>(splits);
  p.chunk = static_cast<int>(chunk);
  launchGemm(ctx, p, splits * g.group, "Conv2DBackpropFilter");
}

// One block per output channel: sum over images and pixels.
__global__ void biasGradImpl(const float* __restrict__ dy, float* __restrict__ db, int n, int m, int64_t inner) {
  const int ch = blockIdx.x;
  float acc = 0.f;
  for (int img = 0; img < n; ++img) {
    const float* p = dy + (static_cast<int64_t>(img) * m + ch) * inner;
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) acc += p[i];
  }
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
  __shared__ float warps[kThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += warps[w];
    db[ch] = total;
  }
}

void backpropBiasKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& dy = ctx.in(0);
  Tensor& db = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, dy.rank() >= 2 && db.rank() == 1 && db.shape[0] == dy.shape[1], "expects dY [N,M,...] and dB [M]");
  const int64_t n = dy.shape[0], m = dy.shape[1];
  if (m == 0) return;
  const int64_t inner = n ? dy.size() / (n * m) : 0;
  biasGradImpl<<<static_cast<unsigned>(m), kThreads, 0, streamOf(ctx)>>>(dy.data, db.data, static_cast<int>(n), static_cast<int>(m), inner);
  checkLaunch("Conv2DBackpropBias");
}

}  // namespace

void registerCudaConvBackwardKernels() {
  registerKernel(OpKind::Conv2DBackpropInput, Device::CUDA, backpropInputKernel);
  registerKernel(OpKind::Conv2DBackpropFilter, Device::CUDA, backpropFilterKernel);
  registerKernel(OpKind::Conv2DBackpropBias, Device::CUDA, backpropBiasKernel);
}

}  // namespace facestyle
