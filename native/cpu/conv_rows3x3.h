// Direct 3x3 Conv2D, stride 1, dilation 1, one pixel of zero padding on every side, over the input as
// it is (no padded copy), for layers with 1-4 output channels per group (the generator's 16->3 RGB
// head) whose row width is a whole number of vectors.
// Shared by the scalar, AVX2 and AVX-512 builds (conv_rows3x3*.cc include it after conv_direct.h has
// set the vector width and register blocking). conv2d() in conv.cc picks it before the flat kernel
// (cpu/conv_direct_flat.h), which test_conv_algos.cc checks it against along with conv2dReference.
//
// Why: the flat kernel first copies the input into zero-padded planes (the whole 4.2 MB of a 16-channel
// 256x256 map written out and read back) and then loads each tap's vector at column offsets +1 and +2
// of the padded row: two of every three loads straddle a cache line, which on AVX-512 costs a second
// load slot. On a 16->3 head (3 output channels x 8 vectors: 8 loads for 24 FMAs per tap) those split
// loads, not the FMAs, set the pace (an FMA loop with aligned loads ran at 250 GFLOP/s on one core,
// the same loop with the +1 / +2 loads at 165). Here every load is aligned when the input is (the
// engine's activations are, on 64-byte boundaries; a graph input fed from JavaScript may not be, and
// then every load splits, still half the flat kernel's load slots): a register block of MB
// output channels x U vectors of one output row takes, per input channel and kernel row, U + 2 aligned
// loads of the input row (the vectors left and right of the block too), builds the kx = 0 and kx = 2
// tap vectors by shifting lanes across neighbouring vectors (one valignd each on AVX-512), and does
// 3 x MB x U FMAs with weights broadcast from memory. The padding is never stored: a kernel row above
// or below the image is skipped, and the vector left of column 0 or right of the last column is zero.
// Blocks walk the plane in bands of output rows (one task each), within a band column strip by column
// strip and row by row, so the three input rows a block reads were mostly read by the block above.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#if FACESTYLE_DIRECT_VECTOR_BYTES == 64
#include <immintrin.h>
#endif

#include "cpu/conv_direct.h"
#include "cpu/mobile_pool.h"

namespace facestyle::cpu {
namespace {

// Lanes K.. of the concatenation a:b: the vector that starts K floats after a's first lane.
template <int K, size_t... I>
inline DVec rowsShiftImpl(DVec a, DVec b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (I + K)...);
}
template <int K>
inline DVec rowsShift(DVec a, DVec b) {
#if FACESTYLE_DIRECT_VECTOR_BYTES == 64
  // valignd: GCC lowers the generic shuffle to vpermt2ps, which needs its index vector in a register
  // and overwrites a source (a copy per shift): the 16->3 head ran 5% slower that way (0.306 / 0.290 ms).
  return (DVec)_mm512_mask_alignr_epi32((__m512i)a, __mmask16(0xFFFF), (__m512i)b, (__m512i)a, K);  // (the masked form: GCC 12 warns on the unmasked one's undefined source)
#else
  return rowsShiftImpl<K>(a, b, std::make_index_sequence<kDLanes>());
#endif
}

// Whether rows3x3All can run this layer: the geometry above, any channels, groups and batch, and a
// width that is a whole number of vectors.
inline bool rows3x3Fits(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 3 && g.kw == 3 && v.sh == 1 && v.sw == 1 && v.dh == 1 && v.dw == 1 && v.pt == 1 && v.pl == 1 &&
         v.pb == 1 && v.pr == 1 && g.oh == g.h && g.ow == g.w && g.w % kDLanes == 0 && g.h > 0;
}

template <int64_t kMB, int64_t kU>
void rows3x3Blocked(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation& act) {
  constexpr int64_t kCols = kDLanes * kU;
  const int64_t cg = g.cg(), mg = g.mg(), H = g.h, W = g.w, HW = H * W;
  const int64_t mblocks = (mg + kMB - 1) / kMB, strips = (W + kCols - 1) / kCols;
  const int nt = threads < 1 ? 1 : threads;
  // Weights per (group, block of MB output channels): [ci][ky][kx][MB], zeros past the last channel.
  const std::unique_ptr<float[]> wq = packWeightBlocks(g, w, cg * 9, kMB);

  // The input vector at column col of a row, zero outside [0, W) (col is a multiple of the lanes).
  auto loadOrZero = [W](const float* row, int64_t col) { return col >= 0 && col < W ? dload(row + col) : DVec{}; };

  // One register block: output channels mb*MB.. of image n, group grp, row oy, columns s0 .. s0 + kCols.
  // edge: the block touches column 0 or the right end (its outer vectors may be padding).
  auto block = [&](int64_t n, int64_t grp, int64_t mb, int64_t oy, int64_t s0, auto edgeTag) {
    constexpr bool edge = decltype(edgeTag)::value;
    const int64_t m0 = mb * kMB, mcount = std::min(kMB, mg - m0);
    const float* wb = wq.get() + (grp * mblocks + mb) * cg * 9 * kMB;
    DVec acc[kMB][kU];
    for (int64_t i = 0; i < kMB; ++i) {
      const float b = bias && i < mcount ? bias[grp * mg + m0 + i] : 0.f;
      for (int64_t u = 0; u < kU; ++u) acc[i][u] = splat(b);
    }
    // Kernel rows that fall inside the image (the rest read zero padding).
    const int64_t ky0 = oy == 0 ? 1 : 0, ky1 = oy == H - 1 ? 2 : 3;
    const float* xg = x + (n * g.c + grp * cg) * HW;
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t ky = ky0; ky < ky1; ++ky) {
        const float* row = xg + ci * HW + (oy + ky - 1) * W;
        const float* wk = wb + (ci * 9 + ky * 3) * kMB;  // taps (ky, 0..2), MB channels each
        DVec prev = edge ? loadOrZero(row, s0 - kDLanes) : dload(row + s0 - kDLanes);
        DVec cur = edge ? loadOrZero(row, s0) : dload(row + s0);
        for (int64_t u = 0; u < kU; ++u) {
          const int64_t nextCol = s0 + (u + 1) * kDLanes;
          const DVec next = edge ? loadOrZero(row, nextCol) : dload(row + nextCol);
          const DVec left = rowsShift<kDLanes - 1>(prev, cur), right = rowsShift<1>(cur, next);
          for (int64_t i = 0; i < kMB; ++i) acc[i][u] += splat(wk[i]) * left;
          for (int64_t i = 0; i < kMB; ++i) acc[i][u] += splat(wk[kMB + i]) * cur;
          for (int64_t i = 0; i < kMB; ++i) acc[i][u] += splat(wk[2 * kMB + i]) * right;
          prev = cur, cur = next;
        }
      }
    if (act.kind != ConvActivation::None)
      for (int64_t i = 0; i < kMB; ++i)
        for (int64_t u = 0; u < kU; ++u) acc[i][u] = activate(act, acc[i][u]);
    // Whole vectors (W is a multiple of the lanes); those past the right end of the row are dropped.
    float* yr = y + (n * g.m + grp * mg + m0) * HW + oy * W + s0;
    for (int64_t u = 0; u < kU && s0 + u * kDLanes < W; ++u)
      for (int64_t i = 0; i < mcount; ++i) std::memcpy(yr + i * HW + u * kDLanes, &acc[i][u], sizeof(DVec));
  };

  // Bands of output rows: at least 4 per thread, at most 8 rows (a 16-channel band's input rows stay
  // in L2 while its strips are walked).
  const int64_t bandRows = std::max<int64_t>(1, std::min<int64_t>(8, H / (4 * nt)));
  const int64_t bands = (H + bandRows - 1) / bandRows, tasks = g.n * g.group * bands;
  auto run = [&](int64_t t0, int64_t tEnd) {
    for (int64_t t = t0; t < tEnd; ++t) {
      const int64_t band = t % bands, ng = t / bands, grp = ng % g.group, n = ng / g.group;
      const int64_t oy0 = band * bandRows, oy1 = std::min(H, oy0 + bandRows);
      for (int64_t s = 0; s < strips; ++s) {
        const int64_t s0 = s * kCols;
        const bool edge = s == 0 || s0 + kCols + kDLanes > W;
        for (int64_t oy = oy0; oy < oy1; ++oy)
          for (int64_t mb = 0; mb < mblocks; ++mb) {
            if (edge) block(n, grp, mb, oy, s0, std::true_type{});
            else block(n, grp, mb, oy, s0, std::false_type{});
          }
      }
    }
  };
  // Threads only for enough work (4M multiply-adds), as the flat kernel.
  const bool parallel = nt > 1 && tasks > 1 && g.n * g.group * HW * mg * cg * 9 > (int64_t(1) << 22);
  mobileParallelRanges(tasks, parallel ? nt : 1, 16, run);
}

// Layers with 1-4 output channels per group (fewer than the full register block): the flat kernel
// runs those as MB x U blocks of up to 8 vectors per tap, where its split loads set the pace. Wider
// layers stay on the flat kernel: with 8 output channels per tap, 3 loads feed 24 FMAs and it is not
// load-bound (8 x 2 blocks here ran 10% slower than its 8 x 3 on a 16->16 layer at 256x256, 8 x 3 ones
// spilled). Picks MB = the channels x U vectors, U above 4 lowered to 4 where that makes the strips cover the
// row without a partial last strip. Returns false (nothing done) where the layer does not fit.
inline bool rows3x3All(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                       const ConvActivation* actOrNull) {
  constexpr int64_t MB = FACESTYLE_DIRECT_MB, U = FACESTYLE_DIRECT_U, A = MB * U;
  const int64_t mg = g.mg(), vecs = g.w / kDLanes;
  if (mg > 4 || mg >= MB || !rows3x3Fits(g)) return false;
  const ConvActivation act = actOrNull ? *actOrNull : ConvActivation{};
  auto pick = [&](auto mbTag, auto uTag) {
    constexpr int64_t kMB = decltype(mbTag)::value, kU = decltype(uTag)::value;
    if constexpr (kU > 4)
      if (vecs % kU != 0 && vecs % 4 == 0) return rows3x3Blocked<kMB, 4>(g, x, w, bias, y, threads, act);
    return rows3x3Blocked<kMB, kU>(g, x, w, bias, y, threads, act);
  };
  using I = int64_t;
  switch (mg) {
    case 1: pick(std::integral_constant<I, 1>{}, std::integral_constant<I, (A < 8 ? A : 8)>{}); break;
    case 2: pick(std::integral_constant<I, 2>{}, std::integral_constant<I, (A / 2 < 8 ? A / 2 : 8)>{}); break;
    case 3: pick(std::integral_constant<I, 3>{}, std::integral_constant<I, (A / 3 < 8 ? A / 3 : 8)>{}); break;
    default: pick(std::integral_constant<I, 4>{}, std::integral_constant<I, (A / 4 < 6 ? A / 4 : 6)>{}); break;
  }
  return true;
}

}  // namespace
}  // namespace facestyle::cpu
