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
// - depthwise: one output row a vector at a time, straight from the input rows (no padded copy):
//   the weights in registers, one FMA per tap, bias and activation in registers, one store. The
//   common 3x3 layers (stride 1 "same", stride 2) load each input vector once and build the shifted
//   taps in registers (four rows at a time on planes one vector wide); other shapes load each tap
//   (masked at the row's edges).
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

// ---- pointwise ----

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
  for (int64_t c = 0; c < kc; ++c) {
    const float* xr = x + c * ldx;
    V xv[U];
    for (int u = 0; u < U; ++u) xv[u] = Tail ? Isa::loadMasked(xr + u * kL, mask[u]) : Isa::load(xr + u * kL);
    for (int i = 0; i < R; ++i) {
      const V wv = Isa::set1(w[i * ldw + c]);
      for (int u = 0; u < U; ++u) acc[i][u] = Isa::fma(wv, xv[u], acc[i][u]);
    }
  }
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

// The last column block of a plane when it has at most half a vector of columns (14x14 and 10x10 planes
// leave 4 with AVX-512): as a register block it would be one vector, mostly empty, doing one broadcast
// of W per FMA, and it cost as much as a full block (PFLD 256->128 at 14x14: 60 us against 50 us for
// the 192 columns of 12x16). Here the vectors run along the input channels instead: xt holds the
// block's columns of X transposed (colsPad rows of C, zero past cols, colsPad a multiple of 4), and each
// output is the dot product of a W row and an xt row, two W rows x four xt rows at a time, finished in
// scalars: y = act(sum + bias + z).
inline void pointwiseTailDot(const float* xt, int64_t cols, int64_t colsPad, const float* w, int64_t C, int64_t rows, const float* bias,
                             const float* z, float* y, int64_t ldy, const ConvActivation& a) {
  const int64_t full = C / kL * kL;
  const Mask last = Isa::firstLanes(C - full);
  for (int64_t i0 = 0; i0 < rows; i0 += 2) {
    const bool two = i0 + 1 < rows;
    const float* w0 = w + i0 * C;
    const float* w1 = two ? w0 + C : w0;  // one row left: the second is computed again and dropped
    for (int64_t j0 = 0; j0 < colsPad; j0 += 4) {
      const float* x0 = xt + j0 * C;
      V acc[2][4];
      for (int j = 0; j < 4; ++j) acc[0][j] = acc[1][j] = Isa::zero();
      for (int64_t c = 0; c < full; c += kL) {
        const V a0 = Isa::load(w0 + c), a1 = Isa::load(w1 + c);
        for (int j = 0; j < 4; ++j) {
          const V xv = Isa::load(x0 + j * C + c);
          acc[0][j] = Isa::fma(a0, xv, acc[0][j]);
          acc[1][j] = Isa::fma(a1, xv, acc[1][j]);
        }
      }
      if (full < C) {
        const V a0 = Isa::loadMasked(w0 + full, last), a1 = Isa::loadMasked(w1 + full, last);
        for (int j = 0; j < 4; ++j) {
          const V xv = Isa::loadMasked(x0 + j * C + full, last);
          acc[0][j] = Isa::fma(a0, xv, acc[0][j]);
          acc[1][j] = Isa::fma(a1, xv, acc[1][j]);
        }
      }
      for (int r = 0; r < (two ? 2 : 1); ++r)
        for (int j = 0; j < 4 && j0 + j < cols; ++j) {
          const int64_t at = (i0 + r) * ldy + j0 + j;
          const float v = Isa::reduceAdd(acc[r][j]) + (bias ? bias[i0 + r] : 0.f) + (z ? z[at] : 0.f);
          y[at] = a.apply(v);
        }
    }
  }
}

// Input channels per pass: the X panel of a column block (kKC x U vectors) stays in L1 while every
// channel block of the task range reads it.
constexpr int64_t kKC = 128;

// 1x1 / stride 1 / unpadded conv, any group count: y = act(conv + bias + z), z (Y's shape) optional; it
// may be y itself (each value of z is read before that value of y is written). Tasks are (image, group,
// column block, channel block) with channel blocks innermost. Within its range a thread walks the channel
// blocks of one column block together, one slice of input channels at a time, so they all read that X
// panel slice from L1.
inline void pointwiseConv(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                          const ConvActivation& a) {
  constexpr int64_t MR = Isa::MR, U = Isa::U, NR = U * kL;
  const int64_t C = g.cg(), M = g.mg(), P = g.oh * g.ow;
  const int64_t mblocks = (M + MR - 1) / MR, pblocks = (P + NR - 1) / NR;
  const int64_t tasks = g.n * g.group * pblocks * mblocks;
  const int64_t slices = (C + kKC - 1) / kKC, kc = (C + slices - 1) / slices;
  const ActRegs act(a);
  const bool sweep = !activationInRegisters(a);
  runChunks(tasks, g.n * g.m * C * P / kPointwiseMacsPerNs, threads, [&](int64_t t0, int64_t t1) {
    for (int64_t s0 = t0; s0 < t1;) {
      // [s0, s1): the tasks of this range in one column block.
      const int64_t s1 = std::min(t1, (s0 / mblocks + 1) * mblocks);
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
          pointwiseTailDot(xt, cols, colsPad, w + (grp * M + m0) * C, C, rows, bias ? bias + grp * M + m0 : nullptr, z ? z + (yg - y) : nullptr, yg, P,
                           a);
        }
        s0 = s1;
        continue;
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
        if (kL < 16 && P % 256 == 0 && cols == NR && s1 - s0 >= 4) {
          float* buf = convScratch(1, static_cast<size_t>(kKC * NR));
          for (int64_t c = 0; c < k; ++c)
            for (int64_t u = 0; u < U; ++u) Isa::store(buf + c * NR + u * kL, Isa::load(panel + c * P + u * kL));
          panel = buf, ldp = NR;
        }
        for (int64_t t = s0; t < s1; ++t) {
          const int64_t m0 = (t % mblocks) * MR, rows = std::min(MR, M - m0);
          const float* xg = panel;
          const float* wg = w + (grp * M + m0) * C + c0;
          const float* bg = bias ? bias + grp * M + m0 : nullptr;
          float* yg = y + (n * g.m + grp * M + m0) * P + p0;
          const float* zg = z ? z + (yg - y) : nullptr;
          // The last column block: as many vectors as it has columns, the last one masked.
          if (cols == NR) pointwiseRows<U, false>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act);
          else if (cols > 2 * kL) pointwiseRows<U, true>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act);
          else if (cols > kL) pointwiseRows<(U < 2 ? U : 2), true>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act);
          else pointwiseRows<1, true>(rows, xg, ldp, wg, C, k, bg, zg, yg, P, cols, accumulate, finish, act);
          if (sweep && finish)
            for (int64_t i = 0; i < rows; ++i) activateScalar(a, yg + i * P, cols);
        }
      }
      s0 = s1;
    }
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

// The most common depthwise layer, 3x3 / stride 1 / "same" columns (pad 1 left and right, no
// dilation), without unaligned loads: each input row is read one vector at a time and its left and
// right neighbours (columns ox - 1 and ox + 1) are built in registers from the previous / next vector.
// Isa::DWR output rows per step share their input rows (3 with AVX-512's 32 registers: 3% faster than 2
// over YuNet's and PFLD's layers, up to 12% on 20x20 and 28x28 planes; 2 with AVX2's 16 registers,
// where 3 spilled and ran 6% slower). Row pads are any (rows outside the image read `zeros`).
inline bool depthwise3x3SameApplies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 3 && g.kw == 3 && v.sh == 1 && v.sw == 1 && v.dh == 1 && v.dw == 1 && v.pl == 1 && g.ow == g.w;
}

template <int R>
inline void depthwise3x3SameRows(const ConvGeometry& g, const float* const* in, const V* wv, V b, float* y, const ActRegs& act) {
  const int64_t w = g.w;
  V prev[R + 2], cur[R + 2];
  for (int k = 0; k < R + 2; ++k) prev[k] = Isa::zero(), cur[k] = Isa::loadMasked(in[k], Isa::firstLanes(w));
  for (int64_t ox = 0; ox < w; ox += kL) {
    V left[R + 2], right[R + 2];
    const bool whole = ox + 2 * kL <= w;
    const Mask nextMask = Isa::firstLanes(w - ox - kL);
    for (int k = 0; k < R + 2; ++k) {
      const V next = whole ? Isa::load(in[k] + ox + kL) : Isa::loadMasked(in[k] + ox + kL, nextMask);
      left[k] = Isa::shiftInLeft(prev[k], cur[k]);
      right[k] = Isa::shiftInRight(cur[k], next);
      prev[k] = cur[k];
      cur[k] = next;
    }
    for (int r = 0; r < R; ++r) {
      V acc[3];
      for (int ky = 0; ky < 3; ++ky)
        acc[ky] = Isa::fma(wv[ky * 3 + 2], right[r + ky], Isa::fma(wv[ky * 3 + 1], prev[r + ky], Isa::mul(wv[ky * 3], left[r + ky])));
      const V out = act(Isa::add(Isa::add(acc[0], b), Isa::add(acc[1], acc[2])));
      float* yr = y + r * g.ow + ox;
      if (ox + kL <= g.ow) Isa::store(yr, out);
      else Isa::storeMasked(yr, out, Isa::firstLanes(g.ow - ox));
    }
  }
}

inline void depthwise3x3SamePlane(const ConvGeometry& g, const float* xp, const float* zeros, const float* wc, float bias, float* yp,
                                  const ConvActivation& a, const ActRegs& act) {
  V wv[9];
  for (int t = 0; t < 9; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  constexpr int RS = Isa::DWR;  // output rows per step (see the Isa structs)
  static_assert(RS >= 1 && RS <= 4, "1 to 4 output rows per step");
  for (int64_t oy = 0; oy < g.oh; oy += RS) {
    const float* in[RS + 2];
    const int rows = static_cast<int>(std::min<int64_t>(RS, g.oh - oy));
    for (int k = 0; k < rows + 2; ++k) {
      const int64_t iy = oy - g.win.pt + k;
      in[k] = iy >= 0 && iy < g.h ? xp + iy * g.w : zeros;
    }
    switch (rows) {
      case 4: depthwise3x3SameRows<(RS >= 4 ? 4 : 1)>(g, in, wv, b, yp + oy * g.ow, act); break;
      case 3: depthwise3x3SameRows<(RS >= 3 ? 3 : 1)>(g, in, wv, b, yp + oy * g.ow, act); break;
      case 2: depthwise3x3SameRows<2>(g, in, wv, b, yp + oy * g.ow, act); break;
      default: depthwise3x3SameRows<1>(g, in, wv, b, yp + oy * g.ow, act); break;
    }
    if (!activationInRegisters(a)) activateScalar(a, yp + oy * g.ow, rows * g.ow);
  }
}

// The same layer on planes at most one vector wide (w <= kL: PFLD's 14x14 and YuNet's 10x10 planes
// with AVX-512): the loop above then spends many of its instructions on the empty second vector and on
// masks. Here each input row is one masked load (mask made once per plane), its neighbours are that
// vector shifted with zeros coming in, and four output rows per step share their six input rows
// (PFLD 256ch 14x14: 17 -> 13 us, 128ch 8 -> 6.7 us; one thread, thread CPU time).
template <int R>
inline void depthwise3x3NarrowRows(const float* const* in, const V* wv, V b, float* y, int64_t ow, Mask rowMask, const ActRegs& act) {
  V left[R + 2], mid[R + 2], right[R + 2];
  for (int k = 0; k < R + 2; ++k) {
    mid[k] = Isa::loadMasked(in[k], rowMask);
    left[k] = Isa::shiftInLeft(Isa::zero(), mid[k]);
    right[k] = Isa::shiftInRight(mid[k], Isa::zero());
  }
  for (int r = 0; r < R; ++r) {
    V acc[3];
    for (int ky = 0; ky < 3; ++ky)
      acc[ky] = Isa::fma(wv[ky * 3 + 2], right[r + ky], Isa::fma(wv[ky * 3 + 1], mid[r + ky], Isa::mul(wv[ky * 3], left[r + ky])));
    Isa::storeMasked(y + r * ow, act(Isa::add(Isa::add(acc[0], b), Isa::add(acc[1], acc[2]))), rowMask);
  }
}

inline void depthwise3x3NarrowPlane(const ConvGeometry& g, const float* xp, const float* zeros, const float* wc, float bias, float* yp,
                                    const ConvActivation& a, const ActRegs& act) {
  V wv[9];
  for (int t = 0; t < 9; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  const Mask rowMask = Isa::firstLanes(g.w);  // ow == w here
  for (int64_t oy = 0; oy < g.oh; oy += 4) {
    const int rows = static_cast<int>(std::min<int64_t>(4, g.oh - oy));
    const float* in[6];
    for (int k = 0; k < rows + 2; ++k) {
      const int64_t iy = oy - g.win.pt + k;
      in[k] = iy >= 0 && iy < g.h ? xp + iy * g.w : zeros;
    }
    float* y = yp + oy * g.ow;
    switch (rows) {
      case 4: depthwise3x3NarrowRows<4>(in, wv, b, y, g.ow, rowMask, act); break;
      case 3: depthwise3x3NarrowRows<3>(in, wv, b, y, g.ow, rowMask, act); break;
      case 2: depthwise3x3NarrowRows<2>(in, wv, b, y, g.ow, rowMask, act); break;
      default: depthwise3x3NarrowRows<1>(in, wv, b, y, g.ow, rowMask, act); break;
    }
    if (!activationInRegisters(a)) activateScalar(a, y, rows * g.ow);
  }
}

// 3x3 / stride 2 with pad 1 on the left, no dilation (the downsampling layers): output ox reads
// columns 2 ox - 1, 2 ox, 2 ox + 1. Two loads give the even and odd columns of a vector of outputs;
// 2 ox - 1 is the odd vector shifted one lane, carrying the previous vector's last odd column.
inline bool depthwise3x3Stride2Applies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 3 && g.kw == 3 && v.sw == 2 && v.dh == 1 && v.dw == 1 && v.pl == 1;
}

inline void depthwise3x3Stride2Plane(const ConvGeometry& g, const float* xp, const float* zeros, const float* wc, float bias, float* yp,
                                     const ConvActivation& a, const ActRegs& act) {
  V wv[9];
  for (int t = 0; t < 9; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  const int64_t w = g.w;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const float* in[3];
    for (int k = 0; k < 3; ++k) {
      const int64_t iy = oy * g.win.sh - g.win.pt + k;
      in[k] = iy >= 0 && iy < g.h ? xp + iy * g.w : zeros;
    }
    float* yr = yp + oy * g.ow;
    V prevOdd[3] = {Isa::zero(), Isa::zero(), Isa::zero()};
    for (int64_t ox = 0; ox < g.ow; ox += kL) {
      const int64_t c0 = 2 * ox;  // input column of lane 0's middle tap
      const bool whole = c0 + 2 * kL <= w;
      const Mask m0 = Isa::firstLanes(w - c0), m1 = Isa::firstLanes(w - c0 - kL);
      V acc[3];
      for (int k = 0; k < 3; ++k) {
        const V lo = whole ? Isa::load(in[k] + c0) : Isa::loadMasked(in[k] + c0, m0);
        const V hi = whole ? Isa::load(in[k] + c0 + kL) : Isa::loadMasked(in[k] + c0 + kL, m1);
        const V even = Isa::evens(lo, hi), odd = Isa::odds(lo, hi);
        const V left = Isa::shiftInLeft(prevOdd[k], odd);
        prevOdd[k] = odd;
        acc[k] = Isa::fma(wv[k * 3 + 2], odd, Isa::fma(wv[k * 3 + 1], even, Isa::mul(wv[k * 3], left)));
      }
      const V out = act(Isa::add(Isa::add(acc[0], b), Isa::add(acc[1], acc[2])));
      if (ox + kL <= g.ow) Isa::store(yr + ox, out);
      else Isa::storeMasked(yr + ox, out, Isa::firstLanes(g.ow - ox));
    }
    if (!activationInRegisters(a)) activateScalar(a, yr, g.ow);
  }
}

template <int SX>
inline void depthwiseStrided(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                             const ConvActivation& a) {
  const int64_t planes = g.n * g.c, taps = g.kh * g.kw, inPlane = g.h * g.w, outPlane = g.oh * g.ow;
  const DepthwiseColumns<SX> cols(g);
  const std::vector<float> zeros(static_cast<size_t>(g.w), 0.f);  // the rows above and below the image
  const ActRegs act(a);
  const bool same = SX == 1 && depthwise3x3SameApplies(g), stride2 = SX == 2 && depthwise3x3Stride2Applies(g);
  runChunks(planes, planes * outPlane * taps / kDepthwiseMacsPerNs, threads, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % g.c;
      const float b = bias ? bias[c] : 0.f;
      if (stride2) depthwise3x3Stride2Plane(g, x + p * inPlane, zeros.data(), w + c * taps, b, y + p * outPlane, a, act);
      else if (same && g.w <= kL) depthwise3x3NarrowPlane(g, x + p * inPlane, zeros.data(), w + c * taps, b, y + p * outPlane, a, act);
      else if (same) depthwise3x3SamePlane(g, x + p * inPlane, zeros.data(), w + c * taps, b, y + p * outPlane, a, act);
      else if (g.kh == 3 && g.kw == 3) depthwisePlane<SX, 3, 3>(g, cols, x + p * inPlane, zeros.data(), w + c * taps, b, y + p * outPlane, a, act);
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
