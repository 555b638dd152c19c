// rowDots (cpu/row_dots.h): every path (AVX2, AVX-512 when this CPU has them, and the dispatcher)
// against a double-precision sum over a table of shapes: one row, row counts that are not a multiple of
// the 4-row block, K below one vector, K with tails after the two-vector loop and after one more vector,
// and rows further apart than K. Padding between rows and past x holds NaN, so reading outside a row
// shows up as a NaN result.
#include <cmath>
#include <limits>

#include "cpu/row_dots.h"
#include "facestyle/capabilities.h"
#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;

namespace {

using RowDotsFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, float*);

struct Path {
  const char* name;
  RowDotsFn fn;
};

std::vector<Path> paths() {
  std::vector<Path> p{{"reference", cpu::rowDotsReference}, {"dispatch", cpu::rowDots}};
  if (detectedSimdLevel() >= SimdLevel::Avx2) p.push_back({"avx2", cpu::rowDotsAvx2});
  if (detectedSimdLevel() >= SimdLevel::Avx512) p.push_back({"avx512", cpu::rowDotsAvx512});
  return p;
}

}  // namespace

TEST_CASE(every_path_matches_a_double_sum) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t rowsTable[] = {1, 3, 4, 5, 9, 128};
  const int64_t kTable[] = {1, 5, 8, 15, 16, 17, 24, 31, 32, 33, 40, 47, 48, 49, 100, 1568};
  for (const Path& path : paths())
    for (int64_t M : rowsTable)
      for (int64_t K : kTable) {
        const int64_t ldw = K + 3;
        std::vector<float> w(static_cast<size_t>(M * ldw), nan), x(static_cast<size_t>(K + 16), nan);
        for (int64_t m = 0; m < M; ++m)
          for (int64_t k = 0; k < K; ++k) w[m * ldw + k] = dist(rng);
        for (int64_t k = 0; k < K; ++k) x[k] = dist(rng);
        std::vector<float> y(static_cast<size_t>(M) + 1, nan), expect(static_cast<size_t>(M));
        for (int64_t m = 0; m < M; ++m) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += double(w[m * ldw + k]) * x[k];
          expect[m] = static_cast<float>(s);
        }
        path.fn(w.data(), ldw, M, K, x.data(), y.data());
        bool ok = std::isnan(y[M]);  // nothing written past the M outputs
        for (int64_t m = 0; m < M; ++m) {
          double mag = 0;
          for (int64_t k = 0; k < K; ++k) mag += std::fabs(double(w[m * ldw + k]) * x[k]);
          // float sums of K products: error within a few ulps of the sum of magnitudes per step
          ok = ok && std::fabs(double(y[m]) - expect[m]) <= 1e-6 * mag * (1 + std::log2(double(K))) + 1e-7;
        }
        if (!ok) std::fprintf(stderr, "  %s M=%lld K=%lld mismatch\n", path.name, (long long)M, (long long)K);
        CHECK(ok);
      }
}

TEST_MAIN()
