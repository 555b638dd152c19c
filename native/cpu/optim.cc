// CPU kernels for optimizer and weight-averaging updates. Each reads the current parameter and
// state and writes new values as outputs; the step graph commits them back into the parameters
// (Graph.updates), so one run = forward + backward + update.
// Step-dependent scalars (learning rate, bias corrections, EMA decay with warm-up) are fed per
// step as small tensors, so a schedule never needs a recompile.
#include <cmath>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

void requireSame(KernelContext& ctx, const Tensor& a, const Tensor& b, const char* what) {
  FACESTYLE_REQUIRE(ctx, a.shape == b.shape, std::string(what) + " " + shapeToString(b.shape) + " must match the parameter " + shapeToString(a.shape));
}

// Gradient scale from an optional GlobalNormClip output ([scale, norm]); 1 without one.
float clipScale(KernelContext& ctx, size_t index) {
  return ctx.hasInput(index) ? ctx.in(index).data[0] : 1.f;
}

// Inputs: W, G, M, V, S = [lr, 1 - beta1^t, 1 - beta2^t], optional C = [scale, norm].
// Outputs: W', M', V'. AdamW: the decay is decoupled (applied to W, scaled by lr).
void adamUpdateKernel(KernelContext& ctx) {
  const Tensor &w = ctx.in(0), &g = ctx.in(1), &m = ctx.in(2), &v = ctx.in(3), &s = ctx.in(4);
  requireSame(ctx, w, g, "gradient");
  requireSame(ctx, w, m, "first moment");
  requireSame(ctx, w, v, "second moment");
  FACESTYLE_REQUIRE(ctx, s.size() >= 3, "expects S = [lr, 1-beta1^t, 1-beta2^t]");
  const Attrs& a = ctx.attrs();
  const float b1 = float(a.getFloat("beta1", 0.9)), b2 = float(a.getFloat("beta2", 0.999));
  const float eps = float(a.getFloat("epsilon", 1e-8)), wd = float(a.getFloat("weight_decay", 0));
  const float lr = s.data[0], bc1 = s.data[1], bc2 = s.data[2], gs = clipScale(ctx, 5);
  FACESTYLE_REQUIRE(ctx, bc1 > 0.f && bc2 > 0.f, "expects positive bias corrections (step >= 1)");
  const int64_t n = w.size();
  float *pw = ctx.out(0).data, *pm = ctx.out(1).data, *pv = ctx.out(2).data;
#pragma omp parallel for num_threads(ctx.threads) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g.data[i] * gs;
    const float mi = b1 * m.data[i] + (1.f - b1) * gi;
    const float vi = b2 * v.data[i] + (1.f - b2) * gi * gi;
    const float step = (mi / bc1) / (std::sqrt(vi / bc2) + eps) + wd * w.data[i];
    pw[i] = w.data[i] - lr * step;
    pm[i] = mi;
    pv[i] = vi;
  }
}

// Inputs: W, G, Vel, S = [lr], optional C. Outputs: W', Vel'. vel = momentum*vel + g + wd*w.
void sgdMomentumUpdateKernel(KernelContext& ctx) {
  const Tensor &w = ctx.in(0), &g = ctx.in(1), &vel = ctx.in(2), &s = ctx.in(3);
  requireSame(ctx, w, g, "gradient");
  requireSame(ctx, w, vel, "velocity");
  FACESTYLE_REQUIRE(ctx, s.size() >= 1, "expects S = [lr]");
  const float mu = float(ctx.attrs().getFloat("momentum", 0.9)), wd = float(ctx.attrs().getFloat("weight_decay", 0));
  const float lr = s.data[0], gs = clipScale(ctx, 4);
  const int64_t n = w.size();
  float *pw = ctx.out(0).data, *pv = ctx.out(1).data;
  for (int64_t i = 0; i < n; ++i) {
    const float vi = mu * vel.data[i] + g.data[i] * gs + wd * w.data[i];
    pw[i] = w.data[i] - lr * vi;
    pv[i] = vi;
  }
}

// Inputs: E, W, D = [decay]. Output: E' = decay*E + (1-decay)*W.
void emaUpdateKernel(KernelContext& ctx) {
  const Tensor &e = ctx.in(0), &w = ctx.in(1), &d = ctx.in(2);
  requireSame(ctx, e, w, "weights");
  FACESTYLE_REQUIRE(ctx, d.size() >= 1, "expects D = [decay]");
  const float decay = d.data[0];
  const int64_t n = e.size();
  float* po = ctx.out(0).data;
  for (int64_t i = 0; i < n; ++i) po[i] = decay * e.data[i] + (1.f - decay) * w.data[i];
}

// Inputs: G1..Gn. Output [scale, norm]: scale = min(1, max_norm / (norm + 1e-6)), norm = global L2.
void globalNormClipKernel(KernelContext& ctx) {
  double sum = 0;
  for (const Tensor& g : ctx.inputs) {
    const int64_t n = g.size();
    for (int64_t i = 0; i < n; ++i) sum += double(g.data[i]) * double(g.data[i]);
  }
  const double norm = std::sqrt(sum), maxNorm = ctx.attrs().getFloat("max_norm", 1.0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.size() == 2, "expects a [2] output");
  y.data[0] = static_cast<float>(std::min(1.0, maxNorm / (norm + 1e-6)));
  y.data[1] = static_cast<float>(norm);
}

}  // namespace

void registerCpuOptimKernels() {
  registerKernel(OpKind::AdamUpdate, Device::CPU, adamUpdateKernel);
  registerKernel(OpKind::SgdMomentumUpdate, Device::CPU, sgdMomentumUpdateKernel);
  registerKernel(OpKind::EmaUpdate, Device::CPU, emaUpdateKernel);
  registerKernel(OpKind::GlobalNormClip, Device::CPU, globalNormClipKernel);
}

}  // namespace facestyle
