// Every SGEMM path (scalar, AVX2, AVX-512 when this CPU has them, and the sgemm() dispatcher) against
// sgemmReference over a table of shapes: size 1, odd sizes, tails that are not a multiple of the tile
// or vector width, sizes that cross the cache-block boundaries (KC, MC, NC), transposes, alpha/beta,
// and leading dimensions larger than the row. Padding holds NaN, so a read or write outside the
// matrix shows up as a mismatch.
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/gemm.h"
#include "facestyle/capabilities.h"
#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;
using facestyle::cpu::sgemmReference;

namespace {

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                        float, float*, int64_t, int, const cpu::GemmEpilogue*);

// sgemm() / sgemmFused() behind the same signature as the per-ISA paths.
void dispatch(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads, const cpu::GemmEpilogue* ep) {
  if (ep) cpu::sgemmFused(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, *ep, threads);
  else cpu::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
}

struct Path {
  const char* name;
  GemmFn fn;
};

std::vector<Path> paths() {
  std::vector<Path> p{{"scalar", cpu::sgemmScalar}, {"dispatch", dispatch}};
  if (detectedSimdLevel() >= SimdLevel::Avx2) p.push_back({"avx2", cpu::sgemmAvx2});
  if (detectedSimdLevel() >= SimdLevel::Avx512) p.push_back({"avx512", cpu::sgemmAvx512});
  return p;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// A rows x cols matrix with leading dimension ld >= cols; the padding columns are NaN.
std::vector<float> matrix(int64_t rows, int64_t cols, int64_t ld, uint32_t seed) {
  std::vector<float> v = randomVector(static_cast<size_t>(rows * ld), seed);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = cols; c < ld; ++c) v[r * ld + c] = kNaN;
  return v;
}

// Compares the M x N part of C (leading dimension ldc) and checks the padding is still NaN (never written).
bool sameResult(const std::vector<float>& got, const std::vector<float>& want, int64_t M, int64_t N, int64_t ldc,
                int64_t K) {
  // Float accumulation over K terms of magnitude <= 1 (times |alpha| <= 2): error grows ~ K * eps.
  const double atol = 1e-5 * double(K + 1), rtol = 1e-4;
  int bad = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      float g = got[i * ldc + j], w = want[i * ldc + j];
      bool ok = j < N ? std::fabs(double(g) - double(w)) <= atol + rtol * std::fabs(double(w)) : std::isnan(g);
      if (!ok && bad++ < 5) std::fprintf(stderr, "    at (%lld,%lld): %g vs %g\n", (long long)i, (long long)j, g, w);
    }
  return bad == 0;
}

struct GemmShape {
  int64_t M, N, K;
};

void runTable(const std::vector<GemmShape>& shapes) {
  const float alphas[] = {1.f, 0.5f, -2.f};
  const float betas[] = {0.f, 1.f, 0.25f};
  int caseNo = 0;
  for (const GemmShape& s : shapes)
    for (int t = 0; t < 4; ++t) {
      const bool transA = t & 1, transB = t & 2;
      ++caseNo;
      const int64_t pad = caseNo % 2 ? 3 : 0;  // lda > row length on every other case
      const int64_t aRows = transA ? s.K : s.M, aCols = transA ? s.M : s.K;
      const int64_t bRows = transB ? s.N : s.K, bCols = transB ? s.K : s.N;
      const int64_t lda = aCols + pad, ldb = bCols + pad, ldc = s.N + pad;
      const auto A = matrix(aRows, aCols, lda, 100 + caseNo);
      const auto B = matrix(bRows, bCols, ldb, 200 + caseNo);
      const auto C0 = matrix(s.M, s.N, ldc, 300 + caseNo);
      for (int ab = 0; ab < 3; ++ab) {
        const float alpha = alphas[ab], beta = betas[ab];
        std::vector<float> want = C0;
        sgemmReference(transA, transB, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, want.data(), ldc);
        for (const Path& p : paths()) {
          std::vector<float> oneThread;
          for (int threads : {1, 2, 3}) {
            std::vector<float> got = C0;
            if (beta == 0.f)  // beta == 0 must not read C: garbage there must not leak into the result
              for (int64_t i = 0; i < s.M; ++i)
                for (int64_t j = 0; j < s.N; ++j) got[i * ldc + j] = kNaN;
            p.fn(transA, transB, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, got.data(), ldc, threads, nullptr);
            bool ok = sameResult(got, want, s.M, s.N, ldc, s.K);
            if (!ok)
              std::fprintf(stderr, "  %s threads=%d M=%lld N=%lld K=%lld transA=%d transB=%d alpha=%g beta=%g lda=%lld\n",
                           p.name, threads, (long long)s.M, (long long)s.N, (long long)s.K, transA, transB, alpha, beta,
                           (long long)lda);
            CHECK(ok);
            // The same bits on any number of threads: a training run may resume with other threads and
            // must continue exactly (every C element sums its K blocks in one order whatever the split).
            if (threads == 1) oneThread = got;
            else CHECK(std::memcmp(got.data(), oneThread.data(), got.size() * sizeof(float)) == 0);
          }
        }
      }
    }
}

}  // namespace

TEST_CASE(sgemm_small_and_odd_shapes_match_reference) {
  runTable({{1, 1, 1}, {1, 17, 5}, {7, 1, 3}, {2, 3, 1}, {6, 16, 8}, {14, 32, 9}, {4, 8, 4}, {13, 31, 7},
            {15, 33, 17}, {29, 47, 65}, {5, 100, 2}, {1, 136, 176}, {1, 3, 0}, {1, 41, 300}});
}

TEST_CASE(sgemm_shapes_crossing_cache_blocks_match_reference) {
  // K > KC (256), M > MC (224 / 192 / 128), N > NC (2048), and a square size that fills the threads.
  runTable({{100, 37, 300}, {230, 70, 40}, {3, 2050, 5}, {37, 300, 513}, {64, 64, 64}});
}

TEST_CASE(sgemm_row_bands_per_thread_match_reference) {
  // M >= threads x MC (2 x 224 with AVX-512): at 2 threads each thread multiplies its own band of rows;
  // the bands split the rows evenly, so 461 and 463 leave a partial tile in both; K = 300 crosses a K
  // block. 700 x 64 x 300 has work enough for 3 threads and M >= 3 x MC: three uneven bands.
  runTable({{461, 37, 300}, {463, 70, 129}, {448, 33, 300}, {700, 64, 300}});
}

TEST_CASE(sgemm_row_bands_give_the_same_bits_as_one_thread_on_deep_products) {
  // 448 x 586 x 2048: M x N just above the K-segment path's limit (2^18) for the whole product, while each
  // 2-thread band (224 x 586) is below it; a band must not cut K when the whole product does not (it
  // did: 1-thread and 2-thread results differed in most elements). K = 2048 is 8 K blocks.
  const int64_t M = 448, N = 586, K = 2048;
  const auto A = matrix(M, K, K, 11), B = matrix(K, N, N, 12);
  for (const Path& p : paths()) {
    std::vector<float> oneThread;
    for (int threads : {1, 2, 3}) {
      std::vector<float> got(static_cast<size_t>(M * N), 0.f);
      p.fn(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, got.data(), N, threads, nullptr);
      if (threads == 1) oneThread = got;
      else {
        const bool same = std::memcmp(got.data(), oneThread.data(), got.size() * sizeof(float)) == 0;
        if (!same) std::fprintf(stderr, "  %s threads=%d differs from 1 thread\n", p.name, threads);
        CHECK(same);
      }
    }
  }
}

TEST_CASE(sgemm_split_k_per_thread_matches_reference) {
  // K >= threads x 4 x KC with a small C (training's dW = dY x im2row(X)): at 2 threads each thread
  // multiplies its own range of K and the partial products are summed; 2100 is not a multiple of KC.
  runTable({{40, 50, 2100}, {30, 70, 2100}, {45, 33, 4097}});
}

TEST_CASE(sgemm_k_zero_scales_c_by_beta) {
  for (const Path& p : paths()) {
    std::vector<float> c{1.f, 2.f, 3.f, 4.f};
    p.fn(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2, 1, nullptr);
    CHECK((c == std::vector<float>{0.5f, 1.f, 1.5f, 2.f}));
    std::vector<float> d{kNaN, kNaN};
    p.fn(false, false, 1, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.f, d.data(), 2, 1, nullptr);
    CHECK((d == std::vector<float>{0.f, 0.f}));
  }
}

TEST_CASE(sgemm_known_product) {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50], computed by hand.
  const std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8};
  for (const Path& p : paths())
    for (int threads : {1, 2}) {
      std::vector<float> c(4, kNaN);
      p.fn(false, false, 2, 2, 2, 1.f, a.data(), 2, b.data(), 2, 0.f, c.data(), 2, threads, nullptr);
      CHECK((c == std::vector<float>{19, 22, 43, 50}));
      // transA: A^T = [1 3; 2 4]; A^T * B = [26 30; 38 44].
      p.fn(true, false, 2, 2, 2, 1.f, a.data(), 2, b.data(), 2, 0.f, c.data(), 2, threads, nullptr);
      CHECK((c == std::vector<float>{26, 30, 38, 44}));
    }
}

namespace {

// The epilogue's definition, applied after the reference product.
float activate(const cpu::GemmEpilogue& ep, float v) {
  switch (ep.activation) {
    case cpu::GemmActivation::Relu: return v > 0.f ? v : 0.f;
    case cpu::GemmActivation::LeakyRelu: return v >= 0.f ? v : ep.slope * v;
    case cpu::GemmActivation::Clip: return std::fmin(std::fmax(v, ep.lo), ep.hi);
    default: return v;
  }
}

}  // namespace

TEST_CASE(sgemm_fused_epilogue_matches_reference_then_epilogue) {
  // K = 300 crosses the K block (the epilogue must run once, after the last one); M, N leave partial tiles.
  // 470 x 45 x 200 at 2 threads runs as two row bands: the second band's bias starts at its first row.
  // 37 x 60 x 2048 splits K across the threads: the epilogue runs once, after the partial sums.
  const std::vector<GemmShape> shapes{{37, 45, 300}, {5, 70, 9}, {1, 1, 1}, {470, 45, 200}, {37, 60, 2048}};
  const auto bias = randomVector(512, 7);
  std::vector<cpu::GemmEpilogue> epilogues(5);
  epilogues[1].activation = cpu::GemmActivation::Relu;
  epilogues[2].activation = cpu::GemmActivation::LeakyRelu;
  epilogues[2].slope = 0.2f;
  epilogues[3].activation = cpu::GemmActivation::Clip;
  epilogues[3].lo = -0.5f;
  epilogues[3].hi = 0.75f;
  epilogues[4].activation = cpu::GemmActivation::Relu;  // and no bias
  for (size_t e = 0; e < epilogues.size(); ++e) epilogues[e].rowBias = e == 4 ? nullptr : bias.data();
  int caseNo = 0;
  for (const GemmShape& s : shapes)
    for (const auto& ep : epilogues)
      for (float beta : {0.f, 0.5f}) {
        ++caseNo;
        const auto A = randomVector(static_cast<size_t>(s.M * s.K), 400 + caseNo);
        const auto B = randomVector(static_cast<size_t>(s.K * s.N), 500 + caseNo);
        const auto C0 = randomVector(static_cast<size_t>(s.M * s.N), 600 + caseNo);
        std::vector<float> want = C0;
        sgemmReference(false, false, s.M, s.N, s.K, 1.5f, A.data(), s.K, B.data(), s.N, beta, want.data(), s.N);
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j) {
            float& v = want[i * s.N + j];
            v = activate(ep, v + (ep.rowBias ? ep.rowBias[i] : 0.f));
          }
        for (const Path& p : paths()) {
          std::vector<float> oneThread;
          for (int threads : {1, 2, 3}) {
            std::vector<float> got = C0;
            p.fn(false, false, s.M, s.N, s.K, 1.5f, A.data(), s.K, B.data(), s.N, beta, got.data(), s.N, threads, &ep);
            const bool ok = allClose(got, want, 1e-5 * double(s.K + 1), 1e-4);
            if (!ok)
              std::fprintf(stderr, "  %s threads=%d M=%lld N=%lld K=%lld act=%d beta=%g\n", p.name, threads, (long long)s.M,
                           (long long)s.N, (long long)s.K, int(ep.activation), beta);
            CHECK(ok);
            if (threads == 1) oneThread = got;
            else CHECK(std::memcmp(got.data(), oneThread.data(), got.size() * sizeof(float)) == 0);
          }
        }
      }
}

TEST_MAIN()
