// alignCrops / pasteBlend (native/cpu/paste_blend.h) on small frames whose expected values follow from
// the definition by hand: identity and half-pixel placements, borders, strength, NaN, bad arguments.
// The comparison with the JS reference on real faces is test/face-paste-native.test.ts.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/paste_blend.h"
#include "harness.h"

using namespace facestyle;

namespace {

// A w x h frame whose byte at (x, y, c) is (x * 40 + y * 7 + c * 50) % 256.
std::vector<uint8_t> pattern(int64_t w, int64_t h) {
  std::vector<uint8_t> f(w * h * 3);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) f[(y * w + x) * 3 + c] = static_cast<uint8_t>((x * 40 + y * 7 + c * 50) % 256);
  return f;
}

bool throwsArgument(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code() == ErrorCode::Argument;
  }
  return false;
}

}  // namespace

TEST_CASE(align_identity_reads_bytes_over_255) {
  const int64_t w = 5, h = 4, s = 3;
  auto f = pattern(w, h);
  // Crop pixel (x, y) -> frame pixel (x + 1, y + 1).
  const double m[6] = {1, 0, 1, 0, 1, 1};
  std::vector<float> out(3 * s * s), signedOut(3 * s * s);
  alignCrops({f.data(), w, h}, m, 1, s, CropBorder::Reflect, CropRange::Unit, out.data(), 1, 0);
  alignCrops({f.data(), w, h}, m, 1, s, CropBorder::Reflect, CropRange::Signed, signedOut.data(), 1, 0);
  for (int c = 0; c < 3; ++c)
    for (int64_t y = 0; y < s; ++y)
      for (int64_t x = 0; x < s; ++x) {
        const float expected = f[((y + 1) * w + x + 1) * 3 + c] / 255.f;
        CHECK(std::fabs(out[c * s * s + y * s + x] - expected) < 1e-6f);
        CHECK(std::fabs(signedOut[c * s * s + y * s + x] - (2 * expected - 1)) < 1e-6f);
      }
}

TEST_CASE(align_half_pixel_is_the_mean_of_four) {
  const int64_t w = 4, h = 4, s = 2;
  auto f = pattern(w, h);
  const double m[6] = {1, 0, 0.5, 0, 1, 0.5};
  std::vector<float> out(2 * 3 * s * s, -7.f);
  // Into the second of two crops: the first is left alone.
  alignCrops({f.data(), w, h}, m, 1, s, CropBorder::Constant, CropRange::Unit, out.data(), 2, 1);
  CHECK(out[0] == -7.f && out[3 * s * s - 1] == -7.f);
  const auto px = [&](int64_t x, int64_t y, int c) { return f[(y * w + x) * 3 + c] / 255.f; };
  for (int c = 0; c < 3; ++c) {
    const float expected = (px(1, 1, c) + px(2, 1, c) + px(1, 2, c) + px(2, 2, c)) / 4;
    CHECK(std::fabs(out[3 * s * s + c * s * s + 1 * s + 1] - expected) < 1e-6f);
  }
}

TEST_CASE(align_borders_outside_the_frame) {
  const int64_t w = 4, h = 3, s = 1;
  auto f = pattern(w, h);
  // The single crop pixel lands on frame pixel (-2, 1): reflect reads x = 2, edge x = 0, constant 0.
  const double m[6] = {1, 0, -2, 0, 1, 1};
  std::vector<float> out(3);
  alignCrops({f.data(), w, h}, m, 1, s, CropBorder::Reflect, CropRange::Unit, out.data(), 1, 0);
  CHECK(std::fabs(out[1] - f[(1 * w + 2) * 3 + 1] / 255.f) < 1e-6f);
  alignCrops({f.data(), w, h}, m, 1, s, CropBorder::Edge, CropRange::Unit, out.data(), 1, 0);
  CHECK(std::fabs(out[1] - f[(1 * w + 0) * 3 + 1] / 255.f) < 1e-6f);
  alignCrops({f.data(), w, h}, m, 1, s, CropBorder::Constant, CropRange::Signed, out.data(), 1, 0);
  CHECK(out[1] == -1.f);
}

TEST_CASE(paste_blends_with_strength_and_mask) {
  const int64_t w = 6, h = 5, s = 4;
  auto frame = pattern(w, h);
  std::vector<float> crop(3 * s * s, 1.f);  // white
  std::vector<float> mask(s * s, 1.f);
  mask[0] = 0.f;  // crop pixel (0, 0) keeps the frame
  // Frame pixel (x, y) -> crop pixel (x - 1, y - 1): the crop covers frame [1,5) x [1,5).
  PasteFace face{0, {1, 0, -1, 0, 1, -1}, 0, 0, w, h};
  for (double strength : {0.0, 0.5, 1.0}) {
    auto out = frame;
    std::vector<float> alpha(w * h, 0.f);
    pasteBlend(out.data(), w, h, crop.data(), 1, s, &face, 1, mask.data(), strength, CropRange::Unit, alpha.data());
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          const int64_t i = (y * w + x) * 3 + c;
          const bool covered = x >= 1 && x < 5 && y >= 1 && y < 5 && !(x == 1 && y == 1);
          const int expected = covered ? static_cast<int>(std::floor(frame[i] * (1 - strength) + 255 * strength + 0.5)) : frame[i];
          CHECK(out[i] == expected);
          if (c == 0) CHECK(alpha[y * w + x] == (covered ? static_cast<float>(strength) : 0.f));
        }
  }
}

TEST_CASE(paste_signed_range_and_nan) {
  const int64_t w = 2, h = 1, s = 2;
  std::vector<uint8_t> frame = {10, 20, 30, 40, 50, 60};
  std::vector<float> crop(3 * s * s, 0.f);  // [-1,1] 0 is grey 0.5
  crop[0 * s * s + 1] = std::numeric_limits<float>::quiet_NaN();  // red of crop pixel (1, 0)
  std::vector<float> mask(s * s, 1.f);
  PasteFace face{0, {1, 0, 0, 0, 1, 0}, 0, 0, w, h};
  pasteBlend(frame.data(), w, h, crop.data(), 1, s, &face, 1, mask.data(), 1.0, CropRange::Signed, nullptr);
  // Green and blue: 0.5 * 255 = 127.5 rounds up. Red is NaN at both pixels: pixel (0, 0) reads crop
  // pixel (1, 0) with weight 0, and 0 * NaN is NaN, as in WarpAffine's formula; NaN then reads as 0.
  CHECK(frame[1] == 128 && frame[2] == 128 && frame[4] == 128 && frame[5] == 128);
  CHECK(frame[0] == 0 && frame[3] == 0);
}

TEST_CASE(paste_later_faces_go_over_earlier_ones) {
  const int64_t w = 2, h = 2, s = 2;
  std::vector<uint8_t> frame(w * h * 3, 0);
  std::vector<float> crops(2 * 3 * s * s);
  for (int64_t i = 0; i < 3 * s * s; ++i) crops[i] = 0.2f, crops[3 * s * s + i] = 0.6f;
  std::vector<float> mask(s * s, 1.f);
  PasteFace faces[2] = {{1, {1, 0, 0, 0, 1, 0}, 0, 0, 2, 2}, {0, {1, 0, 0, 0, 1, 0}, 1, 0, 1, 2}};
  pasteBlend(frame.data(), w, h, crops.data(), 2, s, faces, 2, mask.data(), 1.0, CropRange::Unit, nullptr);
  CHECK(frame[0] == 153);  // pixel (0, 0): crop 1 (0.6) only
  CHECK(frame[3] == 51);   // pixel (1, 0): crop 0 (0.2) pasted last
}

TEST_CASE(bad_arguments_throw_argument_errors) {
  std::vector<uint8_t> frame(12, 0);
  std::vector<float> crop(3 * 4, 0.f), mask(4, 1.f), out(12);
  PasteFace outside{0, {1, 0, 0, 0, 1, 0}, 1, 0, 2, 2};
  PasteFace noCrop{1, {1, 0, 0, 0, 1, 0}, 0, 0, 1, 1};
  PasteFace nanMatrix{0, {NAN, 0, 0, 0, 1, 0}, 0, 0, 1, 1};
  CHECK(throwsArgument([&] { pasteBlend(frame.data(), 2, 2, crop.data(), 1, 2, &outside, 1, mask.data(), 1, CropRange::Unit, nullptr); }));
  CHECK(throwsArgument([&] { pasteBlend(frame.data(), 2, 2, crop.data(), 1, 2, &noCrop, 1, mask.data(), 1, CropRange::Unit, nullptr); }));
  CHECK(throwsArgument([&] { pasteBlend(frame.data(), 2, 2, crop.data(), 1, 2, &nanMatrix, 1, mask.data(), 1, CropRange::Unit, nullptr); }));
  CHECK(throwsArgument([&] { pasteBlend(frame.data(), 2, 2, crop.data(), 1, 2, nullptr, 0, mask.data(), 1.5, CropRange::Unit, nullptr); }));
  const double m[6] = {1, 0, 0, 0, 1, 0};
  CHECK(throwsArgument([&] { alignCrops({frame.data(), 2, 2}, m, 1, 2, CropBorder::Edge, CropRange::Unit, out.data(), 1, 1); }));
  CHECK(throwsArgument([&] { alignCrops({frame.data(), 0, 2}, m, 1, 2, CropBorder::Edge, CropRange::Unit, out.data(), 1, 0); }));
}

TEST_MAIN()
