// The depthwise conv fast path (cpu/conv_fast.h), every SIMD build this CPU can run plus the dispatcher,
// against a plain direct loop over a table of shapes: odd sizes, rows narrower and wider than the vector
// width, strides, dilations, asymmetric pads, kernels of 1x1 to 5x5, batches, with and without bias.
#include <cmath>
#include <limits>

#include "cpu/conv_fast.h"
#include "facestyle/capabilities.h"
#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;
using cpu::DepthwiseShape;

namespace {

using DwFn = void (*)(const DepthwiseShape&, const float*, const float*, const float*, float*, int);

std::vector<std::pair<const char*, DwFn>> paths() {
  std::vector<std::pair<const char*, DwFn>> p{{"scalar", cpu::depthwiseConv2dScalar}, {"dispatch", cpu::depthwiseConv2d}};
  if (detectedSimdLevel() >= SimdLevel::Avx2) p.push_back({"avx2", cpu::depthwiseConv2dAvx2});
  if (detectedSimdLevel() >= SimdLevel::Avx512) p.push_back({"avx512", cpu::depthwiseConv2dAvx512});
  return p;
}

// The definition: y = bias + sum over taps inside the image of w * x.
std::vector<float> reference(const DepthwiseShape& s, const std::vector<float>& x, const std::vector<float>& w,
                             const float* bias) {
  std::vector<float> y(static_cast<size_t>(s.n * s.c * s.oh * s.ow));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t oy = 0; oy < s.oh; ++oy)
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          double acc = bias ? bias[c] : 0.0;
          for (int64_t ky = 0; ky < s.kh; ++ky)
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              const int64_t iy = oy * s.sh - s.pt + ky * s.dh, ix = ox * s.sw - s.pl + kx * s.dw;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              acc += double(w[(c * s.kh + ky) * s.kw + kx]) * x[((n * s.c + c) * s.h + iy) * s.w + ix];
            }
          y[((n * s.c + c) * s.oh + oy) * s.ow + ox] = static_cast<float>(acc);
        }
  return y;
}

struct Case {
  int64_t n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
};

DepthwiseShape shapeOf(const Case& k) {
  DepthwiseShape s{k.n, k.c, k.h, k.w, 0, 0, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.pt, k.pl};
  s.oh = (k.h + k.pt + k.pb - k.dh * (k.kh - 1) - 1) / k.sh + 1;
  s.ow = (k.w + k.pl + k.pr - k.dw * (k.kw - 1) - 1) / k.sw + 1;
  return s;
}

}  // namespace

TEST_CASE(depthwise_matches_reference_over_shapes) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},      // 1x1 everything
      {1, 3, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      // small, same padding
      {2, 4, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // row wider than 2 vectors with a tail, batch 2
      {1, 5, 17, 18, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    // stride 2
      {1, 2, 12, 40, 3, 3, 1, 2, 1, 1, 0, 1, 2, 0},    // mixed strides, asymmetric pads
      {1, 3, 11, 21, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},    // dilation 2
      {1, 2, 13, 35, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},    // 5x5
      {1, 3, 8, 19, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0},     // 3x1
      {1, 2, 6, 6, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3},      // pads larger than the kernel reach
      {1, 7, 20, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    // wide rows
      {1, 3, 4, 3, 5, 5, 2, 3, 1, 1, 2, 2, 2, 2},      // kernel bigger than the image
      {1, 3, 9, 101, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    // stride 2, wide rows: several vectors and a tail
      {2, 2, 11, 77, 5, 5, 2, 2, 2, 2, 4, 3, 4, 5},    // stride 2, dilation 2, odd left pad
      {1, 2, 7, 64, 3, 3, 1, 2, 1, 1, 0, 0, 0, 0},     // stride 2, no padding, even width
      {1, 4, 6, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // 11 interior columns: the 8-lane vectors
      {1, 4, 6, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      // 7 interior columns: the 4-lane vectors
      {1, 2, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     // a 16-column map (YuNet's last stages)
  };
  int caseNo = 0;
  for (const Case& k : cases) {
    ++caseNo;
    const DepthwiseShape s = shapeOf(k);
    const auto x = randomVector(static_cast<size_t>(s.n * s.c * s.h * s.w), 10 + caseNo);
    const auto w = randomVector(static_cast<size_t>(s.c * s.kh * s.kw), 20 + caseNo);
    const auto b = randomVector(static_cast<size_t>(s.c), 30 + caseNo);
    for (bool withBias : {false, true}) {
      const auto want = reference(s, x, w, withBias ? b.data() : nullptr);
      for (auto [name, fn] : paths())
        for (int threads : {1, 2}) {
          // NaN in y beforehand: the kernel must overwrite every output, not accumulate into it.
          std::vector<float> got(want.size(), std::numeric_limits<float>::quiet_NaN());
          fn(s, x.data(), w.data(), withBias ? b.data() : nullptr, got.data(), threads);
          const bool ok = allClose(got, want, 1e-5, 1e-5);
          if (!ok) std::fprintf(stderr, "  %s threads=%d case %d bias=%d\n", name, threads, caseNo, withBias);
          CHECK(ok);
        }
    }
  }
}

TEST_CASE(depthwise_known_values) {
  // One 3x3 plane of 1..9, a 3x3 kernel of ones, pad 1: the centre sums all nine (45), a corner four.
  DepthwiseShape s{1, 1, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1};
  std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w(9, 1.f);
  const float bias = 0.5f;
  for (auto [name, fn] : paths()) {
    std::vector<float> y(9);
    fn(s, x.data(), w.data(), &bias, y.data(), 1);
    CHECK(y[4] == 45.5f);
    CHECK(y[0] == 1 + 2 + 4 + 5 + 0.5f);
    CHECK(y[8] == 5 + 6 + 8 + 9 + 0.5f);
  }
}

TEST_MAIN()
