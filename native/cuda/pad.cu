// CUDA kernel for Pad; mirrors native/cpu/pad.cc (lib/ops/pad.ts is the reference): constant,
// reflect or edge on any rank up to 8; negative pads crop first, then reflect/edge read the
// cropped axis. One thread per output element maps each axis to its source index.
#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

enum PadMode { kConstant = 0, kReflect = 1, kEdge = 2 };

struct PadGeometry {
  int rank = 0;
  int mode = kConstant;
  float value = 0;
  int outDims[kMaxRank] = {};
  int begin[kMaxRank] = {};      // max(pad_begin, 0): where the kept input starts in the output
  int kept[kMaxRank] = {};       // input length left after cropping
  int cropBegin[kMaxRank] = {};  // input elements cropped at the start
  int inStrides[kMaxRank] = {};
};

__global__ void padKernelImpl(const float* __restrict__ x, float* __restrict__ y, int64_t n, PadGeometry g) {
  FACESTYLE_CUDA_LOOP(flat, n) {
    int rest = static_cast<int>(flat);
    int src = 0;
    bool inside = true;
    for (int a = g.rank - 1; a >= 0; --a) {
      const int o = rest % g.outDims[a];
      rest /= g.outDims[a];
      int i = o - g.begin[a];
      if (i < 0 || i >= g.kept[a]) {
        if (g.mode == kConstant) {
          inside = false;
          continue;
        }
        if (g.mode == kEdge) i = i < 0 ? 0 : g.kept[a] - 1;
        else i = i < 0 ? -i : 2 * (g.kept[a] - 1) - i;  // reflect, the edge itself not repeated
      }
      src += (i + g.cropBegin[a]) * g.inStrides[a];
    }
    y[flat] = inside ? x[src] : g.value;
  }
}

void padKernel(KernelContext& ctx) {
  requireArity(ctx, 1, 1, 1);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  const std::vector<int64_t> pads = ctx.attrs().getInts("pads", {});
  const std::string mode = ctx.attrs().getString("mode", "constant");
  FACESTYLE_REQUIRE(ctx, mode == "constant" || mode == "reflect" || mode == "edge",
              "expected mode 'constant', 'reflect' or 'edge' but received '" + mode + "'");
  FACESTYLE_REQUIRE(ctx, static_cast<int>(pads.size()) == 2 * rank, "expected " + std::to_string(2 * rank) + " pads for input " +
                                                              shapeToString(x.shape) + " but received " +
                                                              std::to_string(pads.size()));
  for (int64_t p : pads) FACESTYLE_REQUIRE(ctx, p >= -kMaxTensorElements && p <= kMaxTensorElements, "pad value out of range: " + std::to_string(p));
  if (rank > kMaxRank) throw Error(ErrorCode::Unsupported, "Node '" + ctx.node.name + "': CUDA Pad supports rank <= 8");
  PadGeometry g;
  g.rank = rank;
  g.mode = mode == "constant" ? kConstant : mode == "reflect" ? kReflect : kEdge;
  g.value = static_cast<float>(ctx.attrs().getFloat("value", 0));
  const std::vector<int64_t> inStrides = contiguousStrides(x.shape);
  for (int a = 0; a < rank; ++a) {
    const int64_t pb = pads[a], pe = pads[a + rank];
    const int64_t out = x.shape[a] + pb + pe;
    FACESTYLE_REQUIRE(ctx, out == y.shape[a], "expected output " + shapeToString(y.shape) + " to be the padded input " + shapeToString(x.shape));
    const int64_t crop = pb < 0 ? -pb : 0;
    const int64_t kept = x.shape[a] - crop + (pe < 0 ? pe : 0);
    const int64_t grow = (pb > 0 ? pb : 0) + (pe > 0 ? pe : 0);
    if (grow > 0 && g.mode == kEdge) FACESTYLE_REQUIRE(ctx, kept >= 1, "edge Pad needs a non-empty axis to repeat");
    if (grow > 0 && g.mode == kReflect)
      FACESTYLE_REQUIRE(ctx, (std::max(pb, pe) <= kept - 1), "reflect Pad needs pads < axis length (" + std::to_string(kept) + " on axis " +
                                                    std::to_string(a) + ")");
    g.outDims[a] = static_cast<int>(out);
    g.begin[a] = static_cast<int>(pb > 0 ? pb : 0);
    g.kept[a] = static_cast<int>(kept);
    g.cropBegin[a] = static_cast<int>(crop);
    g.inStrides[a] = static_cast<int>(inStrides[a]);
  }
  const int64_t n = y.size();
  if (n == 0) return;
  if (rank == 0) {  // a scalar pads to itself
    copyDeviceAsync(ctx, y.data, x.data, 1);
    return;
  }
  padKernelImpl<<<blocksFor(n), kThreads, 0, streamOf(ctx)>>>(x.data, y.data, n, g);
  checkLaunch("Pad");
}

}  // namespace

void registerCudaPadKernels() { registerKernel(OpKind::Pad, Device::CUDA, padKernel); }

}  // namespace facestyle
