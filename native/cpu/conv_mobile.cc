// Mobile-layer fast paths (see conv_mobile.h): which geometries they take, the run-time SIMD dispatch,
// and the baseline build of the kernels (conv_pointwise_kernels.h, conv_depthwise_kernels.h,
// conv_stem_kernels.h) on 4-lane GCC / Clang vectors (SSE2 on x86-64),
// which is also the plainest statement of what the Isa interface means.
#include <cstdint>
#include <cstring>

#include "cpu/conv_mobile.h"
#include "facestyle/capabilities.h"

namespace facestyle::cpu {
namespace {

struct Isa {
  typedef float V __attribute__((vector_size(16)));
  typedef unsigned Mask;  // bit j: lane j is active
  static constexpr int L = 4;
  static constexpr int MR = 4, U = 2;  // 8 accumulators of the 16 xmm registers
  static V zero() { return V{}; }
  static V set1(float f) { return V{} + f; }
  static V load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
  static void storeLowHalf(float* p, V v) { std::memcpy(p, &v, sizeof v / 2); }  // lanes [0, L / 2)
  static void storeFirst(float* p, V v, int64_t n) { std::memcpy(p, &v, sizeof(float) * static_cast<size_t>(n)); }  // lanes [0, n), 0 <= n < L
  static Mask allLanes() { return (1u << L) - 1; }
  // Lanes [0, n), n clamped to [0, L].
  static Mask firstLanes(int64_t n) { return lanes(0, n); }
  // Lanes [lo, hi), clamped to [0, L].
  static Mask lanes(int64_t lo, int64_t hi) {
    Mask m = 0;
    for (int64_t j = 0; j < L; ++j) m |= (j >= lo && j < hi) ? 1u << j : 0u;
    return m;
  }
  // Inactive lanes read as 0 and are never touched in memory.
  static V loadMasked(const float* p, Mask m) {
    V v{};
    for (int j = 0; j < L; ++j)
      if (m >> j & 1) v[j] = p[j];
    return v;
  }
  static void storeMasked(float* p, V v, Mask m) {
    for (int j = 0; j < L; ++j)
      if (m >> j & 1) p[j] = v[j];
  }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V mul(V a, V b) { return a * b; }
  static V add(V a, V b) { return a + b; }
  // The even lanes of the 2L values a, b (stride 2).
  static V evens(V a, V b) { return V{a[0], a[2], b[0], b[2]}; }
  static V odds(V a, V b) { return V{a[1], a[3], b[1], b[3]}; }
  // Lane j < L / 2: max(v[2j], v[2j + 1]) (v holds no NaN); the upper lanes are unspecified.
  static V maxOfPairs(V v) { return max(odds(v, v), evens(v, v)); }
  // [prev's last lane, cur's lanes 0 .. L-2] and [cur's lanes 1 .. L-1, next's lane 0]: a row's
  // vector shifted one column right / left, for the 3x3 neighbours.
  static V shiftInLeft(V prev, V cur) { return V{prev[3], cur[0], cur[1], cur[2]}; }
  static V shiftInRight(V cur, V next) { return V{cur[1], cur[2], cur[3], next[0]}; }
  static float reduceAdd(V v) { return (v[0] + v[1]) + (v[2] + v[3]); }
  static V relu(V v) { return v > V{} ? v : V{}; }
  static V max(V a, V b) { return a > b ? a : b; }
  static V leaky(V v, V alpha) { return v >= V{} ? v : v * alpha; }
  static V clip(V v, V lo, V hi) {
    v = lo < v ? v : lo;    // std::max(lo, v), NaN -> lo
    return v < hi ? v : hi;  // std::min(hi, v)
  }
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

bool pointwiseMobileSupports(const ConvGeometry& g) {
  const bool pointwise = g.plainPointwise();
  // Past ~1k input channels the weights of a channel block leave L1 and the blocked GEMM is the better
  // path; with at most 4 output positions (a head on a 1x1 map) vectors over positions would be mostly
  // empty lanes, and conv.cc's dot-product path runs along the channels instead.
  return pointwise && g.cg() >= 1 && g.cg() <= 1024 && g.oh * g.ow > 4;
}

bool stemMobileSupports(const ConvGeometry& g) { return stemApplies(g); }

bool depthwiseMobileSupports(const ConvGeometry& g) {
  return g.group == g.c && g.group == g.m && (g.win.sw == 1 || g.win.sw == 2) && g.kh * g.kw <= kMaxDepthwiseTaps;
}

bool depthwisePooledSupports(const ConvGeometry& g, const ConvActivation& act) {
  return depthwiseMobileSupports(g) && depthwisePooledApplies(g, act);
}

void pointwiseMobileScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, const float* z) {
  pointwiseConv(g, x, w, bias, z, y, threads, act);
}

void depthwiseMobileScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                           const ConvActivation& act, bool pool2x2) {
  depthwiseConv(g, x, w, bias, y, threads, act, pool2x2);
}

void stemMobileScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                      const ConvActivation& act) {
  stemConv(g, x, w, bias, y, threads, act);
}

void pointwiseDepthwiseScalar(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                              const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y, int threads) {
  pointwiseDepthwiseConv(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads);
}

bool pointwiseDepthwiseSupports(const ConvGeometry& pg, const ConvGeometry& dg, const ConvActivation& a1, const ConvActivation& a2, bool pool) {
  return pointwiseDepthwiseApplies(pg, dg, a1, a2, pool);
}

bool conv2dPointwiseDepthwiseFast(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                  const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, bool pool, float* y,
                                  int threads) {
  if (!pointwiseDepthwiseApplies(pg, dg, a1, a2, pool)) return false;
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: pointwiseDepthwiseAvx512(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads); return true;
    case SimdLevel::Avx2: pointwiseDepthwiseAvx2(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads); return true;
#endif
    default: pointwiseDepthwiseScalar(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads); return true;
  }
}

void invertedResidualScalar(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1, const ConvGeometry& dg,
                            const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg, const float* w3, const float* b3,
                            const ConvActivation& a3, const float* z, float* y, int threads) {
  invertedResidualConv(pg, x, w1, b1, a1, dg, w2, b2, a2, qg, w3, b3, a3, z, y, threads);
}

bool invertedResidualSupports(const ConvGeometry& pg, const ConvGeometry& dg, const ConvGeometry& qg, const ConvActivation& a1,
                              const ConvActivation& a2, const ConvActivation& a3) {
  return invertedResidualApplies(pg, dg, qg, a1, a2, a3);
}

bool conv2dInvertedResidualFast(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg,
                                const float* w3, const float* b3, const ConvActivation& a3, const float* z, float* y, int threads) {
  if (!invertedResidualApplies(pg, dg, qg, a1, a2, a3)) return false;
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: invertedResidualAvx512(pg, x, w1, b1, a1, dg, w2, b2, a2, qg, w3, b3, a3, z, y, threads); return true;
    case SimdLevel::Avx2: invertedResidualAvx2(pg, x, w1, b1, a1, dg, w2, b2, a2, qg, w3, b3, a3, z, y, threads); return true;
#endif
    default: invertedResidualScalar(pg, x, w1, b1, a1, dg, w2, b2, a2, qg, w3, b3, a3, z, y, threads); return true;
  }
}

bool conv2dPointwiseFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, const float* z) {
  if (!pointwiseMobileSupports(g)) return false;
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: pointwiseMobileAvx512(g, x, w, bias, y, threads, act, z); return true;
    case SimdLevel::Avx2: pointwiseMobileAvx2(g, x, w, bias, y, threads, act, z); return true;
#endif
    default: pointwiseMobileScalar(g, x, w, bias, y, threads, act, z); return true;
  }
}

bool conv2dDepthwiseFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act, bool pool2x2) {
  if (pool2x2 ? !depthwisePooledSupports(g, act) : !depthwiseMobileSupports(g)) return false;
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: depthwiseMobileAvx512(g, x, w, bias, y, threads, act, pool2x2); return true;
    case SimdLevel::Avx2: depthwiseMobileAvx2(g, x, w, bias, y, threads, act, pool2x2); return true;
#endif
    default: depthwiseMobileScalar(g, x, w, bias, y, threads, act, pool2x2); return true;
  }
}

bool conv2dStemFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation& act) {
  // Tanh / Sigmoid would take a scalar pass here (4-5x the conv on a 16->3 output layer); the direct
  // flat kernel applies them in registers.
  if (!stemMobileSupports(g) || !activationInRegisters(act)) return false;
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: stemMobileAvx512(g, x, w, bias, y, threads, act); return true;
    case SimdLevel::Avx2: stemMobileAvx2(g, x, w, bias, y, threads, act); return true;
#endif
    default: stemMobileScalar(g, x, w, bias, y, threads, act); return true;
  }
}

}  // namespace facestyle::cpu
