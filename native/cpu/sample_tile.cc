// sampleTileRgb (sample_tile.h).
#include "cpu/sample_tile.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace facestyle::cpu {

void sampleTileRgb(const uint8_t* data, int64_t width, int64_t height, double x0, double y0, double k, int64_t tile, uint8_t* out) {
  const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(k - 1e-6)));
  const int64_t m = tile * n;  // sample positions per axis
  const double W1 = static_cast<double>(width - 1), H1 = static_cast<double>(height - 1);
  // Column taps and weights, the same for every row.
  std::vector<int64_t> xa(static_cast<size_t>(m)), xb(static_cast<size_t>(m));
  std::vector<float> fx(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    const double x = std::min(W1, std::max(0.0, x0 + ((static_cast<double>(i) + 0.5) / static_cast<double>(n)) * k - 0.5));
    const double fl = std::floor(x);
    xa[i] = static_cast<int64_t>(fl) * 3;
    xb[i] = std::min(width - 1, static_cast<int64_t>(fl) + 1) * 3;
    fx[i] = static_cast<float>(x - fl);
  }
  std::vector<float> acc(static_cast<size_t>(tile * 3));
  const double scale = 1.0 / static_cast<double>(n * n);
  for (int64_t j = 0; j < tile; ++j) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int64_t sj = 0; sj < n; ++sj) {
      const double y = std::min(H1, std::max(0.0, y0 + ((static_cast<double>(j * n + sj) + 0.5) / static_cast<double>(n)) * k - 0.5));
      const double fl = std::floor(y), fy = y - fl;
      const int64_t ra = static_cast<int64_t>(fl) * width * 3, rb = std::min(height - 1, static_cast<int64_t>(fl) + 1) * width * 3;
      for (int64_t i = 0; i < m; ++i) {
        const uint8_t *a = data + ra + xa[i], *b = data + ra + xb[i], *c = data + rb + xa[i], *d = data + rb + xb[i];
        const double wx = fx[i];
        float* o = acc.data() + (i / n) * 3;
        for (int ch = 0; ch < 3; ++ch) {
          const double top = a[ch] + (static_cast<double>(b[ch]) - a[ch]) * wx;
          const double bottom = c[ch] + (static_cast<double>(d[ch]) - c[ch]) * wx;
          o[ch] = static_cast<float>(static_cast<double>(o[ch]) + (top + (bottom - top) * fy));
        }
      }
    }
    uint8_t* row = out + j * tile * 3;
    // (A Uint8Array store truncates; + 0.5 rounds half up. The value lies in [0.5, 255.5].)
    for (int64_t q = 0; q < tile * 3; ++q) row[q] = static_cast<uint8_t>(static_cast<double>(acc[q]) * scale + 0.5);
  }
}

}  // namespace facestyle::cpu
