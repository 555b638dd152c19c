// Direct Conv2D over flattened, zero-padded "phase planes": the general dense path for kernels larger
// than 1x1 (3x3 generator layers at every channel count, stride-2 downsamples, RGB stems and heads).
// Shared by the scalar, AVX2 and AVX-512 builds (conv_direct*.cc include it after setting the vector
// width and register blocking; see conv_direct.h for DVec / activate).
//
// Layout: for strides (sh, sw) every input channel is copied, zero-padded, into sh*sw phase planes;
// phase (py, px) holds padded pixels (a*sh + py, b*sw + px) at flat index a*wq + b. Output (oy, ox)
// gets flat index q = oy*wq + ox, and tap (ky, kx) reads phase ((ky*dh)%sh, (kx*dw)%sw) at
// q + ((ky*dh)/sh)*wq + (kx*dw)/sw: one constant offset per tap for every output. So a block of
// consecutive q is a few contiguous vector loads per tap, with no bounds checks and no edge code,
// whatever the stride, dilation or padding. wq = ow + (widest tap shift), so each output row carries
// a few extra columns that are computed and dropped (2 of 34 on a 32-wide map).
//
// Each task is MB output channels x U vectors of q; it keeps MB*U accumulators in registers over all
// (ci, ky, kx) taps (input vectors loaded once per tap, weights broadcast), then adds nothing more:
// bias is the accumulators' start value and the fused activation is applied in registers before the
// one store. Unlike im2col + GEMM nothing of size K x P is written or packed.
// conv2d() in conv.cc decides when this runs; test_conv_algos.cc checks it against conv2dReference.
// No std containers here (plain new[] buffers): this header is compiled with AVX2 / AVX-512 flags, and
// an out-of-line std::vector<int64_t> member emitted here could be the copy the linker keeps for every
// file (Shape is a std::vector<int64_t>), running AVX-512 code on machines without it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "cpu/conv_direct.h"
#include "cpu/mobile_pool.h"

#ifndef FACESTYLE_FLAT_MB
#define FACESTYLE_FLAT_MB FACESTYLE_DIRECT_MB
#endif
#ifndef FACESTYLE_FLAT_U
#define FACESTYLE_FLAT_U FACESTYLE_DIRECT_U
#endif

namespace facestyle::cpu {
namespace {

// Sizes of the phase-plane layout of one convolution (see the file comment).
struct FlatLayout {
  int64_t wq = 0;          // flat row length (phase row) = ow + widest horizontal tap shift
  int64_t q = 0;           // flat outputs computed per (image, channel block): oh * wq rounded up to a block
  int64_t rows = 0;        // phase rows stored per plane (covers every read of every computed q)
  int64_t plane = 0;       // floats per phase plane = rows * wq
  int64_t phases = 0;      // sh * sw
  int64_t chan = 0;        // floats per input channel = phases * plane
};

inline FlatLayout flatLayout(const ConvGeometry& g, int64_t blockCols) {
  const Window2D& v = g.win;
  FlatLayout f;
  const int64_t shiftX = ((g.kw - 1) * v.dw) / v.sw, shiftY = ((g.kh - 1) * v.dh) / v.sh;
  f.wq = g.ow + shiftX;
  f.q = (g.oh * f.wq + blockCols - 1) / blockCols * blockCols;
  // The farthest read is (q - 1) + shiftY * wq + shiftX; rows up to it are stored (zeros past the image).
  const int64_t reach = f.q + shiftY * f.wq + shiftX;
  f.rows = (reach + f.wq - 1) / f.wq;
  f.plane = f.rows * f.wq;
  f.phases = v.sh * v.sw;
  f.chan = f.phases * f.plane;
  return f;
}

// Copies X into phase planes: xq[(n*c + ci)*chan + (py*sw + px)*plane + a*wq + b] = padded(a*sh + py, b*sw + px).
inline void flatPackInput(const ConvGeometry& g, const FlatLayout& f, const float* x, float* xq, int threads) {
  const Window2D& v = g.win;
  const int64_t sw = v.sw, jobs = g.n * g.c * v.sh, span = f.wq * sw;  // padded columns a phase row set covers
  // Jobs in chunks on the mobile pool (mobile_pool.h: no OpenMP wake-up and barrier per layer); a
  // padded-row buffer per chunk (a bad_alloc is rethrown by the pool to the caller).
  const int64_t rowLen = sw > 1 ? span : 1;
  auto jobRange = [&](int64_t job0, int64_t jobEnd) {
    const std::unique_ptr<float[]> rowBuf(new float[static_cast<size_t>(rowLen)]);
    float* const row = rowBuf.get();
    for (int64_t job = job0; job < jobEnd; ++job) {
      const int64_t py = job % v.sh, pl = job / v.sh;
      const float* src = x + pl * g.h * g.w;
      float* dst = xq + pl * f.chan + py * sw * f.plane;  // phase (py, px) at dst + px * plane
      // Padded columns j in [0, span) hold input column j - pl where that lies in [0, w).
      const int64_t jlo = std::min(span, v.pl), jhi = std::max(jlo, std::min(span, v.pl + g.w));
      for (int64_t a = 0; a < f.rows; ++a) {
        const int64_t iy = a * v.sh + py - v.pt;
        if (iy < 0 || iy >= g.h) {
          for (int64_t px = 0; px < sw; ++px) std::fill(dst + px * f.plane + a * f.wq, dst + px * f.plane + (a + 1) * f.wq, 0.f);
          continue;
        }
        // The padded row (straight into place for stride 1), then for strides > 1 its phases. (Reading
        // each phase with a strided loop straight from X instead measured 10-20% slower at stride 2.)
        const float* s = src + iy * g.w - v.pl;  // s[j] is padded column j
        float* d = sw == 1 ? dst + a * f.wq : row;
        std::fill(d, d + jlo, 0.f);
        std::memcpy(d + jlo, s + jlo, static_cast<size_t>(jhi - jlo) * sizeof(float));
        std::fill(d + jhi, d + span, 0.f);
        if (sw == 2) {
          // De-interleave even / odd columns (a loop the compiler vectorises with permutes).
          float* d0 = dst + a * f.wq;
          float* d1 = d0 + f.plane;
          for (int64_t b = 0; b < f.wq; ++b) d0[b] = d[2 * b], d1[b] = d[2 * b + 1];
        } else if (sw > 2) {
          for (int64_t px = 0; px < sw; ++px) {
            float* dp = dst + px * f.plane + a * f.wq;
            for (int64_t b = 0; b < f.wq; ++b) dp[b] = d[b * sw + px];
          }
        }
      }
    }
  };
  mobileParallelRanges(jobs, threads > 1 && jobs * f.plane * sw > 65536 ? threads : 1, 4, jobRange);
}

// KT: taps per channel known at compile time (9 for 3x3, so the tap loop unrolls), 0 = any.
template <int64_t kMB, int64_t kU, int64_t KT>
void flatConvBlocked(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                     const ConvActivation& act) {
  constexpr int64_t kCols = kDLanes * kU;
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), khw = KT ? KT : g.kh * g.kw, taps = cg * khw;
  const int64_t mblocks = (mg + kMB - 1) / kMB;
  const int nt = threads < 1 ? 1 : threads;
  const FlatLayout f = flatLayout(g, kCols);

  float* const xq = convScratch(0, static_cast<size_t>(g.n * g.c * f.chan));
  flatPackInput(g, f, x, xq, nt);

  // Weights per (group, block of MB output channels): [ci][tap][MB], zeros past the last channel.
  const std::unique_ptr<float[]> wq = packWeightBlocks(g, w, taps, kMB);

  // Offset of each tap from its output's flat index.
  const std::unique_ptr<int64_t[]> offsets(new int64_t[static_cast<size_t>(khw)]);
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t oy = ky * v.dh, ox = kx * v.dw;
      offsets[ky * g.kw + kx] = ((oy % v.sh) * v.sw + ox % v.sw) * f.plane + (oy / v.sh) * f.wq + ox / v.sw;
    }
  const int64_t* off = offsets.get();
  // Distinct rows the taps read (one offset per (phase, row shift)), for the prefetch below.
  const std::unique_ptr<int64_t[]> rowOffsets(new int64_t[static_cast<size_t>(khw)]);
  int64_t prefetchRows = 0;
  for (int64_t k = 0; k < khw; ++k) {
    const int64_t rowStart = off[k] - (off[k] % f.plane) % f.wq;  // the tap's row within its phase plane
    bool seen = false;
    for (int64_t r = 0; r < prefetchRows; ++r) seen = seen || rowOffsets[r] == rowStart;
    if (!seen) rowOffsets[prefetchRows++] = rowStart;
  }
  const int64_t* prefetchOff = rowOffsets.get();

  const int64_t qblocks = f.q / kCols, plane = g.oh * g.ow;
  const int64_t tasks = g.n * g.group * qblocks * mblocks;
  // Threads only for enough work (4M multiply-adds): see directConvBlocked.
  const bool parallel = nt > 1 && tasks > 1 && tasks * kCols * kMB * taps > (int64_t(1) << 22);
  // Contiguous runs of tasks on the mobile pool (mobile_pool.h), 8 per thread, claimed one at a time:
  // no OpenMP wake-up and barrier per layer, and a late helper takes fewer runs instead of holding the
  // layer up.
  auto run = [&](int64_t t0, int64_t tEnd) {
    for (int64_t t = t0; t < tEnd; ++t) {
      // Channel blocks innermost: consecutive tasks read the same input while it is in cache.
      const int64_t mb = t % mblocks, qb = (t / mblocks) % qblocks, ng = t / (mblocks * qblocks);
      const int64_t grp = ng % g.group, n = ng / g.group;
      const int64_t m0 = mb * kMB, mcount = std::min(kMB, mg - m0), q0 = qb * kCols;
      const float* wb = wq.get() + (grp * mblocks + mb) * taps * kMB;
      const float* xin = xq + (n * g.c + grp * cg) * f.chan + q0;
      DVec acc[kMB][kU];
      for (int64_t i = 0; i < kMB; ++i) {
        const float b = bias && i < mcount ? bias[grp * mg + m0 + i] : 0.f;
        for (int64_t u = 0; u < kU; ++u) acc[i][u] = splat(b);
      }
      // The first channel block of a column block brings its input in from L3 / memory (the later
      // blocks find it in L1): there, prefetch the input rows of the column block two ahead, one
      // prefetch per cache line (each phase row of each kernel row; taps of one row share lines).
      const bool prefetch = mb == 0 && qb + 2 < qblocks;
      for (int64_t ci = 0; ci < cg; ++ci) {
        const float* xc = xin + ci * f.chan;
        const float* wc = wb + ci * khw * kMB;
        if (prefetch)
          for (int64_t r = 0; r < prefetchRows; ++r)
            for (int64_t u = 0; u < kCols; u += 16) __builtin_prefetch(xc + prefetchOff[r] + 2 * kCols + u);
        for (int64_t k = 0; k < khw; ++k) {
          const float* xr = xc + off[k];
          DVec xv[kU];
          for (int64_t u = 0; u < kU; ++u) xv[u] = dload(xr + u * kDLanes);
          for (int64_t i = 0; i < kMB; ++i) {
            const DVec wv = splat(wc[k * kMB + i]);
            for (int64_t u = 0; u < kU; ++u) acc[i][u] += wv * xv[u];
          }
        }
      }
      if (act.kind != ConvActivation::None)
        for (int64_t i = 0; i < kMB; ++i)
          for (int64_t u = 0; u < kU; ++u) acc[i][u] = activate(act, acc[i][u]);
      // Store: a vector inside one output row goes out whole; one that crosses a row end (or runs past
      // the last row) lane by lane, dropping the wq - ow extra columns.
      float* yb = y + (n * g.m + grp * mg + m0) * plane;
      int64_t oy = q0 / f.wq, ox = q0 % f.wq;
      for (int64_t u = 0; u < kU; ++u) {
        if (oy >= g.oh) break;
        if (ox + kDLanes <= g.ow) {
          for (int64_t i = 0; i < mcount; ++i) std::memcpy(yb + i * plane + oy * g.ow + ox, &acc[i][u], sizeof(DVec));
        } else {
          for (int64_t i = 0; i < mcount; ++i) {
            float lanes[kDLanes];
            std::memcpy(lanes, &acc[i][u], sizeof lanes);
            int64_t ry = oy, rx = ox;
            for (int64_t l = 0; l < kDLanes; ++l) {
              if (rx < g.ow && ry < g.oh) yb[i * plane + ry * g.ow + rx] = lanes[l];
              if (++rx == f.wq) rx = 0, ++ry;
            }
          }
        }
        ox += kDLanes;
        while (ox >= f.wq) ox -= f.wq, ++oy;
      }
    }
  };
  mobileParallelRanges(tasks, parallel ? nt : 1, 8, run);
}

template <int64_t kMB, int64_t kU>
void flatConvTaps(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                  const ConvActivation& act) {
  if (g.kh * g.kw == 9) return flatConvBlocked<kMB, kU, 9>(g, x, w, bias, y, threads, act);
  return flatConvBlocked<kMB, kU, 0>(g, x, w, bias, y, threads, act);
}

// Picks the register blocking for the layer's output channels per group: full blocks of
// FACESTYLE_FLAT_MB channels, or for fewer channels (an RGB head) a narrower, longer block so that
// no accumulator computes a channel that does not exist.
inline void flatConvAll(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                        const ConvActivation* actOrNull) {
  const ConvActivation act = actOrNull ? *actOrNull : ConvActivation{};
  constexpr int64_t MB = FACESTYLE_FLAT_MB, U = FACESTYLE_FLAT_U, A = MB * U;
  const int64_t mg = g.mg();
  if (mg >= MB) return flatConvTaps<MB, U>(g, x, w, bias, y, threads, act);
  switch (mg) {
    case 1: return flatConvTaps<1, A < 8 ? A : 8>(g, x, w, bias, y, threads, act);
    case 2: return flatConvTaps<2, A / 2 < 8 ? A / 2 : 8>(g, x, w, bias, y, threads, act);
    case 3: return flatConvTaps<3, A / 3 < 8 ? A / 3 : 8>(g, x, w, bias, y, threads, act);
    case 4: return flatConvTaps<4, A / 4 < 6 ? A / 4 : 6>(g, x, w, bias, y, threads, act);
    default: return flatConvTaps<MB, U>(g, x, w, bias, y, threads, act);
  }
}

}  // namespace
}  // namespace facestyle::cpu
