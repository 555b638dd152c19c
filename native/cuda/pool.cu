// CUDA kernels for pooling; mirrors native/cpu/pool.cc (lib/ops/pool.ts is the reference):
// MaxPool and AveragePool over 2-D windows (one thread per output), GlobalAveragePool and
// GlobalMaxPool (one warp per (n, c) plane).
#include <cfloat>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

struct PoolGeometry {
  int planes, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

// Output length of a pooling window (lib/ops/pool.ts poolOutput): with ceil_mode the last window
// must start inside the input or the leading padding.
int64_t poolOutput(int64_t input, int64_t padBegin, int64_t padEnd, int64_t kernel, int64_t stride, int64_t dilation, bool ceil) {
  const int64_t span = input + padBegin + padEnd - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  if (!ceil) return span / stride + 1;
  int64_t out = (span + stride - 1) / stride + 1;
  if ((out - 1) * stride >= input + padBegin) --out;
  return out;
}

PoolGeometry poolGeometry(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  const Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4, "expected X [N,C,H,W] but received " + shapeToString(x.shape));
  const Attrs& at = ctx.attrs();
  const std::vector<int64_t> k = at.getInts("kernel_shape", {});
  const std::vector<int64_t> s = at.getInts("strides", {1, 1}), p = at.getInts("pads", {0, 0, 0, 0}), d = at.getInts("dilations", {1, 1});
  const int64_t ceilMode = at.getInt("ceil_mode", 0);
  FACESTYLE_REQUIRE(ctx, k.size() == 2 && k[0] >= 1 && k[1] >= 1, "expected kernel_shape of 2 positive integers");
  FACESTYLE_REQUIRE(ctx, s.size() == 2 && s[0] >= 1 && s[1] >= 1, "expected 2 strides >= 1");
  FACESTYLE_REQUIRE(ctx, d.size() == 2 && d[0] >= 1 && d[1] >= 1, "expected 2 dilations >= 1");
  FACESTYLE_REQUIRE(ctx, p.size() == 4 && p[0] >= 0 && p[1] >= 0 && p[2] >= 0 && p[3] >= 0, "expected 4 non-negative pads");
  FACESTYLE_REQUIRE(ctx, ceilMode == 0 || ceilMode == 1, "expected ceil_mode 0 or 1");
  FACESTYLE_REQUIRE(ctx, p[0] < k[0] && p[2] < k[0] && p[1] < k[1] && p[3] < k[1], "expected pads smaller than kernel_shape");
  const int64_t oh = poolOutput(x.shape[2], p[0], p[2], k[0], s[0], d[0], ceilMode == 1);
  const int64_t ow = poolOutput(x.shape[3], p[1], p[3], k[1], s[1], d[1], ceilMode == 1);
  const Shape expect{x.shape[0], x.shape[1], oh, ow};
  FACESTYLE_REQUIRE(ctx, oh > 0 && ow > 0 && y.shape == expect, "expected output " + shapeToString(expect) + " but received " + shapeToString(y.shape));
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return {i(x.shape[0] * x.shape[1]), i(x.shape[2]), i(x.shape[3]), i(oh), i(ow), i(k[0]), i(k[1]), i(s[0]), i(s[1]),
          i(p[0]), i(p[1]), i(p[2]), i(p[3]), i(d[0]), i(d[1])};
}

template <bool kMax>
__global__ void pool2d(const float* __restrict__ x, float* __restrict__ y, int64_t n, PoolGeometry g, bool includePad) {
  FACESTYLE_CUDA_LOOP(flat, n) {
    const int ox = static_cast<int>(flat % g.ow);
    const int oy = static_cast<int>((flat / g.ow) % g.oh);
    const int plane = static_cast<int>(flat / (static_cast<int64_t>(g.ow) * g.oh));
    const float* p = x + static_cast<int64_t>(plane) * g.h * g.w;
    float acc = kMax ? -INFINITY : 0.f;
    int count = 0, padded = 0;
    int rowsInPadded = 0, colsInPadded = 0;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < g.h + g.pb) ++rowsInPadded;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int ix = ox * g.sw - g.pl + kx * g.dw;
        if (ix < 0 || ix >= g.w) continue;
        const float v = p[iy * g.w + ix];
        if (kMax) acc = (v > acc || v != v) ? v : acc;
        else acc += v;
        ++count;
      }
    }
    if (kMax) {
      y[flat] = count ? acc : -FLT_MAX;  // a window wholly in padding gives the lowest float, as ONNX Runtime
    } else {
      // count_include_pad counts cells inside the padded input, but not those that hang over it
      // only because of ceil_mode (PyTorch and ONNX Runtime).
      for (int kx = 0; kx < g.kw; ++kx)
        if (ox * g.sw - g.pl + kx * g.dw < g.w + g.pr) ++colsInPadded;
      padded = rowsInPadded * colsInPadded;
      const int divisor = includePad ? padded : count;
      y[flat] = divisor ? acc / static_cast<float>(divisor) : 0.f;
    }
  }
}

void maxPoolKernel(KernelContext& ctx) {
  const PoolGeometry g = poolGeometry(ctx);
  const int64_t n = ctx.out(0).size();
  if (n == 0) return;
  pool2d<true><<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(ctx.in(0).data, ctx.out(0).data, n, g, false);
  checkLaunch("MaxPool");
}

void averagePoolKernel(KernelContext& ctx) {
  const PoolGeometry g = poolGeometry(ctx);
  const bool includePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
  const int64_t n = ctx.out(0).size();
  if (n == 0) return;
  pool2d<false><<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(ctx.in(0).data, ctx.out(0).data, n, g, includePad);
  checkLaunch("AveragePool");
}

// One warp per plane; 8 warps per block.
template <bool kMax>
__global__ void globalPool(const float* __restrict__ x, float* __restrict__ y, int planes, int area) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= planes) return;
  const float* p = x + static_cast<int64_t>(warp) * area;
  float acc = kMax ? -INFINITY : 0.f;
  for (int i = lane; i < area; i += 32) {
    const float v = p[i];
    if (kMax) acc = (v > acc || v != v) ? v : acc;
    else acc += v;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_down_sync(0xffffffffu, acc, o);
    if (kMax) acc = (other > acc || other != other) ? other : acc;
    else acc += other;
  }
  if (lane == 0) y[warp] = kMax ? acc : acc / static_cast<float>(area);
}

template <bool kMax>
void globalPoolKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 3, "expected X of rank >= 3 [N,C,spatial...] but received " + shapeToString(x.shape));
  Shape expect{x.shape[0], x.shape[1]};
  int64_t area = 1;
  for (int a = 2; a < x.rank(); ++a) {
    FACESTYLE_REQUIRE(ctx, x.shape[a] > 0, "expected non-empty spatial dimensions");
    expect.push_back(1);
    area *= x.shape[a];
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expect, "expected output " + shapeToString(expect) + " but received " + shapeToString(y.shape));
  const int64_t planes = x.shape[0] * x.shape[1];
  if (planes == 0) return;
  const int64_t threads = planes * 32;
  globalPool<kMax><<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, streamOf(ctx)>>>(
      x.data, y.data, static_cast<int>(planes), static_cast<int>(area));
  checkLaunch(kMax ? "GlobalMaxPool" : "GlobalAveragePool");
}

}  // namespace

void registerCudaPoolKernels() {
  registerKernel(OpKind::MaxPool, Device::CUDA, maxPoolKernel);
  registerKernel(OpKind::AveragePool, Device::CUDA, averagePoolKernel);
  registerKernel(OpKind::GlobalAveragePool, Device::CUDA, globalPoolKernel<false>);
  registerKernel(OpKind::GlobalMaxPool, Device::CUDA, globalPoolKernel<true>);
}

}  // namespace facestyle
