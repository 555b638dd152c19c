// CPU kernels for activation gradients (dX from dY and the saved input or output) and
// ReduceSumTo (the gradient of a broadcast: sum dY down to the input's shape).
#include <algorithm>
#include <cmath>

#include "cpu/broadcast.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

// dX[i] = f(dY[i], S[i]) where S is the saved input or output of the forward op.
template <typename Fn>
void gradKernel(KernelContext& ctx, Fn fn) {
  const Tensor &dy = ctx.in(0), &s = ctx.in(1);
  Tensor& dx = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, dy.shape == s.shape && dx.shape == dy.shape, "expects dY, the saved tensor and dX of one shape but received " +
                                                              shapeToString(dy.shape) + " and " + shapeToString(s.shape));
  const int64_t n = dy.size();
  const float *pd = dy.data, *ps = s.data;
  float* px = dx.data;
#pragma omp parallel for num_threads(ctx.threads) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) px[i] = fn(pd[i], ps[i]);
}

void leakyReluGradKernel(KernelContext& ctx) {
  const float alpha = static_cast<float>(ctx.attrs().getFloat("alpha", 0.01));
  gradKernel(ctx, [alpha](float d, float x) { return x >= 0.f ? d : alpha * d; });
}
void reluGradKernel(KernelContext& ctx) {
  gradKernel(ctx, [](float d, float x) { return x > 0.f ? d : 0.f; });
}
void tanhGradKernel(KernelContext& ctx) {
  gradKernel(ctx, [](float d, float y) { return d * (1.f - y * y); });
}
void sigmoidGradKernel(KernelContext& ctx) {
  gradKernel(ctx, [](float d, float y) { return d * y * (1.f - y); });
}
void absGradKernel(KernelContext& ctx) {
  gradKernel(ctx, [](float d, float x) { return x > 0.f ? d : (x < 0.f ? -d : 0.f); });
}

// Y (shape attribute, broadcastable to X) = X summed over the broadcast axes.
void reduceSumToKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.rank() <= x.rank(), "target shape " + shapeToString(y.shape) + " has a higher rank than X " + shapeToString(x.shape));
  for (int i = 1; i <= y.rank(); ++i) {
    int64_t d = y.shape[y.rank() - i];
    FACESTYLE_REQUIRE(ctx, d == 1 || d == x.shape[x.rank() - i], "target shape " + shapeToString(y.shape) + " does not broadcast to " + shapeToString(x.shape));
  }
  std::fill(y.data, y.data + y.size(), 0.f);
  const float* px = x.data;
  float* py = y.data;
  cpu::forEachBroadcast2(x.shape, x.shape, y.shape, [&](int64_t o, int64_t, int64_t iy) { py[iy] += px[o]; });
}

}  // namespace

void registerCpuElementwiseBackwardKernels() {
  registerKernel(OpKind::LeakyReluGrad, Device::CPU, leakyReluGradKernel);
  registerKernel(OpKind::ReluGrad, Device::CPU, reluGradKernel);
  registerKernel(OpKind::TanhGrad, Device::CPU, tanhGradKernel);
  registerKernel(OpKind::SigmoidGrad, Device::CPU, sigmoidGradKernel);
  registerKernel(OpKind::AbsGrad, Device::CPU, absGradKernel);
  registerKernel(OpKind::ReduceSumTo, Device::CPU, reduceSumToKernel);
}

}  // namespace facestyle
