// The depthwise conv loop shared by the scalar, AVX2 and AVX-512 builds (conv_fast_depthwise*.cc): plain
// C++ that the compiler vectorises with whatever ISA flags the including file has. Internal linkage for
// the same reason as sgemm_packed.h (one copy per ISA, never merged by the linker).
//
// Order: for each plane, for each output row. At strides 1 and 2 the interior of the row (columns every
// tap sees inside the image) goes a vector of outputs at a time: all taps are accumulated in a register
// and the row is written once (stride 2 takes the even lanes of two loads per tap); rows too narrow for
// the full vector use 8- or 4-lane vectors; edge columns take a checked scalar loop. Other strides
// accumulate tap by tap into the row while it sits in L1, over each tap's valid column range.
// depthwisePoint() is the plainest form of the sum and the fallback for whatever the vectors leave.
//
// The including file defines FACESTYLE_DW_VECTOR_BYTES (16 / 32 / 64) to match its ISA; GCC / Clang vector
// extensions then map Vec onto xmm / ymm / zmm registers.
#pragma once
#include <cstdint>
#include <cstring>

#ifndef FACESTYLE_DW_VECTOR_BYTES
#define FACESTYLE_DW_VECTOR_BYTES 16
#endif

#include "cpu/conv_fast.h"

namespace facestyle::cpu {
namespace {

typedef float Vec __attribute__((vector_size(FACESTYLE_DW_VECTOR_BYTES)));
constexpr int64_t kLanes = FACESTYLE_DW_VECTOR_BYTES / sizeof(float);
// Narrower vectors for rows too short for a full Vec (feature maps of 8 to 16 columns are common).
typedef float Vec4 __attribute__((vector_size(16)));
#if FACESTYLE_DW_VECTOR_BYTES >= 32
typedef float Vec8 __attribute__((vector_size(32)));
#endif

template <class V>
inline V loadV(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vector load
  return v;
}
template <class V>
inline void storeV(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// The even lanes of the 2 * kLanes values a, b (stride 2: input columns 2 ox for ox = 0 .. kLanes - 1).
inline Vec evenLanes(Vec a, Vec b) {
#if FACESTYLE_DW_VECTOR_BYTES == 64
#define FACESTYLE_DW_EVEN 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#elif FACESTYLE_DW_VECTOR_BYTES == 32
#define FACESTYLE_DW_EVEN 0, 2, 4, 6, 8, 10, 12, 14
#else
#define FACESTYLE_DW_EVEN 0, 2, 4, 6
#endif
#if defined(__clang__)
  return __builtin_shufflevector(a, b, FACESTYLE_DW_EVEN);
#else
  typedef int32_t Mask __attribute__((vector_size(FACESTYLE_DW_VECTOR_BYTES)));
  return __builtin_shuffle(a, b, Mask{FACESTYLE_DW_EVEN});
#endif
#undef FACESTYLE_DW_EVEN
}

inline Vec loadVec(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vector load
  return v;
}
inline void storeVec(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

// Output columns [lo, hi) whose input column ox * stride + offset lies in [0, size).
inline void validColumns(int64_t offset, int64_t stride, int64_t size, int64_t outSize, int64_t& lo, int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = size - offset <= 0 ? 0 : (size - offset - 1) / stride + 1;
  if (hi > outSize) hi = outSize;
  if (lo > hi) lo = hi;
}

// One output value with bounds checks: the edges of a row.
inline float depthwisePoint(const DepthwiseShape& s, const float* xp, const float* wp, float b, int64_t oy, int64_t ox) {
  float acc = b;
  for (int64_t ky = 0; ky < s.kh; ++ky) {
    const int64_t iy = oy * s.sh - s.pt + ky * s.dh;
    if (iy < 0 || iy >= s.h) continue;
    for (int64_t kx = 0; kx < s.kw; ++kx) {
      const int64_t ix = ox * s.sw - s.pl + kx * s.dw;
      if (ix >= 0 && ix < s.w) acc += wp[ky * s.kw + kx] * xp[iy * s.w + ix];
    }
  }
  return acc;
}

// Stride 1: vectors of outputs over the interior, every tap accumulated in a register.
template <class V>
inline void depthwiseRowStride1(const DepthwiseShape& s, const float* xp, const float* wp, float b, int64_t oy, float* yr) {
  // Interior: columns where the leftmost tap (kx = 0) and the rightmost (kx = kw - 1) are both inside.
  int64_t lo = s.pl, hi = s.w + s.pl - (s.kw - 1) * s.dw;
  if (hi > s.ow) hi = s.ow;
  if (lo > hi) lo = hi;
  // The rows of the taps that fall inside the image, with their weights' row.
  const float* rows[16];
  const float* wrows[16];
  int nrows = 0;
  for (int64_t ky = 0; ky < s.kh; ++ky) {
    const int64_t iy = oy - s.pt + ky * s.dh;
    if (iy < 0 || iy >= s.h) continue;
    rows[nrows] = xp + iy * s.w - s.pl;  // + ox + kx * dw is the input column
    wrows[nrows] = wp + ky * s.kw;
    ++nrows;
  }
  // The common case, 3x3 undilated with all three rows inside: the nine weights broadcast once per row,
  // then 9 loads and 9 FMAs per vector of outputs.
  const bool k3 = s.kw == 3 && s.dw == 1 && nrows == 3;
  constexpr int64_t L = sizeof(V) / sizeof(float);
  V w3[9];
  if (k3)
    for (int r = 0; r < 3; ++r)
      for (int kx = 0; kx < 3; ++kx) w3[r * 3 + kx] = V{} + wrows[r][kx];
  auto vectorAt = [&](int64_t ox) {
    V acc = V{} + b;
    if (k3) {
      for (int r = 0; r < 3; ++r) {
        const float* xr = rows[r] + ox;
        acc += w3[r * 3] * loadV<V>(xr) + w3[r * 3 + 1] * loadV<V>(xr + 1) + w3[r * 3 + 2] * loadV<V>(xr + 2);
      }
    } else {
      for (int r = 0; r < nrows; ++r)
        for (int64_t kx = 0; kx < s.kw; ++kx) acc += wrows[r][kx] * loadV<V>(rows[r] + ox + kx * s.dw);
    }
    storeV<V>(yr + ox, acc);
  };
  int64_t done = lo;  // interior columns [lo, done) are written
  if (hi - lo >= L) {
    for (; done + L <= hi; done += L) vectorAt(done);
    // The interior's tail: one more vector ending at hi, overlapping columns already written (it
    // writes the same values), instead of a slow scalar loop.
    if (done < hi) vectorAt(hi - L);
    done = hi;
  }
  // Edge columns: the rows are known, only the column needs checking.
  auto edge = [&](int64_t ox) {
    float acc = b;
    for (int r = 0; r < nrows; ++r)
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        const int64_t ix = ox - s.pl + kx * s.dw;
        if (ix >= 0 && ix < s.w) acc += wrows[r][kx] * rows[r][ox + kx * s.dw];
      }
    yr[ox] = acc;
  };
  for (int64_t c = 0; c < lo; ++c) edge(c);
  for (int64_t c = done; c < s.ow; ++c) edge(c);
}

// Stride 2 along the row: each vector of outputs takes the even lanes of two input vectors per tap.
inline void depthwiseRowStride2(const DepthwiseShape& s, const float* xp, const float* wp, float b, int64_t oy, float* yr) {
  const float* rows[16];
  const float* wrows[16];
  int nrows = 0;
  for (int64_t ky = 0; ky < s.kh; ++ky) {
    const int64_t iy = oy * s.sh - s.pt + ky * s.dh;
    if (iy < 0 || iy >= s.h) continue;
    rows[nrows] = xp + iy * s.w - s.pl;  // + 2 ox + kx * dw is the input column
    wrows[nrows] = wp + ky * s.kw;
    ++nrows;
  }
  // Vector starts ox need every load inside the row: 2 ox - pl >= 0 (leftmost tap) and
  // 2 ox - pl + (kw - 1) dw + 2 kLanes - 1 <= w - 1 (rightmost tap, both vectors loaded).
  const int64_t lo = (s.pl + 1) / 2;
  const int64_t lastStart = (s.w - 2 * kLanes - (s.kw - 1) * s.dw + s.pl);  // 2 x the last valid start
  int64_t startMax = lastStart < 0 ? -1 : lastStart / 2;
  if (startMax > s.ow - kLanes) startMax = s.ow - kLanes;  // never write past the row
  int64_t done = lo;
  if (startMax >= lo) {
    auto vectorAt = [&](int64_t ox) {
      Vec acc = Vec{} + b;
      for (int r = 0; r < nrows; ++r)
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const float* p = rows[r] + 2 * ox + kx * s.dw;
          acc += wrows[r][kx] * evenLanes(loadVec(p), loadVec(p + kLanes));
        }
      storeVec(yr + ox, acc);
    };
    int64_t ox = lo;
    for (; ox <= startMax; ox += kLanes) vectorAt(ox);
    if (ox - kLanes < startMax) vectorAt(startMax);  // the tail: one vector overlapping written columns
    done = startMax + kLanes;
  }
  for (int64_t c = 0; c < lo && c < s.ow; ++c) yr[c] = depthwisePoint(s, xp, wp, b, oy, c);
  for (int64_t c = done; c < s.ow; ++c) yr[c] = depthwisePoint(s, xp, wp, b, oy, c);
}

inline void depthwisePlane(const DepthwiseShape& s, const float* __restrict xp, const float* __restrict wp, float b,
                           float* __restrict yp) {
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    float* __restrict yr = yp + oy * s.ow;
    // Stride 1: the widest vector the row's interior (columns all taps see inside) has room for.
    const int64_t interior = s.w - (s.kw - 1) * s.dw;
    if (s.sw == 1 && s.sh == 1 && s.kh <= 16 && interior >= 4) {
      if (interior >= kLanes) depthwiseRowStride1<Vec>(s, xp, wp, b, oy, yr);
#if FACESTYLE_DW_VECTOR_BYTES >= 32
      else if (interior >= 8) depthwiseRowStride1<Vec8>(s, xp, wp, b, oy, yr);
#endif
      else depthwiseRowStride1<Vec4>(s, xp, wp, b, oy, yr);
      continue;
    }
    if (s.sw == 2 && s.kh <= 16) {
      depthwiseRowStride2(s, xp, wp, b, oy, yr);
      continue;
    }
    for (int64_t ox = 0; ox < s.ow; ++ox) yr[ox] = b;
    for (int64_t ky = 0; ky < s.kh; ++ky) {
      const int64_t iy = oy * s.sh - s.pt + ky * s.dh;
      if (iy < 0 || iy >= s.h) continue;
      const float* __restrict xr = xp + iy * s.w;
      for (int64_t kx = 0; kx < s.kw; ++kx) {
        const int64_t off = kx * s.dw - s.pl;
        int64_t lo, hi;
        validColumns(off, s.sw, s.w, s.ow, lo, hi);
        const float wv = wp[ky * s.kw + kx];
        for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox * s.sw + off];
      }
    }
  }
}

inline void depthwiseAll(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  const int64_t planes = s.n * s.c, inPlane = s.h * s.w, outPlane = s.oh * s.ow, taps = s.kh * s.kw;
  if (planes <= 0 || outPlane <= 0) return;
  const int nt = threads < 1 ? 1 : threads;
  // Dynamic: planes are cheap and many; a thread the OS preempts then delays the others less.
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes > 1) schedule(dynamic, 4)
  for (int64_t p = 0; p < planes; ++p) {
    const int64_t c = p % s.c;
    depthwisePlane(s, x + p * inPlane, w + c * taps, bias ? bias[c] : 0.f, y + p * outPlane);
  }
}

}  // namespace
}  // namespace facestyle::cpu
