// CPU kernels for shape ops: Concat, Slice, Split, Transpose and the copies Reshape, Flatten,
// Squeeze, Unsqueeze. Every kernel recomputes the output shape it relies on from the input shape
// and the attributes (lib/ops/shape.ts is the reference), so a hand-made graph with a wrong
// planned shape is an error, never an out-of-bounds copy.
#include <algorithm>
#include <cstring>

#include "cpu/broadcast.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// Copies `rows` rows of `len` floats from a layout with `srcStride` floats per row to one with
// `dstStride`: the shared loop of Concat (each input into its column block) and Split (back out).
void copyRows(float* dst, int64_t dstStride, const float* src, int64_t srcStride, int64_t rows, int64_t len, int threads) {
  if (rows == 0 || len == 0) return;
  const size_t bytes = static_cast<size_t>(len) * sizeof(float);
  cpu::poolFor(rows, threads, rows * len >= cpu::kParallelMinElements, [&](int64_t r) { std::memcpy(dst + r * dstStride, src + r * srcStride, bytes); });
}

void concatKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, !ctx.inputs.empty() && ctx.inputs.size() <= 64, "expected 1 to 64 inputs but received " + std::to_string(ctx.inputs.size()));
  cpu::requireArity(ctx, ctx.inputs.size(), ctx.inputs.size(), 1);
  Tensor& y = ctx.out(0);
  const Shape& first = ctx.in(0).shape;
  const int rank = static_cast<int>(first.size());
  const int axis = cpu::normalizeAxis(ctx, ctx.attrs().getInt("axis", 0), rank);
  Shape expected = first;
  expected[axis] = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const Shape& s = ctx.in(i).shape;
    bool same = static_cast<int>(s.size()) == rank;
    for (int k = 0; same && k < rank; ++k) same = k == axis || s[k] == first[k];
    FACESTYLE_REQUIRE(ctx, same, "expected input " + std::to_string(i) + " to match " + shapeToString(first) + " except on axis " +
                          std::to_string(axis) + " but received " + shapeToString(s));
    expected[axis] += s[axis];
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but received " + shapeToString(y.shape));
  const int64_t outer = product(expected, 0, axis), inner = product(expected, axis + 1, rank);
  const int64_t rowOut = expected[axis] * inner;
  int64_t offset = 0;
  for (const Tensor& x : ctx.inputs) {
    const int64_t len = x.shape[axis] * inner;
    copyRows(y.data + offset, rowOut, x.data, len, outer, len, ctx.threads);
    offset += len;
  }
}

void splitKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, ctx.outputs.size());
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  const int axis = cpu::normalizeAxis(ctx, ctx.attrs().getInt("axis", 0), rank);
  const std::vector<int64_t> sizes = ctx.attrs().getInts("split", {});
  FACESTYLE_REQUIRE(ctx, !sizes.empty() && sizes.size() == ctx.outputs.size(),
              "expected one split size per output (" + std::to_string(ctx.outputs.size()) + ") but received " + std::to_string(sizes.size()));
  int64_t total = 0;
  for (int64_t s : sizes) {
    FACESTYLE_REQUIRE(ctx, s >= 0, "expected non-negative split sizes");
    total += s;
  }
  FACESTYLE_REQUIRE(ctx, total == x.shape[axis], "expected split sizes to sum to " + std::to_string(x.shape[axis]) + " but they sum to " + std::to_string(total));
  const int64_t outer = product(x.shape, 0, axis), inner = product(x.shape, axis + 1, rank);
  const int64_t rowIn = x.shape[axis] * inner;
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape expected = x.shape;
    expected[axis] = sizes[i];
    Tensor& y = ctx.out(i);
    FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output " + std::to_string(i) + " of shape " + shapeToString(expected) + " but received " +
                                         shapeToString(y.shape));
    const int64_t len = sizes[i] * inner;
    copyRows(y.data, len, x.data + offset, rowIn, outer, len, ctx.threads);
    offset += len;
  }
}

void sliceKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  const Attrs& at = ctx.attrs();
  const std::vector<int64_t> starts = at.getInts("starts", {}), ends = at.getInts("ends", {});
  std::vector<int64_t> axes = at.getInts("axes", {}), steps = at.getInts("steps", {});
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  FACESTYLE_REQUIRE(ctx, ends.size() == starts.size() && axes.size() == starts.size() && steps.size() == starts.size(),
              "expected starts, ends, axes and steps of equal length");
  // Per axis: first index and step in the input; the count is the output dimension.
  std::vector<int64_t> first(rank, 0), step(rank, 1);
  Shape expected = x.shape;
  std::vector<char> seen(rank, 0);
  for (size_t i = 0; i < starts.size(); ++i) {
    const int axis = cpu::normalizeAxis(ctx, axes[i], rank, "slice axis");
    FACESTYLE_REQUIRE(ctx, !seen[axis], "expected distinct axes");
    seen[axis] = 1;
    const int64_t d = x.shape[axis], s = steps[i];
    FACESTYLE_REQUIRE(ctx, s != 0, "expected non-zero steps");
    int64_t b = starts[i] < 0 ? starts[i] + d : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + d : ends[i];
    // Not std::clamp: for an empty axis (d == 0) with a negative step the bounds cross.
    auto clampTo = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
    if (s > 0) {
      b = clampTo(b, 0, d);
      e = clampTo(e, 0, d);
    } else {
      b = clampTo(b, 0, d - 1);
      e = clampTo(e, -1, d - 1);
    }
    const int64_t count = s > 0 ? (e - b + s - 1) / s : (b - e + (-s) - 1) / (-s);
    expected[axis] = std::max<int64_t>(0, count);
    first[axis] = b;
    step[axis] = s;
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but received " + shapeToString(y.shape));
  if (y.size() == 0) return;
  const std::vector<int64_t> xs = cpu::contiguousStrides(x.shape);
  std::vector<int64_t> strides(rank);
  int64_t base = 0;
  for (int i = 0; i < rank; ++i) {
    strides[i] = xs[i] * step[i];
    base += first[i] * xs[i];
  }
  cpu::stridedCopy(y.data, y.shape, x.data, base, strides, ctx.threads);
}

void transposeKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  std::vector<int64_t> perm = ctx.attrs().getInts("perm", {});
  if (perm.empty())
    for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
  std::vector<char> seen(rank, 0);
  bool ok = static_cast<int>(perm.size()) == rank;
  for (size_t i = 0; ok && i < perm.size(); ++i) {
    ok = perm[i] >= 0 && perm[i] < rank && !seen[perm[i]];
    if (ok) seen[perm[i]] = 1;
  }
  FACESTYLE_REQUIRE(ctx, ok, "expected perm to be a permutation of 0.." + std::to_string(rank - 1));
  const std::vector<int64_t> xs = cpu::contiguousStrides(x.shape);
  Shape expected(rank);
  std::vector<int64_t> strides(rank);
  for (int i = 0; i < rank; ++i) {
    expected[i] = x.shape[perm[i]];
    strides[i] = xs[perm[i]];
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but received " + shapeToString(y.shape));
  cpu::stridedCopy(y.data, y.shape, x.data, 0, strides, ctx.threads);
}

// Reshape, Flatten, Squeeze, Unsqueeze: the data is unchanged, so the only thing the copy relies on
// is an equal element count (the shape itself was inferred and checked in lib/ops/shape.ts).
void reshapeCopyKernel(KernelContext& ctx) {
  cpu::requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.size() == y.size(), "expected the output " + shapeToString(y.shape) + " to hold the " + std::to_string(x.size()) +
                                        " elements of the input " + shapeToString(x.shape));
  const int64_t n = x.size();
  if (n == 0 || x.data == y.data) return;
  copyRows(y.data, 0, x.data, 0, 1, n, 1);
}

}  // namespace

void registerCpuShapeKernels() {
  registerKernel(OpKind::Concat, Device::CPU, concatKernel);
  registerKernel(OpKind::Split, Device::CPU, splitKernel);
  registerKernel(OpKind::Slice, Device::CPU, sliceKernel);
  registerKernel(OpKind::Transpose, Device::CPU, transposeKernel);
  registerKernel(OpKind::Reshape, Device::CPU, reshapeCopyKernel);
  registerKernel(OpKind::Flatten, Device::CPU, reshapeCopyKernel);
  registerKernel(OpKind::Squeeze, Device::CPU, reshapeCopyKernel);
  registerKernel(OpKind::Unsqueeze, Device::CPU, reshapeCopyKernel);
}

}  // namespace facestyle
