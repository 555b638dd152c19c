// rowDots (row_dots.h) with 8-lane ymm vectors; maskload for the last K % 8.
#include <immintrin.h>

#include "cpu/row_dots.h"

namespace facestyle::cpu {
namespace {

struct Isa {
  typedef __m256 V;
  static constexpr int64_t L = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V loadFirst(const float* p, int64_t n) {  // lanes below n; maskload does not fault on the others
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane));
  }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static float reduceAdd(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }
};

}  // namespace
}  // namespace facestyle::cpu

#include "cpu/row_dots_kernels.h"

namespace facestyle::cpu {

void rowDotsAvx2(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y) { rowDotsFast(w, ldw, M, K, x, y); }

}  // namespace facestyle::cpu
