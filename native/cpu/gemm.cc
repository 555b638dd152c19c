// CPU kernels for MatMul (NumPy matmul: 1-D operands, batch broadcasting) and Gemm
// (alpha, beta, transA, transB, optional C broadcast to [M, N]). Both hand the math to
// cpu::sgemm (cpu/gemm.h); here are only the shape rules and the batching.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/broadcast.h"
#include "cpu/gemm.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

void matmulKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 2, 2, 1);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, a.rank() >= 1 && b.rank() >= 1,
              "expected operands of rank >= 1 but received " + shapeToString(a.shape) + " and " + shapeToString(b.shape));
  // A 1-D A is [1, K] and a 1-D B is [K, 1]; those axes are dropped from the output.
  const int64_t M = a.rank() == 1 ? 1 : a.dim(-2), K = a.dim(-1);
  const int64_t Kb = b.rank() == 1 ? b.dim(0) : b.dim(-2), N = b.rank() == 1 ? 1 : b.dim(-1);
  FACESTYLE_REQUIRE(ctx, K == Kb, "expected A's last dimension to equal B's contracted dimension but received " + shapeToString(a.shape) +
                           " and " + shapeToString(b.shape));
  const Shape aBatch(a.shape.begin(), a.shape.end() - std::min(a.rank(), 2));
  const Shape bBatch(b.shape.begin(), b.shape.end() - std::min(b.rank(), 2));
  const size_t batchRank = std::max(aBatch.size(), bBatch.size());
  Shape batch(batchRank, 1);
  for (size_t i = 1; i <= batchRank; ++i) {
    const int64_t da = i <= aBatch.size() ? aBatch[aBatch.size() - i] : 1, db = i <= bBatch.size() ? bBatch[bBatch.size() - i] : 1;
    FACESTYLE_REQUIRE(ctx, da == db || da == 1 || db == 1,
                "batch dimensions of " + shapeToString(a.shape) + " and " + shapeToString(b.shape) + " do not broadcast");
    batch[batchRank - i] = da == 1 ? db : da;
  }
  Shape expected = batch;
  if (a.rank() > 1) expected.push_back(M);
  if (b.rank() > 1) expected.push_back(N);
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but received " + shapeToString(y.shape));
  if (y.size() == 0) return;
  const int64_t batches = shapeElements(batch);
  const int64_t aCount = shapeElements(aBatch), bCount = shapeElements(bBatch);
  const int64_t ldb = b.rank() == 1 ? 1 : N;

  // B shared by every batch and A not broadcast: one tall GEMM ([batches*M, K] x [K, N]).
  if (bCount == 1 && aCount == batches) {
    cpu::sgemm(false, false, batches * M, N, K, 1.f, a.data, K, b.data, ldb, 0.f, y.data, N, ctx.threads);
    return;
  }
  // General: one GEMM per output batch, operands found through broadcast strides (0 on broadcast axes).
  const std::vector<int64_t> sa = cpu::broadcastStrides(aBatch, batchRank), sb = cpu::broadcastStrides(bBatch, batchRank);
  auto offsets = [&](int64_t bi, int64_t& oa, int64_t& ob) {
    oa = ob = 0;
    for (int i = static_cast<int>(batchRank) - 1; i >= 0; --i) {
      const int64_t idx = bi % batch[i];
      bi /= batch[i];
      oa += idx * sa[i];
      ob += idx * sb[i];
    }
  };
  // Many small products: threads over batches, one thread each; otherwise threads inside sgemm.
  const bool perBatchThreads = batches >= ctx.threads && M * N * K < (int64_t(1) << 18);
#pragma omp parallel for num_threads(ctx.threads) if (perBatchThreads && ctx.threads > 1)
  for (int64_t bi = 0; bi < batches; ++bi) {
    int64_t oa, ob;
    offsets(bi, oa, ob);
    cpu::sgemm(false, false, M, N, K, 1.f, a.data + oa * M * K, K, b.data + ob * K * N, ldb, 0.f, y.data + bi * M * N, N,
               perBatchThreads ? 1 : ctx.threads);
  }
}

void gemmKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 2, 3, 1);
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  const Attrs& at = ctx.attrs();
  const bool transA = at.getInt("transA", 0) != 0, transB = at.getInt("transB", 0) != 0;
  const float alpha = static_cast<float>(at.getFloat("alpha", 1.0)), beta = static_cast<float>(at.getFloat("beta", 1.0));
  FACESTYLE_REQUIRE(ctx, a.rank() == 2 && b.rank() == 2,
              "expected A and B of rank 2 but received " + shapeToString(a.shape) + " and " + shapeToString(b.shape));
  const int64_t M = transA ? a.shape[1] : a.shape[0], K = transA ? a.shape[0] : a.shape[1];
  const int64_t Kb = transB ? b.shape[1] : b.shape[0], N = transB ? b.shape[0] : b.shape[1];
  FACESTYLE_REQUIRE(ctx, K == Kb, "expected op(A) and op(B) to share K but received A " + shapeToString(a.shape) + ", B " + shapeToString(b.shape) +
                           " with transA=" + std::to_string(transA) + ", transB=" + std::to_string(transB));
  FACESTYLE_REQUIRE(ctx, (y.shape == Shape({M, N})), "expected output shape " + shapeToString({M, N}) + " but received " + shapeToString(y.shape));
  // An omitted C has no data and an empty shape (a scalar C has data).
  const bool hasC = ctx.hasInput(2);
  if (hasC) {
    // C broadcasts to [M, N]: fill Y with it, then let sgemm add alpha*op(A)op(B) to beta*Y.
    const Tensor& c = ctx.in(2);
    const int cr = c.rank();
    const int64_t cm = cr == 2 ? c.shape[0] : 1, cn = cr >= 1 ? c.shape[cr - 1] : 1;
    FACESTYLE_REQUIRE(ctx, cr <= 2 && (cm == M || cm == 1) && (cn == N || cn == 1),
                "expected C to broadcast to " + shapeToString({M, N}) + " but received " + shapeToString(c.shape));
    if (y.size() == 0) return;
    for (int64_t i = 0; i < M; ++i) {
      const float* crow = c.data + (cm == 1 ? 0 : i * cn);
      float* yrow = y.data + i * N;
      if (cn == N) std::memcpy(yrow, crow, static_cast<size_t>(N) * sizeof(float));
      else std::fill(yrow, yrow + N, crow[0]);
    }
  }
  if (y.size() == 0) return;
  cpu::sgemm(transA, transB, M, N, K, alpha, a.data, a.shape[1], b.data, b.shape[1], hasC ? beta : 0.f, y.data, N, ctx.threads);
}

}  // namespace

void registerCpuGemmKernels() {
  registerKernel(OpKind::MatMul, Device::CPU, matmulKernel);
  registerKernel(OpKind::Gemm, Device::CPU, gemmKernel);
}

}  // namespace facestyle
