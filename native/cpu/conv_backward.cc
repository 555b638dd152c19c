// CPU kernels for the convolution gradients: Conv2DBackpropInput (GEMM + col2im),
// Conv2DBackpropFilter (im2row + GEMM) and Conv2DBackpropBias (sum over N, H, W).
// The GEMMs go through cpu::sgemm, so they get the packed SIMD paths; im2row and col2im are split
// across the session's threads on the mobile pool (cpu/pool_for.h).
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/pool_for.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

struct ConvGeometry {
  int64_t n, c, h, w;       // input
  int64_t m, cg, kh, kw;    // weight [M, C/group, kh, kw]
  int64_t oh, ow;           // output
  int64_t sh, sw, pt, pl, dh, dw, group;
};

ConvGeometry geometry(KernelContext& ctx, const Shape& x, const Shape& wshape, const Shape& dy) {
  FACESTYLE_REQUIRE(ctx, x.size() == 4 && wshape.size() == 4 && dy.size() == 4, "expects rank-4 X, W and dY");
  const Attrs& a = ctx.attrs();
  auto strides = a.getInts("strides", {1, 1});
  auto pads = a.getInts("pads", {0, 0, 0, 0});
  auto dil = a.getInts("dilations", {1, 1});
  FACESTYLE_REQUIRE(ctx, strides.size() == 2 && pads.size() == 4 && dil.size() == 2, "expects 2 strides, 4 pads and 2 dilations");
  ConvGeometry g{x[0], x[1], x[2], x[3], wshape[0], wshape[1], wshape[2], wshape[3], dy[2], dy[3],
                 strides[0], strides[1], pads[0], pads[1], dil[0], dil[1], a.getInt("group", 1)};
  FACESTYLE_REQUIRE(ctx, g.group >= 1 && g.c == g.cg * g.group && g.m % g.group == 0 && dy[0] == g.n && dy[1] == g.m,
              "X " + shapeToString(x) + ", W " + shapeToString(wshape) + " and dY " + shapeToString(dy) + " do not match");
  const int64_t oh = (g.h + pads[0] + pads[2] - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  const int64_t ow = (g.w + pads[1] + pads[3] - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  FACESTYLE_REQUIRE(ctx, oh == g.oh && ow == g.ow, "dY " + shapeToString(dy) + " is not the output size of this convolution");
  return g;
}

// Copies and sums smaller than this many floats stay on the calling thread.
constexpr int64_t kParallelFloats = 65536;

// One row per output pixel (im2col transposed): rows[oy*ow+ox][(c*kh+ky)*kw+kx] = x[c][iy][ix] (0 outside
// the image), for one image and one group. Pixel-major so that dW = dY x rows is a plain GEMM whose B
// is read in place or packed by rows (im2col's layout needed a transposed B, packed one float at a
// time). The output rows are independent: split across threads.
void im2row(const ConvGeometry& g, const float* x, float* rows, int threads) {
  const int64_t k = g.cg * g.kh * g.kw;
  // Output columns whose every tap lies inside the input row: ox*sw - pl >= 0 and ox*sw - pl + (kw-1)*dw < w.
  const int64_t oxLo = std::min(g.ow, (g.pl + g.sw - 1) / g.sw);
  const int64_t oxHi = std::max(oxLo, std::min(g.ow, (g.w + g.pl - (g.kw - 1) * g.dw + g.sw - 1) / g.sw));
  cpu::poolFor(g.oh, threads, g.oh * g.ow * k >= kParallelFloats, [&](int64_t oy) {
    float* dst = rows + oy * g.ow * k;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const bool inside = ox >= oxLo && ox < oxHi;
      const int64_t ix0 = ox * g.sw - g.pl;
      for (int64_t c = 0; c < g.cg; ++c) {
        const float* plane = x + c * g.h * g.w;
        for (int64_t ky = 0; ky < g.kh; ++ky, dst += g.kw) {
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.h) {
            for (int64_t kx = 0; kx < g.kw; ++kx) dst[kx] = 0.f;
            continue;
          }
          const float* src = plane + iy * g.w;
          if (inside) {
            for (int64_t kx = 0; kx < g.kw; ++kx) dst[kx] = src[ix0 + kx * g.dw];
          } else {
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t ix = ix0 + kx * g.dw;
              dst[kx] = ix >= 0 && ix < g.w ? src[ix] : 0.f;
            }
          }
        }
      }
    }
  });
}

// The adjoint of im2col (im2row's transpose: col[(c*kh+ky)*kw+kx][oy*ow+ox] came from x[c][iy][ix]):
// every column entry is added back to the pixel it was read from. Channel c's plane takes sums only
// from its own kh x kw rows: the channels are split across threads.
void col2im(const ConvGeometry& g, const float* col, float* x, int threads) {
  const int64_t ohw = g.oh * g.ow;
  cpu::poolFor(g.cg, threads, g.cg * g.kh * g.kw * ohw >= kParallelFloats, [&](int64_t c) {
    float* plane = x + c * g.h * g.w;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const float* row = col + ((c * g.kh + ky) * g.kw + kx) * ohw;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          const float* src = row + oy * g.ow;
          float* dst = plane + iy * g.w;
          // The columns whose pixel lies inside the row: ix = ox*sw - pl + kx*dw in [0, w).
          const int64_t off = kx * g.dw - g.pl;
          const int64_t lo = std::min(g.ow, off >= 0 ? 0 : (-off + g.sw - 1) / g.sw);
          const int64_t hi = std::max(lo, std::min(g.ow, (g.w - off + g.sw - 1) / g.sw));
          if (g.sw == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox + off] += src[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.sw + off] += src[ox];
          }
        }
      }
  });
}

// dX = col2im(W^T dY), per image and group. Inputs: dY [N,M,OH,OW], W [M,C/g,kh,kw].
void conv2DBackpropInputKernel(KernelContext& ctx) {
  const Tensor &dy = ctx.in(0), &w = ctx.in(1);
  Tensor& dx = ctx.out(0);
  ConvGeometry g = geometry(ctx, dx.shape, w.shape, dy.shape);
  const int64_t mg = g.m / g.group, k = g.cg * g.kh * g.kw, ohw = g.oh * g.ow;
  std::vector<float> col(static_cast<size_t>(k * ohw));
  std::fill(dx.data, dx.data + dx.size(), 0.f);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const float* wg = w.data + gi * mg * k;
      const float* dyg = dy.data + (n * g.m + gi * mg) * ohw;
      cpu::sgemm(true, false, k, ohw, mg, 1.f, wg, k, dyg, ohw, 0.f, col.data(), ohw, ctx.threads);
      col2im(g, col.data(), dx.data + (n * g.c + gi * g.cg) * g.h * g.w, ctx.threads);
    }
}

// dW = sum over images of dY im2row(X), per group. Inputs: X [N,C,H,W], dY [N,M,OH,OW].
void conv2DBackpropFilterKernel(KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &dy = ctx.in(1);
  Tensor& dw = ctx.out(0);
  ConvGeometry g = geometry(ctx, x.shape, dw.shape, dy.shape);
  const int64_t mg = g.m / g.group, k = g.cg * g.kh * g.kw, ohw = g.oh * g.ow;
  std::vector<float> col(static_cast<size_t>(k * ohw));
  std::fill(dw.data, dw.data + dw.size(), 0.f);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t gi = 0; gi < g.group; ++gi) {
      im2row(g, x.data + (n * g.c + gi * g.cg) * g.h * g.w, col.data(), ctx.threads);
      const float* dyg = dy.data + (n * g.m + gi * mg) * ohw;
      cpu::sgemm(false, false, mg, k, ohw, 1.f, dyg, ohw, col.data(), k, 1.f, dw.data + gi * mg * k, k, ctx.threads);
    }
}

// dB[m] = sum of dY over N, H, W.
void conv2DBackpropBiasKernel(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& db = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, dy.rank() >= 2 && db.rank() == 1 && db.shape[0] == dy.shape[1], "expects dY [N,M,...] and dB [M]");
  const int64_t n = dy.shape[0], m = dy.shape[1], inner = m ? dy.size() / (n * m) : 0;
  for (int64_t j = 0; j < m; ++j) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* p = dy.data + (i * m + j) * inner;
      for (int64_t t = 0; t < inner; ++t) acc += p[t];
    }
    db.data[j] = static_cast<float>(acc);
  }
}

}  // namespace

void registerCpuConvBackwardKernels() {
  registerKernel(OpKind::Conv2DBackpropInput, Device::CPU, conv2DBackpropInputKernel);
  registerKernel(OpKind::Conv2DBackpropFilter, Device::CPU, conv2DBackpropFilterKernel);
  registerKernel(OpKind::Conv2DBackpropBias, Device::CPU, conv2DBackpropBiasKernel);
}

}  // namespace facestyle
