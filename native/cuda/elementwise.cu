// CUDA kernels for elementwise ops; mirrors native/cpu/elementwise.cc: binary ops with NumPy
// broadcasting (Add Sub Mul Div Pow Max Min), unary ops (Relu LeakyRelu Tanh Sigmoid Exp Log Sqrt
// Abs Neg Clip) and Identity; ElementwiseChain (elementwise_chain.cu) registers from here too. Same-shape operands take a flat loop; anything else walks the
// collapsed broadcast index space (common.cuh Walk).
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

// Binary functors. Max/Min propagate NaN like JavaScript's Math.max/min (the TS reference).
struct AddOp { __device__ float operator()(float a, float b) const { return a + b; } };
struct SubOp { __device__ float operator()(float a, float b) const { return a - b; } };
struct MulOp { __device__ float operator()(float a, float b) const { return a * b; } };
struct DivOp { __device__ float operator()(float a, float b) const { return a / b; } };
struct PowOp { __device__ float operator()(float a, float b) const { return powf(a, b); } };
struct MaxOp {
  __device__ float operator()(float a, float b) const { return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a > b ? a : b); }
};
struct MinOp {
  __device__ float operator()(float a, float b) const { return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a < b ? a : b); }
};

template <typename Op>
__global__ void binarySameShape(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, int64_t n, Op op) {
  FACESTYLE_CUDA_LOOP(i, n) y[i] = op(a[i], b[i]);
}

// One operand is a single value (scalar broadcast): the most common case after same-shape.
template <typename Op, bool kScalarFirst>
__global__ void binaryScalar(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, int64_t n, Op op) {
  if (kScalarFirst) {
    const float s = a[0];
    FACESTYLE_CUDA_LOOP(i, n) y[i] = op(s, b[i]);
  } else {
    const float s = b[0];
    FACESTYLE_CUDA_LOOP(i, n) y[i] = op(a[i], s);
  }
}

template <typename Op>
__global__ void binaryBroadcast(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, int64_t n, Walk<2> w,
                                Op op) {
  FACESTYLE_CUDA_LOOP(i, n) {
    int off[2];
    w.offsets(i, off);
    y[i] = op(a[off[0]], b[off[1]]);
  }
}

template <typename Op>
void binaryKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 2, 1);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.rank() >= a.rank() && y.rank() >= b.rank(), "output rank is below an input's");
  for (int i = 1; i <= y.rank(); ++i) {
    int64_t d = y.shape[y.rank() - i];
    int64_t da = i <= a.rank() ? a.shape[a.rank() - i] : 1, db = i <= b.rank() ? b.shape[b.rank() - i] : 1;
    FACESTYLE_REQUIRE(ctx, (da == d || da == 1) && (db == d || db == 1),
                "inputs " + shapeToString(a.shape) + " and " + shapeToString(b.shape) + " do not broadcast to " + shapeToString(y.shape));
  }
  const int64_t n = y.size();
  if (n == 0) return;
  cudaStream_t s = streamOf(ctx);
  if (a.size() == n && b.size() == n) {
    binarySameShape<<<blocksFor(n), kThreads, 0, s>>>(a.data, b.data, y.data, n, Op{});
  } else if (a.size() == 1 && b.size() == n) {
    binaryScalar<Op, true><<<blocksFor(n), kThreads, 0, s>>>(a.data, b.data, y.data, n, Op{});
  } else if (b.size() == 1 && a.size() == n) {
    binaryScalar<Op, false><<<blocksFor(n), kThreads, 0, s>>>(a.data, b.data, y.data, n, Op{});
  } else {
    Walk<2> w = makeWalk<2>(ctx, y.shape, {broadcastStrides(a.shape, y.shape.size()), broadcastStrides(b.shape, y.shape.size())});
    binaryBroadcast<<<blocksFor(n), kThreads, 0, s>>>(a.data, b.data, y.data, n, w, Op{});
  }
  checkLaunch(opKindName(ctx.node.op));
}

// Unary functors; p0/p1 carry LeakyRelu's alpha and Clip's bounds.
struct UnaryParams {
  float p0 = 0, p1 = 0;
};
struct ReluOp { __device__ float operator()(float x, UnaryParams) const { return x > 0.f ? x : 0.f; } };
struct LeakyReluOp { __device__ float operator()(float x, UnaryParams p) const { return x >= 0.f ? x : p.p0 * x; } };
struct TanhOp { __device__ float operator()(float x, UnaryParams) const { return tanhf(x); } };
struct SigmoidOp { __device__ float operator()(float x, UnaryParams) const { return 1.f / (1.f + expf(-x)); } };
struct ExpOp { __device__ float operator()(float x, UnaryParams) const { return expf(x); } };
struct LogOp { __device__ float operator()(float x, UnaryParams) const { return logf(x); } };
struct SqrtOp { __device__ float operator()(float x, UnaryParams) const { return sqrtf(x); } };
struct AbsOp { __device__ float operator()(float x, UnaryParams) const { return fabsf(x); } };
struct NegOp { __device__ float operator()(float x, UnaryParams) const { return -x; } };
// min(max(x, lo), hi): with lo > hi every value becomes hi, as ONNX specifies; NaN stays NaN.
struct ClipOp {
  __device__ float operator()(float x, UnaryParams p) const {
    if (x != x) return x;
    float v = x < p.p0 ? p.p0 : x;
    return v > p.p1 ? p.p1 : v;
  }
};

template <typename Op>
__global__ void unaryLoop(const float* __restrict__ x, float* __restrict__ y, int64_t n, UnaryParams p, Op op) {
  FACESTYLE_CUDA_LOOP(i, n) y[i] = op(x[i], p);
}

template <typename Op>
void unaryLaunch(KernelContext& ctx, UnaryParams p) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.shape == y.shape, "output shape " + shapeToString(y.shape) + " must equal the input shape " + shapeToString(x.shape));
  const int64_t n = x.size();
  if (n == 0) return;
  unaryLoop<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(x.data, y.data, n, p, Op{});
  checkLaunch(opKindName(ctx.node.op));
}

template <typename Op>
void unaryKernel(KernelContext& ctx) {
  unaryLaunch<Op>(ctx, {});
}

void leakyReluKernel(KernelContext& ctx) {
  unaryLaunch<LeakyReluOp>(ctx, {static_cast<float>(ctx.attrs().getFloat("alpha", 0.01)), 0.f});
}

void clipKernel(KernelContext& ctx) {
  constexpr double kFloatMax = 3.4028234663852886e38;
  unaryLaunch<ClipOp>(ctx, {static_cast<float>(ctx.attrs().getFloat("min", -kFloatMax)),
                            static_cast<float>(ctx.attrs().getFloat("max", kFloatMax))});
}

void identityKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.size() == y.size(), "output size must equal the input size");
  copyDeviceAsync(ctx, y.data, x.data, x.size());
}

}  // namespace

void registerCudaElementwiseChainKernel();  // cuda/elementwise_chain.cu

void registerCudaElementwiseKernels() {
  registerKernel(OpKind::Add, Device::CUDA, binaryKernel<AddOp>);
  registerKernel(OpKind::Sub, Device::CUDA, binaryKernel<SubOp>);
  registerKernel(OpKind::Mul, Device::CUDA, binaryKernel<MulOp>);
  registerKernel(OpKind::Div, Device::CUDA, binaryKernel<DivOp>);
  registerKernel(OpKind::Pow, Device::CUDA, binaryKernel<PowOp>);
  registerKernel(OpKind::Max, Device::CUDA, binaryKernel<MaxOp>);
  registerKernel(OpKind::Min, Device::CUDA, binaryKernel<MinOp>);
  registerKernel(OpKind::Relu, Device::CUDA, unaryKernel<ReluOp>);
  registerKernel(OpKind::LeakyRelu, Device::CUDA, leakyReluKernel);
  registerKernel(OpKind::Tanh, Device::CUDA, unaryKernel<TanhOp>);
  registerKernel(OpKind::Sigmoid, Device::CUDA, unaryKernel<SigmoidOp>);
  registerKernel(OpKind::Exp, Device::CUDA, unaryKernel<ExpOp>);
  registerKernel(OpKind::Log, Device::CUDA, unaryKernel<LogOp>);
  registerKernel(OpKind::Sqrt, Device::CUDA, unaryKernel<SqrtOp>);
  registerKernel(OpKind::Abs, Device::CUDA, unaryKernel<AbsOp>);
  registerKernel(OpKind::Neg, Device::CUDA, unaryKernel<NegOp>);
  registerKernel(OpKind::Clip, Device::CUDA, clipKernel);
  registerKernel(OpKind::Identity, Device::CUDA, identityKernel);
  registerCudaElementwiseChainKernel();
}

}  // namespace facestyle
