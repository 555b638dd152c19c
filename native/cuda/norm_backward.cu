// CUDA kernel for InstanceNormalizationGrad; mirrors native/cpu/norm_backward.cc
// (lib/ops/gradients/norm.ts is the reference): dX, dScale, dB from dY, X and scale. One block
// per (n, c) plane computes, in double, the mean, 1/sigma, sum(dY) and sum(dY * xhat), writes
// dX = scale / sigma * (dY - mean(dY) - xhat * mean(dY * xhat)), and adds its two sums into the
// zeroed dB and dScale of its channel with float atomics (N planes per channel).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

// Sum over the block, returned to every thread.
__device__ double blockSum(double v, double* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // `shared` may still be read from the previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += shared[w];
  return total;
}

__global__ void instanceNormGradImpl(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ scale,
                                     float* __restrict__ dx, float* ds, float* db, int channels, int64_t m, double eps) {
  __shared__ double partial[kThreads / 32];
  const int64_t p = blockIdx.x;
  const int ch = static_cast<int>(p % channels);
  const float* xs = x + p * m;
  const float* g = dy + p * m;
  double s = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += xs[i];
  const double mean = blockSum(s, partial) / static_cast<double>(m);
  double v = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double d = xs[i] - mean;
    v += d * d;
  }
  const double inv = 1.0 / sqrt(blockSum(v, partial) / static_cast<double>(m) + eps);
  double sg = 0, sgx = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    sg += g[i];
    sgx += g[i] * (xs[i] - mean) * inv;
  }
  sg = blockSum(sg, partial);
  sgx = blockSum(sgx, partial);
  if (threadIdx.x == 0) {
    atomicAdd(&ds[ch], static_cast<float>(sgx));
    atomicAdd(&db[ch], static_cast<float>(sg));
  }
  const double k = scale[ch] * inv;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double xh = (xs[i] - mean) * inv;
    dx[p * m + i] = static_cast<float>(k * (g[i] - sg / static_cast<double>(m) - xh * sgx / static_cast<double>(m)));
  }
}

void instanceNormGradKernel(KernelContext& ctx) {
  requireArity(ctx, 3, 3, 3);
  const Tensor &dy = ctx.in(0), &x = ctx.in(1), &scale = ctx.in(2);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 3 && dy.shape == x.shape && scale.rank() == 1 && scale.shape[0] == x.shape[1],
              "expects dY and X [N,C,...] of one shape and scale [C]");
  const int64_t n = x.shape[0], c = x.shape[1];
  FACESTYLE_REQUIRE(ctx, ctx.out(0).shape == x.shape && ctx.out(1).size() == c && ctx.out(2).size() == c, "expects outputs dX, dScale [C], dB [C]");
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5);
  FACESTYLE_REQUIRE(ctx, eps >= 0, "expected epsilon >= 0");
  cudaStream_t s = streamOf(ctx);
  if (c == 0) return;
  check(cudaMemsetAsync(ctx.out(1).data, 0, static_cast<size_t>(c) * sizeof(float), s), "cudaMemsetAsync");
  check(cudaMemsetAsync(ctx.out(2).data, 0, static_cast<size_t>(c) * sizeof(float), s), "cudaMemsetAsync");
  const int64_t planes = n * c;
  if (planes == 0 || x.size() == 0) return;
  instanceNormGradImpl<<<static_cast<unsigned>(planes), kThreads, 0, s>>>(dy.data, x.data, scale.data, ctx.out(0).data, ctx.out(1).data,
                                                                         ctx.out(2).data, static_cast<int>(c), x.size() / planes, eps);
  checkLaunch("InstanceNormalizationGrad");
}

}  // namespace

void registerCudaNormBackwardKernels() {
  registerKernel(OpKind::InstanceNormalizationGrad, Device::CUDA, instanceNormGradKernel);
}

}  // namespace facestyle
