// CPU kernels for ReduceSum, ReduceMean, ReduceMax and Softmax.
//
// Reductions merge neighbouring axes of the same kind (kept / reduced). When the reduced axes form
// one block the tensor is [outer, red, inner] and has two fast paths: inner == 1 (a contiguous run
// per output, e.g. the last axis or all axes) and inner > 1 (rows of `inner` accumulated, e.g. the
// spatial mean of NCHW over H and W is inner == 1 too). Other patterns use the general walk.
// Sums accumulate in double so long reductions match the TS reference.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/broadcast.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

enum class Reduce { Sum, Mean, Max };

struct SumAcc {
  using T = double;
  static T init() { return 0.0; }
  static T step(T acc, float v) { return acc + v; }
};
struct MaxAcc {
  using T = float;
  static T init() { return -std::numeric_limits<float>::infinity(); }
  // NaN wins, as Math.max does in the reference.
  static T step(T acc, float v) { return (v > acc || v != v) ? v : acc; }
};

template <typename Acc>
void reduceInto(const float* x, float* y, const std::vector<int64_t>& dims, const std::vector<char>& reduced, double scale,
                int threads) {
  using T = typename Acc::T;
  const int rank = static_cast<int>(dims.size());
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  int64_t outCount = 1;
  for (int i = 0; i < rank; ++i)
    if (!reduced[i]) outCount *= dims[i];
  auto finish = [scale](T acc) { return static_cast<float>(scale == 1.0 ? acc : acc * scale); };

  // One block of reduced axes: [outer, red, inner].
  int blocks = 0;
  for (int i = 0; i < rank; ++i)
    if (reduced[i] && (i == 0 || !reduced[i - 1])) ++blocks;
  if (blocks <= 1) {
    int lo = rank, hi = rank;
    for (int i = 0; i < rank; ++i)
      if (reduced[i]) {
        lo = std::min(lo, i);
        hi = i + 1;
      }
    int64_t outer = 1, red = 1, inner = 1;
    for (int i = 0; i < rank; ++i) (i < lo ? outer : i < hi ? red : inner) *= dims[i];
    if (inner == 1) {
#pragma omp parallel for num_threads(threads) if (outer > 1 && total >= cpu::kParallelMinElements)
      for (int64_t o = 0; o < outer; ++o) {
        const float* p = x + o * red;
        T acc = Acc::init();
        for (int64_t r = 0; r < red; ++r) acc = Acc::step(acc, p[r]);
        y[o] = finish(acc);
      }
      return;
    }
    // Rows of `inner` accumulated in chunks, so threads split the work even when outer == 1.
    constexpr int64_t kChunk = 256;
    const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(threads) if (outer * chunks > 1 && total >= cpu::kParallelMinElements)
    for (int64_t job = 0; job < outer * chunks; ++job) {
      const int64_t o = job / chunks, c0 = (job % chunks) * kChunk, c1 = std::min(inner, c0 + kChunk);
      T acc[kChunk];
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] = Acc::init();
      for (int64_t r = 0; r < red; ++r) {
        const float* p = x + (o * red + r) * inner;
        for (int64_t c = c0; c < c1; ++c) acc[c - c0] = Acc::step(acc[c - c0], p[c]);
      }
      for (int64_t c = c0; c < c1; ++c) y[o * inner + c] = finish(acc[c - c0]);
    }
    return;
  }

  // General: walk the input once, accumulating at each element's output (strides 0 on reduced axes).
  std::vector<T> acc(static_cast<size_t>(outCount), Acc::init());
  std::vector<int64_t> ostride(rank, 0);
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; --i)
    if (!reduced[i]) {
      ostride[i] = s;
      s *= dims[i];
    }
  std::vector<int64_t> idx(rank, 0);
  int64_t o = 0;
  for (int64_t flat = 0; flat < total; ++flat) {
    acc[o] = Acc::step(acc[o], x[flat]);
    for (int a = rank - 1; a >= 0; --a) {
      o += ostride[a];
      if (++idx[a] < dims[a]) break;
      o -= ostride[a] * dims[a];
      idx[a] = 0;
    }
  }
  for (int64_t i = 0; i < outCount; ++i) y[i] = finish(acc[i]);
}

template <Reduce kind>
void reduceKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  const std::vector<int64_t> axes = ctx.attrs().getInts("axes", {});
  const bool keep = ctx.attrs().getInt("keepdims", 1) != 0;
  std::vector<char> reduced(rank, axes.empty() ? 1 : 0);
  for (int64_t a : axes) {
    const int axis = cpu::normalizeAxis(ctx, a, rank, "reduce axis");
    FACESTYLE_REQUIRE(ctx, !reduced[axis], "expected distinct axes");
    reduced[axis] = 1;
  }
  Shape expected;
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    if (reduced[i]) count *= x.shape[i];
    if (!reduced[i]) expected.push_back(x.shape[i]);
    else if (keep) expected.push_back(1);
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but received " + shapeToString(y.shape));
  if (y.size() == 0) return;
  if (x.size() == 0) {
    // Reducing nothing: the sum is 0, the mean 0/0 = NaN and the max -inf (as NumPy and the reference).
    const float v = kind == Reduce::Sum ? 0.f : kind == Reduce::Mean ? std::numeric_limits<float>::quiet_NaN()
                                                                     : -std::numeric_limits<float>::infinity();
    std::fill(y.data, y.data + y.size(), v);
    return;
  }
  // Merge neighbouring axes of the same kind; size-1 axes change nothing.
  std::vector<int64_t> dims;
  std::vector<char> kinds;
  for (int i = 0; i < rank; ++i) {
    if (x.shape[i] == 1) continue;
    if (!dims.empty() && kinds.back() == reduced[i]) dims.back() *= x.shape[i];
    else {
      dims.push_back(x.shape[i]);
      kinds.push_back(reduced[i]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    kinds.push_back(1);
  }
  if (kind == Reduce::Max) reduceInto<MaxAcc>(x.data, y.data, dims, kinds, 1.0, ctx.threads);
  else reduceInto<SumAcc>(x.data, y.data, dims, kinds, kind == Reduce::Mean ? 1.0 / static_cast<double>(count) : 1.0, ctx.threads);
}

// Softmax along one axis, numerically stable: exp(x - max) / sum. The last axis (inner == 1) is a
// contiguous row per output; other axes process up to 256 of the `inner` columns at once.
void softmaxKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.shape == y.shape, "expected the output shape to equal the input shape " + shapeToString(x.shape) +
                                      " but received " + shapeToString(y.shape));
  const int rank = x.rank();
  const int axis = cpu::normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), rank);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int i = axis + 1; i < rank; ++i) inner *= x.shape[i];
  const int64_t n = x.shape[axis];
  if (outer * n * inner == 0) return;
  const float* px = x.data;
  float* py = y.data;
  const bool parallel = outer * n * inner >= cpu::kParallelMinElements;
  if (inner == 1) {
#pragma omp parallel for num_threads(ctx.threads) if (parallel && outer > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* xr = px + o * n;
      float* yr = py + o * n;
      float mx = xr[0];
      for (int64_t k = 1; k < n; ++k) mx = std::max(mx, xr[k]);
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        yr[k] = std::exp(xr[k] - mx);
        sum += yr[k];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t k = 0; k < n; ++k) yr[k] *= inv;
    }
    return;
  }
  // Columns in chunks, so threads share the work even when outer == 1 (softmax over the channels
  // of one NCHW image).
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(ctx.threads) if (parallel && outer * chunks > 1)
  for (int64_t job = 0; job < outer * chunks; ++job) {
    const int64_t o = job / chunks, c0 = (job % chunks) * kChunk, width = std::min(inner, c0 + kChunk) - c0;
    const float* xo = px + o * n * inner + c0;
    float* yo = py + o * n * inner + c0;
    float mx[kChunk];
    double sum[kChunk];
    std::copy(xo, xo + width, mx);
    for (int64_t k = 1; k < n; ++k)
      for (int64_t i = 0; i < width; ++i) mx[i] = std::max(mx[i], xo[k * inner + i]);
    std::fill(sum, sum + width, 0.0);
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < width; ++i) {
        const float e = std::exp(xo[k * inner + i] - mx[i]);
        yo[k * inner + i] = e;
        sum[i] += e;
      }
    for (int64_t i = 0; i < width; ++i) mx[i] = static_cast<float>(1.0 / sum[i]);  // reuse as the scale
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < width; ++i) yo[k * inner + i] *= mx[i];
  }
}

}  // namespace

void registerCpuReduceKernels() {
  registerKernel(OpKind::ReduceSum, Device::CPU, reduceKernel<Reduce::Sum>);
  registerKernel(OpKind::ReduceMean, Device::CPU, reduceKernel<Reduce::Mean>);
  registerKernel(OpKind::ReduceMax, Device::CPU, reduceKernel<Reduce::Max>);
  registerKernel(OpKind::Softmax, Device::CPU, softmaxKernel);
}

}  // namespace facestyle
