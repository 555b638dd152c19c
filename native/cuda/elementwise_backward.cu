// CUDA kernels for activation gradients and ReduceSumTo; mirrors native/cpu/elementwise_backward.cc
// (lib/ops/backward.ts is the reference). dX[i] = f(dY[i], S[i]) with S the saved input (Relu,
// LeakyRelu, Abs) or output (Tanh, Sigmoid) of the forward op. ReduceSumTo sums X down to a shape
// that broadcasts to it (the gradient of a broadcast) with the reduction of reduce.cu.
#include "cuda/common.cuh"
#include "cuda/families.cuh"
#include "cuda/reduce.cuh"

namespace facestyle {

namespace {

using namespace cuda;

struct ReluGradOp { __device__ float operator()(float d, float x, float) const { return x > 0.f ? d : 0.f; } };
struct LeakyReluGradOp { __device__ float operator()(float d, float x, float alpha) const { return x >= 0.f ? d : alpha * d; } };
struct TanhGradOp { __device__ float operator()(float d, float y, float) const { return d * (1.f - y * y); } };
struct SigmoidGradOp { __device__ float operator()(float d, float y, float) const { return d * y * (1.f - y); } };
struct AbsGradOp { __device__ float operator()(float d, float x, float) const { return x > 0.f ? d : (x < 0.f ? -d : 0.f); } };

template <typename Op>
__global__ void gradImpl(const float* __restrict__ dy, const float* __restrict__ s, float* __restrict__ dx, int64_t n, float alpha, Op op) {
  FACESTYLE_CUDA_LOOP(i, n) dx[i] = op(dy[i], s[i], alpha);
}

template <typename Op>
void gradKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 2, 1);
  const Tensor &dy = ctx.in(0), &s = ctx.in(1);
  Tensor& dx = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, dy.shape == s.shape && dx.shape == dy.shape, "expects dY, the saved tensor and dX of one shape but received " +
                                                              shapeToString(dy.shape) + " and " + shapeToString(s.shape));
  const float alpha = static_cast<float>(ctx.attrs().getFloat("alpha", 0.01));
  const int64_t n = dy.size();
  if (n == 0) return;
  gradImpl<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(dy.data, s.data, dx.data, n, alpha, Op{});
  checkLaunch(opKindName(ctx.node.op));
}

void reduceSumToKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.rank() <= x.rank(), "target shape " + shapeToString(y.shape) + " has a higher rank than X " + shapeToString(x.shape));
  const int rank = x.rank(), lead = x.rank() - y.rank();
  for (int i = 0; i < y.rank(); ++i)
    FACESTYLE_REQUIRE(ctx, y.shape[i] == 1 || y.shape[i] == x.shape[lead + i],
                "target shape " + shapeToString(y.shape) + " does not broadcast to " + shapeToString(x.shape));
  // Kept axes: those the target keeps at full length; every other axis of X is summed.
  const std::vector<int64_t> strides = contiguousStrides(x.shape);
  Shape keptDims, reducedDims;
  std::vector<int64_t> keptStrides, reducedStrides;
  for (int a = 0; a < rank; ++a) {
    const bool kept = a >= lead && y.shape[a - lead] == x.shape[a] && x.shape[a] != 1;
    (kept ? keptDims : reducedDims).push_back(x.shape[a]);
    (kept ? keptStrides : reducedStrides).push_back(strides[a]);
  }
  if (y.size() == 0) return;
  launchReduce(ctx, kSum, x.data, y.data, keptDims, keptStrides, reducedDims, reducedStrides);
}

}  // namespace

void registerCudaElementwiseBackwardKernels() {
  registerKernel(OpKind::LeakyReluGrad, Device::CUDA, gradKernel<LeakyReluGradOp>);
  registerKernel(OpKind::ReluGrad, Device::CUDA, gradKernel<ReluGradOp>);
  registerKernel(OpKind::TanhGrad, Device::CUDA, gradKernel<TanhGradOp>);
  registerKernel(OpKind::SigmoidGrad, Device::CUDA, gradKernel<SigmoidGradOp>);
  registerKernel(OpKind::AbsGrad, Device::CUDA, gradKernel<AbsGradOp>);
  registerKernel(OpKind::ReduceSumTo, Device::CUDA, reduceSumToKernel);
}

}  // namespace facestyle
