// CPU kernels for elementwise ops: binary with NumPy broadcasting, unary, Clip, Identity.
#include <cmath>
#include <cstring>

#include "cpu/broadcast.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

template <typename Op>
void binaryKernel(KernelContext& ctx) {
  ctx.require(ctx.inputs.size() == 2 && ctx.outputs.size() == 1, "expects 2 inputs and 1 output");
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  ctx.require(y.rank() >= a.rank() && y.rank() >= b.rank(), "output rank is below an input's");
  for (int i = 1; i <= y.rank(); ++i) {
    int64_t d = y.shape[y.rank() - i];
    int64_t da = i <= a.rank() ? a.shape[a.rank() - i] : 1, db = i <= b.rank() ? b.shape[b.rank() - i] : 1;
    ctx.require((da == d || da == 1) && (db == d || db == 1),
                "inputs " + shapeToString(a.shape) + " and " + shapeToString(b.shape) + " do not broadcast to " + shapeToString(y.shape));
  }
  const float *pa = a.data, *pb = b.data;
  float* py = y.data;
  Op op;
  if (a.shape == y.shape && b.shape == y.shape) {
    const int64_t n = y.size();
#pragma omp parallel for num_threads(ctx.threads) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) py[i] = op(pa[i], pb[i]);
    return;
  }
  cpu::forEachBroadcast2(y.shape, a.shape, b.shape, [&](int64_t o, int64_t ia, int64_t ib) { py[o] = op(pa[ia], pb[ib]); });
}

struct AddOp { float operator()(float a, float b) const { return a + b; } };

void reluKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  ctx.require(x.shape == y.shape, "output shape must equal the input shape");
  const int64_t n = x.size();
  const float* px = x.data;
  float* py = y.data;
#pragma omp parallel for num_threads(ctx.threads) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] > 0.f ? px[i] : 0.f;
}

void identityKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  ctx.require(x.size() == y.size(), "output size must equal the input size");
  if (x.data != y.data && x.size()) std::memcpy(y.data, x.data, x.size() * sizeof(float));
}

}  // namespace

void registerCpuElementwiseKernels() {
  registerKernel(OpKind::Add, Device::CPU, binaryKernel<AddOp>);
  registerKernel(OpKind::Relu, Device::CPU, reluKernel);
  registerKernel(OpKind::Identity, Device::CPU, identityKernel);
}

}  // namespace facestyle
