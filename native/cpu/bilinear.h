// Bilinear sampling shared by the WarpAffine kernel (warp.cc) and the face crop passes (paste_blend.cc):
// where a sample's taps are and how they blend, and how a tap outside the image is resolved. Coordinates
// in double (large images keep sub-pixel accuracy), clamped to +-1e9; weights and blend in float.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace facestyle::cpu {

// How a tap outside the image reads: the fill constant, the mirrored pixel (no edge repeat), or the edge.
enum class SampleBorder { Constant, Reflect, Edge };

// Index of a tap at `i` on an axis of `n` pixels, or -1 for "read the constant".
inline int64_t borderIndex(int64_t i, int64_t n, SampleBorder border) {
  if (i >= 0 && i < n) return i;
  if (border == SampleBorder::Constant) return -1;
  if (border == SampleBorder::Edge || n == 1) return i < 0 ? 0 : n - 1;
  const int64_t period = 2 * (n - 1);
  int64_t r = std::llabs(i) % period;
  if (r >= n) r = period - r;
  return r;
}

// A bilinear sample position: the top-left tap and the fractions towards the next column and row.
struct BilinearTaps {
  int64_t x0, y0;
  float tx, ty;
  bool valid;  // false for NaN coordinates (the sample is then the border constant)
};

inline BilinearTaps bilinearTaps(double sx, double sy) {
  BilinearTaps t{0, 0, 0.f, 0.f, !(std::isnan(sx) || std::isnan(sy))};
  if (!t.valid) return t;
  // Huge coordinates are clamped so the integer taps stay in range (1e9 pixels outside, every tap is a
  // border tap anyway). Plain comparisons rather than fmin/fmax (library calls; NaN is excluded above).
  const double cx = sx < -1e9 ? -1e9 : sx > 1e9 ? 1e9 : sx, cy = sy < -1e9 ? -1e9 : sy > 1e9 ? 1e9 : sy;
  // floor() by truncation and a step down for negatives: the same values (|c| <= 1e9), without the
  // libm sequence baseline x86-64 builds emit for std::floor.
  t.x0 = static_cast<int64_t>(cx);
  t.y0 = static_cast<int64_t>(cy);
  if (cx < static_cast<double>(t.x0)) --t.x0;
  if (cy < static_cast<double>(t.y0)) --t.y0;
  t.tx = static_cast<float>(cx - static_cast<double>(t.x0));
  t.ty = static_cast<float>(cy - static_cast<double>(t.y0));
  return t;
}

inline float bilinearBlend(float v00, float v01, float v10, float v11, float tx, float ty) {
  return (1.f - ty) * ((1.f - tx) * v00 + tx * v01) + ty * ((1.f - tx) * v10 + tx * v11);
}

}  // namespace facestyle::cpu
