// Shared helpers of the CUDA kernel families: error checks, launch sizing, arity checks, and
// strided index walks (the GPU counterpart of native/cpu/broadcast.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/broadcast.h"
#include "facestyle/kernel.h"

namespace facestyle::cuda {

constexpr int kMaxRank = 8;
constexpr int kThreads = 256;

// Turns a CUDA status into facestyle::Error (OutOfMemory for allocation failures, Cuda otherwise;
// a sticky error says the context is unusable). Defined in device.cu.
[[noreturn]] void throwCudaError(cudaError_t status, const char* what);

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throwCudaError(status, what);
}

// Called after every launch: a bad configuration is reported here; a fault inside the kernel
// surfaces at the session's next synchronisation (also checked).
inline void checkLaunch(const char* kernel) { check(cudaGetLastError(), kernel); }

inline cudaStream_t streamOf(const KernelContext& ctx) { return static_cast<cudaStream_t>(ctx.stream); }

// Blocks for a grid-stride loop over n items; capped so huge tensors loop instead of overflowing.
inline unsigned blocksFor(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > (1 << 20)) b = 1 << 20;
  return static_cast<unsigned>(b);
}

// Compute capability (major * 10 + minor) of the current device, cached per process.
int deviceComputeCapability();
// TF32 tensor-core math for Conv/MatMul/Gemm (see math_mode.cuh); false forces the fp32 path.
bool useTf32();

// Arity, axis and stride helpers are host code shared with the CPU kernels (one definition).
using cpu::broadcastStrides;
using cpu::contiguousStrides;
using cpu::normalizeAxis;
using cpu::requireArity;

// A walk over a dense index space with N sets of strides: element `flat` (row-major over dims)
// reads offset sum(index_k * strides[t][k]) for each t. Passed to kernels by value. Every tensor
// has fewer than 2^31 elements (kMaxTensorElements), so 32-bit offsets suffice.
template <int N>
struct Walk {
  int rank = 0;
  int dims[kMaxRank] = {};
  int strides[N][kMaxRank] = {};

  __device__ __forceinline__ void offsets(int64_t flat, int (&off)[N]) const {
    for (int t = 0; t < N; ++t) off[t] = 0;
    int rest = static_cast<int>(flat);
    for (int a = rank - 1; a >= 0; --a) {
      const int d = dims[a];
      const int i = rest % d;
      rest /= d;
      for (int t = 0; t < N; ++t) off[t] += i * strides[t][a];
    }
  }
};

// Builds a walk over `dims`, dropping size-1 axes and merging neighbours every stride set walks
// contiguously (so same-shape and channel-broadcast cases become rank 1 or 2). Throws Unsupported
// when more than kMaxRank axes remain.
template <int N>
Walk<N> makeWalk(const KernelContext& ctx, const Shape& dims, const std::vector<std::vector<int64_t>>& strides) {
  Walk<N> w;
  std::vector<int64_t> d;
  std::vector<std::vector<int64_t>> s(N);
  for (size_t axis = 0; axis < dims.size(); ++axis) {
    if (dims[axis] == 1) continue;
    bool merge = !d.empty();
    for (int t = 0; merge && t < N; ++t) merge = s[t].back() == strides[t][axis] * dims[axis];
    if (merge) {
      d.back() *= dims[axis];
      for (int t = 0; t < N; ++t) s[t].back() = strides[t][axis];
    } else {
      d.push_back(dims[axis]);
      for (int t = 0; t < N; ++t) s[t].push_back(strides[t][axis]);
    }
  }
  if (d.size() > static_cast<size_t>(kMaxRank))
    throw Error(ErrorCode::Unsupported, "Node '" + ctx.node.name + "': the CUDA kernel supports at most " +
                                            std::to_string(kMaxRank) + " non-mergeable axes but received " +
                                            shapeToString(dims));
  if (d.empty()) {
    d.push_back(1);
    for (int t = 0; t < N; ++t) s[t].push_back(0);
  }
  w.rank = static_cast<int>(d.size());
  for (int a = 0; a < w.rank; ++a) {
    w.dims[a] = static_cast<int>(d[a]);
    for (int t = 0; t < N; ++t) w.strides[t][a] = static_cast<int>(s[t][a]);
  }
  return w;
}

// Copies `bytes` between device buffers on the kernel's stream (no-op when they are the same).
inline void copyDeviceAsync(const KernelContext& ctx, float* dst, const float* src, int64_t elements) {
  if (dst == src || elements <= 0) return;
  check(cudaMemcpyAsync(dst, src, static_cast<size_t>(elements) * sizeof(float), cudaMemcpyDeviceToDevice, streamOf(ctx)),
        "cudaMemcpyAsync device to device");
}

// Grid-stride loop over [0, n).
#define FACESTYLE_CUDA_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace facestyle::cuda
