// A pointwise (1x1) conv fused with the depthwise 3x3 "same" conv that reads it (the units of MobileNet-
// style models: YuNet's 1x1 + 3x3 depthwise pairs, PFLD's expansion + depthwise), one copy per SIMD level
// (see conv_mobile_common.h; included after conv_pointwise_kernels.h and conv_depthwise_kernels.h).
//
//   T = act1(W1 X + b1)            X [C, H, W], T [M, H, W] (1x1, stride 1, no pads, group 1)
//   Y = act2(depthwise3x3(T) + b2)  Y [M, H, W] (or its 2x2 / stride-2 max pool, as fusePoolIntoConv makes)
//
// T is never written whole: a thread computes a band of its rows (all of its channels) into a buffer that
// stays in L2, and the depthwise strips read the band from there, carrying their partial sums to the next
// band (depthwise3x3SameRows, `resume`), so each row of T is computed once, but for the first band of
// each chunk of rows, which computes again the two rows of T at its top edge that the chunk above also
// computes. Unfused, T went to memory and came back (YuNet-n at 512: 4 MB each way for each 64-channel
// 128x128 pair) and, split across the two cores differently by the two layers, half of it came from the
// other core.
// Threads split the layer into bands of rows (each thread all channels of its rows: the depthwise output
// rows it writes are its own cache lines when rows start on line boundaries) or, on small planes, into
// ranges of channels (each thread all rows of its channels, reading all of X).
// The CPU reference it is tested against: conv2dReference for each layer, in
// native/test/test_conv_mobile.cc at every SIMD level.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "cpu/conv_mobile_common.h"

namespace facestyle::cpu {
namespace {

// Whether the fused kernel takes this pair (the same answer at every SIMD level): pg a 1x1 stride-1
// unpadded conv with one group and at most 1024 input channels; dg a depthwise 3x3 conv on its output with
// stride 1, no dilation and pad 1 on every side (the bands read the row above and below each output row),
// both activations applied in registers.
inline bool pointwiseDepthwiseApplies(const ConvGeometry& pg, const ConvGeometry& dg, const ConvActivation& a1, const ConvActivation& a2,
                                      bool pool) {
  return pg.plainPointwise() && pg.group == 1 && pg.c >= 1 && pg.c <= 1024 && dg.n == pg.n && dg.c == pg.m && dg.m == pg.m && dg.group == pg.m && dg.h == pg.oh &&
         dg.w == pg.ow && depthwise3x3SameApplies(dg) && dg.win.pt == 1 && dg.oh == dg.h && activationInRegisters(a1) &&
         activationInRegisters(a2) && (!pool || depthwisePooledApplies(dg, a2));
}

// Output rows a thread's band of rows starts on, so that the rows it writes start on a cache line
// (16 floats) in every output plane; 0 when no such split exists (the planes themselves do not start on
// lines, or the rows never line up in a useful way).
inline int64_t pwdwLineRows(const ConvGeometry& dg, bool pool) {
  const int64_t rowFloats = pool ? dg.ow / 2 : dg.ow, rows = pool ? dg.oh / 2 : dg.oh;
  if (rowFloats * rows % 16 != 0) return 0;
  const int64_t r = 16 / std::gcd<int64_t>(rowFloats, 16);  // output rows (pooled rows when pool) per line-aligned step
  return pool ? 2 * r : r;
}

// Rows of T a band holds: its buffer (all the thread's channels) about 512 KB, in L2 beside the rows of
// X it reads (bench_pwdw, 64->64 at 128x128: 192 KB 3 rows a band, 1.06 / 1.07x unfused at 1 / 2 threads;
// 512 KB 1.11 / 1.17x; 1 MB 1.04 / 1.06x).
constexpr int64_t kPwDwBandBytes = 512 * 1024;

// Output rows a band of pointwiseDepthwiseRows computes: its buffer of T (mc channels of rows W floats,
// the band's rows and the two above them) about bandBytes, at most `rows`, even with pool.
inline int64_t pwdwBandRows(int64_t bandBytes, int64_t mc, int64_t W, int64_t rows, bool pool) {
  int64_t band = std::min(bandBytes / (4 * mc * W) - 2, rows);
  if (pool) band &= ~int64_t(1);  // even: a pooled row pair never straddles two bands
  return std::max<int64_t>(band, pool ? 2 : 1);
}

// Output rows [r0, r1) (r0 even with pool) of the depthwise conv for channels [m0, m1) (m0 a multiple of
// Isa::MR) of one image (xn: its X, C planes of P floats), a band of rows of T at a time: each band's rows
// of T (its buffer about bandBytes, scratch slot 0), then the depthwise strips on them, which write channel
// c's output rows [oy0, oy1) at out(c, oy0) (the start of its plane: row oy at out(c, oy0) + oy * the
// output row length), then done(oy0, oy1).
template <typename Act1, typename Act2, typename Out, typename Done>
inline void pointwiseDepthwiseRows(const ConvGeometry& pg, const float* xn, const float* w1, const float* b1, const ConvActivation& a1,
                                   const Act1& act1, const ActRegs& regs1, const ConvGeometry& dg, const float* w2, const float* b2,
                                   const Act2& act2, bool pool, int64_t m0, int64_t m1, int64_t r0, int64_t r1, int64_t bandBytes, Out out,
                                   Done done) {
  constexpr int64_t MR = Isa::MR, NR = Isa::U * kL;
  const int64_t C = pg.c, H = dg.h, W = dg.w, P = H * W;
  const int64_t slices = (C + kKC - 1) / kKC, kc = (C + slices - 1) / slices;
  const int64_t stateFloats = depthwiseBandState(dg);
  const int64_t mc = m1 - m0;
  const int64_t band = pwdwBandRows(bandBytes, mc, W, r1 - r0, pool);
  const int64_t ldb = (band + 2) * W;  // floats per channel in the buffer: a band's rows and the two above it
  float* buf = convScratch(0, static_cast<size_t>(mc * (ldb + stateFloats)));
  float* state = buf + mc * ldb;
  for (int64_t oy0 = r0; oy0 < r1; oy0 += band) {
    const int64_t oy1 = std::min(r1, oy0 + band);
    const bool resume = oy0 > r0;
    // The rows of T the strips read for output rows [oy0, oy1): oy0 + 1 .. oy1, and oy0 - 1 and oy0 when
    // they start afresh (pad 1 above and below; rows outside the image are not read).
    const int64_t lo = std::max<int64_t>(0, resume ? oy0 + 1 : oy0 - 1), hi = std::min(H, oy1 + 1);
    for (int64_t p = lo * W; p < hi * W; p += NR) {
      const int64_t cols = std::min(NR, hi * W - p);
      if (2 * cols <= kL) {  // a narrow last block: the dot-product path, as in pointwiseConv
        const int64_t colsPad = (cols + 3) / 4 * 4;
        const float* xt = transposeNarrowBlock(xn + p, P, C, cols, colsPad);
        for (int64_t m = m0; m < m1; m += MR)
          pointwiseTailDot(xt, cols, colsPad, w1 + m * C, C, std::min(MR, m1 - m), b1 ? b1 + m : nullptr, nullptr, buf + (m - m0) * ldb + (p - lo * W),
                           ldb, a1);
        continue;
      }
      for (int64_t c0 = 0; c0 < C; c0 += kc) {
        const int64_t k = std::min(kc, C - c0);
        // The panel's rows are P floats apart; a dense copy when they alias in L1, as in pointwiseConv.
        const float* panel = xn + c0 * P + p;
        int64_t ldp = P;
        if (densePanelPays(P, cols, (m1 - m0 + MR - 1) / MR)) panel = copyPanel(panel, P, k), ldp = NR;
        for (int64_t m = m0; m < m1; m += MR)
          pointwiseTileCols(std::min(MR, m1 - m), panel, ldp, w1 + m * C + c0, C, k, b1 ? b1 + m : nullptr, nullptr,
                            buf + (m - m0) * ldb + (p - lo * W), ldb, cols, c0 > 0, c0 + k == C, act1, regs1);
      }
    }
    for (int64_t c = m0; c < m1; ++c) {
      const float* rows = rowZeroOf(buf + (c - m0) * ldb, lo, W);  // T's rows [lo, hi) of channel c
      const float bias = b2 ? b2[c] : 0.f;
      float* st = state + (c - m0) * stateFloats;
      if (pool) depthwise3x3SameRows<true>(dg, rows, hi, w2 + c * 9, bias, out(c, oy0), oy0, oy1, resume, st, act2);
      else depthwise3x3SameRows<false>(dg, rows, hi, w2 + c * 9, bias, out(c, oy0), oy0, oy1, resume, st, act2);
    }
    done(oy0, oy1);
  }
}

// pg, dg as pointwiseDepthwiseApplies; pool: y is the 2x2 / stride-2 max pool of the depthwise output.
inline void pointwiseDepthwiseConv(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                   const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y,
                                   int threads) {
  constexpr int64_t MR = Isa::MR;
  const int64_t C = pg.c, M = pg.m, P = dg.h * dg.w, oh = dg.oh;
  const int64_t outPlane = pool ? (dg.oh / 2) * (dg.ow / 2) : dg.oh * dg.ow;
  const int64_t mblocks = (M + MR - 1) / MR;
  const ActRegs regs1(a1);
  // Threads: bands of rows when each thread gets 12 rows or more and at least two line-aligned steps of
  // them, else ranges of channel blocks (YuNet-n 640, per-node: its 40x40 pairs split by rows 1.0-1.15x
  // the unfused pair, by channels 0.74-0.93x; its 20x20 pairs by channels 1.2-1.5x, by rows 0.96-1.1x).
  // By rows, a thread's rows of the output are mostly the rows it wrote of the input (the 1x1 layers
  // between split by columns), so less of the layer crosses between cores. PFLD's four 28x28 pairs
  // (28 rows: 12 + 16 at 2 threads, line-aligned steps of 4) were the reason to go from 16 rows to 12:
  // the fused nodes 53-55 -> 44-50 us, the 1x1 nodes after them 32-41 -> 39-42 (per-node profile, 2
  // threads); whole model, runSync loop, interleaved pairs: 1.759-1.786 -> 1.715-1.748 ms in one set of
  // five, 1.736-1.802 -> 1.725-1.794 in another of six (rows split at any row instead, not line-aligned:
  // the same). About 1.5%.
  const int nt = std::max(threads, 1);
  const int64_t lineRows = pwdwLineRows(dg, pool);
  const bool byRows = lineRows > 0 && oh / lineRows >= 2 * nt && oh >= 12 * nt;
  const int64_t rowStep = byRows ? lineRows : (pool ? 2 : 1);
  const int64_t rowUnits = (oh + rowStep - 1) / rowStep;
  const int64_t units = pg.n * (byRows ? rowUnits : mblocks);
  const int64_t ns = pg.n * (M * C * P / kPointwiseMacsPerNs + M * P * 9 / kDepthwiseMacsPerNs);

  // Image n, channels [m0, m1) (m0 a multiple of MR), output rows [r0, r1) (r0 even with pool).
  auto item = [&](const auto& act1, const auto& act2, int64_t n, int64_t m0, int64_t m1, int64_t r0, int64_t r1) {
    pointwiseDepthwiseRows(pg, x + n * C * P, w1, b1, a1, act1, regs1, dg, w2, b2, act2, pool, m0, m1, r0, r1, kPwDwBandBytes,
                           [&](int64_t c, int64_t) { return y + (n * M + c) * outPlane; }, [](int64_t, int64_t) {});
  };
  withActivation(a1, [&](const auto& act1) {
    withActivation(a2, [&](const auto& act2) {
      // A chunk's units, image by image: bands of rows (all channels) or ranges of channel blocks (all rows).
      auto chunk = [&](int64_t u0, int64_t u1) {
        const int64_t per = byRows ? rowUnits : mblocks;
        for (int64_t u = u0; u < u1;) {
          const int64_t n = u / per, a = u % per, b = std::min(per, a + (u1 - u));
          if (byRows) item(act1, act2, n, 0, M, a * rowStep, std::min(oh, b * rowStep));
          else item(act1, act2, n, a * MR, std::min(M, b * MR), 0, oh);
          u += b - a;
        }
      };
      // By rows one chunk a thread, two on planes of 128 rows and more (each chunk's first band computes
      // two rows of T again: on 40x40 planes a second chunk a thread cost 5-10%); by channels four.
      if (nt <= 1 || ns < kMinParallelNs) chunk(0, units);
      else mobileParallelRanges(units, nt, byRows ? (oh >= 64 * nt ? 2 : 1) : 4, chunk);
    });
  });
}

}  // namespace
}  // namespace facestyle::cpu
