// CPU kernels for Conv2D and ConvTranspose2D. Kernels larger than 1x1 run on the direct flat
// phase-plane kernel (cpu/conv_direct_flat.h; 3x3 RGB heads on the row-aligned cpu/conv_rows3x3.h);
// 1x1 and the rest on GEMM (im2col / col2im + cpu::sgemm, the packed SIMD GEMM); depthwise on its direct kernels (cpu/conv_fast.h, cpu/conv_mobile.h); 3x3 on
// 1-4 input channels (the first layer) on cpu/conv_stem_kernels.h;
// ConvTranspose2D 2x2 / 2 on a direct kernel (cpu/conv_transpose_direct.h), other kernel == stride on one
// GEMM and a scatter; a residual input Z (conv2dResidual / convTranspose2dResidual) added before the
// activation; conv2dReference / convTranspose2dReference are the plain loops they are tested against.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpu/conv_fast.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_mobile.h"
#include "cpu/conv_transpose.h"
#include "cpu/row_dots.h"
#include "cpu/gemm.h"
#include "cpu/max_pool_rows.h"
#include "cpu/mobile_pool.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle::cpu {

namespace {

// Window attributes beyond this are refused, so index arithmetic never overflows int64.
constexpr int64_t kMaxWindowValue = int64_t(1) << 30;
// Floats per im2col/col2im buffer (per thread): 2 MiB keeps a tile in cache and memory bounded
// for large images.
constexpr int64_t kColumnBudget = int64_t(1) << 19;

[[noreturn]] void shapeFail(const std::string& message) { throw Error(ErrorCode::Shape, message); }

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

void checkBias(const Shape* bias, int64_t m) {
  if (bias && (bias->size() != 1 || (*bias)[0] != m))
    shapeFail("expected bias B of shape [" + std::to_string(m) + "] but received " + shapeToString(*bias));
}

}  // namespace

Window2D parseWindow2D(const Attrs& attrs) {
  const std::vector<int64_t> strides = attrs.getInts("strides", {1, 1});
  const std::vector<int64_t> pads = attrs.getInts("pads", {0, 0, 0, 0});
  const std::vector<int64_t> dilations = attrs.getInts("dilations", {1, 1});
  auto inRange = [](const std::vector<int64_t>& v, int64_t lo) {
    return std::all_of(v.begin(), v.end(), [lo](int64_t x) { return x >= lo && x <= kMaxWindowValue; });
  };
  if (strides.size() != 2 || !inRange(strides, 1)) shapeFail("expected 2 strides >= 1 but received " + ints(strides));
  if (pads.size() != 4 || !inRange(pads, 0)) shapeFail("expected 4 non-negative pads [top,left,bottom,right] but received " + ints(pads));
  if (dilations.size() != 2 || !inRange(dilations, 1)) shapeFail("expected 2 dilations >= 1 but received " + ints(dilations));
  Window2D win;
  win.sh = strides[0], win.sw = strides[1];
  win.pt = pads[0], win.pl = pads[1], win.pb = pads[2], win.pr = pads[3];
  win.dh = dilations[0], win.dw = dilations[1];
  return win;
}

ConvAttrs parseConvAttrs(const Attrs& attrs, bool transposed) {
  ConvAttrs a;
  a.group = attrs.getInt("group", 1);
  if (a.group < 1) shapeFail("expected group >= 1 but received " + std::to_string(a.group));
  a.win = parseWindow2D(attrs);
  if (transposed) {
    const Window2D& v = a.win;
    const std::vector<int64_t> op = attrs.getInts("output_padding", {0, 0});
    if (op.size() != 2 || op[0] < 0 || op[1] < 0 || op[0] >= std::max(v.sh, v.dh) || op[1] >= std::max(v.sw, v.dw))
      shapeFail("expected 2 output_padding values in [0, max(stride, dilation)) but received " + ints(op));
    a.outputPadding[0] = op[0], a.outputPadding[1] = op[1];
  }
  return a;
}

ConvGeometry conv2DGeometry(const Shape& x, const Shape& w, const Shape* bias, const ConvAttrs& attrs) {
  if (x.size() != 4) shapeFail("expected X [N,C,H,W] of rank 4 but received " + shapeToString(x));
  if (w.size() != 4) shapeFail("expected W [M,C/group,kh,kw] of rank 4 but received " + shapeToString(w));
  ConvGeometry g;
  g.group = attrs.group;
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.m = w[0], g.kh = w[2], g.kw = w[3];
  if (g.c % g.group != 0) shapeFail("expected input channels " + std::to_string(g.c) + " to be divisible by group " + std::to_string(g.group));
  if (g.m % g.group != 0) shapeFail("expected output channels M=" + std::to_string(g.m) + " to be divisible by group " + std::to_string(g.group));
  if (w[1] * g.group != g.c)
    shapeFail("expected W of shape [" + std::to_string(g.m) + "," + std::to_string(g.c / g.group) + ",kh,kw] but received " + shapeToString(w));
  if (g.kh < 1 || g.kw < 1) shapeFail("expected a kernel of at least 1x1 but received W " + shapeToString(w));
  checkBias(bias, g.m);
  g.win = attrs.win;
  const Window2D& v = g.win;
  g.oh = floorDiv(g.h + v.pt + v.pb - v.dh * (g.kh - 1) - 1, v.sh) + 1;
  g.ow = floorDiv(g.w + v.pl + v.pr - v.dw * (g.kw - 1) - 1, v.sw) + 1;
  if (g.oh <= 0 || g.ow <= 0)
    shapeFail("expected a positive output size but received " + std::to_string(g.oh) + "x" + std::to_string(g.ow) + " (input " + shapeToString(x) +
              ", W " + shapeToString(w) + ")");
  return g;
}

ConvGeometry convTranspose2DGeometry(const Shape& x, const Shape& w, const Shape* bias, const ConvAttrs& attrs) {
  if (x.size() != 4) shapeFail("expected X [N,C,H,W] of rank 4 but received " + shapeToString(x));
  if (w.size() != 4) shapeFail("expected W [C,M/group,kh,kw] of rank 4 but received " + shapeToString(w));
  ConvGeometry g;
  g.group = attrs.group;
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.kh = w[2], g.kw = w[3];
  if (g.c % g.group != 0) shapeFail("expected input channels " + std::to_string(g.c) + " to be divisible by group " + std::to_string(g.group));
  if (w[0] != g.c) shapeFail("expected W of shape [" + std::to_string(g.c) + ",M/group,kh,kw] but received " + shapeToString(w));
  if (g.kh < 1 || g.kw < 1 || w[1] < 1) shapeFail("expected a kernel of at least 1x1 and M/group >= 1 but received W " + shapeToString(w));
  g.m = w[1] * g.group;
  checkBias(bias, g.m);
  g.win = attrs.win;
  const Window2D& v = g.win;
  g.oh = v.sh * (g.h - 1) + attrs.outputPadding[0] + (g.kh - 1) * v.dh + 1 - v.pt - v.pb;
  g.ow = v.sw * (g.w - 1) + attrs.outputPadding[1] + (g.kw - 1) * v.dw + 1 - v.pl - v.pr;
  if (g.h < 1 || g.w < 1 || g.oh <= 0 || g.ow <= 0)
    shapeFail("expected a positive output size but received " + std::to_string(g.oh) + "x" + std::to_string(g.ow) + " (input " + shapeToString(x) +
              ", W " + shapeToString(w) + ")");
  return g;
}

// ---- references ----

void conv2dReference(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t m = 0; m < g.m; ++m) {
      const int64_t grp = m / mg;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          double acc = bias ? bias[m] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * v.sh - v.pt + ky * v.dh;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * v.sw - v.pl + kx * v.dw;
                if (ix < 0 || ix >= g.w) continue;
                acc += double(x[((n * g.c + grp * cg + ci) * g.h + iy) * g.w + ix]) * w[((m * cg + ci) * g.kh + ky) * g.kw + kx];
              }
            }
          y[((n * g.m + m) * g.oh + oy) * g.ow + ox] = static_cast<float>(acc);
        }
    }
}

void convTranspose2dReference(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), plane = g.oh * g.ow;
  std::vector<double> acc(static_cast<size_t>(g.n * g.m * plane), 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c) {
      const int64_t grp = c / cg;
      for (int64_t iy = 0; iy < g.h; ++iy)
        for (int64_t ix = 0; ix < g.w; ++ix) {
          const double xv = x[((n * g.c + c) * g.h + iy) * g.w + ix];
          for (int64_t mo = 0; mo < mg; ++mo)
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t oy = iy * v.sh - v.pt + ky * v.dh;
              if (oy < 0 || oy >= g.oh) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ox = ix * v.sw - v.pl + kx * v.dw;
                if (ox < 0 || ox >= g.ow) continue;
                acc[((n * g.m + grp * mg + mo) * g.oh + oy) * g.ow + ox] += xv * w[((c * mg + mo) * g.kh + ky) * g.kw + kx];
              }
            }
        }
    }
  for (size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<float>(acc[i] + (bias ? bias[(i / plane) % g.m] : 0.f));
}

// ---- fast paths ----

namespace {

// Fills `planes` output planes of `len` floats starting at y with the bias (or zero).
void fillBias(float* y, const float* bias, int64_t planes, int64_t planeStride, int64_t len) {
  for (int64_t p = 0; p < planes; ++p) std::fill(y + p * planeStride, y + p * planeStride + len, bias ? bias[p] : 0.f);
}

// Columns [p0, p1) of the im2col matrix of one group: row k = (ci, ky, kx) holds, for each output
// position p, the input value that kernel tap meets there (0 in padding). Rows are p1 - p0 long.
void im2colTile(const ConvGeometry& g, const float* xg, int64_t p0, int64_t p1, float* col, int threads) {
  const Window2D& v = g.win;
  const int64_t len = p1 - p0, rows = g.cg() * g.kh * g.kw;
  poolFor(rows, threads, rows * len > 65536, [&](int64_t k) {
    const int64_t ci = k / (g.kh * g.kw), ky = (k / g.kw) % g.kh, kx = k % g.kw;
    const float* xp = xg + ci * g.h * g.w;
    const int64_t yoff = ky * v.dh - v.pt, xoff = kx * v.dw - v.pl;
    int64_t oxLo, oxHi;
    validRange(xoff, v.sw, g.w, g.ow, oxLo, oxHi);
    float* row = col + k * len;
    for (int64_t p = p0; p < p1;) {
      const int64_t oy = p / g.ow, ox0 = p % g.ow, ox1 = std::min(g.ow, ox0 + (p1 - p));
      float* out = row + (p - p0);  // out[ox - ox0] is position (oy, ox)
      const int64_t iy = oy * v.sh + yoff;
      if (iy < 0 || iy >= g.h) {
        std::fill(out, out + (ox1 - ox0), 0.f);
      } else {
        const float* xr = xp + iy * g.w;  // xr[ox * sw + xoff] is the tap's input for ox in [oxLo, oxHi)
        const int64_t a = std::clamp(oxLo, ox0, ox1), b = std::clamp(oxHi, a, ox1);
        std::fill(out, out + (a - ox0), 0.f);
        if (v.sw == 1) std::memcpy(out + (a - ox0), xr + a + xoff, static_cast<size_t>(b - a) * sizeof(float));
        else
          for (int64_t ox = a; ox < b; ++ox) out[ox - ox0] = xr[ox * v.sw + xoff];
        std::fill(out + (b - ox0), out + (ox1 - ox0), 0.f);
      }
      p += ox1 - ox0;
    }
  });
}

// Layers with a kernel larger than 1x1 run on the direct flat phase-plane kernel (conv_direct_flat.h);
// 1x1 stays on GEMM (no im2col there, and GEMM was 1.4-4x faster than a direct kernel). Measured on
// AVX-512 (Zen 5), one thread, thread CPU time, best of 10, fused LeakyRelu (native/test/bench_conv.cc):
// against im2col + GEMM, 3x3 layers with 16 to 128 channels run 1.1-3x faster (96->96 at 32x32: 210 vs
// 107 GFLOP/s; 32->64 stride 2: 190 vs 56; 128->128 at 64x64: 225 vs 118); against the row kernel
// (conv_direct.h, which conv2d used for layers with at most 16 channels on a side) the flat one is level
// on a 3->16 3x3 stem and 1.1-1.35x faster on stride-2 stems (YuNet 3->16 at 320: 95 vs 72), 7x7 stems
// and heads (32->3 7x7: 160 vs 118) and 16->3 heads.
bool useFlatConv(const ConvGeometry& g, bool pointwise) { return !pointwise && g.kh * g.kw > 1; }

// Winograd F(4x4, 3x3) (conv_winograd.h) for 3x3 stride-1 layers with many channels, where its 4x fewer
// multiplies outweigh the transforms (a fixed cost per tile and channel). Same measurements, effective
// GFLOP/s counted as direct conv, Winograd vs flat: 96->96 at 32x32 450 vs 214; 96->64 at 32x32 300 vs
// 210; 64->32 at 64x64 340 vs 220; 128->128 at 64x64 430-480 vs 226; but 32->16 at 128x128 only 1.04x,
// and 16->16 at 256x256 0.85x, 16->3 0.5x (transform-bound). Its error is larger (about 1e-5 of the
// output's magnitude instead of 1e-7; conv_winograd.h).
bool useWinograd(const ConvGeometry& g) { return winogradApplies(g) && g.c >= 64 && g.m >= 32; }

// A layer with at most 4 output positions per channel (a 7x7 conv over a 7x7 map, a head on a 1x1
// map) is a matrix-vector product: GEMM would pack the whole weight tensor (800 KB in PFLD's last
// conv) to use one column of its tiles. Dot products straight from W instead (cpu/row_dots.h).
void conv2dFewOutputs(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation& act, bool pointwise) {
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), P = g.oh * g.ow, K = cg * g.kh * g.kw;
  // One output from a kernel covering the whole unpadded input (PFLD's 7x7 head on a 7x7 map): the
  // input planes already are that output's column (c, ky, kx), so no im2col and no transpose.
  const bool wholeInput = P == 1 && g.kh == g.h && g.kw == g.w && v.pt == 0 && v.pl == 0 && v.dh == 1 && v.dw == 1;
  std::vector<float> col(pointwise || wholeInput ? 0 : static_cast<size_t>(K * P));
  std::vector<float> colT(wholeInput ? 0 : static_cast<size_t>(P * K));  // P rows of K: each output's inputs contiguous
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t grp = 0; grp < g.group; ++grp) {
      const float* xg = x + (n * g.c + grp * cg) * g.h * g.w;
      const float* rows = xg;
      if (!wholeInput) {
        const float* src = xg;  // K x P
        if (!pointwise) {
          im2colTile(g, xg, 0, P, col.data(), 1);
          src = col.data();
        }
        for (int64_t k = 0; k < K; ++k)
          for (int64_t p = 0; p < P; ++p) colT[p * K + k] = src[k * P + p];
        rows = colT.data();
      }
      float* yg = y + (n * g.m + grp * mg) * P;
      auto channels = [&](int64_t m0, int64_t m1) {
        float dots[64];
        for (int64_t b0 = m0; b0 < m1; b0 += 64) {
          const int64_t b1 = std::min(m1, b0 + 64);
          for (int64_t p = 0; p < P; ++p) {
            rowDots(w + (grp * mg + b0) * K, K, b1 - b0, K, rows + p * K, dots);
            for (int64_t m = b0; m < b1; ++m) yg[m * P + p] = act.apply(dots[m - b0] + (bias ? bias[grp * mg + m] : 0.f));
          }
        }
      };
      // Output channels in chunks on the mobile pool (a layer of ~0.2M multiply-adds: an OpenMP region's
      // wake-up cost as much as the work).
      mobileParallelRanges(mg, threads > 1 && mg * K * P > 65536 ? threads : 1, 4, channels);
    }
}

int64_t tileColumns(int64_t rows, int64_t total) { return std::max<int64_t>(1, std::min(total, kColumnBudget / std::max<int64_t>(rows, 1))); }

}  // namespace

float* convScratch(int slot, size_t floats) {
  thread_local std::vector<float> buffers[3];
  std::vector<float>& b = buffers[slot % 3];
  if (b.size() < floats) b.resize(floats);
  return b.data();
}

void applyConvActivation(const ConvActivation& act, float* y, int64_t n, int threads) {
  // One plain loop per kind (the switch outside the loop), so that the compiler vectorises them.
  auto sweep = [&](auto f) { poolFor(n, threads, n > 65536, [&](int64_t i) { y[i] = f(y[i]); }); };
  const float alpha = act.alpha, lo = act.lo, hi = act.hi;
  switch (act.kind) {
    case ConvActivation::None: return;
    case ConvActivation::Relu: return sweep([](float v) { return v > 0.f ? v : 0.f; });
    case ConvActivation::LeakyRelu: return sweep([alpha](float v) { return v >= 0.f ? v : alpha * v; });
    case ConvActivation::Clip: return sweep([lo, hi](float v) { return std::min(hi, std::max(lo, v)); });
    default: return sweep([&act](float v) { return act.apply(v); });
  }
}

void conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads, const ConvActivation* act) {
  threads = std::max(threads, 1);
  const ConvActivation none;
  const ConvActivation& a = act ? *act : none;
  if (g.group == g.c && g.group == g.m) {
    // Column stride 1 or 2 with at most 64 taps (every depthwise layer of the shipped detector and
    // landmark models): the mobile kernels (cpu/conv_mobile.h).
    if (conv2dDepthwiseFast(g, x, w, bias, y, threads, a)) return;
    // The rest (column stride 3 and up, or larger kernels): a direct kernel (cpu/conv_fast.h; SIMD
    // level picked at run time), no im2col. At stride 1, planes under 48 columns go flat, where the
    // row-wise kernel spends most of its time on edge columns; so do planes up to 128 wide with a
    // fused activation, which the flat kernel applies in registers.
    const Window2D& v = g.win;
    if (v.sh == 1 && v.sw == 1 && (g.ow < 48 || (a.kind != ConvActivation::None && g.ow <= 128)))
      return depthwiseFlat(g, x, w, bias, y, threads, &a);
    const DepthwiseShape s{g.n, g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, v.sh, v.sw, v.dh, v.dw, v.pt, v.pl};
    depthwiseConv2d(s, x, w, bias, y, threads);
    return applyConvActivation(a, y, g.n * g.m * g.oh * g.ow, threads);
  }
  const int64_t cg = g.cg(), mg = g.mg(), P = g.oh * g.ow, K = cg * g.kh * g.kw;
  const bool pointwise = g.plainPointwise();
  if (pointwise && conv2dPointwiseFast(g, x, w, bias, y, threads, a)) return;
  if (P <= 4) return conv2dFewOutputs(g, x, w, bias, y, threads, a, pointwise);
  // The first layer of an image model (3x3 on RGB, stride 1 or 2): its own kernel (cpu/conv_stem_kernels.h).
  if (conv2dStemFast(g, x, w, bias, y, threads, a)) return;
  if (useWinograd(g)) return conv2dWinograd(g, x, w, bias, y, threads, &a);
  if (useFlatConv(g, pointwise)) {
    // 3x3 stride-1 heads with 1-4 output channels on rows a whole number of vectors wide: the row-aligned kernel
    // (cpu/conv_rows3x3.h), which declines anything else.
    if (conv2dRows3x3(g, x, w, bias, y, threads, &a)) return;
    return conv2dFlat(g, x, w, bias, y, threads, &a);
  }
  // Bias and the activations GEMM can apply go into its epilogue, while each tile of C is in cache;
  // Tanh / Sigmoid take a sweep afterwards.
  GemmEpilogue epilogue;
  bool sweep = false;
  switch (a.kind) {
    case ConvActivation::Relu: epilogue.activation = GemmActivation::Relu; break;
    case ConvActivation::LeakyRelu: epilogue.activation = GemmActivation::LeakyRelu, epilogue.slope = a.alpha; break;
    case ConvActivation::Clip: epilogue.activation = GemmActivation::Clip, epilogue.lo = a.lo, epilogue.hi = a.hi; break;
    case ConvActivation::None: break;
    default: sweep = true;
  }
  // Work items: (image, group, column tile). Pointwise needs no columns: X of a group is the matrix;
  // it is still cut into column tiles, so that threads get whole single-threaded GEMMs.
  int64_t tile = pointwise ? P : tileColumns(K, P);
  if (pointwise && g.n * g.group < threads && P >= 256 * threads) tile = (P / threads + 15) / 16 * 16;
  const int64_t tiles = (P + tile - 1) / tile;
  const int64_t tasks = g.n * g.group * tiles;
  if (tasks == 0) return;
  // Enough items for every thread: one item per thread, single-threaded sgemm. Otherwise items
  // run one after another and sgemm / im2col use all threads.
  const bool outer = tasks >= threads;
  const int team = outer ? threads : 1, inner = outer ? 1 : threads;
  float* columns = pointwise ? nullptr : convScratch(0, static_cast<size_t>(team * K * tile));
  auto run = [&](int64_t t) {
    const int64_t n = t / (g.group * tiles), grp = (t / tiles) % g.group, p0 = (t % tiles) * tile, p1 = std::min(P, p0 + tile);
    const float* xg = x + (n * g.c + grp * cg) * g.h * g.w;
    const float* wg = w + grp * mg * K;
    float* yg = y + (n * g.m + grp * mg) * P + p0;
    GemmEpilogue e = epilogue;
    e.rowBias = bias ? bias + grp * mg : nullptr;
    if (pointwise) {
      sgemmFused(false, false, mg, p1 - p0, K, 1.f, wg, K, xg + p0, P, 0.f, yg, P, e, inner);
    } else {
      float* col = columns + static_cast<size_t>(threadIndex() % team) * K * tile;
      im2colTile(g, xg, p0, p1, col, inner);
      sgemmFused(false, false, mg, p1 - p0, K, 1.f, wg, K, col, p1 - p0, 0.f, yg, P, e, inner);
    }
  };
  if (outer) parallelFor(tasks, team, run);
  else
    for (int64_t t = 0; t < tasks; ++t) run(t);
  if (sweep) applyConvActivation(a, y, g.n * g.m * P, threads);
}

// ConvTranspose2D whose kernel equals its stride, dilation 1 (the generator's 2x2 / 2 upsampling before
// convTransposeUp took that one over): the
// kernel windows do not overlap, so each output pixel receives exactly one input pixel's product (or
// none, in an output_padding margin). One GEMM per tile of whole input rows, col (K x len) = Wg^T Xg,
// K = (mo, ky, kx), then each col value is written (not added) with the bias to its pixel: no zero
// fill, no read-modify-write of Y as in col2im.
void convTranspose2dKernelStride(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads) {
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), HW = g.h * g.w, OP = g.oh * g.ow, K = mg * g.kh * g.kw;
  // Output rows / columns some input pixel reaches: oy + pt < h * sh. Past them (output_padding beyond
  // the bottom / right pads) only the bias lands.
  const int64_t rowsCovered = std::min(g.oh, g.h * v.sh - v.pt), colsCovered = std::min(g.ow, g.w * v.sw - v.pl);
  const bool partial = rowsCovered < g.oh || colsCovered < g.ow;
  // Row tiles of about 256 KiB of columns: the scatter then reads them from L2, right after the GEMM
  // wrote them (with the 2 MiB im2col budget, 32->16 at 128x128 ran 1.2x slower).
  const int64_t tileRows = std::max<int64_t>(1, std::min(g.h, (kColumnBudget / 8) / std::max<int64_t>(K * g.w, 1)));
  const int64_t tasks = g.n * g.group;
  const bool outer = tasks >= threads;
  const int team = outer ? threads : 1, inner = outer ? 1 : threads;
  float* columns = convScratch(0, static_cast<size_t>(team * K * tileRows * g.w));
  auto run = [&](int64_t t) {
    const int64_t n = t / g.group, grp = t % g.group;
    const float* xg = x + (n * g.c + grp * cg) * HW;
    const float* wg = w + grp * cg * K;
    const float* bg = bias ? bias + grp * mg : nullptr;
    float* yg = y + (n * g.m + grp * mg) * OP;
    if (partial) fillBias(yg, bg, mg, OP, OP);
    float* col = columns + static_cast<size_t>(threadIndex() % team) * K * tileRows * g.w;
    for (int64_t iy0 = 0; iy0 < g.h; iy0 += tileRows) {
      const int64_t rows = std::min(tileRows, g.h - iy0), len = rows * g.w;
      sgemm(true, false, K, len, cg, 1.f, wg, K, xg + iy0 * g.w, HW, 0.f, col, len, inner);
#pragma omp parallel for num_threads(inner) if (inner > 1 && mg > 1)
      for (int64_t mo = 0; mo < mg; ++mo) {
        const float b = bg ? bg[mo] : 0.f;
        float* yp = yg + mo * OP;
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t oy = (iy0 + r) * v.sh + ky - v.pt;
            if (oy < 0 || oy >= g.oh) continue;
            float* dst = yp + oy * g.ow;
            if (g.kw == 2 && v.pl == 0 && 2 * g.w <= g.ow) {  // (kw == sw here)
              // The common 2x2 / 2 without a left pad: interleave the kx = 0 and kx = 1 rows (a loop the
              // compiler vectorises with unpacks; the strided general loop below was half the layer's time).
              const float* s0 = col + ((mo * g.kh + ky) * 2) * len + r * g.w;
              const float* s1 = s0 + len;
              for (int64_t ix = 0; ix < g.w; ++ix) dst[2 * ix] = s0[ix] + b, dst[2 * ix + 1] = s1[ix] + b;
              continue;
            }
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const float* src = col + ((mo * g.kh + ky) * g.kw + kx) * len + r * g.w;  // src[ix] lands at ox = ix*sw + kx - pl
              int64_t lo, hi;
              validRange(kx - v.pl, v.sw, g.ow, g.w, lo, hi);
              for (int64_t ix = lo; ix < hi; ++ix) dst[ix * v.sw + kx - v.pl] = src[ix] + b;
            }
          }
      }
    }
  };
  if (outer) parallelFor(tasks, team, run);
  else
    for (int64_t t = 0; t < tasks; ++t) run(t);
}

void convTranspose2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads) {
  threads = std::max(threads, 1);
  const Window2D& v = g.win;
  // 2x2 / 2 (the generator's upsampling): the direct kernel (conv_transpose_direct.h; 1-2x the GEMM +
  // scatter below at 2 threads, level at 1).
  if (convTransposeUpApplies(g)) return convTransposeUp(g, x, w, bias, nullptr, y, threads);
  if (g.kh == v.sh && g.kw == v.sw && v.dh == 1 && v.dw == 1) return convTranspose2dKernelStride(g, x, w, bias, y, threads);
  const int64_t cg = g.cg(), mg = g.mg(), HW = g.h * g.w, OP = g.oh * g.ow, K = mg * g.kh * g.kw;
  const int64_t tile = tileColumns(K, HW);
  const int64_t tasks = g.n * g.group;
  if (tasks == 0) return;
  // Tiles of one (image, group) add into the same output planes, so only whole (image, group)
  // items run in parallel; with fewer items than threads, sgemm and col2im share the threads.
  const bool outer = tasks >= threads;
  const int team = outer ? threads : 1, inner = outer ? 1 : threads;
  std::vector<float> columns(static_cast<size_t>(team * K * tile));
  auto run = [&](int64_t t) {
    const int64_t n = t / g.group, grp = t % g.group;
    const float* xg = x + (n * g.c + grp * cg) * HW;
    const float* wg = w + grp * cg * K;  // cg rows of K = (mo, ky, kx)
    float* yg = y + (n * g.m + grp * mg) * OP;
    fillBias(yg, bias ? bias + grp * mg : nullptr, mg, OP, OP);
    float* col = columns.data() + static_cast<size_t>(threadIndex() % team) * K * tile;
    for (int64_t p0 = 0; p0 < HW; p0 += tile) {
      const int64_t p1 = std::min(HW, p0 + tile), len = p1 - p0;
      // col (K x len) = Wg^T (K x cg) * Xg[:, p0:p1] (cg x len)
      sgemm(true, false, K, len, cg, 1.f, wg, K, xg + p0, HW, 0.f, col, len, inner);
      // col2im: row (mo, ky, kx) adds each input position's value at its output pixel. Rows of
      // one output channel touch only that channel's plane, so channels run in parallel.
#pragma omp parallel for num_threads(inner) if (inner > 1 && mg > 1)
      for (int64_t mo = 0; mo < mg; ++mo) {
        float* yp = yg + mo * OP;
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const float* row = col + ((mo * g.kh + ky) * g.kw + kx) * len;
            const int64_t yoff = ky * v.dh - v.pt, xoff = kx * v.dw - v.pl;
            int64_t ixLo, ixHi;
            validRange(xoff, v.sw, g.ow, g.w, ixLo, ixHi);
            for (int64_t p = p0; p < p1;) {
              const int64_t iy = p / g.w, ix0 = p % g.w, ix1 = std::min(g.w, ix0 + (p1 - p));
              const int64_t oy = iy * v.sh + yoff;
              if (oy >= 0 && oy < g.oh) {
                const float* src = row + (p - p0);  // src[ix - ix0] is input position (iy, ix)
                float* dst = yp + oy * g.ow;          // dst[ix * sw + xoff] is its output pixel
                const int64_t a = std::clamp(ixLo, ix0, ix1), b = std::clamp(ixHi, a, ix1);
                for (int64_t ix = a; ix < b; ++ix) dst[ix * v.sw + xoff] += src[ix - ix0];
              }
              p += ix1 - ix0;
            }
          }
      }
    }
  };
  if (outer) parallelFor(tasks, team, run);
  else
    for (int64_t t = 0; t < tasks; ++t) run(t);
}

namespace {

// y = act(y + z) over n values: one add the compiler vectorises, then the activation sweep.
// Chunks of 16K values on the mobile pool (no OpenMP wake-up per layer), the activation while the
// chunk is in L1.
void addResidual(const ConvActivation& act, const float* z, float* y, int64_t n, int threads) {
  constexpr int64_t kChunk = 16384;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  auto chunk = [&](int64_t c) {
    const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
    float* yc = y + i0;
    const float* zc = z + i0;
    for (int64_t i = 0; i < len; ++i) yc[i] += zc[i];
    applyConvActivation(act, yc, len, 1);
  };
  if (chunks > 0) mobileParallelFor(chunks, threads > 1 && n > 65536 ? threads : 1, chunk);
}

}  // namespace

// Z is added in a sweep right after the conv (one sequential read of Z while Y is still in cache),
// not in the kernels' registers before their store. Both were built and measured in the generator,
// where Z is an encoder output written long before (read from memory): per-node profile, best of 40,
// 1 thread, 256x256, its three upsamplings + skip Adds took 0.19 + 0.08 / 0.30 + 0.13 / 0.53 + 0.27 ms
// as two nodes, 0.31 / 0.59-0.64 / 0.96-1.16 ms with Z in convTransposeUp's registers (Z read in
// short runs per output row stalls the kernel) and 0.24-0.25 / 0.34-0.37 / 0.59-0.67 ms with the sweep;
// the residual generator's 16->3 output conv + Add: 0.58-0.64 as two nodes, 0.63-0.67 with Z in the
// direct flat kernel's registers, 0.57-0.59 with the sweep.
void conv2dResidual(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                    const ConvActivation* act) {
  if (!z) return conv2d(g, x, w, bias, y, threads, act);
  threads = std::max(threads, 1);
  // The 1x1 mobile kernel takes Z in registers (z may be y itself): PFLD's 9 residual Adds then cost
  // no pass of their own.
  const bool pointwise = g.plainPointwise();
  if (pointwise && !(g.group == g.c && g.group == g.m) && conv2dPointwiseFast(g, x, w, bias, y, threads, act ? *act : ConvActivation{}, z)) return;
  conv2d(g, x, w, bias, y, threads, nullptr);
  addResidual(act ? *act : ConvActivation{}, z, y, g.n * g.m * g.oh * g.ow, threads);
}

void conv2dPooled(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                  const ConvActivation* act) {
  threads = std::max(threads, 1);
  const ConvActivation none;
  const ConvActivation& a = act ? *act : none;
  if (!z && conv2dDepthwiseFast(g, x, w, bias, y, threads, a, true)) return;
  const int64_t planes = g.n * g.m, ph = g.oh / 2, pw = g.ow / 2;
  const std::unique_ptr<float[]> full(new float[static_cast<size_t>(planes * g.oh * g.ow)]);
  conv2dResidual(g, x, w, bias, z, full.get(), threads, act);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < ph; ++r) {
      const float* r0 = full.get() + (p * g.oh + 2 * r) * g.ow;
      maxPool2x2Stride2Row(r0, r0 + g.ow, y + (p * ph + r) * pw, pw);
    }
}

void convTranspose2dResidual(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                             int threads, const ConvActivation* act) {
  threads = std::max(threads, 1);
  if (convTransposeUpApplies(g)) convTransposeUp(g, x, w, bias, nullptr, y, threads, z ? nullptr : act);
  else convTranspose2d(g, x, w, bias, y, threads);
  if (z) addResidual(act ? *act : ConvActivation{}, z, y, g.n * g.m * g.oh * g.ow, threads);
  else if (act && !convTransposeUpApplies(g)) applyConvActivation(*act, y, g.n * g.m * g.oh * g.ow, threads);
}

ConvActivation parseConvActivation(const Attrs& attrs, const std::string& prefix) {
  ConvActivation a;
  const std::string act = attrs.getString(prefix + "activation", "");
  a.alpha = static_cast<float>(attrs.getFloat(prefix + "activation_alpha", 0.01));
  a.lo = static_cast<float>(attrs.getFloat(prefix + "activation_min", -3.4028234663852886e38));
  a.hi = static_cast<float>(attrs.getFloat(prefix + "activation_max", 3.4028234663852886e38));
  if (act.empty()) a.kind = ConvActivation::None;
  else if (act == "Relu") a.kind = ConvActivation::Relu;
  else if (act == "LeakyRelu") a.kind = ConvActivation::LeakyRelu;
  else if (act == "Tanh") a.kind = ConvActivation::Tanh;
  else if (act == "Sigmoid") a.kind = ConvActivation::Sigmoid;
  else if (act == "Clip") a.kind = ConvActivation::Clip;
  else throw Error(ErrorCode::Shape, "unsupported fused activation '" + act + "' (expected Relu, LeakyRelu, Tanh, Sigmoid or Clip)");  // (the caller names the node)
  return a;
}

bool parseConvPool(const Attrs& attrs) {
  const std::string pool = attrs.getString("pool", "");
  if (pool.empty()) return false;
  if (pool == "MaxPool2x2") return true;
  throw Error(ErrorCode::Shape, "unsupported fused pool '" + pool + "' (expected MaxPool2x2)");  // (the caller names the node)
}

}  // namespace facestyle::cpu

namespace facestyle {

namespace {

// What a conv node's attributes say, parsed on its first run and kept in its context.
struct ConvNodeState {
  cpu::ConvAttrs attrs;
  cpu::ConvActivation act;
  bool pool = false;  // Conv2D only: a fused 2x2 / stride-2 max pool after the activation (attribute pool = 'MaxPool2x2')
};

template <bool Transposed>
void convKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() >= 2 && ctx.inputs.size() <= 4 && ctx.outputs.size() == 1, "expects 2 to 4 inputs (X, W, B, Z) and 1 output");
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const bool hasBias = ctx.hasInput(2);
  cpu::ConvGeometry g;
  const ConvNodeState* state = nullptr;
  try {
    state = &kernelState<ConvNodeState>(ctx, [&] {
      // (Only Conv2D carries a fused activation.)
      ConvNodeState s{cpu::parseConvAttrs(ctx.attrs(), Transposed), Transposed ? cpu::ConvActivation{} : cpu::parseConvActivation(ctx.attrs(), "")};
      s.pool = !Transposed && cpu::parseConvPool(ctx.attrs());
      return s;
    });
    const Shape* b = hasBias ? &ctx.in(2).shape : nullptr;
    g = Transposed ? cpu::convTranspose2DGeometry(x.shape, w.shape, b, state->attrs) : cpu::conv2DGeometry(x.shape, w.shape, b, state->attrs);
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
  Tensor& y = ctx.out(0);
  // (Compared dimension by dimension: a Shape built for the comparison was an allocation per run.)
  auto isShape = [&g](const Shape& s, int64_t h, int64_t w) { return s.size() == 4 && s[0] == g.n && s[1] == g.m && s[2] == h && s[3] == w; };
  auto isConvShape = [&](const Shape& s) { return isShape(s, g.oh, g.ow); };
  auto convShape = [&g] { return shapeToString(Shape{g.n, g.m, g.oh, g.ow}); };
  const bool pool = state->pool;
  if (pool) {
    FACESTYLE_REQUIRE(ctx, g.oh >= 2 && g.ow >= 2, "a fused 2x2 max pool needs a conv output of at least 2x2 but it is " + convShape());
    FACESTYLE_REQUIRE(ctx, isShape(y.shape, g.oh / 2, g.ow / 2),
                      "expected output shape " + shapeToString(Shape{g.n, g.m, g.oh / 2, g.ow / 2}) + " (pooled) but the plan has " + shapeToString(y.shape));
  } else {
    FACESTYLE_REQUIRE(ctx, isConvShape(y.shape), "expected output shape " + convShape() + " but the plan has " + shapeToString(y.shape));
  }
  const float* bias = hasBias ? ctx.in(2).data : nullptr;
  // Z: the residual input the fuseResidualAdd pass gave the conv (an Add of a tensor of the conv's shape).
  const float* z = nullptr;
  if (ctx.hasInput(3)) {
    FACESTYLE_REQUIRE(ctx, isConvShape(ctx.in(3).shape), "expected residual input Z of shape " + convShape() + " but received " + shapeToString(ctx.in(3).shape));
    z = ctx.in(3).data;
  }
  if (Transposed) return cpu::convTranspose2dResidual(g, x.data, w.data, bias, z, y.data, ctx.threads);
  if (pool) return cpu::conv2dPooled(g, x.data, w.data, bias, z, y.data, ctx.threads, &state->act);
  cpu::conv2dResidual(g, x.data, w.data, bias, z, y.data, ctx.threads, &state->act);
}

}  // namespace

void registerCpuConvKernels() {
  registerKernel(OpKind::Conv2D, Device::CPU, convKernel<false>);
  registerKernel(OpKind::ConvTranspose2D, Device::CPU, convKernel<true>);
}

}  // namespace facestyle
