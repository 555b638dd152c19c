// Pointwise (1x1) and depthwise conv kernels for mobile detector layers, shared by the baseline,
// AVX2 and AVX-512 builds (conv_mobile.cc, conv_mobile_avx2.cc, conv_mobile_avx512.cc). The including
// file first defines `struct Isa` (vector type V, lane count L, lane masks and the few operations the
// kernels use; see conv_mobile.cc for the plainest one) and the register blocking; everything here has
// internal linkage, one copy per ISA.
//
// Why not GEMM: these layers are small (a 64x64 pointwise on a 20x20 plane is 1.6M multiply-adds, a
// few microseconds), so the packing of B, the column tiling and the OpenMP fork / join of the general
// path cost more than the arithmetic. Here:
// - pointwise: Y[m, p] = sum_c W[m, c] X[c, p]; the rows of X are already contiguous, so a register
//   block of MR output channels x U vectors of pixels reads X straight from the input (no packing) and
//   W by broadcast; bias, activation and the store happen in registers. Column tails use masked loads
//   and stores (no overlap, no scalar loop).
//   A residual input Z (a fused Add) starts the sum with the bias.
// - depthwise: straight from the input rows (no padded copy), the weights in registers, one FMA per
//   tap, bias and activation in registers, one store per output vector. The common 3x3 layers (stride 1
//   "same", stride 2) walk each plane in strips one vector wide, top to bottom, loading each input row
//   of a strip once and keeping partial sums of the output rows it feeds; other shapes go one output
//   row at a time and load each tap (masked at the row's edges).
// - threads: only when a layer has enough work, on the mobile pool (mobile_pool.h: the calling thread
//   never waits for a helper that has not started), in a few contiguous chunks per thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/conv_kernels.h"
#include "cpu/mobile_pool.h"

namespace facestyle::cpu {
namespace {

using V = Isa::V;
using Mask = Isa::Mask;
constexpr int64_t kL = Isa::L;

// A layer estimated under this many nanoseconds on one core runs on the calling thread alone: waking
// a helper costs a few microseconds. With OpenMP a late or preempted worker also held up every
// region at its barrier, and the threshold had to be 20-30 us (YuNet-s 256, 2 threads, best of 105
// runs: 8 us 1.34 ms, 30 us 1.15 ms, never split 1.13 ms). The pool never waits for a helper that
// has not started, so smaller layers can be split: PFLD's conv layers run back to back at 2 threads
// (shared machine, load ~5, medians of 300): before the pool 3146 / 3102 us, pool with 20 us 2748 / 2676,
// with 8 us 2728 / 2671 (and a better first quartile: 2300 / 1902 against 2492 / 2259).
constexpr int64_t kMinParallelNs = 8000;
// Single-thread rates the estimates use (multiply-adds per ns; measured on AVX-512, about 60% of
// that on AVX2): pointwise runs near the FMA peak, depthwise is bound by loads and stores.
constexpr int64_t kPointwiseMacsPerNs = 100, kDepthwiseMacsPerNs = 50;

// Bias + activation are applied in registers for these kinds; Tanh / Sigmoid take a scalar pass
// over the freshly written row (still in L1).
inline bool activationInRegisters(const ConvActivation& a) { return a.kind != ConvActivation::Tanh && a.kind != ConvActivation::Sigmoid; }

struct ActRegs {
  int kind;
  V alpha, lo, hi;
  explicit ActRegs(const ConvActivation& a) : kind(a.kind), alpha(Isa::set1(a.alpha)), lo(Isa::set1(a.lo)), hi(Isa::set1(a.hi)) {}
  // Same definitions (NaN handling included) as ConvActivation::apply.
  V operator()(V v) const {
    switch (kind) {
      case ConvActivation::Relu: return Isa::relu(v);
      case ConvActivation::LeakyRelu: return Isa::leaky(v, alpha);
      case ConvActivation::Clip: return Isa::clip(v, lo, hi);
      default: return v;
    }
  }
};

// The activations applied in registers, as compile-time kinds: the inner loops carry no switch.
template <int K>
struct ActK {
  V alpha, lo, hi;
  explicit ActK(const ConvActivation& a) : alpha(Isa::set1(a.alpha)), lo(Isa::set1(a.lo)), hi(Isa::set1(a.hi)) {}
  V operator()(V v) const {  // the same definitions as ActRegs
    if constexpr (K == ConvActivation::Relu) return Isa::relu(v);
    if constexpr (K == ConvActivation::LeakyRelu) return Isa::leaky(v, alpha);
    if constexpr (K == ConvActivation::Clip) return Isa::clip(v, lo, hi);
    return v;
  }
};

// f(ActK<kind>) for the kind in registers; identity for None, Tanh and Sigmoid (the last two then
// take a scalar pass over the plane).
template <typename F>
inline void withActivation(const ConvActivation& a, F f) {
  switch (a.kind) {
    case ConvActivation::Relu: return f(ActK<ConvActivation::Relu>(a));
    case ConvActivation::LeakyRelu: return f(ActK<ConvActivation::LeakyRelu>(a));
    case ConvActivation::Clip: return f(ActK<ConvActivation::Clip>(a));
    default: return f(ActK<ConvActivation::None>(a));
  }
}

inline void activateScalar(const ConvActivation& a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a.apply(y[i]);
}

// Runs body(t0, t1) over contiguous chunks of [0, tasks): on the calling thread when the work
// (estimated in ns on one core) is small, else on up to `threads` threads of the mobile pool
// (mobile_pool.h), four chunks per thread, claimed one at a time: a helper that wakes late takes
// fewer chunks instead of holding up the layer.
template <typename Body>
void runChunks(int64_t tasks, int64_t ns, int threads, Body body) {
  if (tasks <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(threads, 1), tasks));
  if (nt <= 1 || ns < kMinParallelNs) return body(int64_t(0), tasks);
  mobileParallelRanges(tasks, nt, 4, body);  // rethrows an exception (a scratch allocation) after the chunks
}

// runChunks with `perThread` ranges per thread of about equal cost instead of equal length: costBefore(t)
// is the cost of tasks [0, t), non-decreasing; the cut before chunk k is the first task where it reaches
// k / chunks of the total (a binary search). Chunks are still claimed one at a time.
constexpr int kMaxBalancedChunks = 256;
template <typename CostBefore, typename Body>
void runBalancedChunks(int64_t tasks, int64_t ns, int threads, int perThread, CostBefore costBefore, Body body) {
  if (tasks <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(threads, 1), tasks));
  if (nt <= 1 || ns < kMinParallelNs) return body(int64_t(0), tasks);
  const int64_t chunks = std::min<int64_t>({tasks, int64_t(nt) * perThread, int64_t(kMaxBalancedChunks)});
  const int64_t total = costBefore(tasks);
  int64_t cut[kMaxBalancedChunks + 1];
  cut[0] = 0, cut[chunks] = tasks;
  for (int64_t k = 1; k < chunks; ++k) {
    const int64_t goal = total * k / chunks;
    int64_t lo = cut[k - 1], hi = tasks;  // the first t with costBefore(t) >= goal
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (costBefore(mid) < goal) lo = mid + 1;
      else hi = mid;
    }
    cut[k] = lo;
  }
  auto chunk = [&](int64_t k) {
    if (cut[k] < cut[k + 1]) body(cut[k], cut[k + 1]);
  };
  mobileParallelFor(chunks, nt, chunk);  // rethrows an exception after the chunks
}

// ---- pointwise ----

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

// Input channels per pass: the X panel of a column block (kKC x U vectors) stays in L1 while every
// channel block of the task range reads it.
constexpr int64_t kKC = 128;

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
// column block, channel block) with channel blocks innermost. Within its range a thread walks the channel
// blocks of one column block (or of a few side by side, see pointwiseColumnGroup) together, one slice of
// input channels at a time, so they all read that X panel slice from L1. The activation is a
// compile-time kind here (withActivation), for pointwiseFullBlock.
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
  withActivation(a, [&](const auto& act) {
    runBalancedChunks(tasks, g.n * g.m * C * P / kPointwiseMacsPerNs, threads, perThread, costBefore, [&](int64_t t0, int64_t t1) {
      for (int64_t s0 = t0; s0 < t1;) {
        // [s0, s1): the tasks of this range in one column block.
        int64_t s1 = std::min(t1, (s0 / mblocks + 1) * mblocks);  // (extended below to a group of column blocks)
        const int64_t pb = (s0 / mblocks) % pblocks, ng = s0 / (mblocks * pblocks);  // ng = n * group + grp
        const int64_t grp = ng % g.group, n = ng / g.group;
        const int64_t p0 = pb * NR, cols = std::min(NR, P - p0);
        if (2 * cols <= kL) {
          // A narrow last block: transpose its columns once for the channel blocks of this range.
          const int64_t colsPad = (cols + 3) / 4 * 4;
          float* xt = convScratch(1, static_cast<size_t>(colsPad * C));
          const float* xs = x + (n * g.c + grp * C) * P + p0;
          for (int64_t j = 0; j < colsPad; ++j)
            for (int64_t c = 0; c < C; ++c) xt[j * C + c] = j < cols ? xs[c * P + j] : 0.f;
          for (int64_t t = s0; t < s1; ++t) {
            const int64_t m0 = (t % mblocks) * MR, rows = std::min(MR, M - m0);
            float* yg = y + (n * g.m + grp * M + m0) * P + p0;
            pointwiseTailDot(xt, cols, colsPad, w + (grp * M + m0) * C, C, rows, bias ? bias + grp * M + m0 : nullptr, z ? z + (yg - y) : nullptr,
                             yg, P, a);
          }
          s0 = s1;
          continue;
        }
        // nb full column blocks side by side (see pointwiseColumnGroup) when this range holds all of their
        // channel blocks; the channel blocks of the range are [mb0, mb1).
        int64_t nb = 1;
        if (s0 % mblocks == 0 && s1 - s0 == mblocks && cols == NR)
          while (nb < colGroup && s0 + (nb + 1) * mblocks <= t1 && (pb + nb + 1) * NR <= P) ++nb;
        if (nb > 1) s1 = s0 + nb * mblocks;
        const int64_t mb0 = s0 % mblocks, mb1 = (s1 - 1) % mblocks + 1;
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
          if (kL < 16 && P % 256 == 0 && cols == NR && s1 - s0 >= 4) {
            float* buf = convScratch(1, static_cast<size_t>(kKC * NR));
            for (int64_t c = 0; c < k; ++c)
              for (int64_t u = 0; u < U; ++u) Isa::store(buf + c * NR + u * kL, Isa::load(panel + c * P + u * kL));
            panel = buf, ldp = NR;
          }
          for (int64_t mb = mb0; mb < mb1; ++mb)
            for (int64_t q = 0; q < nb; ++q) {
              const int64_t m0 = mb * MR, rows = std::min(MR, M - m0);
              const float* xg = panel + q * NR;
              const float* wg = w + (grp * M + m0) * C + c0;
              const float* bg = bias ? bias + grp * M + m0 : nullptr;
              float* yg = y + (n * g.m + grp * M + m0) * P + p0 + q * NR;
              const float* zg = z ? z + (yg - y) : nullptr;
              // The last column block: as many vectors as it has columns, the last one masked.
              if (cols == NR) pointwiseTile<U, false>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act, regs);
              else if (cols > 2 * kL) pointwiseTile<U, true>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act, regs);
              else if (cols > kL) pointwiseTile<(U < 2 ? U : 2), true>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act, regs);
              else pointwiseTile<1, true>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act, regs);
              if (sweep && finish)
                for (int64_t i = 0; i < rows; ++i) activateScalar(a, yg + i * P, cols);
            }
        }
        s0 = s1;
      }
    });
  });
}

// ---- depthwise ----

// Up to this many taps the weights are broadcast into registers once per plane (3x3 = 9).
constexpr int kMaxDepthwiseTaps = 64;

// Straight from the input rows, no padded copy (a copy costs as much as the arithmetic of a 3x3):
// a vector of outputs at column ox reads, for tap (ky, kx), input row iy = oy * sh - pt + ky * dh
// at columns ox * SX - pl + kx * dw + SX * j (lane j). Rows outside the image read a row of zeros;
// columns outside the row are masked off. The masks depend only on the vector's position and kx,
// so they are computed once per layer; vectors away from the edges use plain loads.
template <int SX>
struct DepthwiseColumns {
  int64_t vectors = 0, innerLo = 0, innerHi = 0;  // vectors [innerLo, innerHi) need no masks
  struct Box {
    Mask m;  // in a struct: std::vector<__m256i> would drop the type's alignment attribute
  };
  std::vector<Box> masks;  // [vector][kx][SX loads]
  DepthwiseColumns(const ConvGeometry& g) {
    const Window2D& v = g.win;
    vectors = (g.ow + kL - 1) / kL;
    masks.resize(static_cast<size_t>(vectors * g.kw * SX));
    innerLo = vectors, innerHi = 0;
    for (int64_t vi = 0; vi < vectors; ++vi) {
      bool inner = true;
      for (int64_t kx = 0; kx < g.kw; ++kx)
        for (int64_t h = 0; h < SX; ++h) {
          const int64_t start = vi * kL * SX - v.pl + kx * v.dw + h * kL;  // first input column of this load
          masks[static_cast<size_t>((vi * g.kw + kx) * SX + h)].m = Isa::lanes(-start, g.w - start);
          inner = inner && start >= 0 && start + kL <= g.w;
        }
      if (inner) innerLo = std::min(innerLo, vi), innerHi = vi + 1;
    }
    if (innerHi <= innerLo) innerLo = innerHi = 0;
  }
};

// One plane. KH, KW = kh, kw when known at compile time (3x3: the taps unroll, the weights stay in
// registers and each kernel row gets its own accumulator chain), 0 for any other size.
template <int SX, int KH, int KW>
inline void depthwisePlane(const ConvGeometry& g, const DepthwiseColumns<SX>& cols, const float* xp, const float* zeros, const float* wc,
                           float bias, float* yp, const ConvActivation& a, const ActRegs& act) {
  const Window2D& v = g.win;
  const int64_t kh = KH > 0 ? KH : g.kh, kw = KW > 0 ? KW : g.kw, taps = kh * kw, dw = v.dw;
  V wv[KH > 0 ? KH * KW : kMaxDepthwiseTaps];
  for (int64_t t = 0; t < taps; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  const float* rows[KH > 0 ? KH : kMaxDepthwiseTaps];
  const typename DepthwiseColumns<SX>::Box* masks = cols.masks.data();
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t ky = 0; ky < kh; ++ky) {
      const int64_t iy = oy * v.sh - v.pt + ky * v.dh;
      rows[ky] = (iy >= 0 && iy < g.h ? xp + iy * g.w : zeros) - v.pl;  // + ox * SX + kx * dw: tap kx's column
    }
    float* yr = yp + oy * g.ow;
    auto vectorAt = [&](int64_t vi, auto maskedTag) {
      constexpr bool Masked = decltype(maskedTag)::value;
      const int64_t ox = vi * kL;
      const auto* m = masks + vi * kw * SX;
      // The input vector of tap kx in kernel row r.
      auto in = [&](const float* r, int64_t kx) {
        const float* p = r + kx * dw;
        if (SX == 1) return Masked ? Isa::loadMasked(p, m[kx].m) : Isa::load(p);
        return Masked ? Isa::evens(Isa::loadMasked(p, m[kx * 2].m), Isa::loadMasked(p + kL, m[kx * 2 + 1].m)) : Isa::evens(Isa::load(p), Isa::load(p + kL));
      };
      V out;
      if (KH == 3 && KW == 3) {
        V acc[3];
        for (int ky = 0; ky < 3; ++ky) {
          const float* r = rows[ky] + ox * SX;
          acc[ky] = Isa::fma(wv[ky * 3 + 2], in(r, 2), Isa::fma(wv[ky * 3 + 1], in(r, 1), Isa::mul(wv[ky * 3], in(r, 0))));
        }
        out = Isa::add(Isa::add(acc[0], b), Isa::add(acc[1], acc[2]));
      } else {
        out = b;
        for (int64_t ky = 0; ky < kh; ++ky) {
          const float* r = rows[ky] + ox * SX;
          for (int64_t kx = 0; kx < kw; ++kx) out = Isa::fma(wv[ky * kw + kx], in(r, kx), out);
        }
      }
      out = act(out);
      if (ox + kL <= g.ow) Isa::store(yr + ox, out);
      else Isa::storeMasked(yr + ox, out, Isa::firstLanes(g.ow - ox));
    };
    int64_t vi = 0;
    for (; vi < cols.innerLo; ++vi) vectorAt(vi, std::true_type{});
    for (; vi < cols.innerHi; ++vi) vectorAt(vi, std::false_type{});
    for (; vi < cols.vectors; ++vi) vectorAt(vi, std::true_type{});
    if (!activationInRegisters(a)) activateScalar(a, yr, g.ow);
  }
}

// The two common 3x3 layers (stride 1 "same" columns, and stride 2 with a left pad of 1), no
// dilation, take the kernels below. Each walks the plane in strips one vector of outputs wide, from
// top to bottom, and keeps partial sums in registers instead of input rows: an input row is loaded
// and split into its left / middle / right taps once, multiplied by all three kernel rows, and the
// three products go to the three output rows that use it. A step then holds about 20 live vectors
// (no spills with 16 or 32 registers; the earlier kernels that kept four output rows' inputs spilled),
// and needs no shuffles across vectors beyond the taps. Measured on AVX-512 (Zen 5, one thread, thread
// CPU time, best of 60, against the kernels they replaced): PFLD 256ch 14x14 12.8 -> 5.7 us, 64ch 28x28
// 9.9 -> 5.0, 64ch 56x56 32 -> 23, stride 2 56 -> 28 16.7 -> 11.0 and 28 -> 14 5.3 -> 2.6; YuNet 64ch
// 10x10 2.4 -> 1.1, 20x20 7.0 -> 3.7, 40x40 17.5 -> 12.6, 64ch 80x80 53 -> 45; AVX2 1.3-2.0x and the
// baseline 1.2-1.8x faster on the same layers. Inside the models (one thread, per-node profile): the
// depthwise layers of PFLD 220 -> 120 us (onnxruntime 134), YuNet-s 320 270 -> 216 (287), YuNet-n 640
// 1231 -> 984 (1513).

// One input row's taps for a strip of outputs: lane j of l / m / r is the input that output j
// multiplies by kernel column 0 / 1 / 2.
struct DwTaps {
  V l, m, r;
};

// sum over kx of wv[ky * 3 + kx] * taps (a mul and two FMAs, one chain).
inline V dwDot(const V* wv, const DwTaps& t, int ky) {
  return Isa::fma(wv[ky * 3 + 2], t.r, Isa::fma(wv[ky * 3 + 1], t.m, Isa::mul(wv[ky * 3], t.l)));
}

// Stride 1, pad 1 left and right (ow == w), any row pads: output row oy reads input rows oy - pt + ky.
inline bool depthwise3x3SameApplies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 3 && g.kw == 3 && v.sh == 1 && v.sw == 1 && v.dh == 1 && v.dw == 1 && v.pl == 1 && g.ow == g.w;
}

// Keeps a loaded vector in a register: each tap feeds three FMAs, and GCC otherwise folds the load
// (also a masked one whose mask it can prove full) into each of them: three unaligned loads instead of
// one (AVX-512 56x56 planes 23 -> 34 us).
inline V inRegister(V v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+v"(v));
#endif
  return v;
}

// The taps of input row `row` (pointing at column c0) for the strip of output columns [c0, c0 + kL).
// Single: the whole row is one vector (w <= kL, c0 = 0), and the left / right taps are the row shifted
// one lane with zeros coming in. Otherwise they are loads one column to either side, masked to the row,
// or plain loads when Inner (c0 >= 1 and c0 + kL + 1 <= w): unaligned loads cost no more than shuffles.
template <bool Single, bool Inner>
inline DwTaps sameTaps(const float* row, Mask cur, Mask left, Mask right) {
  if (Inner) return {inRegister(Isa::load(row - 1)), inRegister(Isa::load(row)), inRegister(Isa::load(row + 1))};
  if (Single) {
    const V m = Isa::loadMasked(row, cur);
    return {Isa::shiftInLeft(Isa::zero(), m), m, Isa::shiftInRight(m, Isa::zero())};
  }
  return {inRegister(Isa::loadMasked(row - 1, left)), inRegister(Isa::loadMasked(row, cur)), inRegister(Isa::loadMasked(row + 1, right))};
}

// Rows ahead that a strip prefetches. A strip walks down its plane a row apart, which the hardware
// prefetchers follow poorly when the plane comes from L3: AVX-512, 64ch 56x56, one thread, planes coming
// from L3: 45 -> 31 us (the whole row ahead from the first strip only: 29-34; 2 rows ahead 38, 8 rows 35);
// from L2: unchanged. (Strips one vector wide read the plane in order and need none. Prefetching the output
// rows too was slower.)
constexpr int64_t kPrefetchRows = 4;

// A prefetch in the kernels' own bodies: GCC 12 marks a function that only prefetches as pure and
// drops the calls to it.
#if defined(__GNUC__)
#define FACESTYLE_DW_PREFETCH(p) __builtin_prefetch(p)
#else
#define FACESTYLE_DW_PREFETCH(p) ((void)0)
#endif

// Output columns [c0, c0 + kL) (Full: all of them in the row) of output rows [oy0, oy1). A: output oy's
// bias + kernel rows 0 and 1; B: output oy + 1's bias + kernel row 0. Rows outside the image add nothing
// (the reference skips them). A band that starts below row 0 takes A and B from `state` (2 kL floats),
// and one that ends above the last row leaves them there.
template <bool Single, bool Full, bool Inner, typename Act>
inline void depthwise3x3SameStrip(const ConvGeometry& g, const float* xp, const float* wc, float bias, float* yp, int64_t c0, int64_t oy0,
                                  int64_t oy1, float* state, const Act& act) {
  const int64_t w = g.w, h = g.h, pt = g.win.pt, oh = g.oh;
  V wv[9];  // local (not behind a pointer that the stores to y might alias): they stay in registers
  for (int t = 0; t < 9; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  const Mask cur = Isa::firstLanes(w - c0), left = Isa::lanes(1 - c0, w - c0 + 1), right = Isa::lanes(-c0 - 1, w - c0 - 1);
  const float* x0 = xp + c0;
  float* y0 = yp + c0;
  V A = b, B = b;
  if (oy0 > 0) {
    A = Isa::load(state), B = Isa::load(state + kL);
  } else {
    if (-pt >= 0 && -pt < h) A = Isa::add(dwDot(wv, sameTaps<Single, Inner>(x0 - pt * w, cur, left, right), 0), A);
    if (1 - pt >= 0 && 1 - pt < h) {
      const DwTaps t = sameTaps<Single, Inner>(x0 + (1 - pt) * w, cur, left, right);
      A = Isa::add(A, dwDot(wv, t, 1));
      B = Isa::add(dwDot(wv, t, 0), b);
    }
  }
  // Output oy's new input row (its kernel row 2) is oy + 2 - pt: above the image for oy < lo, below it
  // for oy >= hi, where the step only moves the partial sums along.
  const int64_t lo = std::min(oh, std::max<int64_t>(0, pt - 2)), hi = std::max(lo, std::min(oh, h + pt - 2));
  int64_t oy = oy0;
  for (; oy < std::min(hi, oy1); ++oy) {
    V out = A;
    if (oy < lo) {
      A = B, B = b;
    } else {
      if (!Single && oy + 2 - pt + kPrefetchRows < h) {
        const float* ahead = x0 + (oy + 2 - pt + kPrefetchRows) * w;  // columns c0 - 1 .. c0 + kL
        FACESTYLE_DW_PREFETCH(ahead - 1);
        FACESTYLE_DW_PREFETCH(ahead + kL);
      }
      const DwTaps t = sameTaps<Single, Inner>(x0 + (oy + 2 - pt) * w, cur, left, right);
      out = Isa::add(A, dwDot(wv, t, 2));
      A = Isa::add(B, dwDot(wv, t, 1));
      B = Isa::add(dwDot(wv, t, 0), b);
    }
    if (Full) Isa::store(y0 + oy * w, act(out));
    else Isa::storeMasked(y0 + oy * w, act(out), cur);
  }
  for (; oy < oy1; ++oy) {
    if (Full) Isa::store(y0 + oy * w, act(A));
    else Isa::storeMasked(y0 + oy * w, act(A), cur);
    A = B, B = b;
  }
  if (oy1 < oh) Isa::store(state, A), Isa::store(state + kL, B);
}

// Input + output bytes of a band of rows. The strips of a plane walk it one after the other, so a large
// plane goes in bands of rows (the partial sums of each strip wait in a small buffer between bands):
// AVX-512, one thread, 16ch 320x320 from L3: whole planes 281 us, bands of 32 / 48 / 96 KB 197-205 /
// 195-205 / 183-194 (the kernel before the strips: 203-211); 64ch 160x160 170-200 / 199-206 / 189-191
// (209-222).
constexpr int64_t kDepthwiseBandBytes = 96 * 1024;

inline int64_t depthwiseBandRows(const ConvGeometry& g) {
  const int64_t rowBytes = 4 * (g.w + g.ow);  // an input row and an output row
  if (g.w <= kL || g.oh * rowBytes <= kDepthwiseBandBytes) return g.oh;
  return std::max<int64_t>(8, kDepthwiseBandBytes / rowBytes);
}

// Floats of partial-sum state a plane's strips need between bands.
inline int64_t depthwiseBandState(const ConvGeometry& g) { return 2 * kL * ((g.ow + kL - 1) / kL); }

// state: depthwiseBandState(g) floats.
template <typename Act>
inline void depthwise3x3SamePlane(const ConvGeometry& g, const float* xp, const float* wc, float b, float* yp, float* state, const Act& act) {
  const int64_t w = g.w, oh = g.oh;
  if (w < kL) return depthwise3x3SameStrip<true, false, false>(g, xp, wc, b, yp, 0, 0, oh, state, act);
  if (w == kL) return depthwise3x3SameStrip<true, true, false>(g, xp, wc, b, yp, 0, 0, oh, state, act);
  const int64_t band = depthwiseBandRows(g);
  for (int64_t oy0 = 0; oy0 < oh; oy0 += band) {
    const int64_t oy1 = std::min(oh, oy0 + band);
    float* st = state;
    depthwise3x3SameStrip<false, true, false>(g, xp, wc, b, yp, 0, oy0, oy1, st, act);
    int64_t c0 = kL;
    for (; c0 + kL + 1 <= w; c0 += kL) depthwise3x3SameStrip<false, true, true>(g, xp, wc, b, yp, c0, oy0, oy1, st += 2 * kL, act);
    for (; c0 + kL <= w; c0 += kL) depthwise3x3SameStrip<false, true, false>(g, xp, wc, b, yp, c0, oy0, oy1, st += 2 * kL, act);
    if (c0 < w) depthwise3x3SameStrip<false, false, false>(g, xp, wc, b, yp, c0, oy0, oy1, st += 2 * kL, act);
  }
}

// Stride 2 along the row, pad 1 on the left, no dilation, any row stride and row pads (the
// downsampling layers). Output ox reads columns 2 ox - 1, 2 ox, 2 ox + 1: for the strip of outputs
// [ox0, ox0 + kL), two loads from column 2 ox0 give the even (middle) and odd (right) taps, and the
// left taps are the odd ones shifted one lane, column 2 ox0 - 1 coming from the vector before.
inline bool depthwise3x3Stride2Applies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 3 && g.kw == 3 && v.sw == 2 && v.dh == 1 && v.dw == 1 && v.pl == 1;
}

// Where a stride-2 strip's loads fall: kS2Inner, every load inside the row (ox0 > 0 and
// 2 ox0 + 2 kL <= w: no masks); kS2First, the first strip with its two vectors inside the row (the
// column before it is padding); kS2Masked, any other.
enum Stride2Cols { kS2Masked, kS2First, kS2Inner };

// The (left, even, odd) taps of input row `row` (pointing at column 2 ox0) for the outputs [ox0, ox0 + kL).
template <int Cols>
inline DwTaps stride2Taps(const float* row, Mask prevMask, Mask loMask, Mask hiMask) {
  const bool whole = Cols != kS2Masked;
  const V lo = inRegister(whole ? Isa::load(row) : Isa::loadMasked(row, loMask));
  const V hi = inRegister(whole ? Isa::load(row + kL) : Isa::loadMasked(row + kL, hiMask));
  const V prev = Cols == kS2Inner ? Isa::load(row - kL) : Cols == kS2First ? Isa::zero() : Isa::loadMasked(row - kL, prevMask);
  const V odd = Isa::odds(lo, hi);
  return {Isa::shiftInLeft(prev, odd), Isa::evens(lo, hi), odd};
}

// Output columns [ox0, ox0 + kL) (Full: all of them in the row) of every output row. With row stride
// 2, input row 2 oy - pt + 2 is kernel row 2 of output oy and kernel row 0 of output oy + 1: its
// product with kernel row 0 is kept (A), so each output row loads and splits two input rows, not three.
template <bool Full, int Cols, typename Act>
inline void depthwise3x3Stride2Strip(const ConvGeometry& g, const float* xp, const float* wc, float bias, float* yp, int64_t ox0, const Act& act) {
  const int64_t w = g.w, h = g.h, sh = g.win.sh, pt = g.win.pt, oh = g.oh, ow = g.ow;
  V wv[9];  // local, as in depthwise3x3SameStrip
  for (int t = 0; t < 9; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  const Mask prevMask = ox0 > 0 ? Isa::allLanes() : Isa::firstLanes(0);
  const Mask loMask = Isa::firstLanes(w - 2 * ox0), hiMask = Isa::firstLanes(w - 2 * ox0 - kL), outMask = Isa::firstLanes(ow - ox0);
  const float* x0 = xp + 2 * ox0;
  float* y0 = yp + ox0;
  const bool prefetch = ow > kL;  // several strips (see kPrefetchRows)
  // acc + kernel row ky times input row iy (nothing when the row is outside the image).
  auto addRow = [&](V acc, int64_t iy, int ky) {
    return iy < 0 || iy >= h ? acc : Isa::add(acc, dwDot(wv, stride2Taps<Cols>(x0 + iy * w, prevMask, loMask, hiMask), ky));
  };
  V A = addRow(b, -pt, 0);  // sh == 2: output oy's bias + kernel row 0
  // Output rows whose two new input rows lie in the image (sh == 2), [lo, hi).
  const int64_t lo = std::min(oh, std::max<int64_t>(0, pt / 2)), hi = sh == 2 ? std::max(lo, std::min(oh, (h + pt - 1) / 2)) : lo;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const int64_t iy = oy * sh - pt;
    V out;
    if (sh != 2) {
      out = addRow(addRow(addRow(b, iy, 0), iy + 1, 1), iy + 2, 2);
    } else if (oy >= lo && oy < hi) {
      if (prefetch && iy + 2 + 2 * kPrefetchRows < h) {
        const float* ahead = x0 + (iy + 1 + 2 * kPrefetchRows) * w;  // columns 2 ox0 - 1 .. 2 ox0 + 2 kL - 1 of two rows
        FACESTYLE_DW_PREFETCH(ahead - 1), FACESTYLE_DW_PREFETCH(ahead + 2 * kL - 1);
        FACESTYLE_DW_PREFETCH(ahead + w - 1), FACESTYLE_DW_PREFETCH(ahead + w + 2 * kL - 1);
      }
      const DwTaps t1 = stride2Taps<Cols>(x0 + (iy + 1) * w, prevMask, loMask, hiMask);
      const DwTaps t2 = stride2Taps<Cols>(x0 + (iy + 2) * w, prevMask, loMask, hiMask);
      out = Isa::add(Isa::add(A, dwDot(wv, t1, 1)), dwDot(wv, t2, 2));
      A = Isa::add(dwDot(wv, t2, 0), b);
    } else {
      out = addRow(addRow(A, iy + 1, 1), iy + 2, 2);
      A = addRow(b, iy + 2, 0);
    }
    if (Full) Isa::store(y0 + oy * ow, act(out));
    else Isa::storeMasked(y0 + oy * ow, act(out), outMask);
  }
}

#undef FACESTYLE_DW_PREFETCH

template <typename Act>
inline void depthwise3x3Stride2Plane(const ConvGeometry& g, const float* xp, const float* wc, float b, float* yp, const Act& act) {
  int64_t ox0 = 0;
  for (; ox0 + kL <= g.ow; ox0 += kL) {
    if (2 * ox0 + 2 * kL > g.w) depthwise3x3Stride2Strip<true, kS2Masked>(g, xp, wc, b, yp, ox0, act);
    else if (ox0 > 0) depthwise3x3Stride2Strip<true, kS2Inner>(g, xp, wc, b, yp, ox0, act);
    else depthwise3x3Stride2Strip<true, kS2First>(g, xp, wc, b, yp, ox0, act);
  }
  if (ox0 < g.ow) depthwise3x3Stride2Strip<false, kS2Masked>(g, xp, wc, b, yp, ox0, act);
}

template <int SX>
inline void depthwiseStrided(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                             const ConvActivation& a) {
  const int64_t planes = g.n * g.c, taps = g.kh * g.kw, inPlane = g.h * g.w, outPlane = g.oh * g.ow;
  const int64_t ns = planes * outPlane * taps / kDepthwiseMacsPerNs;
  const bool same = SX == 1 && depthwise3x3SameApplies(g), stride2 = SX == 2 && depthwise3x3Stride2Applies(g);
  if (same || stride2) {
    withActivation(a, [&](const auto& act) {
      runChunks(planes, ns, threads, [&](int64_t p0, int64_t p1) {
        std::vector<float> state(same ? static_cast<size_t>(depthwiseBandState(g)) : 0);
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t c = p % g.c;
          const float b = bias ? bias[c] : 0.f;
          if (same) depthwise3x3SamePlane(g, x + p * inPlane, w + c * 9, b, y + p * outPlane, state.data(), act);
          else depthwise3x3Stride2Plane(g, x + p * inPlane, w + c * 9, b, y + p * outPlane, act);
          if (!activationInRegisters(a)) activateScalar(a, y + p * outPlane, outPlane);
        }
      });
    });
    return;
  }
  const DepthwiseColumns<SX> cols(g);
  const std::vector<float> zeros(static_cast<size_t>(g.w), 0.f);  // the rows above and below the image
  const ActRegs act(a);
  runChunks(planes, ns, threads, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % g.c;
      const float b = bias ? bias[c] : 0.f;
      if (g.kh == 3 && g.kw == 3) depthwisePlane<SX, 3, 3>(g, cols, x + p * inPlane, zeros.data(), w + c * taps, b, y + p * outPlane, a, act);
      else depthwisePlane<SX, 0, 0>(g, cols, x + p * inPlane, zeros.data(), w + c * taps, b, y + p * outPlane, a, act);
    }
  });
}

// Depthwise (group == C == M), column stride 1 or 2, any row stride, pads and dilations, at most
// kMaxDepthwiseTaps taps. Returns false for other geometries.
inline bool depthwiseConv(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation& a) {
  if (g.kh * g.kw > kMaxDepthwiseTaps) return false;
  if (g.win.sw == 1) depthwiseStrided<1>(g, x, w, bias, y, threads, a);
  else if (g.win.sw == 2) depthwiseStrided<2>(g, x, w, bias, y, threads, a);
  else return false;
  return true;
}

}  // namespace
}  // namespace facestyle::cpu
