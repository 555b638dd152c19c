// CPU kernels for BatchNormalization (inference), InstanceNormalization, LayerNormalization and
// GroupNormalization. Means and biased variances are taken in float64, two passes, so large
// offsets do not cancel. A fused activation (attribute `activation`, set by the fusion pass) is
// applied in the loop that writes the output, so it costs no extra pass over memory.
#include <cmath>
#include <string>
#include <vector>

#include "cpu/broadcast.h"
#include "cpu/elementwise_math.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

double epsilonOf(const KernelContext& ctx) {
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5);
  FACESTYLE_REQUIRE(ctx, eps >= 0, "expected epsilon >= 0 but received " + std::to_string(eps));
  return eps;
}

void requireVector(const KernelContext& ctx, size_t i, int64_t c, const char* what) {
  FACESTYLE_REQUIRE(ctx, (ctx.hasInput(i) && ctx.in(i).shape == Shape{c}),
              std::string("expected ") + what + " of shape [" + std::to_string(c) + "] but received " +
                  (ctx.hasInput(i) ? shapeToString(ctx.in(i).shape) : std::string("none")));
}

void requireSameOutput(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.outputs.size() == 1 && ctx.out(0).shape == ctx.in(0).shape,
              "expected the output shape to equal the input shape " + shapeToString(ctx.in(0).shape));
}

// Mean and 1/sqrt(variance + eps) of n contiguous values. Four float64 accumulators per pass: the
// sum is a chain of dependent adds otherwise (one per add latency, and GCC may not reorder it).
void moments(const float* v, int64_t n, double eps, double& mean, double& inv) {
  double s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += v[i + k];
  for (; i < n; ++i) s[0] += v[i];
  mean = n ? ((s[0] + s[1]) + (s[2] + s[3])) / double(n) : 0.0;
  double q[4] = {0, 0, 0, 0};
  for (i = 0; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) q[k] += (v[i + k] - mean) * (v[i + k] - mean);
  for (; i < n; ++i) q[0] += (v[i] - mean) * (v[i] - mean);
  inv = 1.0 / std::sqrt((n ? ((q[0] + q[1]) + (q[2] + q[3])) / double(n) : 0.0) + eps);
}

int64_t innerSize(const Shape& s, int from) {
  int64_t n = 1;
  for (size_t i = from; i < s.size(); ++i) n *= s[i];
  return n;
}

void batchNormKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 5, "expects 5 inputs: X, scale, B, input_mean, input_var");
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 2, "expected X of rank >= 2 [N,C,...] but received " + shapeToString(x.shape));
  const int64_t c = x.shape[1];
  requireVector(ctx, 1, c, "scale");
  requireVector(ctx, 2, c, "B");
  requireVector(ctx, 3, c, "input_mean");
  requireVector(ctx, 4, c, "input_var");
  requireSameOutput(ctx);
  const double eps = epsilonOf(ctx);
  const float *scale = ctx.in(1).data, *bias = ctx.in(2).data, *mean = ctx.in(3).data, *var = ctx.in(4).data;
  const int64_t planes = x.shape[0] * c, area = innerSize(x.shape, 2);
  const float* px = x.data;
  float* py = ctx.out(0).data;
  const int threads = ctx.threads;
  cpu::withActivation(cpu::FusedActivation::fromAttrs(ctx), [&](auto act) {
#pragma omp parallel for num_threads(threads) if (planes * area > 65536)
    for (int64_t p = 0; p < planes; ++p) {
      const int64_t ch = p % c;
      // y = x * a + b with a = scale / sqrt(var + eps), b = B - mean * a.
      const double a = scale[ch] / std::sqrt(double(var[ch]) + eps);
      const float af = static_cast<float>(a), bf = static_cast<float>(bias[ch] - mean[ch] * a);
      const float* xv = px + p * area;
      float* yv = py + p * area;
      for (int64_t i = 0; i < area; ++i) yv[i] = act(xv[i] * af + bf);
    }
  });
}

// Normalises `groups` contiguous blocks of `count` values; channel of element i of block b is
// ((b * count + i) / area) % c, which gets scale and bias.
void normalizeBlocks(KernelContext& ctx, int64_t groups, int64_t count, int64_t area, int64_t c, const float* scale, const float* bias) {
  const double eps = epsilonOf(ctx);
  const float* px = ctx.in(0).data;
  float* py = ctx.out(0).data;
  const int threads = ctx.threads;
  cpu::withActivation(cpu::FusedActivation::fromAttrs(ctx), [&](auto act) {
#pragma omp parallel for num_threads(threads) if (groups > 1 && groups * count > 32768)
    for (int64_t b = 0; b < groups; ++b) {
      const float* xv = px + b * count;
      float* yv = py + b * count;
      double mean, inv;
      moments(xv, count, eps, mean, inv);
      for (int64_t start = 0; start < count; start += area) {
        const int64_t ch = ((b * count + start) / area) % c;
        const float a = static_cast<float>(inv * scale[ch]), off = static_cast<float>(bias[ch] - mean * inv * scale[ch]);
        for (int64_t i = start; i < start + area; ++i) yv[i] = act(xv[i] * a + off);
      }
    }
  });
}

void instanceNormKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 3, "expects 3 inputs: X, scale, B");
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 3, "expected X of rank >= 3 [N,C,spatial...] but received " + shapeToString(x.shape));
  const int64_t c = x.shape[1];
  requireVector(ctx, 1, c, "scale");
  requireVector(ctx, 2, c, "B");
  requireSameOutput(ctx);
  const int64_t area = innerSize(x.shape, 2);
  if (area == 0) return;
  normalizeBlocks(ctx, x.shape[0] * c, area, area, c, ctx.in(1).data, ctx.in(2).data);
}

void groupNormKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 3, "expects 3 inputs: X, scale, bias");
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 2, "expected X of rank >= 2 [N,C,...] but received " + shapeToString(x.shape));
  const int64_t c = x.shape[1];
  const int64_t groups = ctx.attrs().getInt("num_groups", 0);
  FACESTYLE_REQUIRE(ctx, groups >= 1 && c % groups == 0, "expected num_groups >= 1 dividing the channels " + std::to_string(c) + " but received " + std::to_string(groups));
  requireVector(ctx, 1, c, "scale");
  requireVector(ctx, 2, c, "bias");
  requireSameOutput(ctx);
  const int64_t area = innerSize(x.shape, 2);
  if (area == 0) return;
  // In NCHW the channels of one group, with their spatial values, are contiguous.
  normalizeBlocks(ctx, x.shape[0] * groups, (c / groups) * area, area, c, ctx.in(1).data, ctx.in(2).data);
}

// Expands a Scale/B tensor (unidirectionally broadcastable to `target`) to target's size.
std::vector<float> expandTo(const KernelContext& ctx, const Tensor& t, const Shape& target, const char* what) {
  bool ok = t.shape.size() <= target.size();
  for (size_t i = 0; ok && i < t.shape.size(); ++i) {
    const int64_t d = t.shape[i], e = target[target.size() - t.shape.size() + i];
    ok = d == 1 || d == e;
  }
  FACESTYLE_REQUIRE(ctx, ok, std::string("expected ") + what + " broadcastable to the normalised shape " + shapeToString(target) + " but received " + shapeToString(t.shape));
  std::vector<float> out(static_cast<size_t>(shapeElements(target)));
  const std::vector<int64_t> strides = cpu::broadcastStrides(t.shape, target.size());
  std::vector<int64_t> idx(target.size(), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t src = 0;
    for (size_t a = 0; a < target.size(); ++a) src += idx[a] * strides[a];
    out[i] = t.data[src];
    for (int a = static_cast<int>(target.size()) - 1; a >= 0; --a) {
      if (++idx[a] < target[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

void layerNormKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() >= 2 && ctx.inputs.size() <= 3 && ctx.hasInput(1), "expects inputs X, Scale and optional B");
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  FACESTYLE_REQUIRE(ctx, rank >= 1, "expected X of rank >= 1");
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  FACESTYLE_REQUIRE(ctx, axis >= 0 && axis < rank, "expected axis in [" + std::to_string(-rank) + ", " + std::to_string(rank - 1) + "]");
  requireSameOutput(ctx);
  const double eps = epsilonOf(ctx);
  const Shape normalized(x.shape.begin() + axis, x.shape.end());
  const int64_t d = shapeElements(normalized);
  const std::vector<float> scale = expandTo(ctx, ctx.in(1), normalized, "Scale");
  const std::vector<float> bias = ctx.hasInput(2) ? expandTo(ctx, ctx.in(2), normalized, "B") : std::vector<float>(static_cast<size_t>(d), 0.f);
  if (d == 0) return;
  const int64_t rows = x.size() / d;
  const float* px = x.data;
  float* py = ctx.out(0).data;
  const int threads = ctx.threads;
  cpu::withActivation(cpu::FusedActivation::fromAttrs(ctx), [&](auto act) {
#pragma omp parallel for num_threads(threads) if (rows > 1 && rows * d > 32768)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xv = px + r * d;
      float* yv = py + r * d;
      double mean, inv;
      moments(xv, d, eps, mean, inv);
      for (int64_t i = 0; i < d; ++i) yv[i] = act(static_cast<float>((xv[i] - mean) * inv) * scale[i] + bias[i]);
    }
  });
}

}  // namespace

void registerCpuNormKernels() {
  registerKernel(OpKind::BatchNormalization, Device::CPU, batchNormKernel);
  registerKernel(OpKind::InstanceNormalization, Device::CPU, instanceNormKernel);
  registerKernel(OpKind::LayerNormalization, Device::CPU, layerNormKernel);
  registerKernel(OpKind::GroupNormalization, Device::CPU, groupNormKernel);
}

}  // namespace facestyle
