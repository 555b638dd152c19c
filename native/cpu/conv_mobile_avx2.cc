// The mobile-layer kernels (conv_pointwise_kernels.h, conv_depthwise_kernels.h, conv_stem_kernels.h)
// built with the AVX2 + FMA flags: 8-lane ymm vectors, 4 channels x 3 vectors
// (12 accumulators of the 16 ymm registers) per pointwise block.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "cpu/conv_mobile.h"

namespace facestyle::cpu {
namespace {

struct Isa {
  typedef __m256 V;
  typedef __m256i Mask;  // all bits set: lane active
  static constexpr int L = 8;
  static constexpr int MR = 4, U = 3;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  // Lanes [0, 4). Where all of them go out this is what to use: AMD's Zen cores run a masked store
  // (vmaskmovps) as a long microcoded sequence.
  static void storeLowHalf(float* p, V v) { _mm_storeu_ps(p, _mm256_castps256_ps128(v)); }
  // Lanes [0, n), 0 <= n < 8, in at most three plain stores (4, 2, 1 lanes), for the same reason.
  static void storeFirst(float* p, V v, int64_t n) {
    __m128 h = _mm256_castps256_ps128(v);
    if (n >= 4) _mm_storeu_ps(p, h), h = _mm256_extractf128_ps(v, 1), p += 4, n -= 4;
    if (n >= 2) _mm_storel_pi(reinterpret_cast<__m64*>(p), h), h = _mm_movehl_ps(h, h), p += 2, n -= 2;
    if (n) _mm_store_ss(p, h);
  }
  static Mask lanes(int64_t lo, int64_t hi) {  // lanes [lo, hi), clamped to [0, L]
    const __m256i j = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // (Clamped by value: std::clamp<int64_t>(lo, 0, L) returns a reference to a temporary, which GCC's
    // AddressSanitizer reported as used after its scope once inlined into the kernels' loops.)
    const int l = static_cast<int>(lo < 0 ? 0 : lo > L ? L : lo), h = static_cast<int>(hi < 0 ? 0 : hi > L ? L : hi);
    return _mm256_and_si256(_mm256_cmpgt_epi32(j, _mm256_set1_epi32(l - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(h), j));
  }
  static Mask allLanes() { return _mm256_set1_epi32(-1); }
  static Mask firstLanes(int64_t n) { return lanes(0, n); }
  static V loadMasked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }  // no fault on inactive lanes
  static void storeMasked(float* p, V v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V evens(V a, V b) {
    // [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs reordered to a0 a2 a4 a6 b0 b2 b4 b6.
    const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // max / min return the second operand when either is NaN: the same results as ConvActivation::apply.
  static V odds(V a, V b) {
    const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // Lane j < 4: max(v[2j], v[2j + 1]) (v holds no NaN); the upper lanes are unspecified. One in-lane swap
  // of neighbours and one lane-crossing permute, where max(odds, evens) took four shuffles.
  static V maxOfPairs(V v) {
    const V m = _mm256_max_ps(v, _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm256_permutevar8x32_ps(m, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
  }
  // [prev7, cur0 .. cur6] and [cur1 .. cur7, next0]: 128-bit halves swapped across, then byte-aligned.
  static V shiftInLeft(V prev, V cur) {
    const __m256 t = _mm256_permute2f128_ps(prev, cur, 0x21);  // [prev hi, cur lo]
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur), _mm256_castps_si256(t), 12));
  }
  static V shiftInRight(V cur, V next) {
    const __m256 t = _mm256_permute2f128_ps(cur, next, 0x21);  // [cur hi, next lo]
    return _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(t), _mm256_castps_si256(cur), 4));
  }
  static float reduceAdd(V v) {  // the sum of the 8 lanes
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }
  static V relu(V v) { return _mm256_max_ps(v, _mm256_setzero_ps()); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V leaky(V v, V alpha) { return _mm256_blendv_ps(_mm256_mul_ps(v, alpha), v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ)); }
  static V clip(V v, V lo, V hi) { return _mm256_min_ps(_mm256_max_ps(v, lo), hi); }
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

void pointwiseMobileAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, const float* z) {
  pointwiseConv(g, x, w, bias, z, y, threads, act);
}

void depthwiseMobileAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, bool pool2x2) {
  depthwiseConv(g, x, w, bias, y, threads, act, pool2x2);
}

void stemMobileAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation& act) {
  stemConv(g, x, w, bias, y, threads, act);
}

void pointwiseDepthwiseAvx2(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                            const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y, int threads) {
  pointwiseDepthwiseConv(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads);
}

void invertedResidualAvx2(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1, const ConvGeometry& dg,
                          const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg, const float* w3, const float* b3,
                          const ConvActivation& a3, const float* z, float* y, int threads) {
  invertedResidualConv(pg, x, w1, b1, a1, dg, w2, b2, a2, qg, w3, b3, a3, z, y, threads);
}

}  // namespace facestyle::cpu
