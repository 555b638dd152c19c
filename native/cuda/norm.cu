// CUDA kernels for normalisations; mirrors native/cpu/norm.cc (lib/ops/norm.ts is the reference):
// BatchNormalization (inference, per-channel affine), and InstanceNormalization,
// GroupNormalization, LayerNormalization as "row" normalisations: one block per row (a plane, a
// group, or the trailing axes), mean and biased variance by Welford's method (each thread over
// its strided elements, then merged across the block with Chan's formula), then one pass that
// normalises and applies scale and bias, then the fused activation (attribute `activation`, set by the
// fusion pass) before the value is stored.
#include <cmath>
#include <string>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

// The fused activation of a normalisation node ('' = none), same formulas as elementwise.cu.
struct NormActivation {
  enum Kind { None, Relu, LeakyRelu, Tanh, Sigmoid, Clip };
  int kind;
  float alpha, lo, hi;

  __device__ __forceinline__ float operator()(float v) const {
    switch (kind) {
      case Relu: return v > 0.f ? v : 0.f;
      case LeakyRelu: return v >= 0.f ? v : alpha * v;
      case Tanh: return tanhf(v);
      case Sigmoid: return 1.f / (1.f + expf(-v));
      case Clip: {
        if (v != v) return v;
        const float w = v < lo ? lo : v;
        return w > hi ? hi : w;
      }
      default: return v;
    }
  }
};

NormActivation activationOf(const KernelContext& ctx) {
  NormActivation a{};
  const std::string act = ctx.attrs().getString("activation", "");
  a.alpha = static_cast<float>(ctx.attrs().getFloat("activation_alpha", 0.01));
  a.lo = static_cast<float>(ctx.attrs().getFloat("activation_min", -3.4028234663852886e38));
  a.hi = static_cast<float>(ctx.attrs().getFloat("activation_max", 3.4028234663852886e38));
  if (act.empty()) a.kind = NormActivation::None;
  else if (act == "Relu") a.kind = NormActivation::Relu;
  else if (act == "LeakyRelu") a.kind = NormActivation::LeakyRelu;
  else if (act == "Tanh") a.kind = NormActivation::Tanh;
  else if (act == "Sigmoid") a.kind = NormActivation::Sigmoid;
  else if (act == "Clip") a.kind = NormActivation::Clip;
  else ctx.fail("unsupported fused activation '" + act + "' (expected Relu, LeakyRelu, Tanh, Sigmoid or Clip)");
  return a;
}

__global__ void batchNormImpl(const float* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ bias,
                              const float* __restrict__ mean, const float* __restrict__ var, float* __restrict__ y, int64_t n, int channels,
                              int64_t inner, float eps, NormActivation act) {
  FACESTYLE_CUDA_LOOP(i, n) {
    const int c = static_cast<int>((i / inner) % channels);
    const float inv = 1.f / sqrtf(var[c] + eps);
    y[i] = act((x[i] - mean[c]) * inv * scale[c] + bias[c]);
  }
}

void batchNormKernel(KernelContext& ctx) {
  requireArity(ctx, 5, 5, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 2 && y.shape == x.shape, "expected X [N,C,...] and an output of the same shape");
  const int64_t c = x.shape[1];
  for (size_t i = 1; i < 5; ++i)
    FACESTYLE_REQUIRE(ctx, (ctx.in(i).shape == Shape{c}), "expected input " + std::to_string(i) + " of shape [" + std::to_string(c) + "]");
  const float eps = static_cast<float>(ctx.attrs().getFloat("epsilon", 1e-5));
  const int64_t n = x.size();
  if (n == 0) return;
  const int64_t inner = n / (x.shape[0] * c);
  batchNormImpl<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(x.data, ctx.in(1).data, ctx.in(2).data, ctx.in(3).data, ctx.in(4).data,
                                                              y.data, n, static_cast<int>(c), inner, eps, activationOf(ctx));
  checkLaunch("BatchNormalization");
}

// Plain members (no initializers): the type is also used for a __shared__ array.
struct Moments {
  float mean, m2, count;
};

__device__ __forceinline__ Moments combine(Moments a, Moments b) {
  const float count = a.count + b.count;
  if (count == 0.f) return a;
  const float delta = b.mean - a.mean;
  const float wb = b.count / count;
  Moments r{};
  r.mean = a.mean + delta * wb;
  r.m2 = a.m2 + b.m2 + delta * delta * a.count * wb;
  r.count = count;
  return r;
}

// How a row element finds its scale/bias index.
enum AffineMode {
  kPerRowChannel = 0,   // InstanceNormalization: channel = row % C
  kPerGroupChannel = 1, // GroupNormalization: channel = (row % G) * (C/G) + i / area
  kBroadcast = 2,       // LayerNormalization: Scale/B broadcast over the normalised shape
};

struct RowNorm {
  int mode;
  int channels;      // C
  int groups;        // G (group mode)
  int area;          // spatial size (group mode)
  Walk<2> affine;    // broadcast mode: over the normalised shape, strides of Scale and B
  bool hasBias;
  NormActivation act;
};

constexpr int kNormThreads = 256;

__global__ void rowNormImpl(const float* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ bias,
                            float* __restrict__ y, int rowLen, float eps, RowNorm p) {
  const int row = blockIdx.x;
  const float* xr = x + static_cast<int64_t>(row) * rowLen;
  float* yr = y + static_cast<int64_t>(row) * rowLen;
  Moments m{0.f, 0.f, 0.f};
  for (int i = threadIdx.x; i < rowLen; i += blockDim.x) {
    const float v = xr[i];
    m.count += 1.f;
    const float delta = v - m.mean;
    m.mean += delta / m.count;
    m.m2 += delta * (v - m.mean);
  }
  for (int o = 16; o > 0; o >>= 1) {
    Moments other{};
    other.mean = __shfl_down_sync(0xffffffffu, m.mean, o);
    other.m2 = __shfl_down_sync(0xffffffffu, m.m2, o);
    other.count = __shfl_down_sync(0xffffffffu, m.count, o);
    m = combine(m, other);
  }
  __shared__ Moments warps[kNormThreads / 32];
  __shared__ float rowMean, rowInv;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    Moments total = warps[0];
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) total = combine(total, warps[w]);
    rowMean = total.mean;
    rowInv = 1.f / sqrtf(total.m2 / static_cast<float>(rowLen) + eps);
  }
  __syncthreads();
  const float mean = rowMean, inv = rowInv;
  for (int i = threadIdx.x; i < rowLen; i += blockDim.x) {
    float s, b;
    if (p.mode == kPerRowChannel) {
      const int c = row % p.channels;
      s = scale[c];
      b = bias[c];
    } else if (p.mode == kPerGroupChannel) {
      const int c = (row % p.groups) * (p.channels / p.groups) + i / p.area;
      s = scale[c];
      b = bias[c];
    } else {
      int off[2];
      p.affine.offsets(i, off);
      s = scale[off[0]];
      b = p.hasBias ? bias[off[1]] : 0.f;
    }
    yr[i] = p.act((xr[i] - mean) * inv * s + b);
  }
}

void launchRowNorm(KernelContext& ctx, int64_t rows, int64_t rowLen, const float* scale, const float* bias, const RowNorm& p) {
  if (rows == 0 || rowLen == 0) return;
  FACESTYLE_REQUIRE(ctx, rows <= 0x7fffffff, "too many rows");
  const float eps = static_cast<float>(ctx.attrs().getFloat("epsilon", 1e-5));
  FACESTYLE_REQUIRE(ctx, eps >= 0, "expected epsilon >= 0");
  // Short rows waste most of a 256-thread block; 64 threads still merge correctly.
  const int threads = rowLen >= 1024 ? kNormThreads : 64;
  RowNorm withAct = p;
  withAct.act = activationOf(ctx);
  rowNormImpl<<<static_cast<unsigned>(rows), threads, 0, streamOf(ctx)>>>(ctx.in(0).data, scale, bias, ctx.out(0).data,
                                                                          static_cast<int>(rowLen), eps, withAct);
  checkLaunch(opKindName(ctx.node.op));
}

void instanceNormKernel(KernelContext& ctx) {
  requireArity(ctx, 3, 3, 1);
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 3 && ctx.out(0).shape == x.shape, "expected X [N,C,spatial...] and an output of the same shape");
  const int64_t c = x.shape[1];
  FACESTYLE_REQUIRE(ctx, (ctx.in(1).shape == Shape{c} && ctx.in(2).shape == Shape{c}), "expected scale and B of shape [" + std::to_string(c) + "]");
  const int64_t rows = x.shape[0] * c;
  RowNorm p{};
  p.mode = kPerRowChannel;
  p.channels = static_cast<int>(c);
  launchRowNorm(ctx, rows, rows ? x.size() / rows : 0, ctx.in(1).data, ctx.in(2).data, p);
}

void groupNormKernel(KernelContext& ctx) {
  requireArity(ctx, 3, 3, 1);
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 2 && ctx.out(0).shape == x.shape, "expected X [N,C,...] and an output of the same shape");
  const int64_t c = x.shape[1];
  const int64_t g = ctx.attrs().getInt("num_groups", 0);
  FACESTYLE_REQUIRE(ctx, g >= 1 && c % g == 0, "expected num_groups >= 1 dividing the channels " + std::to_string(c));
  FACESTYLE_REQUIRE(ctx, (ctx.in(1).shape == Shape{c} && ctx.in(2).shape == Shape{c}), "expected scale and bias of shape [" + std::to_string(c) + "]");
  const int64_t rows = x.shape[0] * g;
  const int64_t area = (x.shape[0] * c) ? x.size() / (x.shape[0] * c) : 0;
  RowNorm p{};
  p.mode = kPerGroupChannel;
  p.channels = static_cast<int>(c);
  p.groups = static_cast<int>(g);
  p.area = static_cast<int>(area);
  launchRowNorm(ctx, rows, (c / g) * area, ctx.in(1).data, ctx.in(2).data, p);
}

void layerNormKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 3, 1);
  const Tensor& x = ctx.in(0);
  FACESTYLE_REQUIRE(ctx, x.rank() >= 1 && ctx.out(0).shape == x.shape, "expected an output of the input's shape");
  const int axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), x.rank());
  const Shape normalized(x.shape.begin() + axis, x.shape.end());
  const int64_t d = shapeElements(normalized);
  const bool hasBias = ctx.hasInput(2);
  auto broadcastable = [&](const Shape& s) {
    if (s.size() > normalized.size()) return false;
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] != 1 && s[i] != normalized[normalized.size() - s.size() + i]) return false;
    return true;
  };
  FACESTYLE_REQUIRE(ctx, broadcastable(ctx.in(1).shape), "expected Scale broadcastable to the normalised shape " + shapeToString(normalized));
  if (hasBias) FACESTYLE_REQUIRE(ctx, broadcastable(ctx.in(2).shape), "expected B broadcastable to the normalised shape " + shapeToString(normalized));
  RowNorm p{};
  p.mode = kBroadcast;
  p.hasBias = hasBias;
  const std::vector<int64_t> biasStrides =
      hasBias ? broadcastStrides(ctx.in(2).shape, normalized.size()) : std::vector<int64_t>(normalized.size(), 0);
  // Element i of a row walks the normalised shape; Scale and B read through broadcast strides.
  p.affine = makeWalk<2>(ctx, normalized, {broadcastStrides(ctx.in(1).shape, normalized.size()), biasStrides});
  launchRowNorm(ctx, d ? x.size() / d : 0, d, ctx.in(1).data, hasBias ? ctx.in(2).data : nullptr, p);
}

}  // namespace

void registerCudaNormKernels() {
  registerKernel(OpKind::BatchNormalization, Device::CUDA, batchNormKernel);
  registerKernel(OpKind::InstanceNormalization, Device::CUDA, instanceNormKernel);
  registerKernel(OpKind::LayerNormalization, Device::CUDA, layerNormKernel);
  registerKernel(OpKind::GroupNormalization, Device::CUDA, groupNormKernel);
}

}  // namespace facestyle
