// SGEMM for CPU kernels: C = alpha * op(A) * op(B) + beta * C, row-major, op = transpose or not.
// A is M x K (or K x M when transA), B is K x N (or N x K when transB), C is M x N.
// sgemm() picks the fastest path for this CPU at run time (facestyle::simdLevel(), which honours
// FACESTYLE_SIMD); sgemmReference() is the plain loop every fast path is tested against.
// beta == 0 never reads C (so C may hold garbage); threads < 1 means 1.
#pragma once
#include <cstdint>

namespace facestyle::cpu {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads);

void sgemmReference(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// What to do to C after the product, while each tile is still in cache (fused conv + bias + activation):
//   C[i][j] = act(alpha * op(A) op(B) + beta * C + rowBias[i])
// act: None, Relu (x > 0 ? x : 0), LeakyRelu (x >= 0 ? x : slope * x), Clip (min(max(x, lo), hi)), the
// same definitions as the Relu / LeakyRelu / Clip ops.
enum class GemmActivation : int { None = 0, Relu = 1, LeakyRelu = 2, Clip = 3 };
struct GemmEpilogue {
  const float* rowBias = nullptr;  // M values, or null
  GemmActivation activation = GemmActivation::None;
  float slope = 0.01f;           // LeakyRelu
  float lo = -3.4028235e38f;     // Clip
  float hi = 3.4028235e38f;      // Clip
};

// sgemm() followed by the epilogue, in one pass over C.
void sgemmFused(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue,
                int threads);

// The per-ISA paths behind sgemm() / sgemmFused(), for tests and benchmarks (epilogue null = none).
// sgemmAvx2 / sgemmAvx512 may only be called when facestyle::detectedSimdLevel() reports that level (they
// execute those instructions unconditionally).
void sgemmScalar(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
                 const GemmEpilogue* epilogue = nullptr);
void sgemmAvx2(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
               const GemmEpilogue* epilogue = nullptr);
void sgemmAvx512(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads,
                 const GemmEpilogue* epilogue = nullptr);

// The loop sgemm() ran before the packed paths (i-k-j order, OpenMP over rows): kept only as the
// "before" row of the benchmark.
void sgemmNaive(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads);

}  // namespace facestyle::cpu
