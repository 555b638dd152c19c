// Depthwise conv kernels for mobile layers (group == C == M), one copy per SIMD level (see
// conv_mobile_common.h, included before this file with the ISA's `struct Isa`).
//
// Straight from the input rows (no padded copy), the weights in registers, one FMA per tap, bias and
// activation in registers, one store per output vector. The common 3x3 layers (stride 1 "same", stride
// 2) walk each plane in strips one vector wide, top to bottom, loading each input row of a strip once
// and keeping partial sums of the output rows it feeds; other shapes go one output row at a time and
// load each tap (masked at the row's edges).
// The CPU reference it is tested against: conv2dReference (native/cpu/conv.cc), in
// native/test/test_conv_mobile.cc at every SIMD level.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/conv_mobile_common.h"

namespace facestyle::cpu {
namespace {

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
      else Isa::storeFirst(yr + ox, out, g.ow - ox);
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

// The pooled path (depthwise3x3SameStrip with Pool): the 3x3 "same" layers with an activation applied in
// registers (the pool comes after it) and an output of at least 2x2.
inline bool depthwisePooledApplies(const ConvGeometry& g, const ConvActivation& a) {
  return depthwise3x3SameApplies(g) && activationInRegisters(a) && g.oh >= 2 && g.ow >= 2;
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

// Where a strip reads the input rows of its plane: row iy (of the image, 0 <= iy < h) at xp + iy * w,
// for the rows [.., end) it holds (a whole plane: the plane and h; the fused pointwise + depthwise kernel:
// the band of rows it has just computed, xp then pointing where row 0 would be, see conv_pwdw_kernels.h; the
// inverted residual kernel writes its depthwise output rows through it the same way). F: float or const float.
template <typename F>
inline F* rowZeroOf(F* band, int64_t firstRow, int64_t w) {
  // In integers: row 0 may lie before the band's buffer.
  return reinterpret_cast<F*>(reinterpret_cast<uintptr_t>(band) - static_cast<uintptr_t>(firstRow * w) * sizeof(float));
}

// Output columns [c0, c0 + kL) (Full: all of them in the row) of output rows [oy0, oy1). A: output oy's
// bias + kernel rows 0 and 1; B: output oy + 1's bias + kernel row 0. Rows outside the image add nothing
// (the reference skips them). A band that resumes (this strip ran the rows just above it last) takes A
// and B from `state` (2 kL floats); any other computes them from the two input rows above oy0. A band
// that ends above the last row leaves them in `state`. Reads input rows [oy0 - pt, oy1 + 2 - pt) (from
// oy0 + 2 - pt when it resumes), those inside the image, row iy at xp + iy * w; prefetches rows below
// `end` only (see rowZeroOf).
// Pool: yp is the plane of the 2x2 / stride-2 max pool of the activated output (rows of ow / 2): an
// even output row waits in a register for the odd one after it, the two are maxed lane by lane, then
// neighbouring lanes (evens / odds), and the strip's kL / 2 pooled values go out with one masked store.
// NaN as in the MaxPool kernel (maxPool2x2Stride2Row: std::max from the lowest float): ignored, the
// lowest float when all four are NaN. Isa::max(a, b) returns b when either is NaN, so the running max
// starts from the lowest float and each new value goes first.
// Bands must then start on even rows (a pair never straddles two). An odd last row or column is dropped,
// as MaxPool does with no padding and ceil_mode 0.
template <bool Single, bool Full, bool Inner, bool Pool, typename Act>
inline void depthwise3x3SameStrip(const ConvGeometry& g, const float* xp, int64_t end, const float* wc, float bias, float* yp, int64_t c0,
                                  int64_t oy0, int64_t oy1, bool resume, float* state, const Act& act) {
  const int64_t w = g.w, h = g.h, pt = g.win.pt, oh = g.oh;
  V wv[9];  // local (not behind a pointer that the stores to y might alias): they stay in registers
  for (int t = 0; t < 9; ++t) wv[t] = Isa::set1(wc[t]);
  const V b = Isa::set1(bias);
  const Mask cur = Isa::firstLanes(w - c0), left = Isa::lanes(1 - c0, w - c0 + 1), right = Isa::lanes(-c0 - 1, w - c0 - 1);
  const float* const x0 = xp + c0;  // input row iy at column c0: x0 + iy * w
  auto row = [=](int64_t iy) { return x0 + iy * w; };
  float* y0 = yp + c0;
  const int64_t pw = g.ow / 2;  // Pool: pooled row length; the strip's pooled columns start at c0 / 2
  const bool pooledFull = pw - c0 / 2 >= kL / 2;  // a plain half-vector store (see Isa::storeLowHalf), else pw - c0 / 2 (>= 0) lanes
  const V lowest = Isa::set1(std::numeric_limits<float>::lowest());
  V evenRow = lowest;
  auto put = [&](int64_t oy, V v) {
    if constexpr (Pool) {
      if ((oy & 1) == 0) {
        evenRow = Isa::max(v, lowest);  // never NaN
      } else {  // (an odd row always has its pooled row: oy / 2 < oh / 2)
        const V m = Isa::max(v, evenRow);  // never NaN
        const V p = Isa::maxOfPairs(m);
        if (pooledFull) Isa::storeLowHalf(yp + (oy / 2) * pw + c0 / 2, p);
        else Isa::storeFirst(yp + (oy / 2) * pw + c0 / 2, p, pw - c0 / 2);
      }
    } else if (Full) {
      Isa::store(y0 + oy * w, v);
    } else {
      Isa::storeFirst(y0 + oy * w, v, w - c0);
    }
  };
  V A = b, B = b;
  if (resume) {
    A = Isa::load(state), B = Isa::load(state + kL);
  } else {
    const int64_t iy = oy0 - pt;  // output oy0's kernel row 0
    if (iy >= 0 && iy < h) A = Isa::add(dwDot(wv, sameTaps<Single, Inner>(row(iy), cur, left, right), 0), A);
    if (iy + 1 >= 0 && iy + 1 < h) {
      const DwTaps t = sameTaps<Single, Inner>(row(iy + 1), cur, left, right);
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
      if (!Single && oy + 2 - pt + kPrefetchRows < end) {
        const float* ahead = row(oy + 2 - pt + kPrefetchRows);  // columns c0 - 1 .. c0 + kL
        FACESTYLE_DW_PREFETCH(ahead - 1);
        FACESTYLE_DW_PREFETCH(ahead + kL);
      }
      const DwTaps t = sameTaps<Single, Inner>(row(oy + 2 - pt), cur, left, right);
      out = Isa::add(A, dwDot(wv, t, 2));
      A = Isa::add(B, dwDot(wv, t, 1));
      B = Isa::add(dwDot(wv, t, 0), b);
    }
    put(oy, act(out));
  }
  for (; oy < oy1; ++oy) {
    put(oy, act(A));
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

// Output rows [oy0, oy1) of one plane, its strips one after the other (resume: each continues from its
// partial sums in `state`, depthwiseBandState(g) floats). Pool: yp is the pooled plane (see
// depthwise3x3SameStrip) and oy0 even.
template <bool Pool, typename Act>
[[gnu::always_inline]] inline void depthwise3x3SameRows(const ConvGeometry& g, const float* xp, int64_t end, const float* wc, float b, float* yp,
                                                        int64_t oy0, int64_t oy1, bool resume, float* state, const Act& act) {
  const int64_t w = g.w;
  if (w < kL) return depthwise3x3SameStrip<true, false, false, Pool>(g, xp, end, wc, b, yp, 0, oy0, oy1, resume, state, act);
  if (w == kL) return depthwise3x3SameStrip<true, true, false, Pool>(g, xp, end, wc, b, yp, 0, oy0, oy1, resume, state, act);
  float* st = state;
  depthwise3x3SameStrip<false, true, false, Pool>(g, xp, end, wc, b, yp, 0, oy0, oy1, resume, st, act);
  int64_t c0 = kL;
  for (; c0 + kL + 1 <= w; c0 += kL) depthwise3x3SameStrip<false, true, true, Pool>(g, xp, end, wc, b, yp, c0, oy0, oy1, resume, st += 2 * kL, act);
  for (; c0 + kL <= w; c0 += kL) depthwise3x3SameStrip<false, true, false, Pool>(g, xp, end, wc, b, yp, c0, oy0, oy1, resume, st += 2 * kL, act);
  if (c0 < w) depthwise3x3SameStrip<false, false, false, Pool>(g, xp, end, wc, b, yp, c0, oy0, oy1, resume, st += 2 * kL, act);
}

// A whole plane, in bands of rows when it is large (depthwiseBandRows). state: depthwiseBandState(g) floats.
template <bool Pool, typename Act>
inline void depthwise3x3SamePlane(const ConvGeometry& g, const float* xp, const float* wc, float b, float* yp, float* state, const Act& act) {
  const int64_t oh = g.oh;
  int64_t band = g.w <= kL ? oh : depthwiseBandRows(g);
  // (Inlined into the caller: without always_inline on depthwise3x3SameRows, 64ch 56x56 planes took 10%
  // longer. 14x14 planes, one thread, take 4-5% longer than before the strips could start at any row.)
  if (band >= oh) return depthwise3x3SameRows<Pool>(g, xp, g.h, wc, b, yp, 0, oh, false, state, act);
  if (Pool) band &= ~int64_t(1);  // even: a pooled row pair never straddles two bands
  for (int64_t oy0 = 0; oy0 < oh; oy0 += band)
    depthwise3x3SameRows<Pool>(g, xp, g.h, wc, b, yp, oy0, std::min(oh, oy0 + band), oy0 > 0, state, act);
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
  const Mask loMask = Isa::firstLanes(w - 2 * ox0), hiMask = Isa::firstLanes(w - 2 * ox0 - kL);
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
    else Isa::storeFirst(y0 + oy * ow, act(out), ow - ox0);
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

// pool: y is the pooled output (depthwise3x3SameStrip); the caller checked depthwisePooledSupports.
template <int SX>
inline void depthwiseStrided(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                             const ConvActivation& a, bool pool = false) {
  const int64_t planes = g.n * g.c, taps = g.kh * g.kw, inPlane = g.h * g.w, outPlane = pool ? (g.oh / 2) * (g.ow / 2) : g.oh * g.ow;
  const int64_t ns = planes * g.oh * g.ow * taps / kDepthwiseMacsPerNs;  // (the conv's work, pooled or not)
  const bool same = SX == 1 && depthwise3x3SameApplies(g), stride2 = SX == 2 && depthwise3x3Stride2Applies(g);
  if (same || stride2) {
    withActivation(a, [&](const auto& act) {
      runChunks(planes, ns, threads, [&](int64_t p0, int64_t p1) {
        std::vector<float> state(same ? static_cast<size_t>(depthwiseBandState(g)) : 0);
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t c = p % g.c;
          const float b = bias ? bias[c] : 0.f;
          if (same && pool) depthwise3x3SamePlane<true>(g, x + p * inPlane, w + c * 9, b, y + p * outPlane, state.data(), act);
          else if (same) depthwise3x3SamePlane<false>(g, x + p * inPlane, w + c * 9, b, y + p * outPlane, state.data(), act);
          else depthwise3x3Stride2Plane(g, x + p * inPlane, w + c * 9, b, y + p * outPlane, act);
          if (!activationInRegisters(a)) activateScalar(a, y + p * outPlane, outPlane);  // (never with pool)
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
// kMaxDepthwiseTaps taps. Returns false for other geometries. pool: the 2x2 / stride-2 max pool of the
// output instead (3x3 "same" stride 1 with an activation in registers only; false otherwise).
inline bool depthwiseConv(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation& a, bool pool = false) {
  if (g.kh * g.kw > kMaxDepthwiseTaps) return false;
  if (pool) {
    if (!depthwisePooledApplies(g, a)) return false;
    depthwiseStrided<1>(g, x, w, bias, y, threads, a, true);
    return true;
  }
  if (g.win.sw == 1) depthwiseStrided<1>(g, x, w, bias, y, threads, a);
  else if (g.win.sw == 2) depthwiseStrided<2>(g, x, w, bias, y, threads, a);
  else return false;
  return true;
}

}  // namespace
}  // namespace facestyle::cpu
