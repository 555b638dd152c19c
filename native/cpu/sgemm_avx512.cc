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
  // The B rows this many k steps ahead are prefetched into L1: the packed B micro-panel streams from L2
  // (the A micro-panel is the one that stays in L1). 1024^3 on 2 Xeon threads: 282 -> 295 GFLOP/s (four
  // interleaved pairs); 512^3 level; 8 ahead helped less, 4 not at all.
  static constexpr int64_t kPrefetchRows = 16;

// GCC 12 reports the undefined pass-through operand of the AVX-512 unpack / shuffle intrinsics (all lanes
// active) as (maybe) used uninitialized in the transpose below, -Wuninitialized or -Wmaybe-uninitialized
// depending on how it was inlined: a false positive (as in conv_pointwise_kernels.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
  // packA<MR> (sgemm_packed.h) for a row-major A, 16 values of k at a time: one load from each of the MR
  // rows (masked for the last kc % 16), a 16x16 transpose in registers, and MR values stored per k. The
  // scalar loop read MR rows side by side one float at a time, 5% of a 512^3 multiply. A transposed A
  // (its MR values already contiguous per k) goes to packA<MR>.
  static void packA(bool transA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float alpha,
                    float* out) {
    if (transA) return cpu::packA<MR>(transA, A, lda, i0, mc, p0, kc, alpha, out);
    const __m512 va = _mm512_set1_ps(alpha);
    const __mmask16 keep = static_cast<__mmask16>((1u << MR) - 1);
    for (int64_t r = 0; r < mc; r += MR) {
      const int64_t rows = imin(MR, mc - r);
      const float* src = A + (i0 + r) * lda + p0;
      float* dst = out + r * kc;
      for (int64_t k = 0; k < kc; k += 16) {
        const int64_t lanes = imin(16, kc - k);
        const __mmask16 load = static_cast<__mmask16>((1u << lanes) - 1);
        __m512 v[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          v[i] = i < MR && i < rows ? _mm512_mul_ps(va, _mm512_maskz_loadu_ps(load, src + i * lda + k)) : _mm512_setzero_ps();
        transpose16x16(v);
#pragma GCC unroll 16
        for (int j = 0; j < 16; ++j)
          if (j < lanes) _mm512_mask_storeu_ps(dst + (k + j) * MR, keep, v[j]);
      }
    }
  }

  // v[i] = row i of a 16x16 block -> v[j] = column j.
  static void transpose16x16(__m512* v) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {  // pairs of rows interleaved within each 128-bit lane
      t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    // u[4g + j]: rows 4g..4g+3 of columns j, j+4, j+8, j+12 (one column per 128-bit lane).
    __m512 u[16];
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      const __m512d lo0 = _mm512_castps_pd(t[4 * g]), lo1 = _mm512_castps_pd(t[4 * g + 2]);
      const __m512d hi0 = _mm512_castps_pd(t[4 * g + 1]), hi1 = _mm512_castps_pd(t[4 * g + 3]);
      u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
      u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
      u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
      u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {  // gather lane l of the four groups into column j + 4l
      const __m512 a0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), a1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
      const __m512 b0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), b1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
      v[j] = _mm512_shuffle_f32x4(a0, b0, 0x88);
      v[j + 8] = _mm512_shuffle_f32x4(a0, b0, 0xDD);
      v[j + 4] = _mm512_shuffle_f32x4(a1, b1, 0x88);
      v[j + 12] = _mm512_shuffle_f32x4(a1, b1, 0xDD);
    }
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  static void run(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    rows<MR>(kc, a, b, ldbk, c, ldc, beta);
  }

  // The first ROWS (<= MR) rows of a tile, from the same MR-wide packed A panel: a partial tile at the
  // bottom of C costs its own rows, not a whole MR-row tile.
  template <int ROWS>
  static void rows(int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, float beta) {
    __m512 acc[ROWS][2];
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
      // (Past the panel's end these touch the next panel or nothing: a prefetch never faults.)
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * ldbk), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * ldbk + 16), _MM_HINT_T0);
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += MR;
      b += ldbk;
    }
    if (beta == 0.f) {
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
        _mm512_storeu_ps(c + i * ldc, acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
      }
    } else {
      const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
      for (int i = 0; i < ROWS; ++i) {
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
