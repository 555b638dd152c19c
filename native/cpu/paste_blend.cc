// Face crops between uint8 RGB frames and float tensors (see paste_blend.h). The sampling is the
// WarpAffine kernel's (cpu/bilinear.h, shared with warp.cc).
#include "cpu/paste_blend.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "facestyle/status.h"

namespace facestyle {

namespace {

using cpu::bilinearBlend;
using cpu::bilinearTaps;
using cpu::borderIndex;

// NaN -> 0, like the JS clamp `v > 0 ? (v < 1 ? v : 1) : 0`.
inline double clamp01(double v) { return v > 0 ? (v < 1 ? v : 1) : 0; }

void fail(const std::string& message) { throw Error(ErrorCode::Argument, message); }

}  // namespace

void alignCrops(const RgbFrame& frame, const double* cropToImage, int64_t count, int64_t size, CropBorder border, CropRange range,
                float* out, int64_t outFaces, int64_t outOffset) {
  const int64_t w = frame.width, h = frame.height;
  if (w < 1 || h < 1 || !frame.data) fail("alignCrops: expected a non-empty frame but received " + std::to_string(w) + "x" + std::to_string(h));
  if (size < 1) fail("alignCrops: expected a positive crop size but received " + std::to_string(size));
  if (count < 0 || outOffset < 0 || outOffset + count > outFaces)
    fail("alignCrops: " + std::to_string(count) + " crops at face " + std::to_string(outOffset) + " do not fit an output of " + std::to_string(outFaces) + " faces");
  // The frame's bytes as [0,1] floats: the same values as the JS `byte / 255` (double, then float).
  float unit[256];
  for (int v = 0; v < 256; ++v) unit[v] = static_cast<float>(v / 255.0);
  const int64_t plane = size * size;
  const uint8_t* px = frame.data;
  for (int64_t k = 0; k < count; ++k) {
    const double* m = cropToImage + 6 * k;
    float* dst = out + (outOffset + k) * 3 * plane;
    for (int64_t oy = 0; oy < size; ++oy)
      for (int64_t ox = 0; ox < size; ++ox) {
        const cpu::BilinearTaps t = bilinearTaps(m[0] * ox + m[1] * oy + m[2], m[3] * ox + m[4] * oy + m[5]);
        float rgb[3] = {0.f, 0.f, 0.f};
        if (t.valid && t.x0 >= 0 && t.y0 >= 0 && t.x0 + 1 < w && t.y0 + 1 < h) {
          // Fast path: all four taps inside the frame.
          const uint8_t* p0 = px + (t.y0 * w + t.x0) * 3;
          const uint8_t* p1 = p0 + w * 3;
          for (int c = 0; c < 3; ++c) rgb[c] = bilinearBlend(unit[p0[c]], unit[p0[3 + c]], unit[p1[c]], unit[p1[3 + c]], t.tx, t.ty);
        } else if (t.valid) {
          const int64_t ry0 = borderIndex(t.y0, h, border), ry1 = borderIndex(t.y0 + 1, h, border);
          const int64_t rx0 = borderIndex(t.x0, w, border), rx1 = borderIndex(t.x0 + 1, w, border);
          // A tap outside with border 'constant' reads 0 (ry/rx == -1).
          const auto tap = [&](int64_t ry, int64_t rx, int c) { return ry < 0 || rx < 0 ? 0.f : unit[px[(ry * w + rx) * 3 + c]]; };
          for (int c = 0; c < 3; ++c) rgb[c] = bilinearBlend(tap(ry0, rx0, c), tap(ry0, rx1, c), tap(ry1, rx0, c), tap(ry1, rx1, c), t.tx, t.ty);
        }
        const int64_t i = oy * size + ox;
        for (int c = 0; c < 3; ++c) dst[c * plane + i] = range == CropRange::Signed ? rgb[c] * 2.f - 1.f : rgb[c];
      }
  }
}

void markAlignRows(const double* cropToImage, int64_t count, int64_t size, int64_t height, CropBorder border, std::vector<char>& rows) {
  rows.assign(static_cast<size_t>(height), 0);
  for (int64_t k = 0; k < count; ++k) {
    const double* m = cropToImage + 6 * k;
    double lo = INFINITY, hi = -INFINITY;
    for (double x : {0.0, static_cast<double>(size - 1)})
      for (double y : {0.0, static_cast<double>(size - 1)}) {
        const double v = m[3] * x + m[4] * y + m[5];
        lo = std::fmin(lo, v), hi = std::fmax(hi, v);
      }
    if (!(std::isfinite(lo) && std::isfinite(hi)) || hi - lo > 4.0 * static_cast<double>(height) + 8 || std::fabs(lo) > 1e9 || std::fabs(hi) > 1e9) {
      rows.assign(static_cast<size_t>(height), 1);
      return;
    }
    for (int64_t y = static_cast<int64_t>(std::floor(lo)) - 2; y <= static_cast<int64_t>(std::ceil(hi)) + 2; ++y) {
      const int64_t r = borderIndex(y, height, border);  // -1: the constant
      if (r >= 0) rows[static_cast<size_t>(r)] = 1;
    }
  }
}

void pasteBlend(uint8_t* rgb, int64_t width, int64_t height, const float* crops, int64_t cropCount, int64_t size, const PasteFace* faces,
                size_t faceCount, const float* mask, double strength, CropRange range, float* alphaOut) {
  if (width < 1 || height < 1 || !rgb) fail("pasteBlend: expected a non-empty frame but received " + std::to_string(width) + "x" + std::to_string(height));
  if (size < 1) fail("pasteBlend: expected a positive crop size but received " + std::to_string(size));
  if (!(strength >= 0 && strength <= 1)) fail("pasteBlend: expected strength in [0,1] but received " + std::to_string(strength));
  for (size_t f = 0; f < faceCount; ++f) {
    const PasteFace& p = faces[f];
    if (p.crop < 0 || p.crop >= cropCount) fail("pasteBlend: face " + std::to_string(f) + " names crop " + std::to_string(p.crop) + " of " + std::to_string(cropCount));
    if (p.x0 < 0 || p.y0 < 0 || p.w < 0 || p.h < 0 || p.x0 + p.w > width || p.y0 + p.h > height)
      fail("pasteBlend: face " + std::to_string(f) + " rectangle is outside the " + std::to_string(width) + "x" + std::to_string(height) + " frame");
    for (double v : p.matrix)
      if (!std::isfinite(v)) fail("pasteBlend: face " + std::to_string(f) + " has a non-finite matrix");
  }
  const int64_t plane = size * size;
  // Crop values in [0,1] (0 outside the crop, as WarpAffine's constant border).
  const auto unit = [range](float v) { return range == CropRange::Signed ? (v + 1.f) * 0.5f : v; };
  for (size_t f = 0; f < faceCount; ++f) {
    const PasteFace& p = faces[f];
    const float* crop = crops + p.crop * 3 * plane;
    // Region pixel (ox, oy) is frame pixel (x0 + ox, y0 + oy): the matrix shifted to the region, as the
    // JS path builds it.
    const double a = p.matrix[0], b = p.matrix[1], c = p.matrix[3], d = p.matrix[4];
    const double tx = a * p.x0 + b * p.y0 + p.matrix[2], ty = c * p.x0 + d * p.y0 + p.matrix[5];
    for (int64_t oy = 0; oy < p.h; ++oy)
      for (int64_t ox = 0; ox < p.w; ++ox) {
        const cpu::BilinearTaps t = bilinearTaps(a * ox + b * oy + tx, c * ox + d * oy + ty);
        if (!t.valid) continue;  // the mask reads 0 there
        // Outside the crop every tap is 0 (the mask too): nothing to blend.
        if (t.x0 < -1 || t.y0 < -1 || t.x0 >= size || t.y0 >= size) continue;
        const bool inside = t.x0 >= 0 && t.y0 >= 0 && t.x0 + 1 < size && t.y0 + 1 < size;
        const bool in00 = t.x0 >= 0 && t.y0 >= 0, in01 = t.x0 + 1 < size && t.y0 >= 0;
        const bool in10 = t.x0 >= 0 && t.y0 + 1 < size, in11 = t.x0 + 1 < size && t.y0 + 1 < size;
        const int64_t i00 = t.y0 * size + t.x0;
        const auto sample = [&](const float* src, bool convert) {
          if (inside) {  // fast path: all four taps inside the crop
            const float* q = src + i00;
            if (!convert) return bilinearBlend(q[0], q[1], q[size], q[size + 1], t.tx, t.ty);
            return bilinearBlend(unit(q[0]), unit(q[1]), unit(q[size]), unit(q[size + 1]), t.tx, t.ty);
          }
          const auto tap = [&](bool in, int64_t i) { return in ? (convert ? unit(src[i]) : src[i]) : 0.f; };
          return bilinearBlend(tap(in00, i00), tap(in01, i00 + 1), tap(in10, i00 + size), tap(in11, i00 + size + 1), t.tx, t.ty);
        };
        const double alpha = clamp01(sample(mask, false)) * strength;
        if (!(alpha > 0)) continue;
        const int64_t pixel = (p.y0 + oy) * width + (p.x0 + ox);
        if (alphaOut && alphaOut[pixel] < alpha) alphaOut[pixel] = static_cast<float>(alpha);
        const double keep = 1 - alpha, scale = 255 * alpha;
        uint8_t* o = rgb + pixel * 3;
        for (int ch = 0; ch < 3; ++ch) {
          const double v = std::floor(o[ch] * keep + clamp01(sample(crop + ch * plane, true)) * scale + 0.5);
          o[ch] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
        }
      }
  }
}

}  // namespace facestyle
