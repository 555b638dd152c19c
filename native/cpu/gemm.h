// SGEMM for CPU kernels: C = alpha * op(A) * op(B) + beta * C, row-major, op = transpose or not.
// A is M x K (or K x M when transA), B is K x N (or N x K when transB), C is M x N.
// sgemm() picks the fastest path for this CPU at run time (see gemm.cc); sgemmReference() is the
// plain loop every fast path is tested against.
#pragma once
#include <cstdint>

namespace facestyle::cpu {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, int threads);

void sgemmReference(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace facestyle::cpu
