// SGEMM entry point and its plain reference. The packed SIMD paths arrive with the CPU speed issue;
// until then sgemm() runs a cache-friendly loop order (i-k-j) with OpenMP over rows.
#include <algorithm>
#include <vector>

#include "cpu/gemm.h"

namespace facestyle::cpu {

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

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
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
#pragma omp parallel for num_threads(threads) if (M * N * K > 32768) schedule(static)
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
