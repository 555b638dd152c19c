// CUDA kernels for shape ops; mirrors native/cpu/shape.cc: Concat, Slice, Split, Transpose (one
// strided-copy kernel over a collapsed index walk) and Reshape, Flatten, Squeeze, Unsqueeze (a
// device-to-device copy: the data does not change, only the planned shape).
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

// dst[dstBase + off0(i)] = src[srcBase + off1(i)] for every i of the walk.
__global__ void stridedCopy(float* __restrict__ dst, int64_t dstBase, const float* __restrict__ src, int64_t srcBase, int64_t n,
                            Walk<2> w) {
  FACESTYLE_CUDA_LOOP(i, n) {
    int off[2];
    w.offsets(i, off);
    dst[dstBase + off[0]] = src[srcBase + off[1]];
  }
}

void launchCopy(const KernelContext& ctx, float* dst, int64_t dstBase, const std::vector<int64_t>& dstStrides, const float* src,
                int64_t srcBase, const std::vector<int64_t>& srcStrides, const Shape& dims) {
  const int64_t n = shapeElements(dims);
  if (n == 0) return;
  Walk<2> w = makeWalk<2>(ctx, dims, {dstStrides, srcStrides});
  stridedCopy<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(dst, dstBase, src, srcBase, n, w);
  checkLaunch(opKindName(ctx.node.op));
}

// Batched 2-D transpose through a shared 32 x 33 tile, so both the reads and the writes are
// coalesced: out[b][r][c] = in[b][c][r] for in [B, C, R].
__global__ void transposeTiles(const float* __restrict__ in, float* __restrict__ out, int batches, int rows, int cols) {
  __shared__ float tile[32][33];
  const int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
  for (int b = blockIdx.z; b < batches; b += gridDim.z) {
    const float* src = in + static_cast<int64_t>(b) * rows * cols;
    float* dst = out + static_cast<int64_t>(b) * rows * cols;
    for (int i = threadIdx.y; i < 32; i += blockDim.y) {
      const int c = c0 + i, r = r0 + threadIdx.x;
      if (c < cols && r < rows) tile[i][threadIdx.x] = src[static_cast<int64_t>(c) * rows + r];
    }
    __syncthreads();
    for (int i = threadIdx.y; i < 32; i += blockDim.y) {
      const int r = r0 + i, c = c0 + threadIdx.x;
      if (r < rows && c < cols) dst[static_cast<int64_t>(r) * cols + c] = tile[threadIdx.x][i];
    }
    __syncthreads();
  }
}

void concatKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, !ctx.inputs.empty() && ctx.inputs.size() <= 64 && ctx.outputs.size() == 1, "expects 1 to 64 inputs and 1 output");
  Tensor& y = ctx.out(0);
  const int rank = y.rank();
  const int axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", 0), rank);
  int64_t total = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const Tensor& x = ctx.in(i);
    bool same = x.rank() == rank;
    for (int k = 0; same && k < rank; ++k) same = k == axis || x.shape[k] == y.shape[k];
    FACESTYLE_REQUIRE(ctx, same && (x.data || x.size() == 0), "input " + std::to_string(i) + " " + shapeToString(x.shape) +
                                                       " does not match the output " + shapeToString(y.shape) + " off axis " +
                                                       std::to_string(axis));
    total += x.shape[axis];
  }
  FACESTYLE_REQUIRE(ctx, total == y.shape[axis], "inputs sum to " + std::to_string(total) + " on axis " + std::to_string(axis) +
                                          " but the output has " + std::to_string(y.shape[axis]));
  const std::vector<int64_t> outStrides = contiguousStrides(y.shape);
  int64_t offset = 0;
  for (const Tensor& x : ctx.inputs) {
    launchCopy(ctx, y.data, offset * outStrides[axis], outStrides, x.data, 0, contiguousStrides(x.shape), x.shape);
    offset += x.shape[axis];
  }
}

void sliceKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const Attrs& at = ctx.attrs();
  const int rank = x.rank();
  const std::vector<int64_t> starts = at.getInts("starts", {}), ends = at.getInts("ends", {});
  std::vector<int64_t> axes = at.getInts("axes", {}), steps = at.getInts("steps", {});
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  FACESTYLE_REQUIRE(ctx, ends.size() == starts.size() && axes.size() == starts.size() && steps.size() == starts.size(),
              "expected starts, ends, axes and steps of equal length");
  std::vector<int64_t> start(rank, 0), step(rank, 1), count(x.shape.begin(), x.shape.end());
  std::vector<char> seen(rank, 0);
  for (size_t i = 0; i < starts.size(); ++i) {
    const int a = normalizeAxis(ctx, axes[i], rank, "axes");
    FACESTYLE_REQUIRE(ctx, !seen[a], "expected distinct axes");
    seen[a] = 1;
    const int64_t d = x.shape[a], st = steps[i];
    FACESTYLE_REQUIRE(ctx, st != 0, "expected non-zero steps");
    int64_t s = starts[i] < 0 ? starts[i] + d : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
    }
    const int64_t c = st > 0 ? (e - s + st - 1) / st : (s - e + (-st) - 1) / (-st);
    start[a] = s;
    step[a] = st;
    count[a] = std::max<int64_t>(0, c);
  }
  FACESTYLE_REQUIRE(ctx, (Shape(count.begin(), count.end()) == y.shape),
              "the slice of " + shapeToString(x.shape) + " is " + shapeToString(count) + " but the output is " + shapeToString(y.shape));
  const std::vector<int64_t> inStrides = contiguousStrides(x.shape);
  int64_t base = 0;
  std::vector<int64_t> srcStrides(rank);
  for (int a = 0; a < rank; ++a) {
    if (count[a] > 0) base += start[a] * inStrides[a];
    srcStrides[a] = step[a] * inStrides[a];
  }
  launchCopy(ctx, y.data, 0, contiguousStrides(y.shape), x.data, base, srcStrides, y.shape);
}

void splitKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 1 && ctx.in(0).data, "expects 1 input");
  const Tensor& x = ctx.in(0);
  const int rank = x.rank();
  const int axis = normalizeAxis(ctx, ctx.attrs().getInt("axis", 0), rank);
  const std::vector<int64_t> sizes = ctx.attrs().getInts("split", {});
  FACESTYLE_REQUIRE(ctx, !sizes.empty() && sizes.size() == ctx.outputs.size(),
              "expected one output per split size but received " + std::to_string(ctx.outputs.size()) + " outputs for " +
                  std::to_string(sizes.size()) + " sizes");
  const std::vector<int64_t> inStrides = contiguousStrides(x.shape);
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Tensor& y = ctx.out(i);
    Shape expect = x.shape;
    expect[axis] = sizes[i];
    FACESTYLE_REQUIRE(ctx, sizes[i] >= 0 && y.shape == expect && offset + sizes[i] <= x.shape[axis],
                "output " + std::to_string(i) + " " + shapeToString(y.shape) + " does not match split size " + std::to_string(sizes[i]) +
                    " of " + shapeToString(x.shape));
    launchCopy(ctx, y.data, 0, contiguousStrides(y.shape), x.data, offset * inStrides[axis], inStrides, y.shape);
    offset += sizes[i];
  }
  FACESTYLE_REQUIRE(ctx, offset == x.shape[axis], "split sizes do not sum to the axis length");
}

void transposeKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  std::vector<int64_t> perm = ctx.attrs().getInts("perm", {});
  if (perm.empty())
    for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
  FACESTYLE_REQUIRE(ctx, static_cast<int>(perm.size()) == rank, "expected perm of length " + std::to_string(rank));
  std::vector<char> seen(rank, 0);
  for (int64_t p : perm) {
    FACESTYLE_REQUIRE(ctx, p >= 0 && p < rank && !seen[p], "expected perm to be a permutation of 0.." + std::to_string(rank - 1));
    seen[p] = 1;
  }
  const std::vector<int64_t> inStrides = contiguousStrides(x.shape);
  Shape expect(rank);
  std::vector<int64_t> srcStrides(rank);
  for (int i = 0; i < rank; ++i) {
    expect[i] = x.shape[perm[i]];
    srcStrides[i] = inStrides[perm[i]];
  }
  FACESTYLE_REQUIRE(ctx, expect == y.shape, "expected output " + shapeToString(expect) + " but received " + shapeToString(y.shape));
  if (y.size() == 0) return;
  // After merging axes, a swap of the last two (possibly batched) is the tiled fast path.
  const Walk<2> w = makeWalk<2>(ctx, y.shape, {contiguousStrides(y.shape), srcStrides});
  const int r = w.rank;
  if (r >= 2 && r <= 3) {
    const int rows = w.dims[r - 2], cols = w.dims[r - 1];
    const bool swap = w.strides[1][r - 2] == 1 && w.strides[1][r - 1] == rows;
    const bool batchOk = r == 2 || w.strides[1][0] == rows * cols;
    if (swap && batchOk) {
      const int batches = r == 3 ? w.dims[0] : 1;
      dim3 grid((cols + 31) / 32, (rows + 31) / 32, std::min(batches, 65535));
      transposeTiles<<<grid, dim3(32, 8), 0, streamOf(ctx)>>>(x.data, y.data, batches, rows, cols);
      checkLaunch("Transpose");
      return;
    }
  }
  launchCopy(ctx, y.data, 0, contiguousStrides(y.shape), x.data, 0, srcStrides, y.shape);
}

// Reshape, Flatten, Squeeze, Unsqueeze: the planner already gave the output its shape.
void copyAsKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, x.size() == y.size(), "output " + shapeToString(y.shape) + " must hold as many elements as the input " +
                                        shapeToString(x.shape));
  copyDeviceAsync(ctx, y.data, x.data, x.size());
}

}  // namespace

void registerCudaShapeKernels() {
  registerKernel(OpKind::Concat, Device::CUDA, concatKernel);
  registerKernel(OpKind::Slice, Device::CUDA, sliceKernel);
  registerKernel(OpKind::Split, Device::CUDA, splitKernel);
  registerKernel(OpKind::Transpose, Device::CUDA, transposeKernel);
  registerKernel(OpKind::Reshape, Device::CUDA, copyAsKernel);
  registerKernel(OpKind::Flatten, Device::CUDA, copyAsKernel);
  registerKernel(OpKind::Squeeze, Device::CUDA, copyAsKernel);
  registerKernel(OpKind::Unsqueeze, Device::CUDA, copyAsKernel);
}

}  // namespace facestyle
