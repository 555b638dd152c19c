// sampleDetectorInput (native/cpu/detector_input.h) on small frames whose expected values follow from the
// definition by hand: a copy at whole pixels, the mean of a block when shrinking by 2, B G R planes, the
// letterbox left alone, clamping at every edge (a flat frame stays flat however far the region hangs
// over), and sums too large for 32 bits (n x n samples above 128). Built with ASan it also checks that no
// case reads or writes outside its buffers. The equality with the TypeScript reference, value for value,
// is test/face-detector-input.test.ts.
#include <cstdint>
#include <vector>

#include "cpu/detector_input.h"
#include "harness.h"

using namespace facestyle;
using facestyle::cpu::DetectorSample;

namespace {

// A w x h frame whose byte at (x, y, c) is (x * 40 + y * 7 + c * 50) % 256.
std::vector<uint8_t> pattern(int64_t w, int64_t h) {
  std::vector<uint8_t> f(static_cast<size_t>(w * h * 3));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) f[static_cast<size_t>((y * w + x) * 3 + c)] = static_cast<uint8_t>((x * 40 + y * 7 + c * 50) % 256);
  return f;
}

DetectorSample region(double x0, double y0, double k, int64_t w, int64_t h) {
  DetectorSample s;
  s.x0 = x0, s.y0 = y0, s.kx = k, s.ky = k, s.width = w, s.height = h;
  return s;
}

constexpr float kMarker = -7.f;  // in every float the sampler must not write

}  // namespace

TEST_CASE(whole_pixels_are_copied_into_bgr_planes) {
  const int64_t W = 9, H = 7, netW = 8, netH = 6, plane = netW * netH;
  const auto f = pattern(W, H);
  std::vector<float> out(static_cast<size_t>(3 * plane), kMarker);
  cpu::sampleDetectorInput(f.data(), W, H, region(2, 1, 1, 5, 4), out.data(), netW, netH);
  for (int64_t y = 0; y < netH; ++y)
    for (int64_t x = 0; x < netW; ++x)
      for (int c = 0; c < 3; ++c) {
        const float got = out[static_cast<size_t>((2 - c) * plane + y * netW + x)];  // RGB -> planes B, G, R
        if (x < 5 && y < 4)
          CHECK(got == f[static_cast<size_t>(((y + 1) * W + x + 2) * 3 + c)]);
        else
          CHECK(got == kMarker);  // the letterbox is the caller's
      }
}

TEST_CASE(shrinking_by_two_averages_each_2x2_block_rounding_half_up) {
  const int64_t W = 8, H = 6;
  const auto f = pattern(W, H);
  std::vector<float> out(3 * 4 * 3, kMarker);
  cpu::sampleDetectorInput(f.data(), W, H, region(0, 0, 2, 4, 3), out.data(), 4, 3);
  auto px = [&](int64_t x, int64_t y, int c) { return static_cast<int>(f[static_cast<size_t>((y * W + x) * 3 + c)]); };
  for (int64_t v = 0; v < 3; ++v)
    for (int64_t u = 0; u < 4; ++u)
      for (int c = 0; c < 3; ++c) {
        const int sum = px(2 * u, 2 * v, c) + px(2 * u + 1, 2 * v, c) + px(2 * u, 2 * v + 1, c) + px(2 * u + 1, 2 * v + 1, c);
        CHECK(out[static_cast<size_t>((2 - c) * 12 + v * 4 + u)] == static_cast<float>((sum + 2) / 4));
      }
}

TEST_CASE(a_flat_frame_stays_flat_however_the_region_hangs_over_its_edges) {
  // Bilinear weights sum to 256 and every tap is clamped into the frame, so any region of a flat frame
  // samples the flat value, also where it lies wholly outside the frame.
  const int64_t W = 13, H = 5;
  std::vector<uint8_t> f(static_cast<size_t>(W * H * 3));
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i % 3 == 0 ? 201 : i % 3 == 1 ? 17 : 255);
  const DetectorSample cases[] = {
      region(-30.5, -12.25, 2.5, 20, 20),  // over the top-left
      region(10.75, 3.1, 3.0, 9, 9),       // over the bottom-right
      region(-5, -5, 7.01, 6, 6),          // larger than the frame, n = 8
      region(100, 100, 1, 4, 4),           // wholly outside: the last pixel, clamped
      region(0.3, 0.6, 0.37, 11, 7),       // enlarging
      region(0, 0, 4096, 2, 2),            // the largest k
  };
  for (const DetectorSample& s : cases) {
    const int64_t netW = s.width + 3, netH = s.height + 1, plane = netW * netH;
    std::vector<float> out(static_cast<size_t>(3 * plane), kMarker);
    cpu::sampleDetectorInput(f.data(), W, H, s, out.data(), netW, netH);
    int wrong = 0, written = 0;
    for (int64_t y = 0; y < netH; ++y)
      for (int64_t x = 0; x < netW; ++x) {
        const bool inside = x < s.width && y < s.height;
        const float b = out[static_cast<size_t>(y * netW + x)], g = out[static_cast<size_t>(plane + y * netW + x)], r = out[static_cast<size_t>(2 * plane + y * netW + x)];
        if (inside) {
          ++written;
          if (b != 255.f || g != 17.f || r != 201.f) ++wrong;
        } else if (b != kMarker || g != kMarker || r != kMarker) {
          ++wrong;
        }
      }
    CHECK(wrong == 0);
    CHECK(written == s.width * s.height);
  }
}

TEST_CASE(sums_over_many_samples_do_not_overflow) {
  // k = 12 and k = 40: 144 and 1600 samples per pixel, past the 32-bit horizontal sums (128 at most); on
  // a white frame every value must still be 255, and on a frame of alternating 0 / 255 columns the mean.
  const int64_t W = 480, H = 480;
  std::vector<uint8_t> white(static_cast<size_t>(W * H * 3), 255), stripes(static_cast<size_t>(W * H * 3));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) stripes[static_cast<size_t>((y * W + x) * 3 + c)] = x % 2 ? 255 : 0;
  for (double k : {12.0, 40.0}) {
    const int64_t n = static_cast<int64_t>(W / k);
    std::vector<float> a(static_cast<size_t>(3 * n * n)), b(static_cast<size_t>(3 * n * n));
    cpu::sampleDetectorInput(white.data(), W, H, region(0, 0, k, n, n), a.data(), n, n);
    cpu::sampleDetectorInput(stripes.data(), W, H, region(0, 0, k, n, n), b.data(), n, n);
    int wrong = 0;
    for (size_t i = 0; i < a.size(); ++i) wrong += a[i] != 255.f;
    for (size_t i = 0; i < b.size(); ++i) wrong += b[i] != 128.f;  // 127.5 rounded half up
    CHECK(wrong == 0);
  }
}

TEST_MAIN()
