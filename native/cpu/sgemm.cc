// SGEMM entry point: run-time dispatch to the packed AVX-512 / AVX2 / scalar paths, the plain
// reference they are tested against, and the old row loop kept as the benchmark's "before".
#include <algorithm>
#include <vector>

#include "cpu/row_dots.h"
#include "cpu/gemm.h"
#include "cpu/sgemm_packed.h"
#include "facestyle/capabilities.h"
#include "facestyle/status.h"

namespace facestyle::cpu {
namespace {

// Portable micro-kernel: a 4x8 tile in plain C++ (the compiler vectorises it with baseline SSE2).
// It keeps machines without AVX2 on the same blocked, packed, threaded driver.
struct ScalarKernel : GenericPackA<4> {
  static constexpr int MR = 4, NR = 8;
  static constexpr int64_t KC = 256, MC = 128, NC = 2048;

  static void run(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    rows<MR>(kc, a, b, ldbk, c, ldc, beta);
  }

  // The first ROWS (<= MR) rows of a tile, from the same MR-wide packed A panel (a partial tile at the bottom of C).
  template <int ROWS>
  static void rows(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    float acc[ROWS][NR] = {};
    for (int64_t k = 0; k < kc; ++k) {
      for (int i = 0; i < ROWS; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
      a += MR;
      b += ldbk;
    }
    for (int i = 0; i < ROWS; ++i)
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = (beta == 0.f ? 0.f : beta * c[i * ldc + j]) + acc[i][j];
  }
};

}  // namespace

void sgemmReference(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        float a = transA ? A[k * lda + i] : A[i * lda + k];
        float b = transB ? B[j * ldb + k] : B[k * ldb + j];
        acc += double(a) * double(b);
      }
      float c = beta == 0.f ? 0.f : beta * C[i * ldc + j];
      C[i * ldc + j] = c + alpha * static_cast<float>(acc);
    }
}

void throwSgemmOutOfMemory() { throw Error(ErrorCode::OutOfMemory, "sgemm: cannot allocate packing buffers"); }

void sgemmScalar(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
                 const GemmEpilogue* epilogue) {
  if (!packedSgemm<ScalarKernel>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, epilogue))
    throwSgemmOutOfMemory();
}

// C = alpha * a * op(B) + beta * C for one row a (M == 1: a fully-connected layer on one sample).
// The blocked kernels would pack B for a single row of output, which costs more than the product
// (PFLD's 176 -> 136 head: 11.8 us a run, for 24K multiply-adds). With transB, N dot products along
// rows of B (cpu/row_dots.h); else rows of B scaled and added into C, a loop the compiler vectorises.
static void sgemmRow(bool transA, bool transB, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                     int64_t ldb, float beta, float* C) {
  // a as a contiguous row (a column of A when transA), so the loops below are plain vector code.
  std::vector<float> column;
  const float* a = A;
  if (transA && lda != 1) {
    column.resize(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) column[k] = A[k * lda];
    a = column.data();
  }
  for (int64_t j = 0; j < N; ++j) C[j] = beta == 0.f ? 0.f : beta * C[j];  // beta == 0: C is not read
  if (transB) {
    float dots[64];
    for (int64_t j0 = 0; j0 < N; j0 += 64) {
      const int64_t n = std::min<int64_t>(64, N - j0);
      rowDots(B + j0 * ldb, ldb, n, K, a, dots);
      for (int64_t j = 0; j < n; ++j) C[j0 + j] += alpha * dots[j];
    }
    return;
  }
  for (int64_t k = 0; k < K; ++k) {
    const float s = alpha * a[k];
    const float* b = B + k * ldb;
    for (int64_t j = 0; j < N; ++j) C[j] += s * b[j];
  }
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads) {
  if (M == 1 && N > 0) return sgemmRow(transA, transB, N, K, alpha, A, lda, B, ldb, beta, C);
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return sgemmAvx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
    case SimdLevel::Avx2: return sgemmAvx2(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
#endif
    default: return sgemmScalar(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
  }
}

void sgemmFused(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue,
                int threads) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512:
      return sgemmAvx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, &epilogue);
    case SimdLevel::Avx2:
      return sgemmAvx2(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, &epilogue);
#endif
    default: return sgemmScalar(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, &epilogue);
  }
}

void sgemmNaive(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads) {
  if (M <= 0 || N <= 0) return;
  // B^T is packed once so the inner loop streams rows of B contiguously.
  std::vector<float> packedB;
  const float* Bn = B;
  int64_t ldbn = ldb;
  if (transB) {
    packedB.resize(static_cast<size_t>(K * N));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) packedB[k * N + j] = B[j * ldb + k];
    Bn = packedB.data();
    ldbn = N;
  }
#pragma omp parallel for num_threads(threads < 1 ? 1 : threads) if (M * N * K > 32768) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) std::fill(c, c + N, 0.f);
    else if (beta != 1.f)
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    for (int64_t k = 0; k < K; ++k) {
      const float a = alpha * (transA ? A[k * lda + i] : A[i * lda + k]);
      if (a == 0.f) continue;
      const float* b = Bn + k * ldbn;
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
    }
  }
}

}  // namespace facestyle::cpu
