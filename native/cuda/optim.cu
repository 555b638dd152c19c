// CUDA kernels for optimizer updates; mirrors native/cpu/optim.cc (lib/ops/optim.ts is the
// reference): AdamUpdate (AdamW), SgdMomentumUpdate, EmaUpdate as one fused elementwise pass each,
// and GlobalNormClip (sum of squares of every gradient accumulated in double, then
// [min(1, max_norm / (norm + 1e-6)), norm]). The launchers are also exposed in optim.cuh.
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/families.cuh"
#include "cuda/optim.cuh"

namespace facestyle {

namespace cuda {

namespace {

__global__ void adamImpl(const float* w, const float* g, const float* m, const float* v,
                         const float* schedule, const float* clip, float* wOut, float* mOut, float* vOut,
                         int64_t n, AdamHyper h) {
  const float lr = schedule[0], bc1 = schedule[1], bc2 = schedule[2];
  const float gs = clip ? clip[0] : 1.f;
  FACESTYLE_CUDA_LOOP(i, n) {
    const float wi = w[i];
    const float gi = g[i] * gs;
    const float mi = h.beta1 * m[i] + (1.f - h.beta1) * gi;
    const float vi = h.beta2 * v[i] + (1.f - h.beta2) * gi * gi;
    const float step = (mi / bc1) / (sqrtf(vi / bc2) + h.epsilon) + h.weightDecay * wi;
    wOut[i] = wi - lr * step;
    mOut[i] = mi;
    vOut[i] = vi;
  }
}

__global__ void sgdImpl(const float* w, const float* g, const float* vel,
                        const float* schedule, const float* clip, float* wOut, float* velOut, int64_t n,
                        float momentum, float wd) {
  const float lr = schedule[0];
  const float gs = clip ? clip[0] : 1.f;
  FACESTYLE_CUDA_LOOP(i, n) {
    const float wi = w[i];
    const float vi = momentum * vel[i] + g[i] * gs + wd * wi;
    wOut[i] = wi - lr * vi;
    velOut[i] = vi;
  }
}

__global__ void emaImpl(const float* e, const float* w, const float* decayPtr, float* eOut, int64_t n) {
  const float decay = decayPtr[0];
  FACESTYLE_CUDA_LOOP(i, n) eOut[i] = decay * e[i] + (1.f - decay) * w[i];
}

}  // namespace

void launchAdamUpdate(const float* w, const float* g, const float* m, const float* v, const float* schedule, const float* clip, float* wOut,
                      float* mOut, float* vOut, int64_t n, const AdamHyper& hyper, void* stream) {
  if (n <= 0) return;
  adamImpl<<<blocksFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(w, g, m, v, schedule, clip, wOut, mOut, vOut, n, hyper);
  checkLaunch("AdamUpdate");
}

void launchSgdMomentumUpdate(const float* w, const float* g, const float* vel, const float* schedule, const float* clip, float* wOut,
                             float* velOut, int64_t n, float momentum, float weightDecay, void* stream) {
  if (n <= 0) return;
  sgdImpl<<<blocksFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(w, g, vel, schedule, clip, wOut, velOut, n, momentum,
                                                                            weightDecay);
  checkLaunch("SgdMomentumUpdate");
}

void launchEmaUpdate(const float* e, const float* w, const float* decayPtr, float* eOut, int64_t n, void* stream) {
  if (n <= 0) return;
  emaImpl<<<blocksFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(e, w, decayPtr, eOut, n);
  checkLaunch("EmaUpdate");
}

}  // namespace cuda

namespace {

using namespace cuda;

void requireSame(KernelContext& ctx, const Tensor& a, const Tensor& b, const char* what) {
  FACESTYLE_REQUIRE(ctx, a.shape == b.shape, std::string(what) + " " + shapeToString(b.shape) + " must match the parameter " + shapeToString(a.shape));
}

void requireOutputs(KernelContext& ctx, const Tensor& w, size_t count) {
  for (size_t i = 0; i < count; ++i)
    FACESTYLE_REQUIRE(ctx, ctx.out(i).size() == w.size(), "output " + std::to_string(i) + " must hold as many values as the parameter");
}

// Inputs: W, G, M, V, S = [lr, 1 - beta1^t, 1 - beta2^t], optional C = [scale, norm]. Outputs: W', M', V'.
void adamUpdateKernel(KernelContext& ctx) {
  requireArity(ctx, 5, 6, 3);
  const Tensor &w = ctx.in(0), &g = ctx.in(1), &m = ctx.in(2), &v = ctx.in(3), &s = ctx.in(4);
  requireSame(ctx, w, g, "gradient");
  requireSame(ctx, w, m, "first moment");
  requireSame(ctx, w, v, "second moment");
  requireOutputs(ctx, w, 3);
  FACESTYLE_REQUIRE(ctx, s.size() >= 3, "expects S = [lr, 1-beta1^t, 1-beta2^t]");
  if (ctx.hasInput(5)) FACESTYLE_REQUIRE(ctx, ctx.in(5).size() >= 1, "expects C = [scale, norm]");
  const Attrs& a = ctx.attrs();
  AdamHyper h;
  h.beta1 = static_cast<float>(a.getFloat("beta1", 0.9));
  h.beta2 = static_cast<float>(a.getFloat("beta2", 0.999));
  h.epsilon = static_cast<float>(a.getFloat("epsilon", 1e-8));
  h.weightDecay = static_cast<float>(a.getFloat("weight_decay", 0));
  // The CPU kernel refuses non-positive bias corrections; here S lives on the device and is not
  // read back (that would synchronise every step), so a step-0 schedule gives inf/NaN weights.
  launchAdamUpdate(w.data, g.data, m.data, v.data, s.data, ctx.hasInput(5) ? ctx.in(5).data : nullptr, ctx.out(0).data, ctx.out(1).data,
                   ctx.out(2).data, w.size(), h, ctx.stream);
}

// Inputs: W, G, Vel, S = [lr], optional C. Outputs: W', Vel'.
void sgdMomentumUpdateKernel(KernelContext& ctx) {
  requireArity(ctx, 4, 5, 2);
  const Tensor &w = ctx.in(0), &g = ctx.in(1), &vel = ctx.in(2), &s = ctx.in(3);
  requireSame(ctx, w, g, "gradient");
  requireSame(ctx, w, vel, "velocity");
  requireOutputs(ctx, w, 2);
  FACESTYLE_REQUIRE(ctx, s.size() >= 1, "expects S = [lr]");
  if (ctx.hasInput(4)) FACESTYLE_REQUIRE(ctx, ctx.in(4).size() >= 1, "expects C = [scale, norm]");
  launchSgdMomentumUpdate(w.data, g.data, vel.data, s.data, ctx.hasInput(4) ? ctx.in(4).data : nullptr, ctx.out(0).data, ctx.out(1).data,
                          w.size(), static_cast<float>(ctx.attrs().getFloat("momentum", 0.9)),
                          static_cast<float>(ctx.attrs().getFloat("weight_decay", 0)), ctx.stream);
}

// Inputs: E, W, D = [decay]. Output: E'.
void emaUpdateKernel(KernelContext& ctx) {
  requireArity(ctx, 3, 3, 1);
  const Tensor &e = ctx.in(0), &w = ctx.in(1), &d = ctx.in(2);
  requireSame(ctx, e, w, "weights");
  requireOutputs(ctx, e, 1);
  FACESTYLE_REQUIRE(ctx, d.size() >= 1, "expects D = [decay]");
  launchEmaUpdate(e.data, w.data, d.data, ctx.out(0).data, e.size(), ctx.stream);
}

constexpr int kNormBatch = 32;  // gradients per launch (kernel parameters stay small)

struct NormBatch {
  const float* data[kNormBatch];
  int64_t size[kNormBatch];
};

// Block row y handles gradient y of the batch; partial sums go into *acc (a double) atomically.
__global__ void sumSquaresImpl(NormBatch batch, double* acc) {
  const float* p = batch.data[blockIdx.y];
  const int64_t n = batch.size[blockIdx.y];
  double local = 0.0;
  FACESTYLE_CUDA_LOOP(i, n) {
    const double v = p[i];
    local += v * v;
  }
  for (int o = 16; o > 0; o >>= 1) local += __shfl_down_sync(0xffffffffu, local, o);
  __shared__ double warps[kThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += warps[w];
    if (total != 0.0) atomicAdd(acc, total);
  }
}

__global__ void normClipFinish(double* acc, float* y, double maxNorm) {
  const double norm = sqrt(*acc);
  const double scale = maxNorm / (norm + 1e-6);
  y[0] = static_cast<float>(scale < 1.0 ? scale : 1.0);
  y[1] = static_cast<float>(norm);
}

// Inputs: G1..Gn. Output [scale, norm]. The output's 8 bytes hold the double accumulator until
// the last kernel overwrites them with the two floats.
void globalNormClipKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, !ctx.inputs.empty() && ctx.outputs.size() == 1, "expects at least one gradient and one output");
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.size() == 2, "expects a [2] output");
  if (reinterpret_cast<uintptr_t>(y.data) % alignof(double) != 0)
    throw Error(ErrorCode::Unsupported, "Node '" + ctx.node.name + "': the CUDA GlobalNormClip needs an 8-byte aligned output");
  double* acc = reinterpret_cast<double*>(y.data);
  cudaStream_t s = streamOf(ctx);
  check(cudaMemsetAsync(acc, 0, sizeof(double), s), "cudaMemsetAsync");
  for (size_t first = 0; first < ctx.inputs.size(); first += kNormBatch) {
    NormBatch batch{};
    int count = 0;
    int64_t largest = 0;
    for (size_t i = first; i < ctx.inputs.size() && count < kNormBatch; ++i) {
      const Tensor& g = ctx.in(i);
      FACESTYLE_REQUIRE(ctx, g.data != nullptr || g.size() == 0, "gradient " + std::to_string(i) + " is missing");
      batch.data[count] = g.data;
      batch.size[count] = g.size();
      largest = std::max(largest, g.size());
      ++count;
    }
    if (largest == 0) continue;
    const unsigned bx = std::min<unsigned>(blocksFor(largest), 256);
    sumSquaresImpl<<<dim3(bx, count), kThreads, 0, s>>>(batch, acc);
    checkLaunch("GlobalNormClip");
  }
  normClipFinish<<<1, 1, 0, s>>>(acc, y.data, ctx.attrs().getFloat("max_norm", 1.0));
  checkLaunch("GlobalNormClip");
}

}  // namespace

void registerCudaOptimKernels() {
  registerKernel(OpKind::AdamUpdate, Device::CUDA, adamUpdateKernel);
  registerKernel(OpKind::SgdMomentumUpdate, Device::CUDA, sgdMomentumUpdateKernel);
  registerKernel(OpKind::EmaUpdate, Device::CUDA, emaUpdateKernel);
  registerKernel(OpKind::GlobalNormClip, Device::CUDA, globalNormClipKernel);
}

}  // namespace facestyle
