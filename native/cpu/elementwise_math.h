// Scalar math shared by the elementwise kernels (elementwise.cc), the fused chain (elementwise_chain.cc)
// and the fused activation of the normalisations (norm.cc), so a fused node computes exactly what the
// separate ops compute: same formulas, same rounding.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "facestyle/kernel.h"

namespace facestyle::cpu {

// c ? a : b without a branch. GCC keeps IEEE exception semantics (-ftrapping-math) and so refuses
// to turn `c ? x : alpha * x` into a vector select (it would evaluate alpha * x for every lane); an
// integer blend of values both already computed vectorises (SSE2 on every x86-64), so every formula
// below is written with it and the loops over them run 4 or 8 lanes at a time.
inline float select(bool c, float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  const int32_t m = -static_cast<int32_t>(c);
  const int32_t r = (ia & m) | (ib & ~m);
  float f;
  std::memcpy(&f, &r, sizeof f);
  return f;
}

// e^x in float for x in [-87, 88] (callers clamp), written so that loops over it vectorise (the
// libm call does not): x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor series to r^7 (truncation
// below 1e-8 relative), 2^n put straight into the exponent bits.
inline float expForTanh(float x) {
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.f) - 12582912.f;  // round to nearest (|t| < 2^22) without SSE4.1 roundps
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;  // ln2 split in two, Cody-Waite
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// tanh without the libm call (which costs ~15 ns a value and blocks vectorisation): the odd Taylor
// series near 0, 1 - 2 / (e^{2|x|} + 1) elsewhere, the sign put back. Against float64 tanh over
// [-20, 20] in steps of 1e-5: max relative error 7e-7, absolute 1e-7 (a few float ulps; the op table
// checks Tanh against Math.tanh). NaN stays NaN, +-0 keep their sign, |x| >= 10 gives exactly +-1.
inline float fastTanh(float x) {
  const float a = std::fabs(x);
  const float a2 = a * a;
  const float small = a * (1.f + a2 * (-1.f / 3.f + a2 * (2.f / 15.f + a2 * (-17.f / 315.f))));
  const float e = expForTanh(select(2.f * a < 88.f, 2.f * a, 88.f));  // NaN takes 88: no NaN reaches the int conversion
  const float large = 1.f - 2.f / (e + 1.f);
  const float m = select(a < 0.125f, small, large);
  const float r = std::copysign(m, x);
  return select(x != x, x, r);
}

// 1 / (1 + e^-x) from e = e^-|x| (never overflows): 1 / (1 + e) for x >= 0, e / (1 + e) below.
// Relative error a few float ulps (expForTanh's); below -87 the result is e^-87 ~ 1.6e-38 instead
// of a denormal; NaN stays NaN.
inline float sigmoid(float x) {
  const float a = std::fabs(x);
  const float e = expForTanh(-select(a < 87.f, a, 87.f));
  const float r = 1.f / (1.f + e);
  return select(x != x, x, select(x >= 0.f, r, e * r));
}

// max(x, 0); NaN gives 0, as the reference's x > 0 ? x : 0.
inline float relu(float x) { return select(x > 0.f, x, 0.f); }
inline float leakyRelu(float x, float alpha) { return select(x >= 0.f, x, alpha * x); }

// min(max(x, lo), hi): when lo > hi every value becomes hi, as ONNX specifies.
inline float clip(float x, float lo, float hi) { return std::min(std::max(x, lo), hi); }

// NaN propagates as in Math.max / numpy.maximum.
inline float maxNan(float a, float b) { return select(a != a || b != b, a + b, select(a > b, a, b)); }
inline float minNan(float a, float b) { return select(a != a || b != b, a + b, select(a < b, a, b)); }

// The activation a normalisation node carries (attributes `activation`, `activation_alpha`,
// `activation_min`, `activation_max`; set by the fusion pass), with the same formulas as the ops.
struct FusedActivation {
  enum Kind { None, Relu, LeakyRelu, Tanh, Sigmoid, Clip } kind = None;
  float alpha = 0.01f, lo = -3.4028234663852886e38f, hi = 3.4028234663852886e38f;

  static FusedActivation fromAttrs(const KernelContext& ctx) {
    FusedActivation a;
    const std::string act = ctx.attrs().getString("activation", "");
    a.alpha = static_cast<float>(ctx.attrs().getFloat("activation_alpha", 0.01));
    a.lo = static_cast<float>(ctx.attrs().getFloat("activation_min", -3.4028234663852886e38));
    a.hi = static_cast<float>(ctx.attrs().getFloat("activation_max", 3.4028234663852886e38));
    if (act.empty()) a.kind = None;
    else if (act == "Relu") a.kind = Relu;
    else if (act == "LeakyRelu") a.kind = LeakyRelu;
    else if (act == "Tanh") a.kind = Tanh;
    else if (act == "Sigmoid") a.kind = Sigmoid;
    else if (act == "Clip") a.kind = Clip;
    else ctx.fail("unsupported fused activation '" + act + "' (expected Relu, LeakyRelu, Tanh, Sigmoid or Clip)");
    return a;
  }
};

// Calls body(f) with f the activation as a functor of its own type, so the caller's loop is compiled
// (and vectorised) once per activation instead of branching per element.
template <typename Body>
void withActivation(const FusedActivation& a, Body body) {
  const float alpha = a.alpha, lo = a.lo, hi = a.hi;
  switch (a.kind) {
    case FusedActivation::None: return body([](float v) { return v; });
    case FusedActivation::Relu: return body([](float v) { return relu(v); });
    case FusedActivation::LeakyRelu: return body([alpha](float v) { return leakyRelu(v, alpha); });
    case FusedActivation::Tanh: return body([](float v) { return fastTanh(v); });
    case FusedActivation::Sigmoid: return body([](float v) { return sigmoid(v); });
    case FusedActivation::Clip: return body([lo, hi](float v) { return clip(v, lo, hi); });
  }
}

}  // namespace facestyle::cpu
