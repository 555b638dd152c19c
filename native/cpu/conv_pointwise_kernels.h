// Pointwise (1x1) conv kernel for mobile layers, one copy per SIMD level (see conv_mobile_common.h,
// included before this file with the ISA's `struct Isa`).
//
// Y[m, p] = sum_c W[m, c] X[c, p]; the rows of X are already contiguous, so a register block of MR output
// channels x U vectors of pixels reads X straight from the input (no packing) and W by broadcast; bias,
// activation and the store happen in registers. Column tails use masked loads and stores (no overlap, no
// scalar loop). A residual input Z (a fused Add) starts the sum with the bias.
// The CPU reference it is tested against: conv2dReference (native/cpu/conv.cc), in
// native/test/test_conv_mobile.cc at every SIMD level.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/conv_mobile_common.h"

namespace facestyle::cpu {
namespace {

// The channel loop of a pointwise register block: acc[i][u] += W[i][c] * X[c][u-th vector] for c in
// [0, kc), kc >= 1 (a do-while: with a loop that may run zero times GCC kept the accumulators in memory
// around it). Always inlined, so the accumulators stay in the caller's registers.
template <int R, int U, bool Tail>
[[gnu::always_inline]] inline void pointwiseChannels(V (&acc)[R][U], const Mask (&mask)[U], const float* x, int64_t ldx, const float* w,
                                                     int64_t ldw, int64_t kc) {
  int64_t c = 0;
  do {
    const float* xr = x + c * ldx;
    V xv[U];
    for (int u = 0; u < U; ++u) xv[u] = Tail ? Isa::loadMasked(xr + u * kL, mask[u]) : Isa::load(xr + u * kL);
    for (int i = 0; i < R; ++i) {
      const V wv = Isa::set1(w[i * ldw + c]);
      for (int u = 0; u < U; ++u) acc[i][u] = Isa::fma(wv, xv[u], acc[i][u]);
    }
  } while (++c < kc);
}

// One register block: rows [m0, m0 + R) x columns [p0, p0 + U * kL) (or `cols` of them when Tail) of
// one group's Y (rows of ldy), from kc input channels: X (kc rows of ldx, starting at column p0) and
// W (rows of ldw, starting at the first of those channels). The sum starts from the bias plus the
// residual Z (laid out as Y; null = none), or from Y when `accumulate` (a later slice of the input
// channels); the activation is applied when `finish`.
template <int R, int U, bool Tail>
inline void pointwiseBlock(const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t kc, const float* bias, const float* z, float* y,
                           int64_t ldy, int64_t cols, bool accumulate, bool finish, const ActRegs& act) {
  V acc[R][U];
  Mask mask[U];
  for (int u = 0; u < U; ++u) mask[u] = Tail ? Isa::firstLanes(cols - u * kL) : Isa::allLanes();
  for (int i = 0; i < R; ++i) {
    const V b = bias ? Isa::set1(bias[i]) : Isa::zero();
    for (int u = 0; u < U; ++u) {
      if (accumulate) acc[i][u] = Tail ? Isa::loadMasked(y + i * ldy + u * kL, mask[u]) : Isa::load(y + i * ldy + u * kL);
      else if (z) acc[i][u] = Isa::add(b, Tail ? Isa::loadMasked(z + i * ldy + u * kL, mask[u]) : Isa::load(z + i * ldy + u * kL));
      else acc[i][u] = b;
    }
  }
  pointwiseChannels<R, U, Tail>(acc, mask, x, ldx, w, ldw, kc);
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < U; ++u) {
      const V v = finish ? act(acc[i][u]) : acc[i][u];
      if (Tail) Isa::storeMasked(y + i * ldy + u * kL, v, mask[u]);
      else Isa::store(y + i * ldy + u * kL, v);
    }
}

template <int U, bool Tail>
inline void pointwiseRows(int64_t rows, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t kc, const float* bias, const float* z,
                          float* y, int64_t ldy, int64_t cols, bool accumulate, bool finish, const ActRegs& act) {
  static_assert(Isa::MR <= 8 && Isa::U <= 3, "row blocks of up to 8 channels x 3 vectors");
  switch (rows) {
    case 1: return pointwiseBlock<1, U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    case 2: return pointwiseBlock<2, U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    case 3: return pointwiseBlock<3, U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    case 4: return pointwiseBlock<4, U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    case 5: return pointwiseBlock<(Isa::MR >= 5 ? 5 : 1), U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    case 6: return pointwiseBlock<(Isa::MR >= 6 ? 6 : 1), U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    case 7: return pointwiseBlock<(Isa::MR >= 7 ? 7 : 1), U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
    default: return pointwiseBlock<Isa::MR, U, Tail>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act);
  }
}

// The common full-height block (R = Isa::MR rows), with how its sums start (Start) and the activation
// (Act; PwNoAct for a slice of the input channels that is not the last) fixed at compile time. The
// generic pointwiseBlock above decides those at run time, and there GCC kept the 24 AVX-512
// accumulators in stack memory before and after the channel loop (a store and a load of each per block,
// and a switch on the activation per vector). Here they stay in registers from the first load to the
// store: AVX-512, one thread, YuNet's 32->64 at 80x80 125 -> 111 us, 16->32 at 80x80 39 -> 32, PFLD's
// 64->64 at 56x56 110 -> 103 and 28x28 28 -> 25.5; AVX2 1.05-1.2x.
enum PwStart { kPwBias, kPwBiasZ, kPwAccumulate };

struct PwNoAct {
  V operator()(V v) const { return v; }
};

// GCC 12 reports the pass-through operand of the AVX-512 max / min intrinsics (relu, clip) as used
// uninitialized once the accumulators live in registers; a false positive (the lanes are all active).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
template <int U, bool Tail, int Start, typename Act>
inline void pointwiseFullBlock(const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t kc, const float* bias, const float* z, float* y,
                               int64_t ldy, int64_t cols, const Act& act) {
  constexpr int R = Isa::MR;
  V acc[R][U];
  Mask mask[U];
  for (int u = 0; u < U; ++u) mask[u] = Tail ? Isa::firstLanes(cols - u * kL) : Isa::allLanes();
  for (int i = 0; i < R; ++i) {
    const V b = Start != kPwAccumulate ? Isa::set1(bias[i]) : Isa::zero();  // bias: never null here (a branch spilled too)
    for (int u = 0; u < U; ++u) {
      if (Start == kPwAccumulate) acc[i][u] = Tail ? Isa::loadMasked(y + i * ldy + u * kL, mask[u]) : Isa::load(y + i * ldy + u * kL);
      else if (Start == kPwBiasZ) acc[i][u] = Isa::add(b, Tail ? Isa::loadMasked(z + i * ldy + u * kL, mask[u]) : Isa::load(z + i * ldy + u * kL));
      else acc[i][u] = b;
    }
  }
  pointwiseChannels<R, U, Tail>(acc, mask, x, ldx, w, ldw, kc);
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < U; ++u) {
      if (Tail) Isa::storeMasked(y + i * ldy + u * kL, act(acc[i][u]), mask[u]);
      else Isa::store(y + i * ldy + u * kL, act(acc[i][u]));
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// One block of `rows` rows: the full-height ones by pointwiseFullBlock, the last rows of a layer whose
// channel count is not a multiple of Isa::MR by the generic block.
template <int U, bool Tail, typename Act>
inline void pointwiseTile(int64_t rows, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t kc, const float* bias, const float* z,
                          float* y, int64_t ldy, int64_t cols, bool accumulate, bool finish, const Act& act, const ActRegs& regs) {
  if (rows < Isa::MR) return pointwiseRows<U, Tail>(rows, x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, regs);
  static const float kNoBias[Isa::MR] = {};
  if (!bias) bias = kNoBias;
  const PwNoAct none;
  if (accumulate) {
    if (finish) pointwiseFullBlock<U, Tail, kPwAccumulate>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, act);
    else pointwiseFullBlock<U, Tail, kPwAccumulate>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, none);
  } else if (z) {
    if (finish) pointwiseFullBlock<U, Tail, kPwBiasZ>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, act);
    else pointwiseFullBlock<U, Tail, kPwBiasZ>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, none);
  } else {
    if (finish) pointwiseFullBlock<U, Tail, kPwBias>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, act);
    else pointwiseFullBlock<U, Tail, kPwBias>(x, ldx, w, ldw, kc, bias, z, y, ldy, cols, none);
  }
}

// A tile of up to Isa::U vectors of columns: a full one, or (a plane's last column block) as many vectors
// as it has columns, the last one masked.
template <typename Act>
inline void pointwiseTileCols(int64_t rows, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t kc, const float* bias, const float* z,
                              float* y, int64_t ldy, int64_t cols, bool accumulate, bool finish, const Act& act, const ActRegs& regs) {
  constexpr int U = Isa::U;
  if (cols == U * kL) pointwiseTile<U, false>(rows, x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act, regs);
  else if (cols > 2 * kL) pointwiseTile<U, true>(rows, x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act, regs);
  else if (cols > kL) pointwiseTile<(U < 2 ? U : 2), true>(rows, x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act, regs);
  else pointwiseTile<1, true>(rows, x, ldx, w, ldw, kc, bias, z, y, ldy, cols, accumulate, finish, act, regs);
}

// Lane k of the result: the sum of the lanes of v[k] (kL vectors, overwritten). Each step adds
// neighbouring lanes of two vectors (evens + odds) and keeps them in order, so after log2(kL) levels
// lane k holds all of v[k]: kL - 1 adds and 2 (kL - 1) shuffles for kL sums, where Isa::reduceAdd
// takes log2(kL) of each per sum.
inline V sumEach(V* v) {
  for (int n = kL; n > 1; n /= 2)
    for (int k = 0; k < n / 2; ++k) v[k] = Isa::add(Isa::evens(v[2 * k], v[2 * k + 1]), Isa::odds(v[2 * k], v[2 * k + 1]));
  return v[0];
}

// The last column block of a plane when it has at most half a vector of columns (14x14 and 10x10 planes
// leave 4 with AVX-512): as a register block it would be one vector, mostly empty, doing one broadcast
// of W per FMA, and it cost as much as a full block (PFLD 256->128 at 14x14: 60 us against 50 us for
// the 192 columns of 12x16). Here the vectors run along the input channels instead: xt holds the
// block's columns of X transposed (colsPad rows of C, zero past cols, colsPad a multiple of 4), and each
// output is the dot product of a W row and an xt row, RT W rows x 4 xt rows at a time, finished in
// scalars: y = act(sum + bias + z). With AVX-512 the tile is 4 x 4, its 16 sums reduced together by
// sumEach: PFLD's 128->256 at 14x14, one thread, 4-column tail alone 5.3 -> 4.0 us (2 x 4 tiles, each
// sum reduced alone). With AVX2 and the baseline the tile stays 2 x 4 and each sum is reduced alone
// (AVX2's evens / odds are two shuffles each, one crossing lanes: sumEach was no faster there).
inline void pointwiseTailDot(const float* xt, int64_t cols, int64_t colsPad, const float* w, int64_t C, int64_t rows, const float* bias,
                             const float* z, float* y, int64_t ldy, const ConvActivation& a) {
  constexpr int RT = kL >= 16 ? kL / 4 : 2;
  const int64_t full = C / kL * kL;
  const Mask last = Isa::firstLanes(C - full);
  for (int64_t i0 = 0; i0 < rows; i0 += RT) {
    const float* wr[RT];
    for (int r = 0; r < RT; ++r) wr[r] = w + std::min(i0 + r, rows - 1) * C;  // past the last row: computed again, dropped
    for (int64_t j0 = 0; j0 < colsPad; j0 += 4) {
      const float* x0 = xt + j0 * C;
      V acc[RT * 4];
      for (int k = 0; k < RT * 4; ++k) acc[k] = Isa::zero();
      for (int64_t c = 0; c < full; c += kL) {
        V xv[4];
        for (int j = 0; j < 4; ++j) xv[j] = Isa::load(x0 + j * C + c);
        for (int r = 0; r < RT; ++r) {
          const V wv = Isa::load(wr[r] + c);
          for (int j = 0; j < 4; ++j) acc[r * 4 + j] = Isa::fma(wv, xv[j], acc[r * 4 + j]);
        }
      }
      if (full < C) {
        V xv[4];
        for (int j = 0; j < 4; ++j) xv[j] = Isa::loadMasked(x0 + j * C + full, last);
        for (int r = 0; r < RT; ++r) {
          const V wv = Isa::loadMasked(wr[r] + full, last);
          for (int j = 0; j < 4; ++j) acc[r * 4 + j] = Isa::fma(wv, xv[j], acc[r * 4 + j]);
        }
      }
      float sums[RT * 4];
      if constexpr (kL >= 16)
        for (int q = 0; q < RT * 4 / kL; ++q) Isa::store(sums + q * kL, sumEach(acc + q * kL));
      else
        for (int k = 0; k < RT * 4; ++k) sums[k] = Isa::reduceAdd(acc[k]);
      for (int r = 0; r < RT && i0 + r < rows; ++r)
        for (int j = 0; j < 4 && j0 + j < cols; ++j) {
          const int64_t at = (i0 + r) * ldy + j0 + j;
          y[at] = a.apply(sums[r * 4 + j] + (bias ? bias[i0 + r] : 0.f) + (z ? z[at] : 0.f));
        }
    }
  }
}

// The `cols` columns of X starting at xs (C rows of ld floats), transposed for pointwiseTailDot into
// convScratch slot 1: colsPad rows of C, zero past cols.
inline const float* transposeNarrowBlock(const float* xs, int64_t ld, int64_t C, int64_t cols, int64_t colsPad) {
  float* xt = convScratch(1, static_cast<size_t>(colsPad * C));
  for (int64_t j = 0; j < colsPad; ++j)
    for (int64_t c = 0; c < C; ++c) xt[j * C + c] = j < cols ? xs[c * ld + j] : 0.f;
  return xt;
}

// Input channels per pass: the X panel of a column block (kKC x U vectors) stays in L1 while every
// channel block of the task range reads it.
constexpr int64_t kKC = 128;

// Whether a column block's X panel (rows P floats apart) is copied dense before `channelBlocks` channel
// blocks read it (see pointwiseConv): AVX2 and the baseline, full blocks, P a multiple of 256.
inline bool densePanelPays(int64_t P, int64_t cols, int64_t channelBlocks) {
  return kL < 16 && P % 256 == 0 && cols == Isa::U * kL && channelBlocks >= 4;
}

// The k rows of a full column block (Isa::U vectors, rows ld floats apart) copied into convScratch slot 1,
// rows Isa::U * kL floats apart.
inline const float* copyPanel(const float* panel, int64_t ld, int64_t k) {
  constexpr int64_t NR = Isa::U * kL;
  float* buf = convScratch(1, static_cast<size_t>(kKC * NR));
  for (int64_t c = 0; c < k; ++c)
    for (int64_t u = 0; u < Isa::U; ++u) Isa::store(buf + c * NR + u * kL, Isa::load(panel + c * ld + u * kL));
  return buf;
}

// Inputs (one group's X) above this size get their panels prefetched (see pointwiseConv).
constexpr int64_t kPrefetchInputBytes = int64_t(1) << 20;

// Column blocks walked side by side, each channel block running along all of them before the next
// one starts: with few input channels a block is short (16 channels: 16 FMA steps, then 24 stores),
// and the output rows are written a few blocks' width at a time instead of a block's (fewer switches
// between the many input and output streams of the plane). As many as fit a 16 KB X panel, at most 4;
// AVX-512 only. Measured (one thread): YuNet's 16->16 at 160x160 76 -> 65 us, 16->32 at 80x80
// 33 -> 31, 32->32 at 80x80 58 -> 56.5; 64 channels and more level (the panel would leave L1). AVX2
// (half the block width, compute bound) was level or 1% slower with groups.
inline int64_t pointwiseColumnGroup(int64_t kc) {
  if (kL < 16) return 1;
  return std::clamp<int64_t>(16 * 1024 / (kc * Isa::U * kL * 4), 1, 4);
}

// 1x1 / stride 1 / unpadded conv, any group count: y = act(conv + bias + z), z (Y's shape) optional; it
// may be y itself (each value of z is read before that value of y is written). Tasks are (image, group,
// column block, channel block) with channel blocks innermost (or, see splitByRows, ranges of channel
// blocks over all column blocks). Within its range a thread walks the channel blocks of one column block
// (or of a few side by side, see pointwiseColumnGroup) together, one slice of input channels at a time,
// so they all read that X panel slice from L1. The activation is a compile-time kind here
// (withActivation), for pointwiseFullBlock.
inline void pointwiseConv(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                          const ConvActivation& a) {
  constexpr int64_t MR = Isa::MR, U = Isa::U, NR = U * kL;
  const int64_t C = g.cg(), M = g.mg(), P = g.oh * g.ow;
  const int64_t mblocks = (M + MR - 1) / MR, pblocks = (P + NR - 1) / NR;
  const int64_t tasks = g.n * g.group * pblocks * mblocks;
  const int64_t slices = (C + kKC - 1) / kKC, kc = (C + slices - 1) / slices;
  const int64_t colGroup = pointwiseColumnGroup(kc);
  const ActRegs regs(a);
  const bool sweep = !activationInRegisters(a);
  // Cost of tasks [0, t) in closed form (only the last column block of a plane and the last channel
  // block can be short): multiply-adds / C, except that a narrow last block (the dot-product path above)
  // counts as kL columns: it runs about 4x slower per multiply-add (PFLD's 4 of 196 columns).
  const auto colsCost = [&](int64_t pb) {
    const int64_t cols = std::min(NR, P - pb * NR);
    return 2 * cols <= kL ? int64_t(kL) : cols;
  };
  const int64_t planeCost = ((pblocks - 1) * NR + colsCost(pblocks - 1)) * M;
  auto costBefore = [&](int64_t t) {
    const int64_t ng = t / (pblocks * mblocks), pb = t / mblocks % pblocks, mb = t % mblocks;
    return ng * planeCost + pb * NR * M + colsCost(pb) * std::min(mb * MR, M);
  };
  // Four chunks per thread, so that a helper that starts late takes fewer; on planes of few column
  // blocks one, as each chunk boundary inside a block loads that block's X panel once more (PFLD's
  // 14x14 layers: 5 blocks; 20 of its pointwise layers 128 -> 256 -> 128 in a row, 2 threads, C++
  // harness, best of 300: 578 us with four equal-length chunks a thread, 557 with two balanced ones;
  // then whole PFLD, runSync loop at 2 threads, 6 interleaved pairs: 0.781-0.793 ms with two, 0.768-0.776
  // with one, YuNet-s 320 and YuNet-n 256 level). A helper that starts late still loses nothing: the
  // caller takes its chunk too (mobile_pool.h).
  const int perThread = g.n * g.group * pblocks >= 16 * std::max(threads, 1) ? 4 : 1;
  // Split by output channels instead (each thread writes whole output rows) when the rows are not a
  // whole number of cache lines (P not a multiple of 16 floats: 14x14, 10x10, 20x15 planes) and the plane
  // has few column blocks. Split by columns, every output row would then have a cache line that both
  // threads write, one end each: PFLD's 14x14 layers, 128-256 such lines a layer, each passed between the
  // cores. AVX-512 Xeon, 2 threads: PFLD's 256->128 at 14x14 alone (bench_conv, median of 2000) 43.5 ->
  // 41.2 us, 128->256 52 -> 41; the whole model (runSync, 4 interleaved rounds each, against
  // onnxruntime-node 1.43-1.53 ms) 1.90-1.96 -> 1.72-1.84 ms. On planes whose rows are whole lines the
  // column split stays: it keeps a chain of pointwise layers on the columns each core wrote (the whole
  // model 1.73-1.84 ms -> 1.93-1.99 with 28x28 planes split by rows too, 2.16-2.29 with 56x56 as well).
  // AVX-512 only: with AVX2 (half the FMA width, so the arithmetic outweighs the shared lines) the whole
  // model was 3-9% slower split by rows (2.33-2.46 -> 2.40-2.59 ms, three interleaved pairs).
  const bool splitByRows = kL >= 16 && P % 16 != 0 && perThread == 1 && mblocks >= 2 && threads > 1;
  withActivation(a, [&](const auto& act) {
    // Column block pb of image-group ng, channel blocks [mb0, mb1), and nb - 1 more column blocks beside
    // it (all their channel blocks: nb > 1 only when mb0 == 0 and mb1 == mblocks).
    auto columnBlocks = [&](int64_t ng, int64_t pb, int64_t mb0, int64_t mb1, int64_t nb) {
      const int64_t grp = ng % g.group, n = ng / g.group;
      const int64_t p0 = pb * NR, cols = std::min(NR, P - p0);
      if (2 * cols <= kL) {
        // A narrow last block: transpose its columns once for the channel blocks of this range.
        const int64_t colsPad = (cols + 3) / 4 * 4;
        const float* xt = transposeNarrowBlock(x + (n * g.c + grp * C) * P + p0, P, C, cols, colsPad);
        for (int64_t mb = mb0; mb < mb1; ++mb) {
          const int64_t m0 = mb * MR, rows = std::min(MR, M - m0);
          float* yg = y + (n * g.m + grp * M + m0) * P + p0;
          pointwiseTailDot(xt, cols, colsPad, w + (grp * M + m0) * C, C, rows, bias ? bias + grp * M + m0 : nullptr, z ? z + (yg - y) : nullptr,
                           yg, P, a);
        }
        return;
      }
      for (int64_t c0 = 0; c0 < C; c0 += kc) {
        const int64_t k = std::min(kc, C - c0);
        const bool accumulate = c0 > 0, finish = c0 + k == C;
        // The panel's rows lie P floats apart. When P is a multiple of 256 (16x16, 32x32, 64x64
        // planes) they map to the same few L1 sets and evict each other before the next channel
        // block reads them again (AVX2, 64x64 plane: 0.6x the speed of a 56x56 one); when at least
        // 4 channel blocks read it, a dense copy (vector loads and stores, a few cycles per row)
        // pays for itself. Measured: AVX2 1.1-1.6x faster. On AVX-512 (fewer, wider blocks) it costs
        // more than it saves: YuNet's 32->64 and 32->32 at 80x80, one thread, 149 -> 133 and 82 -> 69 us
        // without it (16->16 at 160x160, 64x64 at 56x56 and 40x40 level).
        const float* panel = x + (n * g.c + grp * C + c0) * P + p0;
        int64_t ldp = P;
        if (densePanelPays(P, cols, mb1 - mb0)) panel = copyPanel(panel, P, k), ldp = NR;
        // When the input is larger than L2 (kPrefetchInputBytes), the next column block's panel (k rows
        // P floats apart, first read from L3 or memory: the hardware prefetchers do not follow that many
        // streams) is prefetched while this one's channel blocks run, a share of its rows with each
        // channel block. bench_conv (AVX-512 Xeon), YuNet-n's 64->64 at 160x160, medians, 1 thread
        // 1.90 -> 1.77 ms, 2 threads 0.93 -> 0.85; at 80x80 0.437 -> 0.39 / level; the whole model at
        // 640, 2 threads, 7.75-8.0 -> 7.38-7.57 ms. (Prefetching the output rows for writing too stalled
        // on the fill buffers and gained nothing.) PFLD's small planes (< 1 MB) are left alone.
        const int64_t nextCols = std::min(NR, P - (p0 + nb * NR));
        const bool prefetchNext = nextCols > 0 && C * P * int64_t(sizeof(float)) > kPrefetchInputBytes;
        const float* next = prefetchNext ? x + (n * g.c + grp * C + c0) * P + p0 + nb * NR : nullptr;
        const int64_t mbs = mb1 - mb0;
        for (int64_t mb = mb0; mb < mb1; ++mb) {
          if (next)
            for (int64_t c = k * (mb - mb0) / mbs; c < k * (mb - mb0 + 1) / mbs; ++c)
              for (int64_t u = 0; u < nextCols; u += kL) __builtin_prefetch(next + c * P + u);
          for (int64_t q = 0; q < nb; ++q) {
            const int64_t m0 = mb * MR, rows = std::min(MR, M - m0);
            const float* xg = panel + q * NR;
            const float* wg = w + (grp * M + m0) * C + c0;
            const float* bg = bias ? bias + grp * M + m0 : nullptr;
            float* yg = y + (n * g.m + grp * M + m0) * P + p0 + q * NR;
            const float* zg = z ? z + (yg - y) : nullptr;
            pointwiseTileCols(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act, regs);
            if (sweep && finish)
              for (int64_t i = 0; i < rows; ++i) activateScalar(a, yg + i * P, cols);
          }
        }
      }
    };
    if (splitByRows) {
      // Units: (image, group, channel block); each range of them runs over every column block.
      const int64_t units = g.n * g.group * mblocks;
      auto rowsBefore = [&](int64_t u) { return u / mblocks * M + std::min(u % mblocks * MR, M); };
      runBalancedChunks(units, g.n * g.m * C * P / kPointwiseMacsPerNs, threads, 1, rowsBefore, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1;) {
          const int64_t ng = u / mblocks, mb0 = u % mblocks, mb1 = std::min(mblocks, mb0 + (u1 - u));
          for (int64_t pb = 0; pb < pblocks; ++pb) columnBlocks(ng, pb, mb0, mb1, 1);
          u += mb1 - mb0;
        }
      });
      return;
    }
    runBalancedChunks(tasks, g.n * g.m * C * P / kPointwiseMacsPerNs, threads, perThread, costBefore, [&](int64_t t0, int64_t t1) {
      for (int64_t s0 = t0; s0 < t1;) {
        // [s0, s1): the tasks of this range in one column block.
        int64_t s1 = std::min(t1, (s0 / mblocks + 1) * mblocks);  // (extended below to a group of column blocks)
        const int64_t pb = (s0 / mblocks) % pblocks, ng = s0 / (mblocks * pblocks);  // ng = n * group + grp
        const int64_t cols = std::min(NR, P - pb * NR);
        // nb full column blocks side by side (see pointwiseColumnGroup) when this range holds all of their
        // channel blocks; the channel blocks of the range are [mb0, mb1).
        int64_t nb = 1;
        if (s0 % mblocks == 0 && s1 - s0 == mblocks && cols == NR)
          while (nb < colGroup && s0 + (nb + 1) * mblocks <= t1 && (pb + nb + 1) * NR <= P) ++nb;
        if (nb > 1) s1 = s0 + nb * mblocks;
        columnBlocks(ng, pb, s0 % mblocks, (s1 - 1) % mblocks + 1, nb);
        s0 = s1;
      }
    });
  });
}

}  // namespace
}  // namespace facestyle::cpu
