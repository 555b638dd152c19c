// CPU kernel for Resize: nearest on any axis, linear on the last two axes. Coordinates are
// computed in float32 step by step like ONNX Runtime (and lib/ops/resize.ts), so nearest picks
// the same pixel where a coordinate falls on a rounding tie.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu/mobile_pool.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

enum class Coordinate { HalfPixel, AlignCorners, Asymmetric, PytorchHalfPixel };
enum class Nearest { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

float originalCoordinate(Coordinate mode, int64_t o, float scale, int64_t lengthIn, int64_t lengthOut) {
  const float x = static_cast<float>(o);
  switch (mode) {
    case Coordinate::Asymmetric: return x / scale;
    case Coordinate::AlignCorners:
      return lengthOut == 1 ? 0.f : x * static_cast<float>(lengthIn - 1) / static_cast<float>(lengthOut - 1);
    case Coordinate::PytorchHalfPixel: return lengthOut > 1 ? (x + 0.5f) / scale - 0.5f : 0.f;
    case Coordinate::HalfPixel: break;
  }
  return (x + 0.5f) / scale - 0.5f;
}

int64_t nearestIndex(Nearest mode, float v, int64_t lengthIn) {
  const double d = v, fl = std::floor(d);
  double i;
  if (mode == Nearest::Floor) i = fl;
  else if (mode == Nearest::Ceil) i = std::ceil(d);
  else if (d - fl == 0.5) i = mode == Nearest::RoundPreferCeil ? fl + 1 : fl;
  else i = std::round(d);
  // Clamp in double first: a huge coordinate must not overflow the integer conversion.
  return static_cast<int64_t>(std::min(std::max(i, 0.0), double(lengthIn - 1)));
}

struct Taps {
  int64_t i0, i1;
  float w0, w1;
};

// The two neighbours of an output index along one axis and their weights; the coordinate is
// clamped into the input first, and an edge pixel gets two equal halves of itself.
Taps linearTaps(Coordinate mode, int64_t o, float scale, int64_t lengthIn, int64_t lengthOut) {
  float v = originalCoordinate(mode, o, scale, lengthIn, lengthOut);
  v = std::min(std::max(v, 0.f), static_cast<float>(lengthIn - 1));
  const int64_t i0 = std::min(static_cast<int64_t>(v), lengthIn - 1), i1 = std::min(i0 + 1, lengthIn - 1);
  if (i0 == i1) return {i0, i1, 0.5f, 0.5f};
  const float t = v - static_cast<float>(i0);
  return {i0, i1, 1.f - t, t};
}

void resizeKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() == 1 && ctx.outputs.size() == 1, "expects 1 input and 1 output");
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const Attrs& a = ctx.attrs();
  const std::string mode = a.getString("mode", "nearest");
  const std::string coord = a.getString("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = a.getString("nearest_mode", "round_prefer_floor");
  FACESTYLE_REQUIRE(ctx, mode == "nearest" || mode == "linear", "expected mode nearest|linear but received '" + mode + "'");
  Coordinate cm;
  if (coord == "half_pixel") cm = Coordinate::HalfPixel;
  else if (coord == "align_corners") cm = Coordinate::AlignCorners;
  else if (coord == "asymmetric") cm = Coordinate::Asymmetric;
  else if (coord == "pytorch_half_pixel") cm = Coordinate::PytorchHalfPixel;
  else ctx.fail("expected coordinate_transformation_mode half_pixel|align_corners|asymmetric|pytorch_half_pixel but received '" + coord + "'");
  Nearest nm;
  if (nearest == "round_prefer_floor") nm = Nearest::RoundPreferFloor;
  else if (nearest == "round_prefer_ceil") nm = Nearest::RoundPreferCeil;
  else if (nearest == "floor") nm = Nearest::Floor;
  else if (nearest == "ceil") nm = Nearest::Ceil;
  else ctx.fail("expected nearest_mode round_prefer_floor|round_prefer_ceil|floor|ceil but received '" + nearest + "'");

  const int rank = x.rank();
  FACESTYLE_REQUIRE(ctx, rank >= 1 && y.rank() == rank, "expected X and Y of the same rank >= 1");
  for (int i = 0; i < rank; ++i) FACESTYLE_REQUIRE(ctx, x.shape[i] >= 1, "expected a non-empty input but received " + shapeToString(x.shape));
  const std::vector<double> scales = a.getFloats("scales", {});
  const std::vector<int64_t> sizes = a.getInts("sizes", {});
  FACESTYLE_REQUIRE(ctx, scales.empty() != sizes.empty(), "expected exactly one of scales or sizes");
  std::vector<float> axisScale(rank);
  Shape expected(rank);
  for (int i = 0; i < rank; ++i) {
    const float in = static_cast<float>(x.shape[i]);
    if (!scales.empty()) {
      FACESTYLE_REQUIRE(ctx, scales.size() == size_t(rank), "expected " + std::to_string(rank) + " scales");
      FACESTYLE_REQUIRE(ctx, scales[i] > 0 && scales[i] < 1e9, "expected positive scales");
      axisScale[i] = static_cast<float>(scales[i]);
      expected[i] = static_cast<int64_t>(std::floor(axisScale[i] * in));  // float32 product, as ONNX Runtime
    } else {
      FACESTYLE_REQUIRE(ctx, sizes.size() == size_t(rank), "expected " + std::to_string(rank) + " sizes");
      FACESTYLE_REQUIRE(ctx, sizes[i] >= 1, "expected positive sizes");
      expected[i] = sizes[i];
      axisScale[i] = static_cast<float>(sizes[i]) / in;
    }
  }
  for (int i = 0; i < rank; ++i)
    FACESTYLE_REQUIRE(ctx, expected[i] >= 1, "expected every output size >= 1 but received " + shapeToString(expected) + " from " + shapeToString(x.shape));
  FACESTYLE_REQUIRE(ctx, y.shape == expected, "expected output shape " + shapeToString(expected) + " but the plan has " + shapeToString(y.shape));
  const float* px = x.data;
  float* py = y.data;

  if (mode == "linear") {
    FACESTYLE_REQUIRE(ctx, rank >= 2, "linear Resize expects X of rank >= 2");
    for (int i = 0; i < rank - 2; ++i) FACESTYLE_REQUIRE(ctx, y.shape[i] == x.shape[i], "linear Resize scales only the last two axes");
    const int64_t h = x.shape[rank - 2], w = x.shape[rank - 1], oh = y.shape[rank - 2], ow = y.shape[rank - 1];
    const int64_t planes = x.size() / (h * w);
    std::vector<Taps> ys(oh), xs(ow);
    for (int64_t o = 0; o < oh; ++o) ys[o] = linearTaps(cm, o, axisScale[rank - 2], h, oh);
    for (int64_t o = 0; o < ow; ++o) xs[o] = linearTaps(cm, o, axisScale[rank - 1], w, ow);
    // Per plane: each needed input row is interpolated along x once (into a small cache of two
    // rows; upscaling reuses them for several output rows), then output rows blend two of them.
    // Same arithmetic as the per-pixel formula ty.w0 * (x-blend of row i0) + ty.w1 * (x-blend of row i1).
    // Ranges of planes on the mobile pool (cpu/pool_for.h says why not OpenMP), a row cache each.
    auto planeRange = [&](int64_t p0, int64_t p1) {
      std::vector<float> cache(static_cast<size_t>(2 * ow));
      int64_t cached[2];
      for (int64_t p = p0; p < p1; ++p) {
        cached[0] = cached[1] = -1;
        auto rowAt = [&](int64_t iy) -> const float* {
          for (int s = 0; s < 2; ++s)
            if (cached[s] == iy) return cache.data() + s * ow;
          // Evict the lower row: source rows only move down as oy grows, so loading i1 never evicts
          // the i0 row just fetched (i1 is i0 or i0 + 1).
          const int s = cached[0] < cached[1] ? 0 : 1;
          cached[s] = iy;
          float* dst = cache.data() + s * ow;
          const float* src = px + (p * h + iy) * w;
          for (int64_t o = 0; o < ow; ++o) dst[o] = xs[o].w0 * src[xs[o].i0] + xs[o].w1 * src[xs[o].i1];
          return dst;
        };
        for (int64_t oy = 0; oy < oh; ++oy) {
          const Taps& ty = ys[oy];
          const float* h0 = rowAt(ty.i0);
          const float* h1 = rowAt(ty.i1);
          float* out = py + (p * oh + oy) * ow;
          for (int64_t o = 0; o < ow; ++o) out[o] = ty.w0 * h0[o] + ty.w1 * h1[o];
        }
      }
    };
    cpu::mobileParallelRanges(planes, planes > 1 && planes * oh * ow > 32768 ? ctx.threads : 1, 4, planeRange);
    return;
  }

  // Nearest: one source index per output index and axis, then a gather row by row.
  std::vector<std::vector<int64_t>> maps(rank);
  std::vector<int64_t> inStride(rank);
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    inStride[i] = stride;
    stride *= x.shape[i];
    maps[i].resize(y.shape[i]);
    for (int64_t o = 0; o < y.shape[i]; ++o)
      maps[i][o] = nearestIndex(nm, originalCoordinate(cm, o, axisScale[i], x.shape[i], y.shape[i]), x.shape[i]) * inStride[i];
  }
  const int64_t inner = y.shape[rank - 1];
  const int64_t rows = y.size() / inner;
  const std::vector<int64_t>& last = maps[rank - 1];
  // Exact x2 along the last axis (the detectors' FPN upsampling): each source value lands on two
  // neighbours, a loop without the index table. Checked on the map itself, so any mode that gives it qualifies.
  bool twice = inner == 2 * x.shape[rank - 1];
  for (int64_t o = 0; twice && o < inner; ++o) twice = last[o] == o / 2;
  auto gatherRow = [&](const float* in, float* out) {
    if (twice)
      for (int64_t o = 0; o < inner / 2; ++o) out[2 * o] = out[2 * o + 1] = in[o];
    else
      for (int64_t o = 0; o < inner; ++o) out[o] = in[last[o]];
  };
  // Exact x2 along the last two axes with every other axis kept (the FPN case, NCHW): planes walked
  // directly, each input row doubled once and written to two output rows, with no index arithmetic per
  // row (which cost more than the copy: YuNet's 1x64x8x8 -> 16x16 took 7 us).
  bool planes2x = twice && rank >= 2 && y.shape[rank - 2] == 2 * x.shape[rank - 2];
  for (int64_t o = 0; planes2x && o < y.shape[rank - 2]; ++o) planes2x = maps[rank - 2][o] == (o / 2) * inStride[rank - 2];
  for (int i = 0; planes2x && i < rank - 2; ++i) planes2x = y.shape[i] == x.shape[i];
  for (int i = 0; planes2x && i < rank - 2; ++i)
    for (int64_t o = 0; planes2x && o < y.shape[i]; ++o) planes2x = maps[i][o] == o * inStride[i];
  if (planes2x) {
    const int64_t h = x.shape[rank - 2], w = x.shape[rank - 1], planes = x.size() / (h * w);
    auto planeRange = [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t iy = 0; iy < h; ++iy) {
          float* out = py + (p * 2 * h + 2 * iy) * inner;
          gatherRow(px + (p * h + iy) * w, out);
          std::copy(out, out + inner, out + inner);
        }
    };
    cpu::mobileParallelRanges(planes, planes > 1 && y.size() > 32768 ? ctx.threads : 1, 4, planeRange);
    return;
  }
  // Chunks of whole rows; a row reading the same source row as the one before it (upscaling along the
  // second-last axis) is a copy of that output row. Small tensors stay on one thread: the pool's
  // hand-off costs more than they do (mobile_pool.h).
  const int64_t rowsPerChunk = std::max<int64_t>((rows >> 19) + 1, 16384 / inner);  // (the pool takes < 2^20 chunks)
  const int64_t chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
  auto chunk = [&](int64_t k) {
    const int64_t r0 = k * rowsPerChunk, r1 = std::min(rows, r0 + rowsPerChunk);
    int64_t prev = -1;
    for (int64_t r = r0; r < r1; ++r) {
      float* out = py + r * inner;
      int64_t src = 0;
      for (int64_t i = rank - 2, rem = r; i >= 0; --i) {
        src += maps[i][rem % y.shape[i]];
        rem /= y.shape[i];
      }
      if (src == prev) std::copy(out - inner, out, out);
      else gatherRow(px + src, out);
      prev = src;
    }
  };
  cpu::mobileParallelFor(chunks, rows * inner > 32768 ? ctx.threads : 1, chunk);
}

}  // namespace

void registerCpuResizeKernels() { registerKernel(OpKind::Resize, Device::CPU, resizeKernel); }

}  // namespace facestyle
