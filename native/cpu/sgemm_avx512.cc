// AVX-512 SGEMM: the packed driver (sgemm_packed.h) with a 14x32 register micro-kernel.
// 28 zmm accumulators + 2 for the B row + 1 broadcast fit the 32 zmm registers; 28 independent FMA
// chains hide the FMA latency on two 512-bit pipes.
#include <immintrin.h>

#include "cpu/gemm.h"
#include "cpu/sgemm_packed.h"

namespace facestyle::cpu {
namespace {

template <int kMR>
struct Avx512Kernel {
  static constexpr int MR = kMR, NR = 32;
  // B micro-panel KC x 32 floats = 32 KiB in L1 (48 KiB on Zen 5); A block MC x KC = 16 MR x KC (224 KiB at MR 14) in L2.
  static constexpr int64_t KC = 256, MC = 16 * MR, NC = 2048;

  static void run(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    __m512 acc[MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += MR;
      b += ldbk;
    }
    if (beta == 0.f) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        _mm512_storeu_ps(c + i * ldc, acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
      }
    } else {
      const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        _mm512_storeu_ps(c + i * ldc, _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + i * ldc), acc[i][0]));
        _mm512_storeu_ps(c + i * ldc + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + i * ldc + 16), acc[i][1]));
      }
    }
  }
};

}  // namespace

void sgemmAvx512(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
                 const GemmEpilogue* epilogue) {
  // Tile heights and their relative cost per row, measured on Zen 5 (bench_native gemm at M = 16 x MR).
  static const int kRows[] = {14, 8, 4};
  static const double kCost[] = {1.0, 1.1, 1.5};
  bool ok;
  switch (pickTileRows(M, kRows, kCost, 3)) {
    case 8: ok = packedSgemm<Avx512Kernel<8>>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, epilogue); break;
    case 4: ok = packedSgemm<Avx512Kernel<4>>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, epilogue); break;
    default: ok = packedSgemm<Avx512Kernel<14>>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, epilogue);
  }
  if (!ok) throwSgemmOutOfMemory();
}

}  // namespace facestyle::cpu
