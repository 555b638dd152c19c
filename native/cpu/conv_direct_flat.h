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

// Writes phase row a of input-row phase py of one channel (padded rows a*sh + py, every column
// phase px) at dstPy + px * plane + aOut * wq, where dstPy is the channel's phase (py, 0) plane. src is
// the channel's input plane; row is scratch for sw * wq floats (strides > 2 only).
inline void flatPackRow(const ConvGeometry& g, int64_t wq, int64_t plane, const float* src, int64_t py, int64_t a,
                        float* dstPy, int64_t aOut, float* row) {
  const Window2D& v = g.win;
  const int64_t sw = v.sw, span = wq * sw;  // padded columns a phase row set covers
  const int64_t iy = a * v.sh + py - v.pt;
  if (iy < 0 || iy >= g.h) {
    for (int64_t px = 0; px < sw; ++px) std::fill(dstPy + px * plane + aOut * wq, dstPy + px * plane + (aOut + 1) * wq, 0.f);
    return;
  }
  // Padded columns j in [0, span) hold input column j - pl where that lies in [0, w).
  const int64_t jlo = std::min(span, v.pl), jhi = std::max(jlo, std::min(span, v.pl + g.w));
  const float* s = src + iy * g.w - v.pl;  // s[j] is padded column j (for j in [jlo, jhi))
  if (sw == 2) {
    // Both phases straight from the input row: entries b whose two columns 2b, 2b + 1 both lie in
    // the row, [blo, bhi), by a loop the compiler vectorises (two loads, two permutes per 16 pairs);
    // the few entries around them one by one. (The earlier copy of the padded row into scratch
    // followed by the same de-interleave from scratch stalled on the scratch loads: they waited for
    // the copy's stores, 20% of the enc1 16->32 stride-2 layer at 256.)
    float* d0 = dstPy + aOut * wq;
    float* d1 = d0 + plane;
    const int64_t blo = std::min(wq, (jlo + 1) / 2), bhi = std::max(blo, std::min(wq, jhi / 2));
    auto padded = [&](int64_t j) { return j >= jlo && j < jhi ? s[j] : 0.f; };
    for (int64_t b = 0; b < blo; ++b) d0[b] = padded(2 * b), d1[b] = padded(2 * b + 1);
    for (int64_t b = blo; b < bhi; ++b) d0[b] = s[2 * b], d1[b] = s[2 * b + 1];
    for (int64_t b = bhi; b < wq; ++b) d0[b] = padded(2 * b), d1[b] = padded(2 * b + 1);
    return;
  }
  // The padded row (straight into place for stride 1), then for strides > 2 its phases.
  float* d = sw == 1 ? dstPy + aOut * wq : row;
  std::fill(d, d + jlo, 0.f);
  std::memcpy(d + jlo, s + jlo, static_cast<size_t>(jhi - jlo) * sizeof(float));
  std::fill(d + jhi, d + span, 0.f);
  if (sw > 2) {
    for (int64_t px = 0; px < sw; ++px) {
      float* dp = dstPy + px * plane + aOut * wq;
      for (int64_t b = 0; b < wq; ++b) dp[b] = d[b * sw + px];
    }
  }
}

// Copies X into phase planes: xq[(n*c + ci)*chan + (py*sw + px)*plane + a*wq + b] = padded(a*sh + py, b*sw + px).
inline void flatPackInput(const ConvGeometry& g, const FlatLayout& f, const float* x, float* xq, int threads) {
  const Window2D& v = g.win;
  const int64_t sw = v.sw, jobs = g.n * g.c * v.sh;
  // Jobs in chunks on the mobile pool (mobile_pool.h: no OpenMP wake-up and barrier per layer); a
  // padded-row buffer per chunk (a bad_alloc is rethrown by the pool to the caller).
  const int64_t rowLen = sw > 2 ? f.wq * sw : 1;
  auto jobRange = [&](int64_t job0, int64_t jobEnd) {
    const std::unique_ptr<float[]> rowBuf(new float[static_cast<size_t>(rowLen)]);
    for (int64_t job = job0; job < jobEnd; ++job) {
      const int64_t py = job % v.sh, pl = job / v.sh;
      float* dst = xq + pl * f.chan + py * sw * f.plane;
      for (int64_t a = 0; a < f.rows; ++a) flatPackRow(g, f.wq, f.plane, x + pl * g.h * g.w, py, a, dst, a, rowBuf.get());
    }
  };
  mobileParallelRanges(jobs, threads > 1 && jobs * f.plane * sw > 65536 ? threads : 1, 4, jobRange);
}

// Row bands: with several threads, a layer whose packed input would be large (more than
// kFlatBandMinBytes; the generator's 16-channel layers at 256x256 pack 4.2 MB) packs it band by band
// instead, each task copying the input rows of one band of output rows into its thread's scratch
// (about kFlatBandBytes, so L2-sized) and computing that band right away. The whole-input pack writes
// the padded copy out to L3 and the kernel reads it back from there, which two threads doing at once
// are bound by; a band is written and read in L2, at the price of packing the halo rows (shiftY) of
// each band twice. Measured with bench_conv (AVX-512, medians, best 3 of 6 interleaved runs), the
// generator's layers at 256, whole / banded, two threads: enc1 16->32 s2 0.60 / 0.48 ms, enc2 32->64 s2
// 0.52 / 0.42, dec0 32->16 0.47 / 0.37, head0 16->16 0.89 / 0.78, enc3 64->96 s2 0.41 / 0.35 (an earlier
// rule gave enc1 15 bands, one thread a band more, and it came out 6% slower than the whole pack: hence
// a multiple of the threads). One thread: 4-12% slower banded (the halo, and the whole-input walk's
// prefetch from L3 has nothing to hide in L2), so one thread keeps the whole pack.
constexpr int64_t kFlatBandMinBytes = int64_t(1) << 20;
constexpr int64_t kFlatBandBytes = int64_t(384) << 10;

// Output rows per band for this layer at `threads`, or 0 to pack the whole input at once (one thread,
// small inputs, or bands so short that their halo rows would be most of the copying).
inline int64_t flatBandRows(const ConvGeometry& g, const FlatLayout& f, int threads) {
  if (threads < 2 || g.n * g.c * f.chan * int64_t(sizeof(float)) <= kFlatBandMinBytes) return 0;
  const int64_t phaseRowBytes = g.cg() * f.phases * f.wq * int64_t(sizeof(float));  // one a-row of every phase and channel
  const int64_t shiftY = ((g.kh - 1) * g.win.dh) / g.win.sh, minRows = 2 * (shiftY + 1);
  const int64_t maxRows = kFlatBandBytes / std::max<int64_t>(phaseRowBytes, 1) - shiftY - 1;  // 1: the block rounding's overhang
  if (maxRows < minRows) return 0;
  // At least 4 bands per thread, and a multiple of the thread count: equal bands, equal shares.
  int64_t bands = std::max<int64_t>((g.oh + maxRows - 1) / maxRows, 4 * int64_t(threads));
  bands = (bands + threads - 1) / threads * threads;
  const int64_t rows = (g.oh + bands - 1) / bands;
  return rows < minRows ? 0 : rows;
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
  const FlatLayout whole = flatLayout(g, kCols);
  // Threads only for enough work (4M multiply-adds): see directConvBlocked. Bands only with threads.
  const bool enoughWork = g.n * g.group * g.oh * whole.wq * mg * taps > (int64_t(1) << 22);
  const int64_t bandRows = enoughWork ? flatBandRows(g, whole, nt) : 0;
  // The layout the kernel reads: the whole input's, or one band's (bandRows output rows, the same wq).
  FlatLayout f = whole;
  if (bandRows > 0) {
    const int64_t shiftY = ((g.kh - 1) * v.dh) / v.sh, shiftX = whole.wq - g.ow;
    f.q = (bandRows * f.wq + kCols - 1) / kCols * kCols;
    f.rows = (f.q + shiftY * f.wq + shiftX + f.wq - 1) / f.wq;  // the farthest read, as in flatLayout
    f.plane = f.rows * f.wq;
    f.chan = f.phases * f.plane;
  }

  float* xq = nullptr;
  if (bandRows == 0) {
    xq = convScratch(0, static_cast<size_t>(g.n * g.c * f.chan));
    flatPackInput(g, f, x, xq, nt);
  }

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
  const int64_t plane = g.oh * g.ow;

  // One register block: output channels m0.. of group grp x kCols flat outputs from q0 (an index into
  // the layout f, whose flat row 0 is output row oyBase), input channels of the group at xg; outputs
  // on rows at or past oyEnd are dropped. prefetch: bring in the input two blocks ahead (the first
  // channel block of a column block reads its input from L3 / memory when the whole input was packed;
  // the later blocks find it in L1): one prefetch per cache line, each phase row of each kernel row.
  auto block = [&](int64_t n, int64_t grp, int64_t mb, const float* xg, int64_t q0, int64_t oyBase, int64_t oyEnd,
                   bool prefetch) {
    const int64_t m0 = mb * kMB, mcount = std::min(kMB, mg - m0);
    const float* wb = wq.get() + (grp * mblocks + mb) * taps * kMB;
    const float* xin = xg + q0;
    DVec acc[kMB][kU];
    for (int64_t i = 0; i < kMB; ++i) {
      const float b = bias && i < mcount ? bias[grp * mg + m0 + i] : 0.f;
      for (int64_t u = 0; u < kU; ++u) acc[i][u] = splat(b);
    }
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
    // Store: a vector inside one output row goes out whole; one that crosses one row end as two
    // pieces (the lanes before the row end, the lanes from the next row's start; the wq - ow columns
    // between them dropped); one that crosses more (rows narrower than a vector) or runs past the last
    // row lane by lane. (Lane by lane everywhere cost 5% of the 16->16 layer at 256.)
    float* yb = y + (n * g.m + grp * mg + m0) * plane;
    int64_t oy = oyBase + q0 / f.wq, ox = q0 % f.wq;
    for (int64_t u = 0; u < kU; ++u) {
      if (oy >= oyEnd) break;
      const int64_t next = f.wq - ox;  // the first lane on row oy + 1
      if (ox + kDLanes <= g.ow) {
        for (int64_t i = 0; i < mcount; ++i) std::memcpy(yb + i * plane + oy * g.ow + ox, &acc[i][u], sizeof(DVec));
      } else if (next + g.ow >= kDLanes && oy + 1 < oyEnd) {
        const int64_t here = std::max<int64_t>(0, g.ow - ox);  // lanes [0, here) end row oy
        for (int64_t i = 0; i < mcount; ++i) {
          float* rowEnd = yb + i * plane + oy * g.ow + ox;
          if (here > 0) storeLanes(rowEnd, acc[i][u], 0, here);
          if (next < kDLanes) storeLanes(yb + i * plane + (oy + 1) * g.ow, acc[i][u], next, kDLanes);
        }
      } else {
        for (int64_t i = 0; i < mcount; ++i) {
          float lanes[kDLanes];
          std::memcpy(lanes, &acc[i][u], sizeof lanes);
          int64_t ry = oy, rx = ox;
          for (int64_t l = 0; l < kDLanes; ++l) {
            if (rx < g.ow && ry < oyEnd) yb[i * plane + ry * g.ow + rx] = lanes[l];
            if (++rx == f.wq) rx = 0, ++ry;
          }
        }
      }
      ox += kDLanes;
      while (ox >= f.wq) ox -= f.wq, ++oy;
    }
  };

  if (bandRows > 0) {
    // Tasks = (image, group, band); each packs its band into its thread's scratch, then computes it,
    // channel blocks innermost (they share the band's input in L1 / L2).
    const int64_t bands = (g.oh + bandRows - 1) / bandRows, tasks = g.n * g.group * bands;
    const int64_t rowLen = v.sw > 2 ? f.wq * v.sw : 1;
    auto run = [&](int64_t t0, int64_t tEnd) {
      float* const band = convScratch(1, static_cast<size_t>(cg * f.chan + rowLen));
      float* const row = band + cg * f.chan;
      for (int64_t t = t0; t < tEnd; ++t) {
        const int64_t bi = t % bands, ng = t / bands, grp = ng % g.group, n = ng / g.group;
        const int64_t oy0 = bi * bandRows, oy1 = std::min(g.oh, oy0 + bandRows);
        for (int64_t ci = 0; ci < cg; ++ci) {
          const float* src = x + (n * g.c + grp * cg + ci) * g.h * g.w;
          // Input rows in order (a outer, the row phase py inner), one sequential read of the band.
          for (int64_t a = 0; a < f.rows; ++a)
            for (int64_t py = 0; py < v.sh; ++py)
              flatPackRow(g, f.wq, f.plane, src, py, oy0 + a, band + ci * f.chan + py * v.sw * f.plane, a, row);
        }
        const int64_t qEnd = (oy1 - oy0) * f.wq;
        for (int64_t q0 = 0; q0 < qEnd; q0 += kCols)
          for (int64_t mb = 0; mb < mblocks; ++mb) block(n, grp, mb, band, q0, oy0, oy1, false);
      }
    };
    return mobileParallelRanges(tasks, nt, 16, run);  // one band per claim
  }

  const int64_t qblocks = f.q / kCols;
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
      block(n, grp, mb, xq + (n * g.c + grp * cg) * f.chan, qb * kCols, 0, g.oh, mb == 0 && qb + 2 < qblocks);
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
  if (mg >= MB) {
    // Small planes: blocks one vector narrower where that computes at least a fifth fewer vectors
    // (the flat outputs are walked in whole blocks; PFLD's 16->32 stride 2 at 14x14 has 56 of them:
    // 6 vectors of 3-vector blocks, 4 of 2-vector ones).
    if constexpr (U > 1) {
      const int64_t shiftX = ((g.kw - 1) * g.win.dw) / g.win.sw;
      const int64_t vecs = (g.oh * (g.ow + shiftX) + kDLanes - 1) / kDLanes;
      const int64_t wide = (vecs + U - 1) / U * U, narrow = (vecs + U - 2) / (U - 1) * (U - 1);
      if (5 * narrow <= 4 * wide) return flatConvTaps<MB, U - 1>(g, x, w, bias, y, threads, act);
    }
    return flatConvTaps<MB, U>(g, x, w, bias, y, threads, act);
  }
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
