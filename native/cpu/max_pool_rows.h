// The 2x2 / stride-2 max pool of one output row (YuNet's pools), shared by the baseline, AVX2 and
// AVX-512 builds (max_pool_rows*.cc; internal linkage, one copy per ISA): the same loop, vectorised by
// the compiler at each build's width. pool.cc's MaxPool kernel calls maxPool2x2Stride2Row, which picks
// the build at run time; its general loop there is the reference the tests hold it to.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

namespace facestyle::cpu {
namespace {

// y[i] = max of the 2x2 window at columns 2i, 2i + 1 of rows r0 and r1 (windows wholly inside the
// input), the taps in the general loop's order: std::max over ky, then kx, from the lowest float (so
// NaN handling is the general loop's). With __restrict and one pass GCC vectorises it.
inline void maxPool2x2Stride2RowImpl(const float* __restrict r0, const float* __restrict r1, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float m = std::max(std::numeric_limits<float>::lowest(), r0[2 * i]);
    m = std::max(m, r0[2 * i + 1]);
    m = std::max(m, r1[2 * i]);
    y[i] = std::max(m, r1[2 * i + 1]);
  }
}

}  // namespace

// The run-time pick (max_pool_rows.cc) and the builds it picks from.
void maxPool2x2Stride2Row(const float* r0, const float* r1, float* y, int64_t n);
void maxPool2x2Stride2RowScalar(const float* r0, const float* r1, float* y, int64_t n);
void maxPool2x2Stride2RowAvx2(const float* r0, const float* r1, float* y, int64_t n);
void maxPool2x2Stride2RowAvx512(const float* r0, const float* r1, float* y, int64_t n);

}  // namespace facestyle::cpu
