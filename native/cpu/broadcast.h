// Index walking shared by the elementwise, shape, reduce and gemm CPU kernels:
// - NumPy broadcasting: per-input strides (0 on broadcast axes), with adjacent axes merged so the
//   common cases (same shape, scalar, channel bias) become one or two long contiguous loops;
// - strided copies (Slice, Transpose, Concat pieces) over collapsed axes, in parallel row blocks;
// - arity checks every kernel of these families runs first, so a hand-made graph with a missing
//   input is an error, never a null dereference.
#pragma once
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/pool_for.h"
#include "facestyle/kernel.h"

namespace facestyle::cpu {

// Work below this many elements is not worth waking threads for.
constexpr int64_t kParallelMinElements = 1 << 15;

// Requires between minIn and maxIn inputs (the first minIn present) and exactly nOut outputs.
inline void requireArity(const KernelContext& ctx, size_t minIn, size_t maxIn, size_t nOut) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() >= minIn && ctx.inputs.size() <= maxIn,
              "expected " + (minIn == maxIn ? std::to_string(minIn) : std::to_string(minIn) + " to " + std::to_string(maxIn)) +
                  " inputs but received " + std::to_string(ctx.inputs.size()));
  // An omitted input has no data and an empty shape; an empty tensor may also have no data.
  for (size_t i = 0; i < minIn; ++i) {
    const Tensor& t = ctx.inputs[i];
    FACESTYLE_REQUIRE(ctx, t.data != nullptr || (!t.shape.empty() && shapeElements(t.shape) == 0),
                "input " + std::to_string(i) + " is required but missing");
  }
  FACESTYLE_REQUIRE(ctx, ctx.outputs.size() == nOut,
              "expected " + std::to_string(nOut) + " outputs but received " + std::to_string(ctx.outputs.size()));
}

// Normalises axis into [0, rank), or fails naming the node.
inline int normalizeAxis(const KernelContext& ctx, int64_t axis, int rank, const char* what = "axis") {
  int64_t a = axis < 0 ? axis + rank : axis;
  FACESTYLE_REQUIRE(ctx, a >= 0 && a < rank, std::string("expected ") + what + " in [" + std::to_string(-rank) + ", " +
                                      std::to_string(rank - 1) + "] but received " + std::to_string(axis));
  return static_cast<int>(a);
}

// Row-major strides of a shape.
inline std::vector<int64_t> contiguousStrides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

// Strides of `shape` aligned to the right of an output of rank `rank`; broadcast axes get 0.
inline std::vector<int64_t> broadcastStrides(const Shape& shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    size_t axis = shape.size() - 1 - i;
    size_t out = rank - 1 - i;
    strides[out] = shape[axis] == 1 ? 0 : stride;
    stride *= shape[axis];
  }
  return strides;
}

// An output walk with any number of input stride sets, after dropping size-1 axes and merging
// neighbours that every input walks contiguously. Never empty: a scalar becomes one axis of 1.
struct StridedWalk {
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // per input, per axis
};

inline StridedWalk collapseWalk(const Shape& out, const std::vector<std::vector<int64_t>>& strides) {
  StridedWalk w;
  w.strides.resize(strides.size());
  for (size_t axis = 0; axis < out.size(); ++axis) {
    if (out[axis] == 1) continue;
    bool merge = !w.dims.empty();
    for (size_t t = 0; merge && t < strides.size(); ++t)
      merge = w.strides[t].back() == strides[t][axis] * out[axis];
    if (merge) {
      w.dims.back() *= out[axis];
      for (size_t t = 0; t < strides.size(); ++t) w.strides[t].back() = strides[t][axis];
    } else {
      w.dims.push_back(out[axis]);
      for (size_t t = 0; t < strides.size(); ++t) w.strides[t].push_back(strides[t][axis]);
    }
  }
  if (w.dims.empty()) {
    w.dims.push_back(1);
    for (auto& s : w.strides) s.push_back(0);
  }
  return w;
}

// Calls row(outOffset, offsets[], innerLength) for every innermost row of the walk; rows are split
// into contiguous blocks across threads, each block starting its odometer once.
template <size_t N, typename RowFn>
void forEachRow(const StridedWalk& w, int threads, RowFn row) {
  const int rank = static_cast<int>(w.dims.size());
  const int64_t inner = w.dims[rank - 1];
  int64_t rows = 1;
  for (int i = 0; i < rank - 1; ++i) rows *= w.dims[i];
  if (rows == 0 || inner == 0) return;
  const bool parallel = rows * inner >= kParallelMinElements && threads > 1;
  if (parallel && rows < 2 * threads) {
    // Few long rows (a same-shape op is one row): split the rows themselves into chunks.
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>((inner + 4095) / 4096, 4 * threads));
    const int64_t len = (inner + chunks - 1) / chunks;
    poolFor(rows * chunks, threads, true, [&](int64_t job) {
      const int64_t c0 = (job % chunks) * len;
      if (c0 >= inner) return;
      int64_t off[N] = {};
      int64_t r = job / chunks;
      for (int axis = rank - 2; axis >= 0; --axis) {
        const int64_t i = r % w.dims[axis];
        r /= w.dims[axis];
        for (size_t t = 0; t < N; ++t) off[t] += i * w.strides[t][axis];
      }
      for (size_t t = 0; t < N; ++t) off[t] += c0 * w.strides[t][rank - 1];
      row((job / chunks) * inner + c0, off, std::min(len, inner - c0));
    });
    return;
  }
  // Rows [begin, end), one odometer.
  auto walk = [&](int64_t begin, int64_t end) {
    if (begin >= end) return;
    std::vector<int64_t> idx(rank, 0);
    int64_t off[N] = {};
    int64_t r = begin;
    for (int axis = rank - 2; axis >= 0; --axis) {
      idx[axis] = r % w.dims[axis];
      r /= w.dims[axis];
      for (size_t t = 0; t < N; ++t) off[t] += idx[axis] * w.strides[t][axis];
    }
    for (int64_t rr = begin; rr < end; ++rr) {
      row(rr * inner, off, inner);
      for (int axis = rank - 2; axis >= 0; --axis) {
        for (size_t t = 0; t < N; ++t) off[t] += w.strides[t][axis];
        if (++idx[axis] < w.dims[axis]) break;
        for (size_t t = 0; t < N; ++t) off[t] -= w.strides[t][axis] * w.dims[axis];
        idx[axis] = 0;
      }
    }
  };
  // One contiguous block per thread (cpu/pool_for.h); a plain loop when serial.
  if (!parallel) return walk(0, rows);
  poolFor(threads, threads, true, [&](int64_t t) { walk(rows * t / threads, rows * (t + 1) / threads); });
}

// Calls fn(outIndex, aIndex, bIndex) for every output element, in order, on one thread (for
// kernels that need a plain broadcast walk; the elementwise kernels use forEachRow instead).
template <typename Fn>
void forEachBroadcast2(const Shape& out, const Shape& a, const Shape& b, Fn fn) {
  if (shapeElements(out) == 0) return;
  StridedWalk w = collapseWalk(out, {broadcastStrides(a, out.size()), broadcastStrides(b, out.size())});
  const int64_t ea = w.strides[0].back(), eb = w.strides[1].back();
  forEachRow<2>(w, 1, [&](int64_t o, const int64_t* off, int64_t n) {
    for (int64_t k = 0; k < n; ++k) fn(o + k, off[0] + k * ea, off[1] + k * eb);
  });
}

// out (dense, shape `outShape`) [i] = in[base + sum(index_k * inStrides_k)]: Slice, Transpose.
// Contiguous inner rows are memcpy'd; a last-two-axes swap is copied in cache-sized tiles.
inline void stridedCopy(float* out, const Shape& outShape, const float* in, int64_t base, const std::vector<int64_t>& inStrides,
                        int threads) {
  if (shapeElements(outShape) == 0) return;
  StridedWalk w = collapseWalk(outShape, {inStrides});
  const int rank = static_cast<int>(w.dims.size());
  const std::vector<int64_t>& s = w.strides[0];
  if (rank >= 2 && s[rank - 1] != 1 && s[rank - 2] == 1) {
    // Batched 2-D transpose: walk both output axes in 32x32 tiles so neither side thrashes.
    const int64_t R = w.dims[rank - 2], C = w.dims[rank - 1], cs = s[rank - 1];
    StridedWalk outer;
    outer.dims.assign(w.dims.begin(), w.dims.end() - 2);
    outer.dims.push_back(1);
    outer.strides = {std::vector<int64_t>(s.begin(), s.end() - 2)};
    outer.strides[0].push_back(0);
    forEachRow<1>(outer, threads, [&](int64_t o, const int64_t* off, int64_t) {
      float* dst = out + o * R * C;
      const float* src = in + base + off[0];
      // Bands of 32 rows (or, with fewer rows than that, of 256 columns: NHWC -> NCHW with 16 channels
      // has 16 rows of 65536) split between the threads.
      constexpr int64_t T = 32;
      const bool byRows = R >= T;
      const int64_t band = byRows ? T : 8 * T, bands = byRows ? (R + T - 1) / T : (C + band - 1) / band;
      poolFor(bands, threads, R * C >= kParallelMinElements, [&](int64_t b) {
        const int64_t i0 = byRows ? b * T : 0, i1 = byRows ? std::min(R, i0 + T) : R;
        const int64_t jb0 = byRows ? 0 : b * band, jb1 = byRows ? C : std::min(C, jb0 + band);
        for (int64_t j0 = jb0; j0 < jb1; j0 += T) {
          const int64_t j1 = std::min(jb1, j0 + T);
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j) dst[i * C + j] = src[i + j * cs];
        }
      });
    });
    return;
  }
  forEachRow<1>(w, threads, [&](int64_t o, const int64_t* off, int64_t n) {
    const float* src = in + base + off[0];
    const int64_t st = s[rank - 1];
    if (st == 1) std::memcpy(out + o, src, static_cast<size_t>(n) * sizeof(float));
    else
      for (int64_t i = 0; i < n; ++i) out[o + i] = src[i * st];
  });
}

}  // namespace facestyle::cpu
