// CUDA kernels for reductions and Softmax; mirrors native/cpu/reduce.cc (lib/ops/reduce.ts is the
// reference). ReduceSum/Mean/Max: one warp per output element walks the reduced axes (a collapsed
// index walk of their input strides). Softmax: one warp per row along `axis` (max, sum of exp,
// then the normalised values).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"
#include "cuda/reduce.cuh"

namespace facestyle {

namespace {

using namespace cuda;

template <int kKind>
__global__ void reduceImpl(const float* __restrict__ x, float* __restrict__ y, int64_t outputs, int64_t count, Walk<1> kept,
                           Walk<1> reduced) {
  const int64_t warpsTotal = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (int64_t o = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; o < outputs; o += warpsTotal) {
    int base[1];
    kept.offsets(o, base);
    float acc = kKind == kMax ? -INFINITY : 0.f;
    for (int64_t r = lane; r < count; r += 32) {
      int off[1];
      reduced.offsets(r, off);
      const float v = x[base[0] + off[0]];
      if (kKind == kMax) acc = (v > acc || v != v) ? v : acc;
      else acc += v;
    }
    for (int s = 16; s > 0; s >>= 1) {
      const float other = __shfl_down_sync(0xffffffffu, acc, s);
      if (kKind == kMax) acc = (other > acc || other != other) ? other : acc;
      else acc += other;
    }
    // An empty reduction gives 0 (sum), 0/0 = NaN (mean), -inf (max), as NumPy and the reference.
    if (lane == 0) y[o] = kKind == kMean ? acc / static_cast<float>(count) : acc;
  }
}

template <int kKind>
void reduceKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  const std::vector<int64_t> given = ctx.attrs().getInts("axes", {});
  const bool keepdims = ctx.attrs().getInt("keepdims", 1) != 0;
  std::vector<char> reduced(rank, given.empty() ? 1 : 0);
  for (int64_t a : given) {
    const int n = normalizeAxis(ctx, a, rank, "axes");
    FACESTYLE_REQUIRE(ctx, !reduced[n], "expected distinct axes");
    reduced[n] = 1;
  }
  const std::vector<int64_t> strides = contiguousStrides(x.shape);
  Shape keptDims, reducedDims, expect;
  std::vector<int64_t> keptStrides, reducedStrides;
  for (int a = 0; a < rank; ++a) {
    if (reduced[a]) {
      reducedDims.push_back(x.shape[a]);
      reducedStrides.push_back(strides[a]);
      if (keepdims) expect.push_back(1);
    } else {
      keptDims.push_back(x.shape[a]);
      keptStrides.push_back(strides[a]);
      expect.push_back(x.shape[a]);
    }
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expect, "expected output " + shapeToString(expect) + " but received " + shapeToString(y.shape));
  launchReduce(ctx, kKind, x.data, y.data, keptDims, keptStrides, reducedDims, reducedStrides);
}

// Rows of n elements at stride `inner`; row r starts at (r / inner) * n * inner + r % inner.
__global__ void softmaxImpl(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int n, int64_t inner) {
  const int64_t warpsTotal = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < rows; r += warpsTotal) {
    const int64_t start = (r / inner) * n * inner + r % inner;
    const float* xr = x + start;
    float* yr = y + start;
    float mx = -INFINITY;
    for (int k = lane; k < n; k += 32) mx = fmaxf(mx, xr[k * inner]);
    for (int s = 16; s > 0; s >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, s));
    float sum = 0.f;
    for (int k = lane; k < n; k += 32) sum += expf(xr[k * inner] - mx);
    for (int s = 16; s > 0; s >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, s);
    const float inv = 1.f / sum;
    for (int k = lane; k < n; k += 32) yr[k * inner] = expf(xr[k * inner] - mx) * inv;
  }
}

void softmaxKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.shape == x.shape, "expected an output of the input's shape");
  const int axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), x.rank());
  int64_t inner = 1;
  for (int a = axis + 1; a < x.rank(); ++a) inner *= x.shape[a];
  const int64_t n = x.shape[axis];
  if (x.size() == 0) return;
  const int64_t rows = x.size() / n;
  softmaxImpl<<<blocksFor(rows * 32), kThreads, 0, streamOf(ctx)>>>(x.data, y.data, rows, static_cast<int>(n), inner);
  checkLaunch("Softmax");
}

}  // namespace

namespace cuda {

void launchReduce(const KernelContext& ctx, int kind, const float* x, float* y, const Shape& keptDims, const std::vector<int64_t>& keptStrides,
                  const Shape& reducedDims, const std::vector<int64_t>& reducedStrides) {
  const int64_t outputs = shapeElements(keptDims);
  if (outputs == 0) return;
  const int64_t count = shapeElements(reducedDims);
  Walk<1> kept = makeWalk<1>(ctx, keptDims, {keptStrides});
  Walk<1> red = makeWalk<1>(ctx, reducedDims, {reducedStrides});
  const unsigned blocks = blocksFor(outputs * 32);
  cudaStream_t s = streamOf(ctx);
  if (kind == kSum) reduceImpl<kSum><<<blocks, kThreads, 0, s>>>(x, y, outputs, count, kept, red);
  else if (kind == kMean) reduceImpl<kMean><<<blocks, kThreads, 0, s>>>(x, y, outputs, count, kept, red);
  else reduceImpl<kMax><<<blocks, kThreads, 0, s>>>(x, y, outputs, count, kept, red);
  checkLaunch(opKindName(ctx.node.op));
}

}  // namespace cuda

void registerCudaReduceKernels() {
  registerKernel(OpKind::ReduceSum, Device::CUDA, reduceKernel<kSum>);
  registerKernel(OpKind::ReduceMean, Device::CUDA, reduceKernel<kMean>);
  registerKernel(OpKind::ReduceMax, Device::CUDA, reduceKernel<kMax>);
  registerKernel(OpKind::Softmax, Device::CUDA, softmaxKernel);
}

}  // namespace facestyle
