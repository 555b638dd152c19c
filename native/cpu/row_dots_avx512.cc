// rowDots (row_dots.h) with 16-lane zmm vectors; masked loads for the last K % 16.
// GCC 12 flags _mm512_reduce_add_ps / masked loads (their undefined pass-through) as uninitialized
// when inlined; a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "cpu/row_dots.h"

namespace facestyle::cpu {
namespace {

struct Isa {
  typedef __m512 V;
  static constexpr int64_t L = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V loadFirst(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static float reduceAdd(V v) { return _mm512_reduce_add_ps(v); }
};

}  // namespace
}  // namespace facestyle::cpu

#include "cpu/row_dots_kernels.h"

namespace facestyle::cpu {

void rowDotsAvx512(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y) { rowDotsFast(w, ldw, M, K, x, y); }

}  // namespace facestyle::cpu
