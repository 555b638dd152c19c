// CPU kernels for elementwise ops: binary with NumPy broadcasting, unary, Clip, Identity (and, from
// elementwise_chain.cc, ElementwiseChain). The scalar math lives in elementwise_math.h, shared with
// the fused kernels.
//
// Binary ops walk the output with merged broadcast axes (cpu/broadcast.h), so the common cases are
// long tight loops the compiler vectorises: same shape (one contiguous row), a scalar or a channel
// bias ([N,C,H,W] + [1,C,1,1]: rows of H*W with a fixed b), and everything else row by row.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/broadcast.h"
#include "cpu/elementwise_math.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

// One innermost row: y[i] = op(a[i * ea], b[i * eb]); strides 1 or 0 get their own loops.
template <typename Op>
inline void binaryRow(float* y, const float* a, int64_t ea, const float* b, int64_t eb, int64_t n, Op op) {
  if (ea == 1 && eb == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = op(a[i], b[i]);
  } else if (ea == 1 && eb == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i) y[i] = op(a[i], bv);
  } else if (ea == 0 && eb == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i) y[i] = op(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = op(a[i * ea], b[i * eb]);
  }
}

template <typename Op>
void binaryKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 2, 2, 1);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  // The output must be exactly the broadcast of the inputs: the walk below relies on it.
  const int rank = std::max(a.rank(), b.rank());
  bool ok = y.rank() == rank;
  for (int i = 1; ok && i <= rank; ++i) {
    int64_t da = i <= a.rank() ? a.shape[a.rank() - i] : 1, db = i <= b.rank() ? b.shape[b.rank() - i] : 1;
    int64_t d = y.shape[rank - i];
    ok = (da == d || da == 1) && (db == d || db == 1) && (d == std::max(da, db) || da == 0 || db == 0);
  }
  FACESTYLE_REQUIRE(ctx, ok, "expected the output to be the broadcast of " + shapeToString(a.shape) + " and " + shapeToString(b.shape) +
                      " but it is " + shapeToString(y.shape));
  const float *pa = a.data, *pb = b.data;
  float* py = y.data;
  Op op;
  cpu::StridedWalk w = cpu::collapseWalk(y.shape, {cpu::broadcastStrides(a.shape, rank), cpu::broadcastStrides(b.shape, rank)});
  const int64_t ea = w.strides[0].back(), eb = w.strides[1].back();
  cpu::forEachRow<2>(w, ctx.threads, [&](int64_t o, const int64_t* off, int64_t n) {
    binaryRow(py + o, pa + off[0], ea, pb + off[1], eb, n, op);
  });
}

struct AddOp { float operator()(float a, float b) const { return a + b; } };
struct SubOp { float operator()(float a, float b) const { return a - b; } };
struct MulOp { float operator()(float a, float b) const { return a * b; } };
struct DivOp { float operator()(float a, float b) const { return a / b; } };
struct PowOp { float operator()(float a, float b) const { return std::pow(a, b); } };
struct MaxOp { float operator()(float a, float b) const { return cpu::maxNan(a, b); } };
struct MinOp { float operator()(float a, float b) const { return cpu::minNan(a, b); } };

// y = f(x) elementwise; F gets the node's attributes once, before the loop.
template <typename F>
void unaryKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.shape == y.shape, "expected the output shape to equal the input shape " + shapeToString(x.shape) +
                                      " but received " + shapeToString(y.shape));
  const F f(ctx.attrs());
  const int64_t n = x.size();
  const float* px = x.data;
  float* py = y.data;
  cpu::poolFor(n, ctx.threads, n >= cpu::kParallelMinElements, [&](int64_t i) { py[i] = f(px[i]); });
}

struct ReluF { explicit ReluF(const Attrs&) {} float operator()(float x) const { return cpu::relu(x); } };
struct LeakyReluF {
  float alpha;
  explicit LeakyReluF(const Attrs& a) : alpha(static_cast<float>(a.getFloat("alpha", 0.01))) {}
  float operator()(float x) const { return cpu::leakyRelu(x, alpha); }
};
struct TanhF { explicit TanhF(const Attrs&) {} float operator()(float x) const { return cpu::fastTanh(x); } };
struct SigmoidF { explicit SigmoidF(const Attrs&) {} float operator()(float x) const { return cpu::sigmoid(x); } };
struct ExpF { explicit ExpF(const Attrs&) {} float operator()(float x) const { return std::exp(x); } };
struct LogF { explicit LogF(const Attrs&) {} float operator()(float x) const { return std::log(x); } };
struct SqrtF { explicit SqrtF(const Attrs&) {} float operator()(float x) const { return std::sqrt(x); } };
struct AbsF { explicit AbsF(const Attrs&) {} float operator()(float x) const { return std::fabs(x); } };
struct NegF { explicit NegF(const Attrs&) {} float operator()(float x) const { return -x; } };
struct ClipF {
  float lo, hi;
  explicit ClipF(const Attrs& a)
      : lo(static_cast<float>(a.getFloat("min", -3.4028234663852886e38))), hi(static_cast<float>(a.getFloat("max", 3.4028234663852886e38))) {}
  float operator()(float x) const { return cpu::clip(x, lo, hi); }
};

void identityKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.size() == y.size(), "expected the output to hold " + std::to_string(x.size()) + " elements but it holds " +
                                        std::to_string(y.size()));
  if (x.data != y.data && x.size()) std::memcpy(y.data, x.data, x.size() * sizeof(float));
}

}  // namespace

void registerCpuElementwiseChainKernel();  // cpu/elementwise_chain.cc

void registerCpuElementwiseKernels() {
  registerKernel(OpKind::Add, Device::CPU, binaryKernel<AddOp>);
  registerKernel(OpKind::Sub, Device::CPU, binaryKernel<SubOp>);
  registerKernel(OpKind::Mul, Device::CPU, binaryKernel<MulOp>);
  registerKernel(OpKind::Div, Device::CPU, binaryKernel<DivOp>);
  registerKernel(OpKind::Pow, Device::CPU, binaryKernel<PowOp>);
  registerKernel(OpKind::Max, Device::CPU, binaryKernel<MaxOp>);
  registerKernel(OpKind::Min, Device::CPU, binaryKernel<MinOp>);
  registerKernel(OpKind::Relu, Device::CPU, unaryKernel<ReluF>);
  registerKernel(OpKind::LeakyRelu, Device::CPU, unaryKernel<LeakyReluF>);
  registerKernel(OpKind::Tanh, Device::CPU, unaryKernel<TanhF>);
  registerKernel(OpKind::Sigmoid, Device::CPU, unaryKernel<SigmoidF>);
  registerKernel(OpKind::Exp, Device::CPU, unaryKernel<ExpF>);
  registerKernel(OpKind::Log, Device::CPU, unaryKernel<LogF>);
  registerKernel(OpKind::Sqrt, Device::CPU, unaryKernel<SqrtF>);
  registerKernel(OpKind::Abs, Device::CPU, unaryKernel<AbsF>);
  registerKernel(OpKind::Neg, Device::CPU, unaryKernel<NegF>);
  registerKernel(OpKind::Clip, Device::CPU, unaryKernel<ClipF>);
  registerKernel(OpKind::Identity, Device::CPU, identityKernel);
  registerCpuElementwiseChainKernel();
}

}  // namespace facestyle
