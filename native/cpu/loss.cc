// CPU kernels for fused losses (scalar output, mean reduction) and their gradients with respect to
// the first input (the prediction; the second input is a target and gets no gradient).
// Sums are accumulated in double so a 256x256x3 batch gives the same loss on every thread count.
#include <algorithm>
#include <cmath>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

void requirePair(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.in(0).shape == ctx.in(1).shape, "expects prediction and target of one shape but received " +
                                                     shapeToString(ctx.in(0).shape) + " and " + shapeToString(ctx.in(1).shape));
  FACESTYLE_REQUIRE(ctx, ctx.in(0).size() > 0, "expects a non-empty prediction");
}

// mean f(a - b)
template <typename Fn>
void pairLoss(KernelContext& ctx, Fn f) {
  requirePair(ctx);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  const int64_t n = a.size();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += f(double(a.data[i]) - double(b.data[i]));
  ctx.out(0).data[0] = static_cast<float>(sum / double(n));
}

// dA = dL * f'(a - b) / n
template <typename Fn>
void pairLossGrad(KernelContext& ctx, Fn df) {
  requirePair(ctx);
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &dl = ctx.in(2);
  const int64_t n = a.size();
  const float scale = dl.data[0] / float(n);
  float* da = ctx.out(0).data;
  for (int64_t i = 0; i < n; ++i) da[i] = scale * df(a.data[i] - b.data[i]);
}

float sign(float d) { return d > 0.f ? 1.f : (d < 0.f ? -1.f : 0.f); }

void l1Loss(KernelContext& ctx) { pairLoss(ctx, [](double d) { return std::fabs(d); }); }
void l1LossGrad(KernelContext& ctx) { pairLossGrad(ctx, sign); }
void mseLoss(KernelContext& ctx) { pairLoss(ctx, [](double d) { return d * d; }); }
void mseLossGrad(KernelContext& ctx) { pairLossGrad(ctx, [](float d) { return 2.f * d; }); }

// LSGAN: mean (a - target)^2 with a constant target (1 real, 0 fake).
void lsganLoss(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const double t = ctx.attrs().getFloat("target", 1.0);
  const int64_t n = a.size();
  FACESTYLE_REQUIRE(ctx, n > 0, "expects a non-empty input");
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (a.data[i] - t) * (a.data[i] - t);
  ctx.out(0).data[0] = static_cast<float>(sum / double(n));
}
void lsganLossGrad(KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &dl = ctx.in(1);
  const float t = float(ctx.attrs().getFloat("target", 1.0));
  const int64_t n = a.size();
  const float scale = 2.f * dl.data[0] / float(n);
  float* da = ctx.out(0).data;
  for (int64_t i = 0; i < n; ++i) da[i] = scale * (a.data[i] - t);
}

// RGB -> YUV (BT.601), rows Y, U, V.
const float kYuv[3][3] = {{0.299f, 0.587f, 0.114f}, {-0.14713f, -0.28886f, 0.436f}, {0.615f, -0.51499f, -0.10001f}};

// Colour loss on NCHW RGB: mean |dY| + mean huber(dU) + mean huber(dV) (delta 1), means over N*H*W.
void colorLoss(KernelContext& ctx) {
  requirePair(ctx);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  FACESTYLE_REQUIRE(ctx, a.rank() == 4 && a.shape[1] == 3, "expects RGB [N,3,H,W] but received " + shapeToString(a.shape));
  const int64_t n = a.shape[0], hw = a.shape[2] * a.shape[3];
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < hw; ++p) {
      float d[3];
      for (int c = 0; c < 3; ++c) d[c] = a.data[(i * 3 + c) * hw + p] - b.data[(i * 3 + c) * hw + p];
      for (int k = 0; k < 3; ++k) {
        const double e = kYuv[k][0] * d[0] + kYuv[k][1] * d[1] + kYuv[k][2] * d[2];
        const double ae = std::fabs(e);
        sum += k == 0 ? ae : (ae < 1.0 ? 0.5 * e * e : ae - 0.5);
      }
    }
  ctx.out(0).data[0] = static_cast<float>(sum / double(n * hw));
}
void colorLossGrad(KernelContext& ctx) {
  requirePair(ctx);
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &dl = ctx.in(2);
  FACESTYLE_REQUIRE(ctx, a.rank() == 4 && a.shape[1] == 3, "expects RGB [N,3,H,W] but received " + shapeToString(a.shape));
  const int64_t n = a.shape[0], hw = a.shape[2] * a.shape[3];
  const float scale = dl.data[0] / float(n * hw);
  float* da = ctx.out(0).data;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < hw; ++p) {
      float d[3], g[3];
      for (int c = 0; c < 3; ++c) d[c] = a.data[(i * 3 + c) * hw + p] - b.data[(i * 3 + c) * hw + p];
      for (int k = 0; k < 3; ++k) {
        const float e = kYuv[k][0] * d[0] + kYuv[k][1] * d[1] + kYuv[k][2] * d[2];
        g[k] = k == 0 ? sign(e) : std::fmax(-1.f, std::fmin(1.f, e));
      }
      for (int c = 0; c < 3; ++c) da[(i * 3 + c) * hw + p] = scale * (kYuv[0][c] * g[0] + kYuv[1][c] * g[1] + kYuv[2][c] * g[2]);
    }
}

// mean f(a, attr) and dA = dL * f'(a, attr) / n for single-input GAN losses.
template <typename F>
void unaryLoss(KernelContext& ctx, const char* attr, double fallback, F f) {
  const Tensor& a = ctx.in(0);
  const double t = ctx.attrs().getFloat(attr, fallback);
  const int64_t n = a.size();
  FACESTYLE_REQUIRE(ctx, n > 0, "expects a non-empty input");
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += f(double(a.data[i]), t);
  ctx.out(0).data[0] = static_cast<float>(sum / double(n));
}
template <typename F>
void unaryLossGrad(KernelContext& ctx, const char* attr, double fallback, F df) {
  const Tensor &a = ctx.in(0), &dl = ctx.in(1);
  const double t = ctx.attrs().getFloat(attr, fallback);
  const int64_t n = a.size();
  const double scale = double(dl.data[0]) / double(n);
  float* da = ctx.out(0).data;
  for (int64_t i = 0; i < n; ++i) da[i] = static_cast<float>(scale * df(double(a.data[i]), t));
}

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoidD(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void bceLogitsLoss(KernelContext& ctx) {
  unaryLoss(ctx, "target", 1.0, [](double a, double t) { return t * softplus(-a) + (1 - t) * softplus(a); });
}
void bceLogitsLossGrad(KernelContext& ctx) {
  unaryLossGrad(ctx, "target", 1.0, [](double a, double t) { return sigmoidD(a) - t; });
}
// sign 1: relu(1 - a) (D, real); -1: relu(1 + a) (D, fake); 0: -a (G).
void hingeLoss(KernelContext& ctx) {
  unaryLoss(ctx, "sign", 1.0, [](double a, double s) { return s == 0 ? -a : std::fmax(0.0, 1 - s * a); });
}
void hingeLossGrad(KernelContext& ctx) {
  unaryLossGrad(ctx, "sign", 1.0, [](double a, double s) { return s == 0 ? -1.0 : (1 - s * a > 0 ? -s : 0.0); });
}

// mean |horizontal differences| + mean |vertical differences| over NCHW.
void totalVariationLoss(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4 && x.shape[2] >= 2 && x.shape[3] >= 2, "expects NCHW with H, W >= 2");
  const int64_t planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
  double sx = 0, sy = 0;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t i = 0; i < w; ++i) {
        const float* at = x.data + (p * h + y) * w + i;
        if (i + 1 < w) sx += std::fabs(double(at[1]) - at[0]);
        if (y + 1 < h) sy += std::fabs(double(at[w]) - at[0]);
      }
  ctx.out(0).data[0] = static_cast<float>(sx / double(planes * h * (w - 1)) + sy / double(planes * (h - 1) * w));
}
void totalVariationLossGrad(KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &dl = ctx.in(1);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4 && x.shape[2] >= 2 && x.shape[3] >= 2, "expects NCHW with H, W >= 2");
  const int64_t planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
  const float kx = dl.data[0] / float(planes * h * (w - 1)), ky = dl.data[0] / float(planes * (h - 1) * w);
  float* out = ctx.out(0).data;
  std::fill(out, out + x.size(), 0.f);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t i = 0; i < w; ++i) {
        const int64_t at = (p * h + y) * w + i;
        if (i + 1 < w) {
          const float s = sign(x.data[at + 1] - x.data[at]) * kx;
          out[at + 1] += s;
          out[at] -= s;
        }
        if (y + 1 < h) {
          const float s = sign(x.data[at + w] - x.data[at]) * ky;
          out[at + w] += s;
          out[at] -= s;
        }
      }
}

}  // namespace

void registerCpuLossKernels() {
  registerKernel(OpKind::BceLogitsLoss, Device::CPU, bceLogitsLoss);
  registerKernel(OpKind::BceLogitsLossGrad, Device::CPU, bceLogitsLossGrad);
  registerKernel(OpKind::HingeLoss, Device::CPU, hingeLoss);
  registerKernel(OpKind::HingeLossGrad, Device::CPU, hingeLossGrad);
  registerKernel(OpKind::TotalVariationLoss, Device::CPU, totalVariationLoss);
  registerKernel(OpKind::TotalVariationLossGrad, Device::CPU, totalVariationLossGrad);
  registerKernel(OpKind::L1Loss, Device::CPU, l1Loss);
  registerKernel(OpKind::L1LossGrad, Device::CPU, l1LossGrad);
  registerKernel(OpKind::MseLoss, Device::CPU, mseLoss);
  registerKernel(OpKind::MseLossGrad, Device::CPU, mseLossGrad);
  registerKernel(OpKind::LsganLoss, Device::CPU, lsganLoss);
  registerKernel(OpKind::LsganLossGrad, Device::CPU, lsganLossGrad);
  registerKernel(OpKind::ColorLoss, Device::CPU, colorLoss);
  registerKernel(OpKind::ColorLossGrad, Device::CPU, colorLossGrad);
}

}  // namespace facestyle
