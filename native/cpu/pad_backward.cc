// CPU kernel for PadBackward (non-negative pads): each output gradient is added to the input
// element Pad copied it from (reflect: mirrored without repeating the edge; edge: clamped;
// constant: the padding gets no gradient).
#include <algorithm>
#include <vector>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

void padBackwardKernel(KernelContext& ctx) {
  const Tensor& dy = ctx.in(0);
  Tensor& dx = ctx.out(0);
  const int rank = dx.rank();
  auto pads = ctx.attrs().getInts("pads", {});
  const std::string mode = ctx.attrs().getString("mode", "constant");
  FACESTYLE_REQUIRE(ctx, dy.rank() == rank && static_cast<int>(pads.size()) == 2 * rank, "expects 2*rank pads and dY of the input's rank");
  for (int a = 0; a < rank; ++a)
    FACESTYLE_REQUIRE(ctx, pads[a] >= 0 && pads[a + rank] >= 0 && dy.shape[a] == dx.shape[a] + pads[a] + pads[a + rank],
                "dY " + shapeToString(dy.shape) + " is not the padded shape of " + shapeToString(dx.shape));
  // Source index along each axis for every output index (-1: constant padding).
  std::vector<std::vector<int64_t>> src(rank);
  for (int a = 0; a < rank; ++a) {
    const int64_t len = dx.shape[a];
    src[a].resize(static_cast<size_t>(dy.shape[a]));
    for (int64_t o = 0; o < dy.shape[a]; ++o) {
      int64_t i = o - pads[a];
      if (i < 0 || i >= len) {
        if (mode == "constant") i = -1;
        else if (mode == "edge") i = i < 0 ? 0 : len - 1;
        else i = i < 0 ? -i : 2 * (len - 1) - i;
      }
      src[a][o] = i;
    }
  }
  std::vector<int64_t> strides(rank, 1);
  for (int a = rank - 2; a >= 0; --a) strides[a] = strides[a + 1] * dx.shape[a + 1];
  std::fill(dx.data, dx.data + dx.size(), 0.f);
  const int64_t total = dy.size();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t s = 0;
    bool inside = true;
    for (int a = 0; a < rank && inside; ++a) {
      const int64_t i = src[a][idx[a]];
      if (i < 0) inside = false;
      else s += i * strides[a];
    }
    if (inside) dx.data[s] += dy.data[flat];
    for (int a = rank - 1; a >= 0; --a) {
      if (++idx[a] < dy.shape[a]) break;
      idx[a] = 0;
    }
  }
}

}  // namespace

void registerCpuPadBackwardKernels() {
  registerKernel(OpKind::PadBackward, Device::CPU, padBackwardKernel);
}

}  // namespace facestyle
