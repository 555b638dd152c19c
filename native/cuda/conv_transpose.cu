// CUDA kernel for ConvTranspose2D; mirrors ConvTranspose2D in native/cpu/conv.cc (lib/ops/conv.ts is
// the reference). The implicit GEMM of gemm_core.cuh in gather form: each output pixel collects
// the input pixels whose kernel taps reach it, so there is no col2im buffer and no atomics. Also
// the gradient of Conv2D with respect to its input (conv_backward.cu). A file of its own so the
// GEMM instantiations compile in parallel with conv.cu's.
#include "cuda/common.cuh"
#include "cuda/conv.cuh"
#include "cuda/gemm_core.cuh"

namespace facestyle::cuda {

namespace {

// ConvTranspose2D in gather form: output (oy, ox) takes input (iy, ix) through tap (ky, kx) when
// oy + pt - ky*dh = iy*sh (and likewise for x). A[m][k] = W[g*cg + ic, m, ky, kx].
struct TransposedProblem {
  int M, N, K;
  const float* x;
  const float* w;
  ConvGeometry g;
  ConvOutput out;
  using Ctx = int;
  struct Col {
    int64_t base;
    int ty0, tx0;
  };
  __device__ Ctx context(int z) const { return z; }
  __device__ int kBegin(Ctx) const { return 0; }
  __device__ int kEnd(Ctx) const { return K; }
  __device__ Col column(Ctx grp, int n) const {
    const int ohw = g.oh * g.ow;
    const int img = n / ohw, pixel = n - img * ohw;
    const int oy = pixel / g.ow, ox = pixel - oy * g.ow;
    return {(static_cast<int64_t>(img) * g.c + static_cast<int64_t>(grp) * g.cg) * g.h * g.w, oy + g.pt, ox + g.pl};
  }
  __device__ float a(Ctx grp, int m, int k) const {
    const int taps = g.kh * g.kw;
    const int ic = k / taps, r = k - ic * taps;
    return w[(static_cast<int64_t>(grp * g.cg + ic) * g.mg + m) * taps + r];
  }
  __device__ float b(Ctx, const Col& c, int k) const {
    const int taps = g.kh * g.kw;
    const int ic = k / taps, r = k - ic * taps;
    const int ky = r / g.kw, kx = r - ky * g.kw;
    const int ty = c.ty0 - ky * g.dh, tx = c.tx0 - kx * g.dw;
    if (ty < 0 || tx < 0) return 0.f;
    const int iy = ty / g.sh, ix = tx / g.sw;
    if (iy * g.sh != ty || ix * g.sw != tx || iy >= g.h || ix >= g.w) return 0.f;
    return x[c.base + (static_cast<int64_t>(ic) * g.h + iy) * g.w + ix];
  }
  __device__ void store(Ctx grp, int m, int n, float v) const { out.put(grp, m, n, v); }
};

}  // namespace

void launchTransposedConv(const KernelContext& ctx, const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                          const char* name, const float* z) {
  const ConvOutput out{y, bias, g.m, g.mg, g.oh * g.ow, g.act, g.alpha, g.lo, g.hi, z};
  TransposedProblem p{g.mg, g.n * g.oh * g.ow, g.cg * g.kh * g.kw, x, w, g, out};
  launchGemm(ctx, p, g.group, name);
}

}  // namespace facestyle::cuda
