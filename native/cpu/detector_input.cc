// sampleDetectorInput (detector_input.h).
#include "cpu/detector_input.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace facestyle::cpu {

namespace {

// Taps of one axis: sample i of n per output pixel at frame position p0 + ((i + 0.5) / n) k - 0.5,
// clamped; lo = floor, hi = lo + 1 clamped, w = the weight of hi in 1/256.
struct Taps {
  std::vector<int64_t> lo, hi;
  std::vector<int32_t> w;
  int64_t n = 1;
};

Taps axisTaps(double p0, double k, int64_t count, int64_t size) {
  Taps t;
  t.n = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(k - 1e-6)));
  const int64_t m = count * t.n;
  t.lo.resize(static_cast<size_t>(m));
  t.hi.resize(static_cast<size_t>(m));
  t.w.resize(static_cast<size_t>(m));
  const double last = static_cast<double>(size - 1);
  for (int64_t i = 0; i < m; ++i) {
    const double p = std::min(last, std::max(0.0, p0 + ((static_cast<double>(i) + 0.5) / static_cast<double>(t.n)) * k - 0.5));
    const double fl = std::floor(p);
    t.lo[i] = static_cast<int64_t>(fl);
    t.hi[i] = std::min(size - 1, t.lo[i] + 1);
    t.w[i] = static_cast<int32_t>(std::round((p - fl) * 256.0));
  }
  return t;
}

// One sample per pixel at whole-pixel positions, consecutive and inside the frame: the values are the
// frame's bytes (weights 0, sums x65536 exactly).
bool wholePixels(const Taps& t) {
  if (t.n != 1) return false;
  for (size_t i = 0; i < t.w.size(); ++i)
    if (t.w[i] != 0 || t.lo[i] != t.lo[0] + static_cast<int64_t>(i)) return false;
  return true;
}

void copyToPlanarBgr(const uint8_t* frame, int64_t frameWidth, int64_t x0, int64_t y0, const DetectorSample& s, float* out, int64_t plane, int64_t netW) {
  for (int64_t v = 0; v < s.height; ++v) {
    const uint8_t* __restrict src = frame + ((y0 + v) * frameWidth + x0) * 3;
    float* __restrict b = out + v * netW;
    float* __restrict g = b + plane;
    float* __restrict r = g + plane;
    for (int64_t u = 0; u < s.width; ++u) r[u] = src[3 * u], g[u] = src[3 * u + 1], b[u] = src[3 * u + 2];
  }
}

// One output row from the accumulated rows: nx horizontal taps per pixel, RGB -> planes B, G, R, each
// rounded to a whole level. Sum is int32 while nx * ny <= 128 (at most 128 x 255 x 65536 < 2^31).
template <typename Sum, typename Level>
void horizontalTaps(const int32_t* acc, const Taps& xs, int64_t c0, int64_t width, const Level& level, float* rowB, int64_t plane) {
  for (int64_t u = 0; u < width; ++u) {
    Sum r = 0, g = 0, b = 0;
    for (int64_t i = u * xs.n; i < (u + 1) * xs.n; ++i) {
      const int32_t* lo = acc + (xs.lo[i] - c0) * 3;
      const int32_t* hi = acc + (xs.hi[i] - c0) * 3;
      const Sum wh = xs.w[i], wl = 256 - wh;
      r += lo[0] * wl + hi[0] * wh;
      g += lo[1] * wl + hi[1] * wh;
      b += lo[2] * wl + hi[2] * wh;
    }
    rowB[u] = level(b);
    rowB[plane + u] = level(g);
    rowB[2 * plane + u] = level(r);
  }
}

}  // namespace

void sampleDetectorInput(const uint8_t* frame, int64_t frameWidth, int64_t frameHeight, const DetectorSample& s, float* out, int64_t netW, int64_t netH) {
  const Taps xs = axisTaps(s.x0, s.kx, s.width, frameWidth);
  const Taps ys = axisTaps(s.y0, s.ky, s.height, frameHeight);
  if (wholePixels(xs) && wholePixels(ys)) {  // a plain copy (the first pass on a frame already small enough)
    copyToPlanarBgr(frame, frameWidth, xs.lo.front(), ys.lo.front(), s, out, netW * netH, netW);
    return;
  }
  // The frame columns any sample reads: positions grow with i, so the first low tap and the last high one.
  const int64_t c0 = xs.lo.front(), c1 = xs.hi.back();
  const int64_t span = (c1 - c0 + 1) * 3;
  std::vector<int32_t> acc(static_cast<size_t>(span));  // per column and channel: sum of ny rows, each x256
  // A value is floor((sum + half) / (nn * 65536)), nn = nx * ny samples: the shift first and then the
  // division by nn give the same whole number (floor(floor(a / b) / c) = floor(a / (b c))).
  const int64_t nn = xs.n * ys.n, half = nn * 32768;
  auto level = [nn, half](int64_t sum) { return static_cast<float>(nn == 1 ? (sum + half) >> 16 : ((sum + half) >> 16) / nn); };
  const int64_t plane = netW * netH;
  for (int64_t v = 0; v < s.height; ++v) {
    std::fill(acc.begin(), acc.end(), 0);
    for (int64_t j = v * ys.n; j < (v + 1) * ys.n; ++j) {
      const uint8_t* __restrict a = frame + (ys.lo[j] * frameWidth + c0) * 3;
      const uint8_t* __restrict b = frame + (ys.hi[j] * frameWidth + c0) * 3;
      int32_t* __restrict sums = acc.data();  // (bytes may alias anything: without this the loop is not vectorised)
      // One row's bilinear blend fits 16 bits (at most 255 x 256), which SSE2 multiplies 8 at a time.
      const uint16_t wb = static_cast<uint16_t>(ys.w[j]), wa = static_cast<uint16_t>(256 - wb);
      for (int64_t q = 0; q < span; ++q) sums[q] += static_cast<uint16_t>(a[q] * wa + b[q] * wb);
    }
    if (nn <= 128)
      horizontalTaps<int32_t>(acc.data(), xs, c0, s.width, level, out + v * netW, plane);
    else
      horizontalTaps<int64_t>(acc.data(), xs, c0, s.width, level, out + v * netW, plane);
  }
}

}  // namespace facestyle::cpu
