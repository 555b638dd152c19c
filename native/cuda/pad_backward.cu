// CUDA kernel for PadBackward; mirrors native/cpu/pad_backward.cc (lib/ops/backward.ts is the
// reference): for non-negative pads, each dY element is added to the input element Pad copied it
// from (reflect: mirrored without repeating the edge; edge: clamped; constant padding gets no
// gradient). One thread per dY element, atomic adds into the zeroed dX (reflect and edge send
// several dY elements to one dX element, so the summation order varies in the last bits).
#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

enum PadMode { kConstant = 0, kReflect = 1, kEdge = 2 };

struct PadBackGeometry {
  int rank = 0;
  int mode = kConstant;
  int dyDims[kMaxRank] = {};
  int begin[kMaxRank] = {};
  int len[kMaxRank] = {};
  int dxStrides[kMaxRank] = {};
};

__global__ void padBackwardImpl(const float* __restrict__ dy, float* dx, int64_t n, PadBackGeometry g) {
  FACESTYLE_CUDA_LOOP(flat, n) {
    int rest = static_cast<int>(flat);
    int dst = 0;
    bool inside = true;
    for (int a = g.rank - 1; a >= 0; --a) {
      const int o = rest % g.dyDims[a];
      rest /= g.dyDims[a];
      int i = o - g.begin[a];
      if (i < 0 || i >= g.len[a]) {
        if (g.mode == kConstant) inside = false;
        else if (g.mode == kEdge) i = i < 0 ? 0 : g.len[a] - 1;
        else i = i < 0 ? -i : 2 * (g.len[a] - 1) - i;
      }
      dst += i * g.dxStrides[a];
    }
    if (inside) atomicAdd(&dx[dst], dy[flat]);
  }
}

void padBackwardKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const int rank = dx.rank();
  const std::vector<int64_t> pads = ctx.attrs().getInts("pads", {});
  const std::string mode = ctx.attrs().getString("mode", "constant");
  FACESTYLE_REQUIRE(ctx, mode == "constant" || mode == "reflect" || mode == "edge", "expected mode constant|reflect|edge but received '" + mode + "'");
  FACESTYLE_REQUIRE(ctx, dy.rank() == rank && static_cast<int>(pads.size()) == 2 * rank, "expects 2*rank pads and dY of the input's rank");
  if (rank > kMaxRank) throw Error(ErrorCode::Unsupported, "Node '" + ctx.node.name + "': CUDA PadBackward supports rank <= 8");
  PadBackGeometry g;
  g.rank = rank;
  g.mode = mode == "constant" ? kConstant : mode == "reflect" ? kReflect : kEdge;
  const std::vector<int64_t> strides = contiguousStrides(dx.shape);
  for (int a = 0; a < rank; ++a) {
    FACESTYLE_REQUIRE(ctx, pads[a] >= 0 && pads[a + rank] >= 0 && dy.shape[a] == dx.shape[a] + pads[a] + pads[a + rank],
                "dY " + shapeToString(dy.shape) + " is not the padded shape of " + shapeToString(dx.shape));
    const bool grows = pads[a] > 0 || pads[a + rank] > 0;
    // The forward op's rules; they also keep every mirrored or clamped index inside dX.
    if (grows && g.mode == kEdge) FACESTYLE_REQUIRE(ctx, dx.shape[a] >= 1, "edge Pad needs a non-empty axis");
    if (grows && g.mode == kReflect) FACESTYLE_REQUIRE(ctx, (std::max(pads[a], pads[a + rank]) <= dx.shape[a] - 1), "reflect Pad needs pads < axis length");
    g.dyDims[a] = static_cast<int>(dy.shape[a]);
    g.begin[a] = static_cast<int>(pads[a]);
    g.len[a] = static_cast<int>(dx.shape[a]);
    g.dxStrides[a] = static_cast<int>(strides[a]);
  }
  if (dx.size() == 0) return;
  cudaStream_t s = streamOf(ctx);
  check(cudaMemsetAsync(dx.data, 0, static_cast<size_t>(dx.size()) * sizeof(float), s), "cudaMemsetAsync");
  const int64_t n = dy.size();
  if (n == 0) return;
  if (rank == 0) {
    copyDeviceAsync(ctx, dx.data, dy.data, 1);
    return;
  }
  padBackwardImpl<<<blocksFor(n), kThreads, 0, s>>>(dy.data, dx.data, n, g);
  checkLaunch("PadBackward");
}

}  // namespace

void registerCudaPadBackwardKernels() { registerKernel(OpKind::PadBackward, Device::CUDA, padBackwardKernel); }

}  // namespace facestyle
