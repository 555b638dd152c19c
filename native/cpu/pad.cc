// CPU kernel for Pad: constant, reflect, edge on any rank; negative pads crop first (as ONNX
// Runtime), and reflect/edge then read the cropped input. Same rules as lib/ops/pad.ts.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/pool_for.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

enum class PadMode { Constant, Reflect, Edge };

// Source index along one axis for output index o, or -1 for the constant value.
int64_t padSource(PadMode mode, int64_t o, int64_t begin, int64_t kept, int64_t cropBegin) {
  int64_t i = o - std::max<int64_t>(begin, 0);  // index into the cropped axis
  if (i < 0 || i >= kept) {
    if (mode == PadMode::Constant) return -1;
    if (mode == PadMode::Edge) i = i < 0 ? 0 : kept - 1;
    else i = i < 0 ? -i : 2 * (kept - 1) - i;  // reflect: the edge is not repeated
  }
  return i + cropBegin;
}

void padKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 1 && ctx.outputs.size() == 1, "expects 1 input and 1 output");
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  const std::string m = ctx.attrs().getString("mode", "constant");
  PadMode mode;
  if (m == "constant") mode = PadMode::Constant;
  else if (m == "reflect") mode = PadMode::Reflect;
  else if (m == "edge") mode = PadMode::Edge;
  else ctx.fail("expected mode constant|reflect|edge but received '" + m + "'");
  const float value = static_cast<float>(ctx.attrs().getFloat("value", 0.0));
  const std::vector<int64_t> pads = ctx.attrs().getInts("pads", {});
  FACESTYLE_REQUIRE(ctx, pads.size() == size_t(2 * rank), "expected " + std::to_string(2 * rank) + " pads (all begins, then all ends) for input " + shapeToString(x.shape));
  const int64_t limit = kMaxTensorElements;  // larger pads can never fit a tensor
  for (int64_t p : pads) FACESTYLE_REQUIRE(ctx, p >= -limit && p <= limit, "pad value out of range: " + std::to_string(p));
  Shape expected(rank);
  std::vector<std::vector<int64_t>> maps(rank);
  std::vector<int64_t> inStride(rank);
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    const int64_t begin = pads[i], end = pads[i + rank];
    expected[i] = x.shape[i] + begin + end;
    FACESTYLE_REQUIRE(ctx, expected[i] >= 0, "pads [" + std::to_string(begin) + "," + std::to_string(end) + "] leave axis " + std::to_string(i) + " negative");
    const int64_t cropBegin = -std::min<int64_t>(begin, 0);
    const int64_t kept = x.shape[i] - cropBegin + std::min<int64_t>(end, 0);
    const bool grows = begin > 0 || end > 0;
    if (grows && mode == PadMode::Edge) FACESTYLE_REQUIRE(ctx, kept >= 1, "edge Pad needs a non-empty axis " + std::to_string(i) + " to repeat");
    if (grows && mode == PadMode::Reflect)
      FACESTYLE_REQUIRE(ctx, (std::max(begin, end) <= kept - 1), "reflect Pad needs pads < axis length (" + std::to_string(kept) + " on axis " + std::to_string(i) + ")");
    inStride[i] = stride;
    stride *= x.shape[i];
  }
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but the plan has " + shapeToString(y.shape));
  if (y.size() == 0) return;
  for (int i = 0; i < rank; ++i) {
    const int64_t cropBegin = -std::min<int64_t>(pads[i], 0);
    const int64_t kept = x.shape[i] - cropBegin + std::min<int64_t>(pads[i + rank], 0);
    maps[i].resize(expected[i]);
    for (int64_t o = 0; o < expected[i]; ++o) {
      const int64_t s = padSource(mode, o, pads[i], kept, cropBegin);
      maps[i][o] = s < 0 ? -1 : s * inStride[i];
    }
  }
  const float* px = x.data;
  float* py = y.data;
  if (rank == 0) {
    py[0] = px[0];
    return;
  }
  // The row axis: the last one, or the one before it when the last is not padded (NHWC with pads on H
  // and W: rows of 3 floats were most of the time; now rows of W * C), its map then covering both.
  const int la = rank >= 2 && pads[rank - 1] == 0 && pads[2 * rank - 1] == 0 ? rank - 2 : rank - 1;
  const int64_t unit = la == rank - 1 ? 1 : x.shape[rank - 1];  // floats per entry of the row axis
  const int64_t inner = expected[la] * unit;
  const int64_t rows = inner == 0 ? 0 : y.size() / inner;
  std::vector<int64_t> merged;
  if (unit > 1) {
    merged.resize(static_cast<size_t>(inner));
    for (int64_t o = 0; o < inner; ++o) merged[o] = maps[la][o / unit] < 0 ? -1 : maps[la][o / unit] + o % unit;
  }
  const std::vector<int64_t>& last = unit > 1 ? merged : maps[la];
  // Output columns [midLo, midHi) of the row copy the kept input columns in order.
  const int64_t midLo = std::min<int64_t>(std::max<int64_t>(pads[la], 0) * unit, inner);
  const int64_t keptLast = (x.shape[la] + std::min<int64_t>(pads[la], 0) + std::min<int64_t>(pads[la + rank], 0)) * unit;
  const int64_t midHi = std::min<int64_t>(inner, midLo + std::max<int64_t>(keptLast, 0));
  cpu::poolFor(rows, ctx.threads, rows * inner > 65536, [&](int64_t r) {
    int64_t src = 0;
    for (int64_t i = la - 1, rem = r; i >= 0 && src >= 0; --i) {
      const int64_t s = maps[i][rem % expected[i]];
      src = s < 0 ? -1 : src + s;
      rem /= expected[i];
    }
    float* out = py + r * inner;
    if (src < 0) {
      std::fill(out, out + inner, value);
      return;
    }
    // The kept middle of the row is one contiguous copy; only the padded ends go through the map.
    for (int64_t o = 0; o < midLo; ++o) out[o] = last[o] < 0 ? value : px[src + last[o]];
    if (midHi > midLo) std::memcpy(out + midLo, px + src + last[midLo], static_cast<size_t>(midHi - midLo) * sizeof(float));
    for (int64_t o = std::max(midLo, midHi); o < inner; ++o) out[o] = last[o] < 0 ? value : px[src + last[o]];
  });
}

}  // namespace

void registerCpuPadKernels() { registerKernel(OpKind::Pad, Device::CPU, padKernel); }

}  // namespace facestyle
