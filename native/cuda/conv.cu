// CUDA kernels for convolutions; mirrors native/cpu/conv.cc (lib/ops/conv.ts is the reference).
//   Conv2D: implicit GEMM per group (gemm_core.cuh): A = W [M/group x C/group*kh*kw], B = the
//   im2col matrix gathered on the fly, fp32 or (opt-in, sm_80+) TF32 tensor cores; epilogue adds the bias
//   and applies an optional fused activation. 1x1 stride-1 unpadded convolutions read X directly
//   (B = X viewed as [C, H*W] per image); depthwise convolutions (one input channel per group)
//   use a direct kernel, one thread per output.
//   ConvTranspose2D: checked here, computed by the gather-form GEMM in conv_transpose.cu (also the
//   gradient of Conv2D with respect to its input).
// Fused activation (Conv2D, set by the fusion pass; lib/ops/README.md): `activation` '' | 'Relu' |
// 'LeakyRelu' | 'Tanh' | 'Sigmoid' | 'Clip', `activation_alpha` (0.01), `activation_min`/`_max`.
// Residual input Z (input 3 of both ops, set by the fuseResidualAdd pass): added in the epilogue
// before the activation, y = act(conv + bias + Z).
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/conv.cuh"
#include "cuda/families.cuh"
#include "cuda/gemm_core.cuh"

namespace facestyle {

namespace {

using namespace cuda;

// The activation the fusion pass folded into a Conv2D (attribute `activation`, '' = none).
int parseActivation(const KernelContext& ctx, ConvGeometry& g) {
  const std::string act = ctx.attrs().getString("activation", "");
  g.alpha = static_cast<float>(ctx.attrs().getFloat("activation_alpha", 0.01));
  g.lo = static_cast<float>(ctx.attrs().getFloat("activation_min", -3.4028234663852886e38));
  g.hi = static_cast<float>(ctx.attrs().getFloat("activation_max", 3.4028234663852886e38));
  if (act.empty()) return kActNone;
  if (act == "Relu") return kActRelu;
  if (act == "LeakyRelu") return kActLeakyRelu;
  if (act == "Tanh") return kActTanh;
  if (act == "Sigmoid") return kActSigmoid;
  if (act == "Clip") return kActClip;
  ctx.fail("unsupported fused activation '" + act + "' (expected Relu, LeakyRelu, Tanh, Sigmoid or Clip)");
}

// Reads and checks the window attributes and the planned output shape (both conv kinds).
ConvGeometry convGeometry(KernelContext& ctx, bool transposed) {
  requireArity(ctx, 2, 4, 1);
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.rank() == 4, "expected X [N,C,H,W] but received " + shapeToString(x.shape));
  FACESTYLE_REQUIRE(ctx, w.rank() == 4, "expected a 4-D W but received " + shapeToString(w.shape));
  const Attrs& at = ctx.attrs();
  // The fused 2x2 max pool (the fusePool pass) has a CPU kernel only.
  if (!transposed && !at.getString("pool", "").empty())
    ctx.fail("a Conv2D with a fused max pool (attribute pool) runs on the CPU only: for CUDA, optimize the graph with "
             "optimizeForInference(graph, { fusePool: false })");
  const std::vector<int64_t> s = at.getInts("strides", {1, 1}), p = at.getInts("pads", {0, 0, 0, 0}), d = at.getInts("dilations", {1, 1});
  const int64_t group = at.getInt("group", 1);
  FACESTYLE_REQUIRE(ctx, s.size() == 2 && s[0] >= 1 && s[1] >= 1, "expected 2 strides >= 1");
  FACESTYLE_REQUIRE(ctx, d.size() == 2 && d[0] >= 1 && d[1] >= 1, "expected 2 dilations >= 1");
  FACESTYLE_REQUIRE(ctx, p.size() == 4 && p[0] >= 0 && p[1] >= 0 && p[2] >= 0 && p[3] >= 0, "expected 4 non-negative pads [top,left,bottom,right]");
  FACESTYLE_REQUIRE(ctx, group >= 1 && x.shape[1] % group == 0, "expected group >= 1 dividing the input channels");
  ConvGeometry g{};
  g.n = static_cast<int>(x.shape[0]);
  g.c = static_cast<int>(x.shape[1]);
  g.h = static_cast<int>(x.shape[2]);
  g.w = static_cast<int>(x.shape[3]);
  g.group = static_cast<int>(group);
  g.cg = g.c / g.group;
  g.kh = static_cast<int>(w.shape[2]);
  g.kw = static_cast<int>(w.shape[3]);
  g.sh = static_cast<int>(s[0]);
  g.sw = static_cast<int>(s[1]);
  g.pt = static_cast<int>(p[0]);
  g.pl = static_cast<int>(p[1]);
  g.dh = static_cast<int>(d[0]);
  g.dw = static_cast<int>(d[1]);
  FACESTYLE_REQUIRE(ctx, g.kh >= 1 && g.kw >= 1, "expected a kernel of at least 1x1");
  int64_t m, oh, ow;
  if (!transposed) {
    m = w.shape[0];
    FACESTYLE_REQUIRE(ctx, m % group == 0 && w.shape[1] == g.cg, "expected W [M, C/group, kh, kw] with M divisible by group but received " +
                                                            shapeToString(w.shape));
    oh = (g.h + p[0] + p[2] - d[0] * (g.kh - 1) - 1) / s[0] + 1;
    ow = (g.w + p[1] + p[3] - d[1] * (g.kw - 1) - 1) / s[1] + 1;
  } else {
    FACESTYLE_REQUIRE(ctx, w.shape[0] == g.c && w.shape[1] >= 1, "expected W [C, M/group, kh, kw] but received " + shapeToString(w.shape));
    m = w.shape[1] * group;
    const std::vector<int64_t> op = at.getInts("output_padding", {0, 0});
    FACESTYLE_REQUIRE(ctx, (op.size() == 2 && op[0] >= 0 && op[1] >= 0 && op[0] < std::max(s[0], d[0]) && op[1] < std::max(s[1], d[1])),
                "expected 2 output_padding values in [0, max(stride, dilation))");
    oh = s[0] * (g.h - 1) + op[0] + (g.kh - 1) * d[0] + 1 - p[0] - p[2];
    ow = s[1] * (g.w - 1) + op[1] + (g.kw - 1) * d[1] + 1 - p[1] - p[3];
  }
  const Shape expect{x.shape[0], m, oh, ow};
  FACESTYLE_REQUIRE(ctx, oh > 0 && ow > 0 && y.shape == expect, "expected output " + shapeToString(expect) + " but received " + shapeToString(y.shape));
  if (ctx.hasInput(2)) FACESTYLE_REQUIRE(ctx, (ctx.in(2).shape == Shape{m}), "expected bias B of shape [" + std::to_string(m) + "]");
  if (ctx.hasInput(3))
    FACESTYLE_REQUIRE(ctx, ctx.in(3).shape == expect, "expected residual input Z of shape " + shapeToString(expect) + " but received " + shapeToString(ctx.in(3).shape));
  g.m = static_cast<int>(m);
  g.mg = g.m / g.group;
  g.oh = static_cast<int>(oh);
  g.ow = static_cast<int>(ow);
  // As on the CPU, only Conv2D carries a fused activation.
  g.act = transposed ? static_cast<int>(kActNone) : parseActivation(ctx, g);
  return g;
}

// General Conv2D: B[k][n] = X[img, g*cg + ic, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw].
struct ConvProblem {
  int M, N, K;
  const float* x;
  const float* w;
  ConvGeometry g;
  ConvOutput out;
  using Ctx = int;  // the group
  struct Col {
    int64_t base;  // X offset of (img, first channel of the group)
    int iy0, ix0;
  };
  __device__ Ctx context(int z) const { return z; }
  __device__ int kBegin(Ctx) const { return 0; }
  __device__ int kEnd(Ctx) const { return K; }
  __device__ Col column(Ctx grp, int n) const {
    const int ohw = g.oh * g.ow;
    const int img = n / ohw, pixel = n - img * ohw;
    const int oy = pixel / g.ow, ox = pixel - oy * g.ow;
    return {(static_cast<int64_t>(img) * g.c + static_cast<int64_t>(grp) * g.cg) * g.h * g.w, oy * g.sh - g.pt, ox * g.sw - g.pl};
  }
  __device__ float a(Ctx grp, int m, int k) const { return w[static_cast<int64_t>(grp * M + m) * K + k]; }
  __device__ float b(Ctx, const Col& c, int k) const {
    const int taps = g.kh * g.kw;
    const int ic = k / taps, r = k - ic * taps;
    const int ky = r / g.kw, kx = r - ky * g.kw;
    const int iy = c.iy0 + ky * g.dh, ix = c.ix0 + kx * g.dw;
    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return 0.f;
    return x[c.base + (static_cast<int64_t>(ic) * g.h + iy) * g.w + ix];
  }
  __device__ void store(Ctx grp, int m, int n, float v) const { out.put(grp, m, n, v); }
};

// 1x1, stride 1, no padding: B[k][n] = X[img, g*cg + k, pixel].
struct PointwiseProblem {
  int M, N, K;
  const float* x;
  const float* w;
  int c, hw, cg;
  ConvOutput out;
  using Ctx = int;
  using Col = int64_t;
  __device__ Ctx context(int z) const { return z; }
  __device__ int kBegin(Ctx) const { return 0; }
  __device__ int kEnd(Ctx) const { return K; }
  __device__ Col column(Ctx grp, int n) const {
    const int img = n / hw, pixel = n - img * hw;
    return (static_cast<int64_t>(img) * c + static_cast<int64_t>(grp) * cg) * hw + pixel;
  }
  __device__ float a(Ctx grp, int m, int k) const { return w[static_cast<int64_t>(grp * M + m) * K + k]; }
  __device__ float b(Ctx, Col col, int k) const { return x[col + static_cast<int64_t>(k) * hw]; }
  __device__ void store(Ctx grp, int m, int n, float v) const { out.put(grp, m, n, v); }
};

// Depthwise (one input channel per group, any channel multiplier): one thread per output.
__global__ void depthwiseConv(const float* __restrict__ x, const float* __restrict__ w, int64_t total, ConvGeometry g, ConvOutput out) {
  FACESTYLE_CUDA_LOOP(flat, total) {
    const int ox = static_cast<int>(flat % g.ow);
    const int oy = static_cast<int>((flat / g.ow) % g.oh);
    const int oc = static_cast<int>((flat / (static_cast<int64_t>(g.ow) * g.oh)) % g.m);
    const int img = static_cast<int>(flat / (static_cast<int64_t>(g.ow) * g.oh * g.m));
    const int ic = oc / g.mg;
    const float* xp = x + (static_cast<int64_t>(img) * g.c + ic) * g.h * g.w;
    const float* wp = w + static_cast<int64_t>(oc) * g.kh * g.kw;
    float acc = 0.f;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.kw; ++kx) {
        const int ix = ox * g.sw - g.pl + kx * g.dw;
        if (ix >= 0 && ix < g.w) acc = fmaf(xp[iy * g.w + ix], wp[ky * g.kw + kx], acc);
      }
    }
    out.put(oc / g.mg, oc % g.mg, img * g.oh * g.ow + oy * g.ow + ox, acc);
  }
}

ConvOutput convOutput(KernelContext& ctx, const ConvGeometry& g) {
  return {ctx.out(0).data, ctx.hasInput(2) ? ctx.in(2).data : nullptr, g.m, g.mg, g.oh * g.ow, g.act, g.alpha, g.lo, g.hi,
          ctx.hasInput(3) ? ctx.in(3).data : nullptr};
}

void conv2dKernel(KernelContext& ctx) {
  const ConvGeometry g = convGeometry(ctx, false);
  const int64_t total = ctx.out(0).size();
  if (total == 0) return;
  const ConvOutput out = convOutput(ctx, g);
  const int cols = g.n * g.oh * g.ow;
  if (g.cg == 1) {
    depthwiseConv<<<blocksFor(total), kThreads, 0, streamOf(ctx)>>>(ctx.in(0).data, ctx.in(1).data, total, g, out);
    checkLaunch("Conv2D (depthwise)");
  } else if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w) {
    PointwiseProblem p{g.mg, cols, g.cg, ctx.in(0).data, ctx.in(1).data, g.c, g.h * g.w, g.cg, out};
    launchGemm(ctx, p, g.group, "Conv2D (1x1)");
  } else {
    ConvProblem p{g.mg, cols, g.cg * g.kh * g.kw, ctx.in(0).data, ctx.in(1).data, g, out};
    launchGemm(ctx, p, g.group, "Conv2D");
  }
}

void convTranspose2dKernel(KernelContext& ctx) {
  const ConvGeometry g = convGeometry(ctx, true);
  if (ctx.out(0).size() == 0) return;
  launchTransposedConv(ctx, g, ctx.in(0).data, ctx.in(1).data, ctx.hasInput(2) ? ctx.in(2).data : nullptr, ctx.out(0).data,
                       "ConvTranspose2D", ctx.hasInput(3) ? ctx.in(3).data : nullptr);
}

// PointwiseDepthwise (the fusePointwiseDepthwise pass) has a CPU kernel only: a CUDA session refuses it
// with the option that keeps the two convs apart.
void pointwiseDepthwiseKernel(KernelContext& ctx) {
  ctx.fail("PointwiseDepthwise (a 1x1 conv fused with the depthwise conv after it) runs on the CPU only: for CUDA, optimize the "
           "graph with optimizeForInference(graph, { fusePointwiseDepthwise: false })");
}

}  // namespace


void registerCudaConvKernels() {
  registerKernel(OpKind::Conv2D, Device::CUDA, conv2dKernel);
  registerKernel(OpKind::ConvTranspose2D, Device::CUDA, convTranspose2dKernel);
  registerKernel(OpKind::PointwiseDepthwise, Device::CUDA, pointwiseDepthwiseKernel);
}

}  // namespace facestyle
