// AVX2 + FMA SGEMM: the packed driver (sgemm_packed.h) with a 6x16 register micro-kernel.
// 12 ymm accumulators + 2 for the B row + 1 broadcast fit the 16 ymm registers; two FMA ports with a
// latency of 4-5 cycles need at least 8-10 independent accumulators, which 12 covers.
#include <immintrin.h>

#include "cpu/gemm.h"
#include "cpu/sgemm_packed.h"

namespace facestyle::cpu {
namespace {

template <int kMR>
struct Avx2Kernel : GenericPackA<kMR> {
  static constexpr int MR = kMR, NR = 16;
  // B micro-panel KC x 16 floats = 16 KiB sits in L1; A block MC x KC = 32 MR x KC (192 KiB at MR 6) in L2.
  static constexpr int64_t KC = 256, MC = 32 * MR, NC = 2048;

  static void run(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    rows<MR>(kc, a, b, ldbk, c, ldc, beta);
  }

  // The first ROWS (<= MR) rows of a tile, from the same MR-wide packed A panel (a partial tile at the bottom of C).
  template <int ROWS>
  static void rows(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    __m256 acc[ROWS][2];
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
      // The B row 16 k steps ahead into L1 (one line; past the panel's end it touches the next panel or
      // nothing: a prefetch never faults). 512^3 / 1024^3 on 2 Xeon threads: 171 -> 182 / 163 -> 181
      // GFLOP/s (three interleaved pairs each).
      _mm_prefetch(reinterpret_cast<const char*>(b + 16 * ldbk), _MM_HINT_T0);
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += MR;
      b += ldbk;
    }
    if (beta == 0.f) {
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        _mm256_storeu_ps(c + i * ldc, acc[i][0]);
        _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
      }
    } else {
      const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        _mm256_storeu_ps(c + i * ldc, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + i * ldc), acc[i][0]));
        _mm256_storeu_ps(c + i * ldc + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + i * ldc + 8), acc[i][1]));
      }
    }
  }
};

}  // namespace

void sgemmAvx2(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
               const GemmEpilogue* epilogue) {
  // Tile heights and their relative cost per row, measured on Zen 5 (bench_native gemm at M = 16 x MR).
  static const int kRows[] = {6, 4};
  static const double kCost[] = {1.0, 1.2};
  bool ok;
  switch (pickTileRows(M, kRows, kCost, 2)) {
    case 4: ok = packedSgemm<Avx2Kernel<4>>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, epilogue); break;
    default: ok = packedSgemm<Avx2Kernel<6>>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, epilogue);
  }
  if (!ok) throwSgemmOutOfMemory();
}

}  // namespace facestyle::cpu
