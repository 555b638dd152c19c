// CPU kernels for MaxPool, AveragePool (2-D windows, NCHW) and GlobalAveragePool / GlobalMaxPool
// (any rank >= 3). Output sizes follow lib/ops/pool.ts (ceil_mode drops a last window that would
// start in the trailing padding, as PyTorch and ONNX Runtime do).
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "cpu/conv_kernels.h"
#include "cpu/max_pool_rows.h"
#include "cpu/mobile_pool.h"
#include "cpu/pool_for.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

struct PoolGeometry {
  int64_t planes = 0, h = 0, w = 0, kh = 0, kw = 0, oh = 0, ow = 0;
  cpu::Window2D win;
};

int64_t poolOutput(int64_t input, int64_t padBegin, int64_t padEnd, int64_t kernel, int64_t stride, int64_t dilation, bool ceil) {
  const int64_t span = input + padBegin + padEnd - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  if (!ceil) return span / stride + 1;
  int64_t out = (span + stride - 1) / stride + 1;
  if ((out - 1) * stride >= input + padBegin) --out;
  return out;
}

// A pool node's attributes, checked on its first run and kept in its context (kernelState): parsing
// them on every run cost about as much as a small pool itself.
struct PoolAttrs {
  int64_t kh = 1, kw = 1;
  bool ceil = false, countIncludePad = false;
  cpu::Window2D win;
};

PoolAttrs parsePoolAttrs(KernelContext& ctx) {
  const std::vector<int64_t> k = ctx.attrs().getInts("kernel_shape", {});
  FACESTYLE_REQUIRE(ctx, k.size() == 2 && k[0] >= 1 && k[1] >= 1 && k[0] <= (1 << 30) && k[1] <= (1 << 30),
              "expected kernel_shape of 2 positive integers");
  const int64_t ceilMode = ctx.attrs().getInt("ceil_mode", 0);
  FACESTYLE_REQUIRE(ctx, ceilMode == 0 || ceilMode == 1, "expected ceil_mode 0 or 1 but received " + std::to_string(ceilMode));
  PoolAttrs a;
  try {
    a.win = cpu::parseWindow2D(ctx.attrs());
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
  const cpu::Window2D& v = a.win;
  FACESTYLE_REQUIRE(ctx, v.pt < k[0] && v.pb < k[0] && v.pl < k[1] && v.pr < k[1], "expected pads smaller than kernel_shape");
  a.kh = k[0], a.kw = k[1], a.ceil = ceilMode == 1;
  a.countIncludePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
  return a;
}

PoolGeometry poolGeometry(KernelContext& ctx, const PoolAttrs& a) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 1 && ctx.outputs.size() == 1, "expects 1 input and 1 output");
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4, "expected X [N,C,H,W] of rank 4 but received " + shapeToString(x.shape));
  PoolGeometry g;
  g.win = a.win;
  const cpu::Window2D& v = g.win;
  g.planes = x.shape[0] * x.shape[1];
  g.h = x.shape[2], g.w = x.shape[3], g.kh = a.kh, g.kw = a.kw;
  g.oh = poolOutput(g.h, v.pt, v.pb, g.kh, v.sh, v.dh, a.ceil);
  g.ow = poolOutput(g.w, v.pl, v.pr, g.kw, v.sw, v.dw, a.ceil);
  FACESTYLE_REQUIRE(ctx, g.oh > 0 && g.ow > 0, "expected a positive output size but received " + std::to_string(g.oh) + "x" + std::to_string(g.ow));
  const Shape& y = ctx.out(0).shape;
  FACESTYLE_REQUIRE(ctx, y.size() == 4 && y[0] == x.shape[0] && y[1] == x.shape[1] && y[2] == g.oh && y[3] == g.ow,
                    "expected output shape " + shapeToString(Shape{x.shape[0], x.shape[1], g.oh, g.ow}) + " but the plan has " + shapeToString(y));
  return g;
}

// Calls fn(plane, oy, ox, kyLo, kyHi, kxLo, kxHi) for every output, with the taps that land
// inside the input, one plane per OpenMP iteration.
template <typename Fn>
void forEachWindow(const PoolGeometry& g, int threads, Fn fn) {
  const cpu::Window2D& v = g.win;
  cpu::poolFor(g.planes, threads, g.planes * g.oh * g.ow * g.kh * g.kw > 32768, [&](int64_t p) {
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      int64_t kyLo, kyHi;
      cpu::validRange(oy * v.sh - v.pt, v.dh, g.h, g.kh, kyLo, kyHi);
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        int64_t kxLo, kxHi;
        cpu::validRange(ox * v.sw - v.pl, v.dw, g.w, g.kw, kxLo, kxHi);
        fn(p, oy, ox, kyLo, kyHi, kxLo, kxHi);
      }
    }
  });
}

void maxPoolKernel(KernelContext& ctx) {
  const PoolGeometry g = poolGeometry(ctx, kernelState<PoolAttrs>(ctx, [&] { return parsePoolAttrs(ctx); }));
  const cpu::Window2D& v = g.win;
  const float* x = ctx.in(0).data;
  float* y = ctx.out(0).data;
  // Row by row, tap row by tap row: the columns whose whole window lies inside the input ([ia, ib))
  // run without bounds checks; only the edge columns clip their taps. Same max order as the plain
  // per-window loop (std::max(m, tap) over ky then kx), so NaN handling is unchanged.
  int64_t ia, ib;
  cpu::validRange(-v.pl, v.sw, g.w - (g.kw - 1) * v.dw, g.ow, ia, ib);
  if (g.w - (g.kw - 1) * v.dw <= 0) ia = ib = 0;
  const int64_t rows = g.planes * g.oh;
  // 2x2 / stride 2 without leading pads (YuNet): interior rows take maxPool2x2Stride2Row
  // (max_pool_rows.h: vectorised at the machine's SIMD width; the baseline build alone was 1.7x
  // onnxruntime's time on YuNet's pools, and before that the two-pass loop below stayed scalar: YuNet-s
  // 320's four pools 123 us a run against onnxruntime's 54, one thread).
  const bool pool2x2 = g.kh == 2 && g.kw == 2 && v.sh == 2 && v.sw == 2 && v.dh == 1 && v.dw == 1 && v.pt == 0 && v.pl == 0;
  // Chunks of whole output rows on the mobile pool (the detectors' pools are 10-100 us layers, where an
  // OpenMP region's wake-up and barrier cost as much as the work; mobile_pool.h).
  const int64_t rowsPerChunk = std::max<int64_t>((rows >> 19) + 1, 8192 / std::max<int64_t>(1, g.ow * g.kh * g.kw));  // (the pool takes < 2^20 chunks)
  const int64_t chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
  auto chunk = [&](int64_t k) {
    for (int64_t r = k * rowsPerChunk, rEnd = std::min(rows, r + rowsPerChunk); r < rEnd; ++r) {
      const int64_t p = r / g.oh, oy = r % g.oh;
      int64_t kyLo, kyHi;
      cpu::validRange(oy * v.sh - v.pt, v.dh, g.h, g.kh, kyLo, kyHi);
      // A window wholly in padding (possible with dilation) gives the lowest float, as ONNX Runtime.
      float* yr = y + r * g.ow;
      const float* xp = x + p * g.h * g.w;
      if (pool2x2 && kyLo == 0 && kyHi == 2 && ia == 0) {
        const float* r0 = xp + 2 * oy * g.w;
        cpu::maxPool2x2Stride2Row(r0, r0 + g.w, yr, ib);
        // A last window hanging past the right edge (ceil_mode or a trailing pad): its one column.
        for (int64_t ox = ib; ox < g.ow; ++ox) {
          float m = std::numeric_limits<float>::lowest();
          for (int ky = 0; ky < 2; ++ky)
            for (int64_t ix = 2 * ox; ix < std::min<int64_t>(2 * ox + 2, g.w); ++ix) m = std::max(m, r0[ky * g.w + ix]);
          yr[ox] = m;
        }
        continue;
      }
      std::fill(yr, yr + g.ow, std::numeric_limits<float>::lowest());
      for (int64_t ky = kyLo; ky < kyHi; ++ky) {
        const float* row = xp + (oy * v.sh - v.pt + ky * v.dh) * g.w;
        auto edge = [&](int64_t ox) {
          int64_t kxLo, kxHi;
          cpu::validRange(ox * v.sw - v.pl, v.dw, g.w, g.kw, kxLo, kxHi);
          float m = yr[ox];
          for (int64_t kx = kxLo; kx < kxHi; ++kx) m = std::max(m, row[ox * v.sw - v.pl + kx * v.dw]);
          yr[ox] = m;
        };
        for (int64_t ox = 0; ox < ia; ++ox) edge(ox);
        if (g.kw == 2 && v.dw == 1 && v.sw == 2) {
          for (int64_t ox = ia; ox < ib; ++ox) yr[ox] = std::max(std::max(yr[ox], row[2 * ox - v.pl]), row[2 * ox + 1 - v.pl]);
        } else {
          for (int64_t ox = ia; ox < ib; ++ox) {
            const float* t = row + (ox * v.sw - v.pl);  // inside the row: ox is an interior column
            float m = yr[ox];
            for (int64_t kx = 0; kx < g.kw; ++kx) m = std::max(m, t[kx * v.dw]);
            yr[ox] = m;
          }
        }
        for (int64_t ox = std::max(ib, ia); ox < g.ow; ++ox) edge(ox);
      }
    }
  };
  cpu::mobileParallelFor(chunks, ctx.threads > 1 && rows * g.ow * g.kh * g.kw > 32768 ? ctx.threads : 1, chunk);
}

// Taps of a window inside the padded input (start .. size + padEnd): the count_include_pad
// divisor. Taps hanging past it only because of ceil_mode are not counted.
int64_t paddedTaps(int64_t start, int64_t dilation, int64_t kernel, int64_t size, int64_t padEnd) {
  int64_t n = 0;
  for (int64_t k = 0; k < kernel; ++k) n += start + k * dilation < size + padEnd;
  return n;
}

void averagePoolKernel(KernelContext& ctx) {
  const PoolAttrs& attrs = kernelState<PoolAttrs>(ctx, [&] { return parsePoolAttrs(ctx); });
  const PoolGeometry g = poolGeometry(ctx, attrs);
  const cpu::Window2D& v = g.win;
  const bool includePad = attrs.countIncludePad;
  std::vector<int64_t> rowTaps(g.oh), colTaps(g.ow);
  for (int64_t oy = 0; oy < g.oh; ++oy) rowTaps[oy] = paddedTaps(oy * v.sh - v.pt, v.dh, g.kh, g.h, v.pb);
  for (int64_t ox = 0; ox < g.ow; ++ox) colTaps[ox] = paddedTaps(ox * v.sw - v.pl, v.dw, g.kw, g.w, v.pr);
  const float* x = ctx.in(0).data;
  float* y = ctx.out(0).data;
  forEachWindow(g, ctx.threads, [&](int64_t p, int64_t oy, int64_t ox, int64_t kyLo, int64_t kyHi, int64_t kxLo, int64_t kxHi) {
    double sum = 0;
    const float* xp = x + p * g.h * g.w;
    for (int64_t ky = kyLo; ky < kyHi; ++ky) {
      const float* row = xp + (oy * v.sh - v.pt + ky * v.dh) * g.w;
      for (int64_t kx = kxLo; kx < kxHi; ++kx) sum += row[ox * v.sw - v.pl + kx * v.dw];
    }
    const int64_t divisor = includePad ? rowTaps[oy] * colTaps[ox] : (kyHi - kyLo) * (kxHi - kxLo);
    y[(p * g.oh + oy) * g.ow + ox] = divisor ? static_cast<float>(sum / double(divisor)) : 0.f;
  });
}

template <bool Max>
void globalPoolKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 1 && ctx.outputs.size() == 1, "expects 1 input and 1 output");
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 3, "expected X of rank >= 3 [N,C,spatial...] but received " + shapeToString(x.shape));
  Shape expected{x.shape[0], x.shape[1]};
  int64_t area = 1;
  for (int i = 2; i < x.rank(); ++i) {
    expected.push_back(1);
    area *= x.shape[i];
  }
  FACESTYLE_REQUIRE(ctx, area > 0, "expected non-empty spatial dimensions but received " + shapeToString(x.shape));
  FACESTYLE_REQUIRE(ctx, ctx.out(0).shape == expected, "expected output shape " + shapeToString(expected) + " but the plan has " + shapeToString(ctx.out(0).shape));
  const int64_t planes = x.shape[0] * x.shape[1];
  const float* px = x.data;
  float* py = ctx.out(0).data;
  cpu::poolFor(planes, ctx.threads, planes * area > 65536, [&](int64_t p) {
    const float* v = px + p * area;
    if (Max) {
      float m = v[0];
      for (int64_t i = 1; i < area; ++i) m = std::max(m, v[i]);
      py[p] = m;
    } else {
      // Eight independent float64 partial sums (vectorisable; a single running sum is one long
      // dependency chain), added at the end.
      double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= area; i += 8)
        for (int k = 0; k < 8; ++k) part[k] += v[i + k];
      double s = 0;
      for (; i < area; ++i) s += v[i];
      for (int k = 0; k < 8; ++k) s += part[k];
      py[p] = static_cast<float>(s / double(area));
    }
  });
}

}  // namespace

void registerCpuPoolKernels() {
  registerKernel(OpKind::MaxPool, Device::CPU, maxPoolKernel);
  registerKernel(OpKind::AveragePool, Device::CPU, averagePoolKernel);
  registerKernel(OpKind::GlobalAveragePool, Device::CPU, globalPoolKernel<false>);
  registerKernel(OpKind::GlobalMaxPool, Device::CPU, globalPoolKernel<true>);
}

}  // namespace facestyle
