// The tiled GEMM shared by Conv2D/ConvTranspose2D (implicit GEMM: the im2col matrix is gathered
// on the fly, never stored) and MatMul/Gemm. CPU counterpart: native/cpu/sgemm.cc (sgemm), used
// there the same way by the conv and gemm kernels.
//
// A problem P describes C[z](M x N) = A[z](M x K) * B[z](K x N) through accessors, so one kernel
// serves every layout:
//   struct Ctx;  Ctx context(int z) const;                 per block: batch or group z
//   struct Col;  Col column(const Ctx&, int n) const;      per thread: precomputed column data
//   float a(const Ctx&, int m, int k) const;               only called with m < M, k < K
//   float b(const Ctx&, const Col&, int k) const;          only called with n < N, k < K
//   void store(const Ctx&, int m, int n, float v) const;   the epilogue (bias, activation, ...)
//   int kBegin(const Ctx&) const; int kEnd(const Ctx&) const;  the K range of this block (split-K
//                                                          problems give each z a slice of K)
//
// Tiles: 64 x 64 outputs per block of 128 threads (4 warps in 2 x 2), K in steps of 16, the next
// K-step loaded into registers while the current one is multiplied from shared memory.
//   FP32 path (the default): each thread computes 8 rows x 4 adjacent columns with FMAs.
//   TF32 path (opt-in, sm_80+; see math_mode.cuh): each warp computes 32 x 32 with
//   mma.sync.m16n8k8 (tf32 inputs rounded to nearest, fp32 accumulation).
#pragma once
#include <cstdint>

#include "cuda/common.cuh"

namespace facestyle::cuda {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kGemmThreads = 128;
// Row padding of the shared tiles so the fragment reads below hit 32 distinct banks. The MMA path
// keeps A as [m][k] (its fragment layout); the FP32 path keeps it transposed, [k][m], so a thread's
// 8 rows are two float4 loads.
constexpr int kPadA = 4, kPadB = 8, kPadAT = 4;
constexpr int kStrideA = kTileK + kPadA, kStrideAT = kTileM + kPadAT, kStrideB = kTileN + kPadB;
static_assert(kTileK * kStrideAT <= kTileM * kStrideA, "the transposed A tile must fit the shared buffer");

// Activation applied by epilogues (conv's fused bias + activation).
enum Activation { kActNone = 0, kActRelu = 1, kActLeakyRelu = 2, kActTanh = 3, kActSigmoid = 4, kActClip = 5 };

// alpha: LeakyRelu slope; lo/hi: Clip bounds (min(hi, max(lo, v)), as the CPU kernel).
__device__ __forceinline__ float activate(float v, int act, float alpha, float lo, float hi) {
  switch (act) {
    case kActRelu: return v > 0.f ? v : 0.f;
    case kActLeakyRelu: return v >= 0.f ? v : alpha * v;
    case kActTanh: return tanhf(v);
    case kActSigmoid: return 1.f / (1.f + expf(-v));
    case kActClip: return fminf(hi, fmaxf(lo, v));
    default: return v;
  }
}

template <class P, bool kTf32>
__global__ void __launch_bounds__(kGemmThreads) gemmKernel(const P p, int zBase) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  constexpr bool kMma = false;  // no TF32 mma before sm_80 (the host never asks for it there)
#else
  constexpr bool kMma = kTf32;
#endif
  __shared__ __align__(16) float As[kTileM * kStrideA];
  __shared__ __align__(16) float Bs[kTileK * kStrideB];

  const int z = zBase + static_cast<int>(blockIdx.z);
  const int m0 = blockIdx.y * kTileM, n0 = blockIdx.x * kTileN;
  const int tid = threadIdx.x;
  const typename P::Ctx ctx = p.context(z);

  // Each thread always loads A rows (tid / 16) + 8i at column tid % 16, and the B column tid % 64
  // at rows (tid / 64) + 2i, so the column's decoding is done once.
  const int aK = tid & 15, aRow = tid >> 4;
  const int bN = tid & 63, bRow = tid >> 6;
  const bool colValid = n0 + bN < p.N;
  const typename P::Col col = p.column(ctx, colValid ? n0 + bN : 0);

  const int kb = p.kBegin(ctx), ke = p.kEnd(ctx);
  float ra[8], rb[8];
  auto load = [&](int k0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int m = m0 + aRow + 8 * i, k = k0 + aK;
      ra[i] = (m < p.M && k < ke) ? p.a(ctx, m, k) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int k = k0 + bRow + 2 * i;
      rb[i] = (colValid && k < ke) ? p.b(ctx, col, k) : 0.f;
    }
  };
  auto store = [&]() {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      float a = ra[i], b = rb[i];
      if constexpr (kMma) {
        uint32_t ua, ub;
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(ua) : "f"(a));
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(ub) : "f"(b));
        a = __uint_as_float(ua);
        b = __uint_as_float(ub);
        As[(aRow + 8 * i) * kStrideA + aK] = a;
      } else {
        As[aK * kStrideAT + aRow + 8 * i] = a;
      }
      Bs[(bRow + 2 * i) * kStrideB + bN] = b;
    }
  };

  if constexpr (kMma) {
    const int lane = tid & 31, warp = tid >> 5;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    const int g = lane >> 2, t = lane & 3;
    float acc[2][4][4] = {};
    load(kb);
    for (int k0 = kb; k0 < ke; k0 += kTileK) {
      store();
      __syncthreads();
      if (k0 + kTileK < ke) load(k0 + kTileK);
#pragma unroll
      for (int kk = 0; kk < kTileK; kk += 8) {
        uint32_t af[2][4], bf[4][2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const int r = wm + 16 * i + g;
          af[i][0] = __float_as_uint(As[r * kStrideA + kk + t]);
          af[i][1] = __float_as_uint(As[(r + 8) * kStrideA + kk + t]);
          af[i][2] = __float_as_uint(As[r * kStrideA + kk + t + 4]);
          af[i][3] = __float_as_uint(As[(r + 8) * kStrideA + kk + t + 4]);
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int c = wn + 8 * j + g;
          bf[j][0] = __float_as_uint(Bs[(kk + t) * kStrideB + c]);
          bf[j][1] = __float_as_uint(Bs[(kk + t + 4) * kStrideB + c]);
        }
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j)
            asm volatile(
                "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
                : "r"(af[i][0]), "r"(af[i][1]), "r"(af[i][2]), "r"(af[i][3]), "r"(bf[j][0]), "r"(bf[j][1]));
      }
      __syncthreads();
    }
    // Accumulator fragment: c0,c1 at (g, 2t..2t+1), c2,c3 at (g+8, 2t..2t+1) of each 16 x 8 tile.
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int m = m0 + wm + 16 * i + g + (e >= 2 ? 8 : 0);
          const int n = n0 + wn + 8 * j + 2 * t + (e & 1);
          if (m < p.M && n < p.N) p.store(ctx, m, n, acc[i][j][e]);
        }
  } else {
    const int tx = tid & 15, ty = tid >> 4;
    float acc[8][4] = {};
    load(kb);
    for (int k0 = kb; k0 < ke; k0 += kTileK) {
      store();
      __syncthreads();
      if (k0 + kTileK < ke) load(k0 + kTileK);
#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        // Rows ty*8 .. ty*8+7 and columns tx*4 .. tx*4+3: three 16-byte shared loads for 32 FMAs.
        const float4 a0 = *reinterpret_cast<const float4*>(&As[kk * kStrideAT + ty * 8]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[kk * kStrideAT + ty * 8 + 4]);
        const float4 b4 = *reinterpret_cast<const float4*>(&Bs[kk * kStrideB + tx * 4]);
        const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float b[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int m = m0 + ty * 8 + i, n = n0 + tx * 4 + j;
        if (m < p.M && n < p.N) p.store(ctx, m, n, acc[i][j]);
      }
  }
}

// Launches the GEMM over `batches` values of z (in chunks of the grid's z limit), TF32 when
// useTf32() allows it. Throws on a launch error.
template <class P>
void launchGemm(const KernelContext& kctx, const P& p, int64_t batches, const char* name) {
  if (p.M <= 0 || p.N <= 0 || batches <= 0) return;
  const int64_t gy = (p.M + kTileM - 1) / kTileM;
  if (gy > 65535)
    throw Error(ErrorCode::Unsupported, std::string(name) + ": more than " + std::to_string(65535 * kTileM) + " output rows");
  const bool tf32 = useTf32();
  cudaStream_t s = streamOf(kctx);
  for (int64_t z0 = 0; z0 < batches; z0 += 65535) {
    dim3 grid(static_cast<unsigned>((p.N + kTileN - 1) / kTileN), static_cast<unsigned>(gy),
              static_cast<unsigned>(batches - z0 < 65535 ? batches - z0 : 65535));
    if (tf32) gemmKernel<P, true><<<grid, kGemmThreads, 0, s>>>(p, static_cast<int>(z0));
    else gemmKernel<P, false><<<grid, kGemmThreads, 0, s>>>(p, static_cast<int>(z0));
    checkLaunch(name);
  }
}

}  // namespace facestyle::cuda
