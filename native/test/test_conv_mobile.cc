// The mobile-layer conv paths (cpu/conv_mobile.h: pointwise 1x1 and depthwise) against
// conv2dReference, at every SIMD level this CPU has (the per-ISA entries are called directly, so the
// lower levels are covered on an AVX-512 machine too) and through the run-time dispatch (which
// honours FACESTYLE_SIMD). Shapes cover 1x1 to 160x160 planes, odd widths, tails that are not a
// multiple of any vector width, 1 to 300 channels, groups, batches, strides 1 and 2 (and 3 rows),
// asymmetric and oversized pads, dilations, and every fused activation kind; the pointwise residual
// input (also in place), and the thread pool the kernels split layers on (mobile_pool.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/conv_kernels.h"
#include "cpu/conv_mobile.h"
#include "cpu/conv_transpose.h"
#include "cpu/mobile_pool.h"
#include "facestyle/capabilities.h"
#include "harness.h"

using namespace facestyle;
using namespace facestyle::cpu;

namespace {

using Entry = void (*)(const ConvGeometry&, const float*, const float*, const float*, float*, int, const ConvActivation&, bool);
using PointwiseEntry = void (*)(const ConvGeometry&, const float*, const float*, const float*, float*, int, const ConvActivation&, const float*);

struct Level {
  const char* name;
  PointwiseEntry pointwise;
  Entry depthwise;
  PointwiseDepthwiseEntry pointwiseDepthwise;
  InvertedResidualEntry invertedResidual;
};

// The levels this CPU can run.
std::vector<Level> levels() {
  std::vector<Level> out{{"scalar", pointwiseMobileScalar, depthwiseMobileScalar, pointwiseDepthwiseScalar, invertedResidualScalar}};
  const SimdLevel d = detectedSimdLevel();
  if (d >= SimdLevel::Avx2) out.push_back({"avx2", pointwiseMobileAvx2, depthwiseMobileAvx2, pointwiseDepthwiseAvx2, invertedResidualAvx2});
  if (d >= SimdLevel::Avx512)
    out.push_back({"avx512", pointwiseMobileAvx512, depthwiseMobileAvx512, pointwiseDepthwiseAvx512, invertedResidualAvx512});
  return out;
}

// Output buffers carry kGuard sentinel floats on each side: a kernel that writes outside y changes them.
constexpr size_t kGuard = 40;
constexpr float kSentinel = 12345.f;

// Whether the guards around the n floats of y (at buf.data() + kGuard) still hold the sentinel.
bool guardsIntact(const std::vector<float>& buf, size_t n) {
  for (size_t i = 0; i < kGuard; ++i)
    if (buf[i] != kSentinel || buf[kGuard + n + i] != kSentinel) return false;
  return true;
}

// |v| element by element: the same sums on absolute values bound each output's rounding.
std::vector<float> absOf(const std::vector<float>& v) {
  std::vector<float> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

std::vector<ConvActivation> activations() {
  std::vector<ConvActivation> out;
  for (int k = ConvActivation::None; k <= ConvActivation::Clip; ++k) {
    ConvActivation a;
    a.kind = static_cast<ConvActivation::Kind>(k);
    a.alpha = 0.2f;
    a.lo = -0.25f, a.hi = 0.5f;
    out.push_back(a);
  }
  return out;
}

ConvGeometry geometry(int64_t n, int64_t c, int64_t h, int64_t w, int64_t m, int64_t kh, int64_t kw, int64_t group, Window2D win) {
  ConvGeometry g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.m = m, g.kh = kh, g.kw = kw, g.group = group, g.win = win;
  g.oh = (h + win.pt + win.pb - win.dh * (kh - 1) - 1) / win.sh + 1;
  g.ow = (w + win.pl + win.pr - win.dw * (kw - 1) - 1) / win.sw + 1;
  return g;
}

std::string describe(const ConvGeometry& g) {
  char s[256];
  std::snprintf(s, sizeof s, "n%lld c%lld %lldx%lld -> m%lld %lldx%lld k%lldx%lld g%lld s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld", (long long)g.n,
                (long long)g.c, (long long)g.h, (long long)g.w, (long long)g.m, (long long)g.oh, (long long)g.ow, (long long)g.kh, (long long)g.kw,
                (long long)g.group, (long long)g.win.sh, (long long)g.win.sw, (long long)g.win.pt, (long long)g.win.pl, (long long)g.win.pb,
                (long long)g.win.pr, (long long)g.win.dh, (long long)g.win.dw);
  return s;
}

// Runs `run` (which writes y) for every activation, and compares with the float64 reference. The
// tolerance scales with sum |w x| + |b| per output (the reference on absolute values), so long sums
// get the float32 rounding they deserve and nothing more. y is NaN-filled first (every output must be
// written) and guarded on both sides (nothing may be written outside it).
// With `residual`, the expected output is act(conv + bias + z) for a random z of y's shape, passed to
// run as its last argument.
template <typename Run>
void checkAgainstReference(const ConvGeometry& g, bool withBias, uint32_t seed, const char* what, Run run, bool residual = false) {
  const size_t xs = size_t(g.n * g.c * g.h * g.w), ws = size_t(g.m * g.cg() * g.kh * g.kw), ys = size_t(g.n * g.m * g.oh * g.ow);
  const std::vector<float> x = test::randomVector(xs, seed), w = test::randomVector(ws, seed + 1), b = test::randomVector(size_t(g.m), seed + 2);
  std::vector<float> ax(xs), aw(ws), ab(b.size());
  for (size_t i = 0; i < xs; ++i) ax[i] = std::fabs(x[i]);
  for (size_t i = 0; i < ws; ++i) aw[i] = std::fabs(w[i]);
  for (size_t i = 0; i < b.size(); ++i) ab[i] = std::fabs(b[i]);
  std::vector<float> ref(ys), scale(ys);
  conv2dReference(g, x.data(), w.data(), withBias ? b.data() : nullptr, ref.data());
  conv2dReference(g, ax.data(), aw.data(), withBias ? ab.data() : nullptr, scale.data());
  const std::vector<float> z = residual ? test::randomVector(ys, seed + 3) : std::vector<float>();
  for (size_t i = 0; i < z.size(); ++i) ref[i] += z[i], scale[i] += std::fabs(z[i]);
  for (const ConvActivation& a : activations()) {
    std::vector<float> buf(ys + 2 * kGuard, kSentinel);
    std::fill(buf.begin() + kGuard, buf.begin() + kGuard + ys, std::nanf(""));
    float* y = buf.data() + kGuard;
    if constexpr (std::is_invocable_v<Run, const float*, const float*, const float*, float*, const ConvActivation&, const float*>)
      run(x.data(), w.data(), withBias ? b.data() : nullptr, y, a, residual ? z.data() : nullptr);
    else
      run(x.data(), w.data(), withBias ? b.data() : nullptr, y, a);
    int bad = 0;
    for (size_t i = 0; i < ys; ++i) {
      const float expect = a.apply(ref[i]);
      const double tol = 1e-5 * scale[i] + 1e-6;
      if (!(std::fabs(double(y[i]) - expect) <= tol) && bad++ < 3)
        std::fprintf(stderr, "  %s %s act %d: at %zu got %g want %g\n", what, describe(g).c_str(), int(a.kind), i, y[i], expect);
    }
    const bool guards = guardsIntact(buf, size_t(ys));
    if (!guards) std::fprintf(stderr, "  %s %s act %d: wrote outside y\n", what, describe(g).c_str(), int(a.kind));
    CHECK(bad == 0);
    CHECK(guards);
  }
}

struct PointwiseCase {
  int64_t n, c, m, group, h, w;
};

const PointwiseCase kPointwise[] = {
    {1, 4, 6, 1, 1, 5},      {1, 3, 5, 1, 1, 7},      {1, 7, 9, 1, 3, 3},       {1, 5, 13, 1, 1, 33},    {1, 16, 16, 1, 128, 128},
    {1, 64, 64, 1, 20, 20},  {1, 64, 1, 1, 32, 32},   {1, 64, 10, 1, 16, 16},   {1, 64, 4, 1, 8, 8},     {2, 32, 48, 1, 13, 17},
    {1, 256, 128, 1, 14, 14}, {1, 128, 256, 1, 14, 14}, {1, 8, 12, 2, 9, 11},     {1, 12, 6, 3, 5, 7},     {2, 16, 16, 4, 10, 10},
    {1, 1, 256, 1, 4, 4},    {1, 300, 3, 1, 7, 7},    {3, 17, 23, 1, 1, 49},    {1, 24, 24, 24, 6, 6},   {1, 40, 72, 1, 40, 40},
    // Planes of a multiple of 256 pixels with several channel blocks: the copied-panel path.
    {1, 64, 64, 1, 32, 32},  {2, 40, 72, 1, 16, 16},  {1, 200, 40, 1, 16, 16},  {1, 32, 64, 2, 16, 32},
    // A last column block of at most half a vector (the dot-product tail): 1, 2, 4 and 6 columns, input
    // channels that are not a multiple of any vector width (and fewer than one), odd row counts,
    // groups, batches, and more than one slice of input channels (C > 128).
    {1, 37, 9, 1, 5, 10},    {1, 64, 33, 1, 7, 7},    {1, 3, 5, 1, 2, 3},       {1, 20, 7, 1, 2, 3},     {1, 8, 12, 2, 7, 7},
    {2, 20, 30, 1, 10, 10},  {1, 150, 17, 1, 10, 10}, {1, 19, 40, 1, 1, 52},
    // Full-height blocks (channel counts that are multiples of every level's row block) ending in each
    // kind of last column block: 88 = 48 + 40 and 68 = 48 + 20 columns (AVX-512: three and two vectors,
    // the last masked; AVX2: 3 x 24 + 16 and 2 x 24 + 20), 60 = 48 + 12 (one masked vector); with
    // groups, several input-channel slices (136, 300 > 128) and a row remainder beside full blocks.
    {1, 24, 16, 1, 1, 88},   {1, 24, 16, 1, 1, 68},   {1, 24, 16, 1, 1, 60},    {1, 32, 32, 2, 7, 9},    {1, 136, 16, 1, 5, 13},
    {1, 300, 20, 1, 9, 9},   {2, 16, 32, 1, 12, 12},
    // Few input channels: AVX-512 walks up to 4 full column blocks side by side (300 = 6 x 48 + 12
    // columns, 3 at a time for 24 channels), never across images, groups or a thread's range.
    {2, 24, 16, 1, 10, 30},  {1, 16, 40, 1, 17, 19},  {2, 32, 24, 2, 8, 40},
    // Split across threads by output channels (rows not a whole number of cache lines, few column blocks,
    // enough work for 3 threads): besides the 14x14 cases above, groups and a batch (a thread's range of
    // channel blocks crosses from one group or image into the next), a row remainder (M = 44 per group).
    {2, 96, 96, 2, 15, 15},  {1, 72, 88, 2, 10, 30},
};

struct DepthwiseCase {
  int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

const DepthwiseCase kDepthwise[] = {
    {1, 16, 128, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 64, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 32, 160, 160, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   {1, 64, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, {1, 3, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 5, 7, 9, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1},      {1, 4, 13, 37, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1},  {1, 3, 17, 23, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},
    {1, 3, 17, 23, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1},    {1, 2, 11, 30, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1},  {1, 3, 9, 19, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1},
    {1, 4, 15, 21, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},    {1, 4, 15, 21, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1},  {1, 3, 16, 17, 3, 3, 3, 2, 1, 1, 1, 1, 1, 1},
    {1, 6, 9, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     {1, 2, 5, 5, 3, 3, 1, 1, 3, 3, 3, 3, 1, 1},    {1, 2, 3, 100, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 3, 10, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {2, 256, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 10, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 5, 31, 47, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2},    {1, 3, 10, 17, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1},  {1, 3, 9, 20, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1},
    {1, 4, 16, 16, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},    {1, 2, 5, 35, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    // Rows of at most one AVX-512 vector (the narrow 3x3 path there; two AVX2 vectors): 4-row steps with
    // 1, 2, 3 rows left over, rows of exactly 16 and 8, one-row and one-column planes, uneven row pads.
    {1, 5, 13, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    {1, 3, 6, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {1, 4, 7, 15, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1},
    {1, 3, 1, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      {1, 2, 2, 2, 3, 3, 1, 1, 2, 1, 0, 1, 1, 1},     {2, 7, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    {1, 2, 23, 45, 5, 5, 3, 2, 2, 1, 0, 3, 1, 2},    {1, 1, 40, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},  {1, 7, 12, 12, 2, 4, 2, 2, 0, 1, 1, 2, 1, 1},
    // The strip kernels (3x3 stride 1 "same" columns; 3x3 stride 2 with a left pad of 1). Stride 1: the
    // PFLD / YuNet planes (10 to 56 wide); widths around each strip boundary at 4, 8 and 16 lanes (1, 2, 15,
    // 17, 31, 32, 33, 48, 49: a first strip, inner strips with every load inside the row, full strips at the
    // right edge, partial last strips); row pads 0 to 2 on either side (rows whose new input row is above or
    // below the image); 1- and 2-row planes; batches.
    {1, 4, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    {1, 3, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  {1, 2, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 3, 9, 14, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1},     {1, 3, 9, 14, 3, 3, 1, 1, 2, 1, 0, 1, 1, 1},   {1, 2, 5, 30, 3, 3, 1, 1, 0, 1, 0, 1, 1, 1},
    {1, 2, 1, 20, 3, 3, 1, 1, 2, 1, 2, 1, 1, 1},     {1, 3, 2, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   {1, 2, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 2, 7, 15, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {1, 2, 7, 31, 3, 3, 1, 1, 2, 1, 1, 1, 1, 1},   {1, 2, 5, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 2, 6, 33, 3, 3, 1, 1, 1, 1, 2, 1, 1, 1},     {1, 2, 4, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   {1, 2, 4, 49, 3, 3, 1, 1, 0, 1, 1, 1, 1, 1},
    {2, 5, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {1, 64, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    // Planes over 96 KB of input + output go in bands of rows (partial sums carried across): two bands; a
    // band boundary inside the last rows (whose new input row is below the image, pad 2 at the bottom); a
    // row pad of 3 at the top (the first output row's new input row is above the image too).
    {1, 2, 80, 160, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   {1, 1, 35, 400, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1}, {1, 2, 40, 401, 3, 3, 1, 1, 3, 1, 0, 1, 1, 1},
    // Stride 2: row stride 2 (the input row shared by two output rows) with row pads 0 to 2 and right pads 0
    // to 2, odd and even widths, outputs around the strip boundaries (ow 1, 7, 16, 17, 32, 33: inner strips
    // need 2 ox0 + 2 lanes <= w); row strides 1 and 3 (no shared row); 1x1 and 2-row inputs; batches.
    {1, 3, 14, 14, 3, 3, 2, 2, 2, 1, 0, 2, 1, 1},    {1, 2, 7, 65, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   {1, 2, 5, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 2, 6, 32, 3, 3, 2, 2, 0, 1, 2, 1, 1, 1},     {1, 2, 5, 33, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},   {1, 2, 1, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 2, 2, 5, 3, 3, 2, 2, 2, 1, 2, 1, 1, 1},      {1, 2, 9, 13, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1},   {1, 2, 8, 31, 3, 3, 1, 2, 0, 1, 1, 2, 1, 1},
    {2, 3, 9, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     {1, 2, 11, 34, 3, 3, 2, 2, 1, 1, 2, 1, 1, 1},
};

ConvGeometry pointwiseGeometry(const PointwiseCase& t) { return geometry(t.n, t.c, t.h, t.w, t.m, 1, 1, t.group, Window2D{}); }

ConvGeometry depthwiseGeometry(const DepthwiseCase& t) {
  Window2D win;
  win.sh = t.sh, win.sw = t.sw, win.pt = t.pt, win.pl = t.pl, win.pb = t.pb, win.pr = t.pr, win.dh = t.dh, win.dw = t.dw;
  return geometry(t.n, t.c, t.h, t.w, t.c, t.kh, t.kw, t.c, win);
}

}  // namespace

TEST_CASE(pointwise_every_level_matches_reference) {
  uint32_t seed = 100;
  for (const PointwiseCase& t : kPointwise) {
    const ConvGeometry g = pointwiseGeometry(t);
    CHECK(pointwiseMobileSupports(g));
    for (const Level& level : levels())
      for (int threads : {1, 3}) {
        checkAgainstReference(g, (seed & 1) == 0, seed, level.name, [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a) {
          level.pointwise(g, x, w, b, y, threads, a, nullptr);
        });
        ++seed;
      }
  }
}

TEST_CASE(depthwise_every_level_matches_reference) {
  uint32_t seed = 500;
  for (const DepthwiseCase& t : kDepthwise) {
    const ConvGeometry g = depthwiseGeometry(t);
    CHECK(depthwiseMobileSupports(g));
    for (const Level& level : levels())
      for (int threads : {1, 3}) {
        checkAgainstReference(g, (seed & 1) == 0, seed, level.name, [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a) {
          level.depthwise(g, x, w, b, y, threads, a, false);
        });
        ++seed;
      }
  }
}

// The depthwise 3x3 "same" kernels with the 2x2 / stride-2 max pool fused (pool2x2; the fusePool pass's
// Conv2D attribute pool = 'MaxPool2x2'), against conv2dReference, then the activation, then the pool in
// float64 terms (max is exact: the pooled value is one of the four). Planes of even and odd height and
// width (the odd last row / column dropped), 2x2 to 170x150, widths around the strip boundaries at 4, 8
// and 16 lanes, one-vector rows, uneven row pads, batches, and planes large enough to go in bands of rows
// (170x150: 81 rows a band, rounded to 80 so that no row pair straddles two). Every level, 1 and 3
// threads; y NaN-filled first and guarded on both sides. Tanh / Sigmoid (applied after the kernel, not in
// registers) are declined by the fused path; conv2dPooled, which the Conv2D kernel calls, takes every
// activation (its fallback: the whole conv into scratch, then maxPool2x2Stride2Row) and a residual Z.
TEST_CASE(depthwise_pooled_every_level_matches_reference) {
  const DepthwiseCase cases[] = {
      {1, 3, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    {1, 2, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {2, 4, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {1, 3, 17, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  {1, 2, 9, 14, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1},    {1, 2, 8, 31, 3, 3, 1, 1, 2, 1, 0, 1, 1, 1},
      {1, 5, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  {1, 2, 10, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   {1, 2, 6, 49, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {1, 3, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    {1, 16, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  {1, 2, 170, 150, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {1, 1, 81, 400, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 3, 33, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
  };
  uint32_t seed = 800;
  for (const DepthwiseCase& t : cases) {
    const ConvGeometry g = depthwiseGeometry(t);
    const int64_t ph = g.oh / 2, pw = g.ow / 2, planes = g.n * g.m;
    const size_t xs = size_t(g.n * g.c * g.h * g.w), ws = size_t(g.m * g.kh * g.kw), full = size_t(planes * g.oh * g.ow), ys = size_t(planes * ph * pw);
    const std::vector<float> x = test::randomVector(xs, seed), w = test::randomVector(ws, seed + 1), b = test::randomVector(size_t(g.m), seed + 2);
    const std::vector<float> z = test::randomVector(full, seed + 3);
    std::vector<float> conv(full), ax(xs), aw(ws), ab(b.size()), scale(full);
    for (size_t i = 0; i < xs; ++i) ax[i] = std::fabs(x[i]);
    for (size_t i = 0; i < ws; ++i) aw[i] = std::fabs(w[i]);
    for (size_t i = 0; i < b.size(); ++i) ab[i] = std::fabs(b[i]);
    conv2dReference(g, x.data(), w.data(), b.data(), conv.data());
    conv2dReference(g, ax.data(), aw.data(), ab.data(), scale.data());
    // got: y of one run; residual: conv + z before the activation.
    auto check = [&](const char* what, const ConvActivation& a, bool residual, auto run) {
      std::vector<float> buf(ys + 2 * kGuard, kSentinel);
      std::fill(buf.begin() + kGuard, buf.begin() + kGuard + ys, std::nanf(""));
      run(buf.data() + kGuard);
      int bad = 0;
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t r = 0; r < ph; ++r)
          for (int64_t c = 0; c < pw; ++c) {
            float expect = -INFINITY;
            double tol = 0;
            for (int64_t dy = 0; dy < 2; ++dy)
              for (int64_t dx = 0; dx < 2; ++dx) {
                const size_t i = size_t((p * g.oh + 2 * r + dy) * g.ow + 2 * c + dx);
                expect = std::max(expect, a.apply(conv[i] + (residual ? z[i] : 0.f)));
                tol = std::max(tol, 1e-5 * (scale[i] + (residual ? std::fabs(z[i]) : 0.f)) + 1e-6);
              }
            const float got = buf[kGuard + size_t((p * ph + r) * pw + c)];
            if (!(std::fabs(double(got) - expect) <= tol) && bad++ < 3)
              std::fprintf(stderr, "  pooled %s %s act %d: plane %lld row %lld col %lld got %g want %g\n", what, describe(g).c_str(), int(a.kind),
                           (long long)p, (long long)r, (long long)c, got, expect);
          }
      const bool guards = guardsIntact(buf, size_t(ys));
      if (!guards) std::fprintf(stderr, "  pooled %s %s act %d: wrote outside y\n", what, describe(g).c_str(), int(a.kind));
      CHECK(bad == 0);
      CHECK(guards);
    };
    for (const ConvActivation& a : activations()) {
      const bool inRegisters = a.kind != ConvActivation::Tanh && a.kind != ConvActivation::Sigmoid;
      CHECK(depthwisePooledSupports(g, a) == inRegisters);
      if (inRegisters)
        for (const Level& level : levels())
          for (int threads : {1, 3}) check(level.name, a, false, [&](float* y) { level.depthwise(g, x.data(), w.data(), b.data(), y, threads, a, true); });
      check("conv2dPooled", a, false, [&](float* y) { conv2dPooled(g, x.data(), w.data(), b.data(), nullptr, y, 2, &a); });
      check("conv2dPooled + z", a, true, [&](float* y) { conv2dPooled(g, x.data(), w.data(), b.data(), z.data(), y, 2, &a); });
    }
    seed += 4;
  }
  // NaN inputs: the fused pool ignores NaN as the MaxPool kernel does (conv2dPooled's fallback: the conv,
  // then maxPool2x2Stride2Row), with no activation and LeakyRelu (which keep NaN; Relu and Clip drop it).
  {
    const ConvGeometry g = depthwiseGeometry({1, 3, 12, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1});
    std::vector<float> x = test::randomVector(size_t(3 * 12 * 40), 901);
    x[5 * 40 + 7] = std::nanf(""), x[40 + 20] = std::nanf(""), x[2 * 480 + 11 * 40 + 39] = std::nanf("");
    const std::vector<float> w = test::randomVector(27, 902), b = test::randomVector(3, 903), zeros(size_t(3 * 12 * 40), 0.f);
    for (ConvActivation a : activations()) {
      if (a.kind != ConvActivation::None && a.kind != ConvActivation::LeakyRelu) continue;
      std::vector<float> want(3 * 6 * 20);
      conv2dPooled(g, x.data(), w.data(), b.data(), zeros.data(), want.data(), 1, &a);  // z given: the fallback path
      int wantNan = 0;
      for (float v : want) wantNan += std::isnan(v);
      CHECK(wantNan == 0);
      for (const Level& level : levels()) {
        std::vector<float> got(want.size(), 7.f);
        level.depthwise(g, x.data(), w.data(), b.data(), got.data(), 2, a, true);
        int differ = 0;
        // (The baseline build rounds its sums differently from the dispatched level's: a tolerance, NaN never.)
        for (size_t i = 0; i < got.size(); ++i) differ += std::isnan(got[i]) || !(std::fabs(got[i] - want[i]) <= 1e-5f * (1.f + std::fabs(want[i])));
        if (differ) std::fprintf(stderr, "  pooled NaN %s act %d: %d of %zu outputs differ\n", level.name, int(a.kind), differ, got.size());
        CHECK(differ == 0);
      }
    }
  }
  // Not "same" 3x3 (stride 2; a 5x5): declined by the fused path, pooled by conv2dPooled's fallback.
  Window2D s2;
  s2.sh = s2.sw = 2, s2.pt = s2.pl = s2.pb = s2.pr = 1;
  const ConvGeometry strided = geometry(1, 3, 20, 20, 3, 3, 3, 3, s2);
  CHECK(!depthwisePooledSupports(strided, ConvActivation{}));
  std::vector<float> y(3 * 5 * 5, 7.f);
  CHECK(!conv2dDepthwiseFast(strided, y.data(), y.data(), nullptr, y.data(), 1, ConvActivation{}, true));
  CHECK(y[0] == 7.f);  // nothing written
}

// A residual input Z (a fused Add) goes into the sum before the activation, at every level; also when
// Z is Y itself (the planner may give the conv Z's buffer) and with several input-channel slices (C > 128).
TEST_CASE(pointwise_residual_every_level_matches_reference) {
  uint32_t seed = 700;
  const PointwiseCase cases[] = {{1, 4, 6, 1, 1, 5},    {2, 32, 48, 1, 13, 17},  {1, 64, 64, 1, 28, 28}, {1, 256, 128, 1, 14, 14},
                                 {1, 8, 12, 2, 9, 11},  {1, 200, 40, 1, 16, 16}, {1, 16, 16, 1, 128, 128}, {1, 37, 9, 1, 5, 10},
                                 {1, 150, 17, 1, 10, 10}, {1, 24, 16, 1, 1, 88},  {1, 32, 32, 2, 7, 9},    {1, 136, 16, 1, 5, 13},
                                 {1, 300, 20, 1, 9, 9},   {2, 24, 16, 1, 10, 30}};
  for (const PointwiseCase& t : cases) {
    const ConvGeometry g = pointwiseGeometry(t);
    for (const Level& level : levels())
      for (int threads : {1, 3}) {
        for (bool inPlace : {false, true}) {
          checkAgainstReference(
              g, (seed & 1) == 0, seed, level.name,
              [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a, const float* z) {
                if (inPlace) std::copy(z, z + g.n * g.m * g.oh * g.ow, y);
                level.pointwise(g, x, w, b, y, threads, a, inPlace ? y : z);
              },
              true);
          ++seed;
        }
      }
  }
  const ConvGeometry pw = pointwiseGeometry({1, 24, 40, 2, 11, 13});
  checkAgainstReference(
      pw, true, 990, simdLevelName(simdLevel()),
      [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a, const float* z) {
        CHECK(conv2dPointwiseFast(pw, x, w, b, y, 2, a, z));
      },
      true);
}

// The pool under the kernels (mobile_pool.h): every chunk runs exactly once whatever the thread count,
// chunk count, concurrent callers (each with its own job) and calls made from inside a chunk.
TEST_CASE(mobile_pool_runs_every_chunk_once) {
  for (int threads : {1, 2, 3, 8})
    for (int64_t chunks : {0, 1, 2, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(chunks));
      for (auto& h : hits) h = 0;
      auto body = [&](int64_t k) { hits[static_cast<size_t>(k)].fetch_add(1); };
      for (int rep = 0; rep < 20; ++rep) mobileParallelFor(chunks, threads, body);
      bool once = true;
      for (auto& h : hits) once = once && h.load() == 20;
      CHECK(once);
    }
  // The largest chunk count the pool shares out (2^20; its state word has 21 bits a field), and one more
  // (run on the calling thread alone).
  for (int64_t chunks : {int64_t(1) << 20, (int64_t(1) << 20) + 1}) {
    std::vector<std::atomic<unsigned char>> hits(static_cast<size_t>(chunks));
    for (auto& h : hits) h = 0;
    auto body = [&](int64_t k) { hits[static_cast<size_t>(k)].fetch_add(1); };
    mobileParallelFor(chunks, 2, body);
    bool once = true;
    for (auto& h : hits) once = once && h.load() == 1;
    CHECK(once);
  }
  // Four threads calling at once (sessions run from libuv threads when the compute thread is off).
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 200; ++rep) {
        std::atomic<int64_t> sum{0};
        auto body = [&](int64_t k) { sum.fetch_add(k + 1); };
        mobileParallelFor(16 + c, 2 + c, body);
        const int64_t n = 16 + c;
        if (sum.load() == n * (n + 1) / 2) total.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  CHECK(total.load() == 4 * 200);
  // Slow chunks: the caller runs out of chunks while a helper still holds one, and sleeps until it ends.
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<std::atomic<int>> hits(6);
    for (auto& h : hits) h = 0;
    auto body = [&](int64_t k) {
      if (k % 3 == 1) std::this_thread::sleep_for(std::chrono::microseconds(300));
      hits[static_cast<size_t>(k)].fetch_add(1);
    };
    mobileParallelFor(6, 2, body);
    bool once = true;  // all done (and each once) by the time the call returns
    for (auto& h : hits) once = once && h.load() == 1;
    CHECK(once);
  }
  // Nested: a chunk that runs its own job (on its own thread, since the pool is busy).
  std::atomic<int64_t> inner{0};
  auto outer = [&](int64_t) {
    auto body = [&](int64_t) { inner.fetch_add(1); };
    mobileParallelFor(5, 2, body);
  };
  mobileParallelFor(6, 2, outer);
  CHECK(inner.load() == 30);
}

// The caller claims chunks from the front and helpers from the back: whatever the timing, the chunks the
// calling thread ran are a prefix [0, j), in order, and the helpers ran the rest.
TEST_CASE(mobile_pool_caller_takes_a_prefix) {
  for (int rep = 0; rep < 200; ++rep) {
    const int64_t chunks = 5 + rep % 40;
    const std::thread::id caller = std::this_thread::get_id();
    std::vector<int> byCaller(static_cast<size_t>(chunks), -1);
    std::vector<int64_t> order;
    std::mutex orderMutex;
    auto body = [&](int64_t k) {
      const bool mine = std::this_thread::get_id() == caller;
      byCaller[static_cast<size_t>(k)] = mine ? 1 : 0;
      if (mine) {
        std::lock_guard<std::mutex> lock(orderMutex);
        order.push_back(k);
      }
      if (rep % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));  // give helpers time to join
    };
    mobileParallelFor(chunks, 2 + rep % 3, body);
    int64_t j = 0;
    while (j < chunks && byCaller[static_cast<size_t>(j)] == 1) ++j;
    bool prefix = true;
    for (int64_t k = j; k < chunks; ++k) prefix = prefix && byCaller[static_cast<size_t>(k)] == 0;
    bool inOrder = static_cast<int64_t>(order.size()) == j;
    for (int64_t k = 0; inOrder && k < j; ++k) inOrder = order[static_cast<size_t>(k)] == k;
    CHECK(prefix);
    CHECK(inOrder);
  }
}

TEST_CASE(mobile_pool_rethrows_and_keeps_working) {
  for (int rep = 0; rep < 50; ++rep) {
    std::atomic<int> ran{0};
    bool threw = false;
    auto body = [&](int64_t k) {
      ran.fetch_add(1);
      if (k == 3) throw Error(ErrorCode::OutOfMemory, "chunk 3 failed");
    };
    try {
      mobileParallelFor(40, 2, body);
    } catch (const Error& e) {
      threw = e.code() == ErrorCode::OutOfMemory;
    }
    CHECK(threw);
    CHECK(ran.load() >= 1 && ran.load() <= 40);
  }
  // The next job after failures runs normally.
  std::atomic<int> after{0};
  auto body = [&](int64_t) { after.fetch_add(1); };
  mobileParallelFor(40, 2, body);
  CHECK(after.load() == 40);
}

// The stem kernel (conv_stem_kernels.h): 3x3 on 1-4 input channels at both strides, every pad
// combination up to 2 (asymmetric too), widths below one vector, odd widths, output channel counts that
// leave every remainder block after 8 (AVX-512), 6 (AVX2) and 2 (baseline) channels, batches; the YuNet
// and PFLD first layers. Its pixel blocks (32 / 16 / 16 flattened pixels) lie inside one output row
// (read in place: rows of 64 and 160 columns), across row ends (copied: rows of 56, 40 and 15 columns,
// and of 100 after whole blocks in place), over several short rows, and at the end of planes that are
// not whole blocks; planes of more than one thread chunk (192 pixels) too.
struct StemCase {
  int64_t n, c, h, w, m, s, pt, pl, pb, pr;
};

const StemCase kStem[] = {
    {1, 3, 320, 320, 16, 2, 1, 1, 1, 1}, {1, 3, 112, 112, 64, 2, 1, 1, 1, 1}, {1, 3, 64, 64, 16, 1, 1, 1, 1, 1},
    {2, 3, 17, 23, 13, 2, 1, 1, 1, 1},   {1, 1, 9, 5, 7, 1, 0, 0, 0, 0},      {1, 4, 10, 37, 11, 2, 0, 1, 1, 0},
    {1, 2, 5, 3, 3, 2, 2, 2, 2, 2},      {1, 3, 1, 1, 5, 1, 1, 1, 1, 1},      {1, 3, 4, 2, 6, 2, 1, 0, 2, 2},
    {1, 3, 33, 65, 24, 2, 1, 1, 0, 0},   {1, 3, 20, 48, 9, 1, 2, 0, 0, 2},    {1, 3, 3, 3, 1, 2, 0, 0, 0, 0},
    {2, 3, 41, 29, 17, 2, 1, 1, 1, 1},   {1, 1, 30, 40, 15, 2, 2, 0, 1, 2},   {1, 2, 12, 40, 23, 1, 1, 1, 1, 1},
    {1, 4, 7, 100, 5, 1, 0, 2, 2, 0},    {3, 3, 16, 16, 8, 2, 1, 1, 1, 1},    {1, 4, 9, 64, 12, 1, 1, 1, 1, 1},
};

ConvGeometry stemGeometry(const StemCase& t) {
  Window2D win;
  win.sh = win.sw = t.s, win.pt = t.pt, win.pl = t.pl, win.pb = t.pb, win.pr = t.pr;
  return geometry(t.n, t.c, t.h, t.w, t.m, 3, 3, 1, win);
}

TEST_CASE(stem_every_level_matches_reference) {
  using StemEntry = void (*)(const ConvGeometry&, const float*, const float*, const float*, float*, int, const ConvActivation&);
  std::vector<std::pair<const char*, StemEntry>> stemLevels{{"scalar", stemMobileScalar}};
  if (detectedSimdLevel() >= SimdLevel::Avx2) stemLevels.push_back({"avx2", stemMobileAvx2});
  if (detectedSimdLevel() >= SimdLevel::Avx512) stemLevels.push_back({"avx512", stemMobileAvx512});
  uint32_t seed = 1300;
  for (const StemCase& t : kStem) {
    const ConvGeometry g = stemGeometry(t);
    CHECK(stemMobileSupports(g));
    for (const auto& [name, entry] : stemLevels)
      for (int threads : {1, 3}) {
        checkAgainstReference(g, (seed & 1) == 0, seed, name, [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a) {
          entry(g, x, w, b, y, threads, a);
        });
        ++seed;
      }
  }
  // Declined: 5 input channels, a group, 5x5, stride 3, dilation 2, a pad of 3.
  Window2D s3, d2, p3;
  s3.sh = s3.sw = 3;
  d2.dh = d2.dw = 2;
  p3.pt = p3.pl = p3.pb = p3.pr = 3;
  CHECK(!stemMobileSupports(geometry(1, 5, 9, 9, 4, 3, 3, 1, Window2D{})));
  CHECK(!stemMobileSupports(geometry(1, 4, 9, 9, 4, 3, 3, 2, Window2D{})));
  CHECK(!stemMobileSupports(geometry(1, 3, 9, 9, 4, 5, 5, 1, Window2D{})));
  CHECK(!stemMobileSupports(geometry(1, 3, 9, 9, 4, 3, 3, 1, s3)));
  CHECK(!stemMobileSupports(geometry(1, 3, 9, 9, 4, 3, 3, 1, d2)));
  CHECK(!stemMobileSupports(geometry(1, 3, 9, 9, 4, 3, 3, 1, p3)));
  // The dispatch takes the layer for the activations applied in registers and declines Tanh / Sigmoid
  // (conv.cc's flat kernel then runs it; y is left untouched).
  const ConvGeometry yunet = stemGeometry(kStem[0]);
  std::vector<float> x(size_t(yunet.c * yunet.h * yunet.w), 0.5f), w(size_t(yunet.m * yunet.c * 9), 0.25f), y(size_t(yunet.m * yunet.oh * yunet.ow), -7.f);
  for (const ConvActivation& a : activations()) {
    const bool inRegisters = a.kind != ConvActivation::Tanh && a.kind != ConvActivation::Sigmoid;
    CHECK(conv2dStemFast(yunet, x.data(), w.data(), nullptr, y.data(), 2, a) == inRegisters);
    if (!inRegisters) CHECK(y[0] == -7.f);
    else CHECK(y[0] != -7.f);
    std::fill(y.begin(), y.end(), -7.f);
  }
  checkAgainstReference(yunet, true, 1399, simdLevelName(simdLevel()), [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a) {
    if (a.kind == ConvActivation::Tanh || a.kind == ConvActivation::Sigmoid) stemMobileScalar(yunet, x, w, b, y, 2, a);  // (declined by the dispatch)
    else CHECK(conv2dStemFast(yunet, x, w, b, y, 2, a));
  });
}

// The entries conv2d() calls: dispatch at the current level (FACESTYLE_SIMD lowers it), true when taken.
TEST_CASE(dispatch_takes_supported_layers_and_matches_reference) {
  const ConvGeometry pw = pointwiseGeometry({2, 24, 40, 2, 11, 13});
  checkAgainstReference(pw, true, 900, simdLevelName(simdLevel()), [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a) {
    CHECK(conv2dPointwiseFast(pw, x, w, b, y, 2, a));
  });
  const ConvGeometry dw = depthwiseGeometry({2, 24, 19, 27, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1});
  checkAgainstReference(dw, true, 901, simdLevelName(simdLevel()), [&](const float* x, const float* w, const float* b, float* y, const ConvActivation& a) {
    CHECK(conv2dDepthwiseFast(dw, x, w, b, y, 2, a));
  });
}

// The fused pointwise + depthwise kernel (conv_pwdw_kernels.h) against conv2dReference of each layer in
// turn (the 1x1 conv, act1, the depthwise 3x3 "same" conv, act2, and the 2x2 max pool when pooled), at every
// level, 1, 2 and 3 threads, each pair of in-register activations. Shapes: threads split by bands of rows
// (rows that start on cache lines: 16, 32, 64, 128 wide, at least 12 rows a thread; a batch of 3) and by channel
// blocks (14x14, 10x20, 40x128, 28x28; smaller odd planes run on one thread); several bands a thread both ways (64x128 with 128 channels: 6 rows a band; pooled
// 64x64 with 96: 18; 40x128 with 768 channels split by channels: 14), pooled planes of odd height and
// width, rows of at most one vector (8, 16 wide), one-row planes, channel counts that are not a multiple of
// any row block, more than one slice of input channels (C > 128), batches, dense panel copies. Tanh / Sigmoid and other
// geometries are declined.
TEST_CASE(pointwise_depthwise_fused_every_level_matches_reference) {
  struct Case {
    int64_t n, c, m, h, w;
    bool pool;
  };
  const Case cases[] = {
      {1, 8, 128, 64, 128, false}, {1, 8, 96, 64, 64, true},    {1, 4, 768, 40, 128, false}, {1, 16, 64, 40, 128, false},
      {1, 8, 16, 48, 32, false},   {1, 16, 32, 64, 64, true},   {1, 64, 256, 14, 14, false}, {2, 5, 13, 9, 23, false},
      {1, 6, 10, 11, 17, true},    {1, 4, 8, 12, 8, false},     {1, 3, 5, 6, 16, true},      {1, 200, 64, 10, 20, false},
      {2, 8, 24, 32, 16, false},   {1, 3, 4, 1, 20, false},     {1, 4, 8, 33, 64, true},     {2, 12, 20, 28, 28, true},
      {3, 8, 24, 48, 32, true},
      // By rows at 2 and 3 threads since the threshold is 12 rows a thread (28x28: PFLD's, 7 steps of 4 rows
      // split 3 + 4; 40x16: 40 steps of 1 row), by channels at 1 thread.
      {1, 16, 32, 28, 28, false},  {1, 8, 24, 40, 16, false},
      // Planes of a multiple of 256 floats with 4 or more channel blocks: with AVX2 and the baseline each
      // column block's X panel is copied dense first (densePanelPays), here with 64 input channels and with
      // 200 (two slices of 100).
      {1, 64, 24, 32, 32, true},   {1, 200, 24, 16, 32, false},
  };
  std::vector<ConvActivation> kinds;
  for (const ConvActivation& a : activations())
    if (a.kind != ConvActivation::Tanh && a.kind != ConvActivation::Sigmoid) kinds.push_back(a);
  uint32_t seed = 1200;
  for (const Case& t : cases) {
    const ConvGeometry pg = geometry(t.n, t.c, t.h, t.w, t.m, 1, 1, 1, Window2D{});
    Window2D same;
    same.pt = same.pl = same.pb = same.pr = 1;
    const ConvGeometry dg = geometry(t.n, t.m, t.h, t.w, t.m, 3, 3, t.m, same);
    const size_t xs = size_t(t.n * t.c * t.h * t.w), ts = size_t(t.n * t.m * t.h * t.w);
    const std::vector<float> x = test::randomVector(xs, seed), w1 = test::randomVector(size_t(t.m * t.c), seed + 1),
                             b1 = test::randomVector(size_t(t.m), seed + 2), w2 = test::randomVector(size_t(t.m * 9), seed + 3),
                             b2 = test::randomVector(size_t(t.m), seed + 4);
    // A bound on each output's rounding: the same sums on absolute values.
    std::vector<float> scaleT(ts), scaleY(ts);
    conv2dReference(pg, absOf(x).data(), absOf(w1).data(), absOf(b1).data(), scaleT.data());
    conv2dReference(dg, scaleT.data(), absOf(w2).data(), absOf(b2).data(), scaleY.data());
    const int64_t ph = t.pool ? t.h / 2 : t.h, pw = t.pool ? t.w / 2 : t.w, ys = t.n * t.m * ph * pw;
    for (size_t k = 0; k < kinds.size(); ++k) {
      const ConvActivation &a1 = kinds[k], &a2 = kinds[(k + 1) % kinds.size()];
      CHECK(pointwiseDepthwiseSupports(pg, dg, a1, a2, t.pool));
      std::vector<float> tmid(ts), conv(ts);
      conv2dReference(pg, x.data(), w1.data(), b1.data(), tmid.data());
      for (float& v : tmid) v = a1.apply(v);
      conv2dReference(dg, tmid.data(), w2.data(), b2.data(), conv.data());
      for (const Level& level : levels())
        for (int threads : {1, 2, 3}) {
          std::vector<float> buf(size_t(ys) + 2 * kGuard, kSentinel);
          std::fill(buf.begin() + kGuard, buf.begin() + kGuard + ys, std::nanf(""));
          level.pointwiseDepthwise(pg, x.data(), w1.data(), b1.data(), a1, dg, w2.data(), b2.data(), a2, t.pool, buf.data() + kGuard, threads);
          int bad = 0;
          for (int64_t p = 0; p < t.n * t.m; ++p)
            for (int64_t r = 0; r < ph; ++r)
              for (int64_t c = 0; c < pw; ++c) {
                float expect = -INFINITY;
                double tol = 0;
                for (int64_t dy = 0; dy < (t.pool ? 2 : 1); ++dy)
                  for (int64_t dx = 0; dx < (t.pool ? 2 : 1); ++dx) {
                    const size_t i = size_t((p * t.h + (t.pool ? 2 * r : r) + dy) * t.w + (t.pool ? 2 * c : c) + dx);
                    expect = std::max(expect, a2.apply(conv[i]));
                    tol = std::max(tol, 1e-5 * scaleY[i] + 1e-6);
                  }
                const float got = buf[kGuard + size_t((p * ph + r) * pw + c)];
                if (!(std::fabs(double(got) - expect) <= tol) && bad++ < 3)
                  std::fprintf(stderr, "  pw+dw %s threads %d n%lld c%lld m%lld %lldx%lld pool %d act %d/%d: plane %lld row %lld col %lld got %g want %g\n",
                               level.name, threads, (long long)t.n, (long long)t.c, (long long)t.m, (long long)t.h, (long long)t.w, int(t.pool),
                               int(a1.kind), int(a2.kind), (long long)p, (long long)r, (long long)c, got, expect);
              }
          const bool guards = guardsIntact(buf, size_t(ys));
          CHECK(bad == 0);
          CHECK(guards);
        }
    }
    seed += 5;
  }
  // Declined: an activation that is not applied in registers, either layer; a grouped or strided 1x1; a
  // depthwise conv that is not 3x3 "same" or does not read all of the 1x1's output channels.
  const ConvGeometry pg = geometry(1, 8, 10, 12, 16, 1, 1, 1, Window2D{});
  Window2D same;
  same.pt = same.pl = same.pb = same.pr = 1;
  const ConvGeometry dg = geometry(1, 16, 10, 12, 16, 3, 3, 16, same);
  ConvActivation none, tanh;
  tanh.kind = ConvActivation::Tanh;
  CHECK(pointwiseDepthwiseSupports(pg, dg, none, none, false));
  CHECK(!pointwiseDepthwiseSupports(pg, dg, tanh, none, false));
  CHECK(!pointwiseDepthwiseSupports(pg, dg, none, tanh, false));
  CHECK(!pointwiseDepthwiseSupports(geometry(1, 8, 10, 12, 16, 1, 1, 2, Window2D{}), dg, none, none, false));
  Window2D stride2;
  stride2.sh = stride2.sw = 2;
  CHECK(!pointwiseDepthwiseSupports(geometry(1, 8, 20, 24, 16, 1, 1, 1, stride2), dg, none, none, false));
  Window2D s2same = same;
  s2same.sh = s2same.sw = 2;
  CHECK(!pointwiseDepthwiseSupports(pg, geometry(1, 16, 10, 12, 16, 3, 3, 16, s2same), none, none, false));
  CHECK(!pointwiseDepthwiseSupports(pg, geometry(1, 12, 10, 12, 12, 3, 3, 12, same), none, none, false));
  Window2D shifted = same;  // the output as tall as the input, but one row shifted: the bands read the wrong rows
  shifted.pt = 0, shifted.pb = 2;
  CHECK(!pointwiseDepthwiseSupports(pg, geometry(1, 16, 10, 12, 16, 3, 3, 16, shifted), none, none, false));
  Window2D pad2;
  pad2.pt = pad2.pl = pad2.pb = pad2.pr = 2;
  CHECK(!pointwiseDepthwiseSupports(pg, geometry(1, 16, 10, 12, 16, 5, 5, 16, pad2), none, none, false));
}

// The inverted residual block kernel (conv_inverted_residual_kernels.h) against conv2dReference of each layer
// in turn (1x1, act1, depthwise 3x3 "same", act2, 1x1 projection + Z, act3), at every level, 1, 2 and 3
// threads (each a band of rows), rotating the in-register activations. Shapes: PFLD's blocks (128 -> 256 ->
// 128 at 14x14: 7-row bands of 98 columns, a 2-column tail on the dot-product path; 64 -> 64 -> 64 at 28x28),
// more than one slice of input channels in both 1x1 convs (C and E above 128), several bands a thread
// (256 channels at 64x64: 2 rows a band), channel counts that are not a multiple of any row block, output
// channels other than the input's (no Z then), planes narrower than a vector (4 columns: every block on the
// dot-product path), one-row planes, batches; Z separate and Z in y's own memory. Other geometries are declined.
TEST_CASE(inverted_residual_block_every_level_matches_reference) {
  struct Case {
    int64_t n, c, e, k, h, w;
    bool residual;
  };
  const Case cases[] = {
      {1, 128, 256, 128, 14, 14, true}, {1, 64, 64, 64, 28, 28, true}, {1, 16, 256, 16, 64, 64, true}, {2, 5, 13, 7, 9, 23, false},
      {1, 200, 136, 200, 10, 12, true}, {1, 12, 20, 12, 6, 4, true},   {1, 8, 24, 8, 1, 20, true},     {3, 8, 16, 24, 12, 16, false},
  };
  std::vector<ConvActivation> kinds;
  for (const ConvActivation& a : activations())
    if (a.kind != ConvActivation::Tanh && a.kind != ConvActivation::Sigmoid) kinds.push_back(a);
  uint32_t seed = 1500;
  Window2D same;
  same.pt = same.pl = same.pb = same.pr = 1;
  for (const Case& t : cases) {
    const ConvGeometry pg = geometry(t.n, t.c, t.h, t.w, t.e, 1, 1, 1, Window2D{});
    const ConvGeometry dg = geometry(t.n, t.e, t.h, t.w, t.e, 3, 3, t.e, same);
    const ConvGeometry qg = geometry(t.n, t.e, t.h, t.w, t.k, 1, 1, 1, Window2D{});
    const size_t xs = size_t(t.n * t.c * t.h * t.w), ts = size_t(t.n * t.e * t.h * t.w), ys = size_t(t.n * t.k * t.h * t.w);
    const std::vector<float> x = test::randomVector(xs, seed), w1 = test::randomVector(size_t(t.e * t.c), seed + 1),
                             b1 = test::randomVector(size_t(t.e), seed + 2), w2 = test::randomVector(size_t(t.e * 9), seed + 3),
                             b2 = test::randomVector(size_t(t.e), seed + 4), w3 = test::randomVector(size_t(t.k * t.e), seed + 5),
                             b3 = test::randomVector(size_t(t.k), seed + 6),
                             z = t.residual ? test::randomVector(ys, seed + 7) : std::vector<float>(ys, 0.f);
    // A bound on each output's rounding: the same sums on absolute values.
    std::vector<float> scaleT(ts), scaleD(ts), scaleY(ys);
    conv2dReference(pg, absOf(x).data(), absOf(w1).data(), absOf(b1).data(), scaleT.data());
    conv2dReference(dg, scaleT.data(), absOf(w2).data(), absOf(b2).data(), scaleD.data());
    conv2dReference(qg, scaleD.data(), absOf(w3).data(), absOf(b3).data(), scaleY.data());
    for (size_t k = 0; k < kinds.size(); ++k) {
      const ConvActivation &a1 = kinds[k], &a2 = kinds[(k + 1) % kinds.size()], &a3 = kinds[(k + 2) % kinds.size()];
      CHECK(invertedResidualSupports(pg, dg, qg, a1, a2, a3));
      std::vector<float> tmid(ts), d(ts), want(ys);
      conv2dReference(pg, x.data(), w1.data(), b1.data(), tmid.data());
      for (float& v : tmid) v = a1.apply(v);
      conv2dReference(dg, tmid.data(), w2.data(), b2.data(), d.data());
      for (float& v : d) v = a2.apply(v);
      conv2dReference(qg, d.data(), w3.data(), b3.data(), want.data());
      for (size_t i = 0; i < ys; ++i) want[i] = a3.apply(want[i] + z[i]);
      for (const Level& level : levels())
        for (int threads : {1, 2, 3})
          for (const bool inPlace : {false, true}) {
            if (inPlace && !t.residual) continue;
            std::vector<float> buf(ys + 2 * kGuard, kSentinel);
            float* y = buf.data() + kGuard;
            if (inPlace) std::copy(z.begin(), z.end(), y);
            else std::fill(y, y + ys, std::nanf(""));
            level.invertedResidual(pg, x.data(), w1.data(), b1.data(), a1, dg, w2.data(), b2.data(), a2, qg, w3.data(), b3.data(), a3,
                                   t.residual ? (inPlace ? y : z.data()) : nullptr, y, threads);
            int bad = 0;
            for (size_t i = 0; i < ys; ++i) {
              const double tol = 1e-5 * (scaleY[i] + std::fabs(z[i])) + 1e-6;
              if (!(std::fabs(double(y[i]) - want[i]) <= tol) && bad++ < 3)
                std::fprintf(stderr, "  block %s threads %d%s n%lld %lld->%lld->%lld %lldx%lld acts %d/%d/%d: index %zu got %g want %g\n", level.name,
                             threads, inPlace ? " (z in y)" : "", (long long)t.n, (long long)t.c, (long long)t.e, (long long)t.k, (long long)t.h,
                             (long long)t.w, int(a1.kind), int(a2.kind), int(a3.kind), i, y[i], want[i]);
            }
            const bool guards = guardsIntact(buf, size_t(ys));
            CHECK(bad == 0);
            CHECK(guards);
          }
    }
    seed += 8;
  }
  // Declined: the pair declined (a strided 1x1), a projection that is not 1x1 / stride 1 / unpadded / one
  // group or does not read all of the pair's channels, a projection activation not applied in registers.
  const ConvGeometry pg = geometry(1, 8, 10, 12, 16, 1, 1, 1, Window2D{});
  const ConvGeometry dg = geometry(1, 16, 10, 12, 16, 3, 3, 16, same);
  const ConvGeometry qg = geometry(1, 16, 10, 12, 8, 1, 1, 1, Window2D{});
  ConvActivation none, tanh;
  tanh.kind = ConvActivation::Tanh;
  CHECK(invertedResidualSupports(pg, dg, qg, none, none, none));
  CHECK(!invertedResidualSupports(pg, dg, qg, none, none, tanh));
  Window2D stride2;
  stride2.sh = stride2.sw = 2;
  CHECK(!invertedResidualSupports(geometry(1, 8, 20, 24, 16, 1, 1, 1, stride2), dg, qg, none, none, none));
  CHECK(!invertedResidualSupports(pg, dg, geometry(1, 16, 10, 12, 8, 1, 1, 2, Window2D{}), none, none, none));
  CHECK(!invertedResidualSupports(pg, dg, geometry(1, 16, 10, 12, 8, 3, 3, 1, same), none, none, none));
  CHECK(!invertedResidualSupports(pg, dg, geometry(1, 16, 5, 6, 8, 1, 1, 1, stride2), none, none, none));
  CHECK(!invertedResidualSupports(pg, dg, geometry(1, 12, 10, 12, 8, 1, 1, 1, Window2D{}), none, none, none));
  std::vector<float> x(4096, 1.f), w(8192, 1.f), y(512, -7.f);
  CHECK(!conv2dInvertedResidualFast(pg, x.data(), w.data(), nullptr, none, dg, w.data(), nullptr, none, qg, w.data(), nullptr, tanh, nullptr,
                                    y.data(), 1));
  CHECK(y[0] == -7.f && y[511] == -7.f);
}

// Geometries the kernels do not take are left to conv.cc's general paths (and y is untouched).
TEST_CASE(unsupported_geometries_are_declined) {
  Window2D stride3;
  stride3.sw = 3;
  const ConvGeometry dwStride3 = geometry(1, 4, 9, 9, 4, 3, 3, 4, stride3);
  const ConvGeometry dwHuge = geometry(1, 2, 12, 12, 2, 9, 9, 2, Window2D{});  // 81 taps
  const ConvGeometry notDepthwise = geometry(1, 4, 9, 9, 8, 3, 3, 2, Window2D{});
  Window2D padded;
  padded.pt = padded.pl = padded.pb = padded.pr = 1;
  const ConvGeometry pwPadded = geometry(1, 4, 5, 5, 4, 1, 1, 1, padded);
  const ConvGeometry pwStrided = geometry(1, 4, 5, 5, 4, 1, 1, 1, stride3);
  const ConvGeometry pwWide = geometry(1, 2048, 3, 3, 4, 1, 1, 1, Window2D{});
  const ConvGeometry pwTiny = geometry(1, 64, 2, 2, 32, 1, 1, 1, Window2D{});  // 4 output positions
  const ConvGeometry pwNoInputs = geometry(1, 0, 5, 5, 4, 1, 1, 1, Window2D{});
  const ConvGeometry conv3x3 = geometry(1, 4, 5, 5, 4, 3, 3, 1, Window2D{});
  CHECK(!depthwiseMobileSupports(dwStride3));
  CHECK(!depthwiseMobileSupports(dwHuge));
  CHECK(!depthwiseMobileSupports(notDepthwise));
  CHECK(!pointwiseMobileSupports(pwPadded));
  CHECK(!pointwiseMobileSupports(pwStrided));
  CHECK(!pointwiseMobileSupports(pwWide));
  CHECK(!pointwiseMobileSupports(pwTiny));
  CHECK(!pointwiseMobileSupports(pwNoInputs));
  CHECK(!pointwiseMobileSupports(conv3x3));
  std::vector<float> x(4096, 1.f), w(8192, 1.f), y(512, -7.f);
  const ConvActivation none;
  CHECK(!conv2dDepthwiseFast(dwStride3, x.data(), w.data(), nullptr, y.data(), 1, none));
  CHECK(!conv2dPointwiseFast(pwStrided, x.data(), w.data(), nullptr, y.data(), 1, none));
  CHECK(y[0] == -7.f && y[511] == -7.f);
}

TEST_MAIN()
