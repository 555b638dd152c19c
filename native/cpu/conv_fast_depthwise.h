// The depthwise conv loop shared by the scalar, AVX2 and AVX-512 builds (conv_fast_depthwise*.cc): plain
// C++ that the compiler vectorises with whatever ISA flags the including file has. Internal linkage for
// the same reason as sgemm_packed.h (one copy per ISA, never merged by the linker).
//
// Order: for each plane, for each output row. At stride 1 the interior of the row (columns every tap
// sees inside the image) goes a vector of outputs at a time: all taps are accumulated in a register and
// the row is written once. Edge columns take a checked scalar loop. Other strides accumulate tap by tap
// into the row while it sits in L1, over each tap's valid column range (no bounds checks inside).
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
  Vec w3[9];
  if (k3)
    for (int r = 0; r < 3; ++r)
      for (int kx = 0; kx < 3; ++kx) w3[r * 3 + kx] = Vec{} + wrows[r][kx];
  auto vectorAt = [&](int64_t ox) {
    Vec acc = Vec{} + b;
    if (k3) {
      for (int r = 0; r < 3; ++r) {
        const float* xr = rows[r] + ox;
        acc += w3[r * 3] * loadVec(xr) + w3[r * 3 + 1] * loadVec(xr + 1) + w3[r * 3 + 2] * loadVec(xr + 2);
      }
    } else {
      for (int r = 0; r < nrows; ++r)
        for (int64_t kx = 0; kx < s.kw; ++kx) acc += wrows[r][kx] * loadVec(rows[r] + ox + kx * s.dw);
    }
    storeVec(yr + ox, acc);
  };
  int64_t done = lo;  // interior columns [lo, done) are written
  if (hi - lo >= kLanes) {
    for (; done + kLanes <= hi; done += kLanes) vectorAt(done);
    // The interior's tail: one more vector ending at hi, overlapping columns already written (it
    // writes the same values), instead of a slow scalar loop.
    if (done < hi) vectorAt(hi - kLanes);
    done = hi;
  }
  for (int64_t c = 0; c < lo; ++c) yr[c] = depthwisePoint(s, xp, wp, b, oy, c);
  for (int64_t c = done; c < s.ow; ++c) yr[c] = depthwisePoint(s, xp, wp, b, oy, c);
}

inline void depthwisePlane(const DepthwiseShape& s, const float* __restrict xp, const float* __restrict wp, float b,
                           float* __restrict yp) {
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    float* __restrict yr = yp + oy * s.ow;
    if (s.sw == 1 && s.sh == 1 && s.kh <= 16) {
      depthwiseRowStride1(s, xp, wp, b, oy, yr);
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
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes > 1) schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const int64_t c = p % s.c;
    depthwisePlane(s, x + p * inPlane, w + c * taps, bias ? bias[c] : 0.f, y + p * outPlane);
  }
}

}  // namespace
}  // namespace facestyle::cpu
