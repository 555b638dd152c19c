// CUDA kernels for MatMul and Gemm; mirrors native/cpu/gemm.cc (lib/ops/matmul.ts is the
// reference). Both run the tiled GEMM of gemm_core.cuh (fp32, or TF32 tensor cores when enabled on sm_80+):
//   MatMul: NumPy matmul, 1-D operands promoted ([K] -> [1,K] for A, [K,1] for B), batch axes
//   broadcast (grid z walks the broadcast batch, each operand through its own strides).
//   Gemm: Y = alpha * op(A) op(B) + beta * C, transposes expressed as strides, C broadcast to [M,N].
#include "cuda/common.cuh"
#include "cuda/families.cuh"
#include "cuda/gemm_core.cuh"

namespace facestyle {

namespace {

using namespace cuda;

struct MatrixProblem {
  int M, N, K;
  const float* A;
  const float* B;
  float* Y;
  int64_t aMs, aKs, bKs, bNs;  // element strides of A (rows m, columns k) and B (rows k, columns n)
  Walk<2> batch;               // over the batch axes: strides of A and B per batch step
  const float* C;              // optional addend (Gemm), strides cMs/cNs (0 on broadcast axes)
  int64_t cMs, cNs;
  float alpha, beta;

  struct Ctx {
    int64_t a, b, y;
  };
  using Col = int64_t;
  __device__ int kBegin(const Ctx&) const { return 0; }
  __device__ int kEnd(const Ctx&) const { return K; }
  __device__ Ctx context(int z) const {
    int off[2];
    batch.offsets(z, off);
    return {off[0], off[1], static_cast<int64_t>(z) * M * N};
  }
  __device__ Col column(const Ctx& c, int n) const { return c.b + n * bNs; }
  __device__ float a(const Ctx& c, int m, int k) const { return A[c.a + m * aMs + k * aKs]; }
  __device__ float b(const Ctx&, Col col, int k) const { return B[col + k * bKs]; }
  __device__ void store(const Ctx& c, int m, int n, float v) const {
    float r = alpha * v;
    if (C) r += beta * C[m * cMs + n * cNs];
    Y[c.y + static_cast<int64_t>(m) * N + n] = r;
  }
};

void matmulKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 2, 1);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, a.rank() >= 1 && b.rank() >= 1, "expected operands of rank >= 1");
  const Shape a2 = a.rank() == 1 ? Shape{1, a.shape[0]} : a.shape;
  const Shape b2 = b.rank() == 1 ? Shape{b.shape[0], 1} : b.shape;
  const int64_t m = a2[a2.size() - 2], k = a2[a2.size() - 1], kb = b2[b2.size() - 2], n = b2[b2.size() - 1];
  FACESTYLE_REQUIRE(ctx, k == kb, "A " + shapeToString(a.shape) + " and B " + shapeToString(b.shape) + " do not share K");
  const Shape aBatch(a2.begin(), a2.end() - 2), bBatch(b2.begin(), b2.end() - 2);
  const size_t batchRank = std::max(aBatch.size(), bBatch.size());
  Shape batch(batchRank, 1);
  for (size_t i = 1; i <= batchRank; ++i) {
    const int64_t da = i <= aBatch.size() ? aBatch[aBatch.size() - i] : 1, db = i <= bBatch.size() ? bBatch[bBatch.size() - i] : 1;
    FACESTYLE_REQUIRE(ctx, da == db || da == 1 || db == 1, "batch axes of " + shapeToString(a.shape) + " and " + shapeToString(b.shape) + " do not broadcast");
    batch[batchRank - i] = da == 1 ? db : da;
  }
  Shape expect = batch;
  if (a.rank() > 1) expect.push_back(m);
  if (b.rank() > 1) expect.push_back(n);
  FACESTYLE_REQUIRE(ctx, y.shape == expect, "expected output " + shapeToString(expect) + " but received " + shapeToString(y.shape));
  if (y.size() == 0) return;
  std::vector<int64_t> aStr = broadcastStrides(aBatch, batchRank), bStr = broadcastStrides(bBatch, batchRank);
  for (auto& s : aStr) s *= m * k;
  for (auto& s : bStr) s *= k * n;
  MatrixProblem p{};
  p.M = static_cast<int>(m);
  p.N = static_cast<int>(n);
  p.K = static_cast<int>(k);
  p.A = a.data;
  p.B = b.data;
  p.Y = y.data;
  p.aMs = k;
  p.aKs = 1;
  p.bKs = n;
  p.bNs = 1;
  p.batch = makeWalk<2>(ctx, batch, {aStr, bStr});
  p.alpha = 1.f;
  p.beta = 0.f;
  if (k == 0) {  // empty sum: zeros
    check(cudaMemsetAsync(y.data, 0, static_cast<size_t>(y.size()) * sizeof(float), streamOf(ctx)), "cudaMemsetAsync");
    return;
  }
  launchGemm(ctx, p, shapeElements(batch), "MatMul");
}

__global__ void gemmBetaOnly(float* y, const float* c, int m, int n, int64_t cMs, int64_t cNs, float beta) {
  FACESTYLE_CUDA_LOOP(i, static_cast<int64_t>(m) * n) {
    const int r = static_cast<int>(i / n), col = static_cast<int>(i % n);
    y[i] = c ? beta * c[r * cMs + col * cNs] : 0.f;
  }
}

void gemmOpKernel(KernelContext& ctx) {
  requireArity(ctx, 2, 3, 1);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  const Attrs& at = ctx.attrs();
  const bool tA = at.getInt("transA", 0) != 0, tB = at.getInt("transB", 0) != 0;
  FACESTYLE_REQUIRE(ctx, a.rank() == 2 && b.rank() == 2, "expected A and B of rank 2");
  const int64_t m = tA ? a.shape[1] : a.shape[0], k = tA ? a.shape[0] : a.shape[1];
  const int64_t kb = tB ? b.shape[1] : b.shape[0], n = tB ? b.shape[0] : b.shape[1];
  FACESTYLE_REQUIRE(ctx, k == kb, "op(A) and op(B) do not share K");
  FACESTYLE_REQUIRE(ctx, (y.shape == Shape{m, n}), "expected output [" + std::to_string(m) + "," + std::to_string(n) + "]");
  MatrixProblem p{};
  p.M = static_cast<int>(m);
  p.N = static_cast<int>(n);
  p.K = static_cast<int>(k);
  p.A = a.data;
  p.B = b.data;
  p.Y = y.data;
  p.aMs = tA ? 1 : k;
  p.aKs = tA ? m : 1;
  p.bKs = tB ? 1 : n;
  p.bNs = tB ? k : 1;
  p.batch = makeWalk<2>(ctx, Shape{1}, {{0}, {0}});
  p.alpha = static_cast<float>(at.getFloat("alpha", 1));
  p.beta = static_cast<float>(at.getFloat("beta", 1));
  if (ctx.hasInput(2)) {
    const Shape& cs = ctx.in(2).shape;
    FACESTYLE_REQUIRE(ctx, cs.size() <= 2, "expected C of rank <= 2");
    const std::vector<int64_t> st = broadcastStrides(cs, 2);
    const Shape c2 = cs.size() == 2 ? cs : cs.size() == 1 ? Shape{1, cs[0]} : Shape{1, 1};
    FACESTYLE_REQUIRE(ctx, (c2[0] == m || c2[0] == 1) && (c2[1] == n || c2[1] == 1), "expected C to broadcast to [M,N]");
    p.C = ctx.in(2).data;
    p.cMs = st[0];
    p.cNs = st[1];
  }
  if (y.size() == 0) return;
  if (k == 0) {
    gemmBetaOnly<<<blocksFor(y.size()), kThreads, 0, streamOf(ctx)>>>(y.data, p.C, p.M, p.N, p.cMs, p.cNs, p.beta);
    checkLaunch("Gemm");
    return;
  }
  launchGemm(ctx, p, 1, "Gemm");
}

}  // namespace

void registerCudaGemmKernels() {
  registerKernel(OpKind::MatMul, Device::CUDA, matmulKernel);
  registerKernel(OpKind::Gemm, Device::CUDA, gemmOpKernel);
}

}  // namespace facestyle
