// The mobile-layer kernels (conv_pointwise_kernels.h, conv_depthwise_kernels.h, conv_stem_kernels.h)
// built with the AVX-512 flags: 16-lane zmm vectors with mask registers,
// 8 channels x 3 vectors (24 accumulators of the 32 zmm registers) per pointwise block.
// GCC 12 flags _mm512_max_ps / _mm512_min_ps (their _mm512_undefined_ps pass-through) as
// maybe-uninitialized when inlined; a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "cpu/conv_mobile.h"

namespace facestyle::cpu {
namespace {

struct Isa {
  typedef __m512 V;
  typedef __mmask16 Mask;
  static constexpr int L = 16;
  static constexpr int MR = 8, U = 3;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void storeLowHalf(float* p, V v) { _mm256_storeu_ps(p, _mm512_castps512_ps256(v)); }  // lanes [0, 8)
  static void storeFirst(float* p, V v, int64_t n) { storeMasked(p, v, firstLanes(n)); }  // lanes [0, n), 0 <= n < L
  static Mask lanes(int64_t lo, int64_t hi) {  // lanes [lo, hi), clamped to [0, L]
    // (Clamped by value: std::clamp<int64_t>(lo, 0, L) returns a reference to a temporary, which GCC's
    // AddressSanitizer reported as used after its scope once inlined into the kernels' loops.)
    const unsigned l = static_cast<unsigned>(lo < 0 ? 0 : lo > L ? L : lo), h = static_cast<unsigned>(hi < 0 ? 0 : hi > L ? L : hi);
    return static_cast<Mask>(h > l ? ((1u << h) - 1u) & ~((1u << l) - 1u) : 0u);
  }
  static Mask allLanes() { return 0xFFFF; }
  static Mask firstLanes(int64_t n) { return lanes(0, n); }
  static V loadMasked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }  // no fault on inactive lanes
  static void storeMasked(float* p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V evens(V a, V b) {
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, idx, b);
  }
  // max / min return the second operand when either is NaN: the same results as ConvActivation::apply.
  static V odds(V a, V b) {
    const __m512i idx = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_permutex2var_ps(a, idx, b);
  }
  // Lane j < 8: max(v[2j], v[2j + 1]) (v holds no NaN); the upper lanes are unspecified.
  static V maxOfPairs(V v) { return max(odds(v, v), evens(v, v)); }
  // [prev15, cur0 .. cur14] and [cur1 .. cur15, next0].
  static V shiftInLeft(V prev, V cur) { return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 15)); }
  static V shiftInRight(V cur, V next) { return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(cur), 1)); }
  static float reduceAdd(V v) { return _mm512_reduce_add_ps(v); }
  static V relu(V v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V leaky(V v, V alpha) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ), _mm512_mul_ps(v, alpha), v); }
  static V clip(V v, V lo, V hi) { return _mm512_min_ps(_mm512_max_ps(v, lo), hi); }
};

}  // namespace
}  // namespace facestyle::cpu

#include "cpu/conv_mobile_common.h"
#include "cpu/conv_pointwise_kernels.h"
#include "cpu/conv_depthwise_kernels.h"
#include "cpu/conv_stem_kernels.h"
#include "cpu/conv_pwdw_kernels.h"
#include "cpu/conv_inverted_residual_kernels.h"

namespace facestyle::cpu {

void pointwiseMobileAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, const float* z) {
  pointwiseConv(g, x, w, bias, z, y, threads, act);
}

void depthwiseMobileAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, bool pool2x2) {
  depthwiseConv(g, x, w, bias, y, threads, act, pool2x2);
}

void stemMobileAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation& act) {
  stemConv(g, x, w, bias, y, threads, act);
}

void pointwiseDepthwiseAvx512(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                            const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y, int threads) {
  pointwiseDepthwiseConv(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads);
}

void invertedResidualAvx512(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1, const ConvGeometry& dg,
                            const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg, const float* w3, const float* b3,
                            const ConvActivation& a3, const float* z, float* y, int threads) {
  invertedResidualConv(pg, x, w1, b1, a1, dg, w2, b2, a2, qg, w3, b3, a3, z, y, threads);
}

}  // namespace facestyle::cpu
