// CPU kernel for InstanceNormalizationGrad: dX, dScale, dB from dY, X and scale. Per (n, c)
// plane: dX = scale / sigma * (dY - mean(dY) - xhat * mean(dY * xhat)), statistics in double.
#include <cmath>
#include <vector>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

void instanceNormGradKernel(KernelContext& ctx) {
  const Tensor &dy = ctx.in(0), &x = ctx.in(1), &scale = ctx.in(2);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 3 && dy.shape == x.shape && scale.rank() == 1 && scale.shape[0] == x.shape[1],
              "expects dY and X [N,C,...] of one shape and scale [C]");
  const int64_t n = x.shape[0], c = x.shape[1], m = x.size() / (n * c);
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5);
  float *dx = ctx.out(0).data, *ds = ctx.out(1).data, *db = ctx.out(2).data;
  std::vector<double> accS(static_cast<size_t>(c), 0.0), accB(static_cast<size_t>(c), 0.0);
  for (int64_t p = 0; p < n * c; ++p) {
    const int64_t ch = p % c;
    const float *xs = x.data + p * m, *g = dy.data + p * m;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < m; ++i) mean += xs[i];
    mean /= double(m);
    for (int64_t i = 0; i < m; ++i) var += (xs[i] - mean) * (xs[i] - mean);
    const double inv = 1.0 / std::sqrt(var / double(m) + eps);
    double sg = 0, sgx = 0;
    for (int64_t i = 0; i < m; ++i) {
      sg += g[i];
      sgx += g[i] * (xs[i] - mean) * inv;
    }
    accS[ch] += sgx;
    accB[ch] += sg;
    const double k = scale.data[ch] * inv;
    for (int64_t i = 0; i < m; ++i) {
      const double xh = (xs[i] - mean) * inv;
      dx[p * m + i] = static_cast<float>(k * (g[i] - sg / double(m) - xh * sgx / double(m)));
    }
  }
  for (int64_t j = 0; j < c; ++j) {
    ds[j] = static_cast<float>(accS[j]);
    db[j] = static_cast<float>(accB[j]);
  }
}

}  // namespace

void registerCpuNormBackwardKernels() {
  registerKernel(OpKind::InstanceNormalizationGrad, Device::CPU, instanceNormGradKernel);
}

}  // namespace facestyle
