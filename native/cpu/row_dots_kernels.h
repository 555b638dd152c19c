// The rowDots fast path (row_dots.h), written once over a SIMD level: included by row_dots_avx2.cc and
// row_dots_avx512.cc after each defines `struct Isa` (vector V, lanes L, zero / load / loadFirst (the
// first n lanes, the rest zero, no fault past them) / fma / add / reduceAdd).
#pragma once
#include <cstdint>

namespace facestyle::cpu {
namespace {

// R rows at a time, two vector sums per row over alternate vectors of x.
template <int R>
inline void rowDotsBlock(const float* w, int64_t ldw, int64_t K, const float* x, float* y) {
  using V = Isa::V;
  constexpr int64_t L = Isa::L;
  V a[R], b[R];
  for (int r = 0; r < R; ++r) a[r] = b[r] = Isa::zero();
  int64_t k = 0;
  for (; k + 2 * L <= K; k += 2 * L) {
    const V x0 = Isa::load(x + k), x1 = Isa::load(x + k + L);
    for (int r = 0; r < R; ++r) {
      a[r] = Isa::fma(Isa::load(w + r * ldw + k), x0, a[r]);
      b[r] = Isa::fma(Isa::load(w + r * ldw + k + L), x1, b[r]);
    }
  }
  if (k + L <= K) {
    const V x0 = Isa::load(x + k);
    for (int r = 0; r < R; ++r) a[r] = Isa::fma(Isa::load(w + r * ldw + k), x0, a[r]);
    k += L;
  }
  if (k < K) {
    const V x1 = Isa::loadFirst(x + k, K - k);
    for (int r = 0; r < R; ++r) b[r] = Isa::fma(Isa::loadFirst(w + r * ldw + k, K - k), x1, b[r]);
  }
  for (int r = 0; r < R; ++r) y[r] = Isa::reduceAdd(Isa::add(a[r], b[r]));
}

inline void rowDotsFast(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) rowDotsBlock<4>(w + m * ldw, ldw, K, x, y + m);
  for (; m < M; ++m) rowDotsBlock<1>(w + m * ldw, ldw, K, x, y + m);
}

}  // namespace
}  // namespace facestyle::cpu
