// Matrix times vector with the matrix's rows in memory: y[m] = dot(W row m, x) for m in [0, M), each
// row K floats, rows ldw floats apart. The product behind a conv with a single output position per
// channel (PFLD's 7x7 head over a 7x7 map: 128 rows of 1568) and a fully-connected layer on one sample
// with transposed weights (Gemm transB, M == 1).
//
// rowDots() picks the path for this CPU at run time (facestyle::simdLevel(), FACESTYLE_SIMD honoured);
// rowDotsReference() is the plain loop (compiled for the baseline ISA) the fast paths
// are tested against. The fast paths keep four rows in flight with two vector sums each (eight
// independent FMA chains: one sum per row is a chain of K / L dependent FMAs, latency-bound) and load
// each vector of x once for the four rows. Their rounding differs from the reference's (other partial
// sums); each is deterministic.
#pragma once
#include <cstdint>

namespace facestyle::cpu {

void rowDots(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y);

void rowDotsReference(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y);
// Only when facestyle::detectedSimdLevel() reports that level.
void rowDotsAvx2(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y);
void rowDotsAvx512(const float* w, int64_t ldw, int64_t M, int64_t K, const float* x, float* y);

}  // namespace facestyle::cpu
