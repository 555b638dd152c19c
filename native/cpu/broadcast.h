// NumPy broadcasting for CPU kernels: output shape and per-input strides (0 on broadcast axes).
#pragma once
#include <vector>

#include "facestyle/kernel.h"

namespace facestyle::cpu {

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

// Calls fn(outIndex, aIndex, bIndex) for every output element, walking the output in order.
template <typename Fn>
void forEachBroadcast2(const Shape& out, const Shape& a, const Shape& b, Fn fn) {
  const size_t rank = out.size();
  std::vector<int64_t> sa = broadcastStrides(a, rank), sb = broadcastStrides(b, rank);
  int64_t total = shapeElements(out);
  if (total == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t ia = 0, ib = 0;
  // Innermost axis as a tight loop; outer axes as an odometer.
  const int64_t inner = rank ? out[rank - 1] : 1;
  const int64_t ea = rank ? sa[rank - 1] : 0, eb = rank ? sb[rank - 1] : 0;
  for (int64_t o = 0; o < total; o += inner) {
    for (int64_t k = 0; k < inner; ++k) fn(o + k, ia + k * ea, ib + k * eb);
    for (int axis = static_cast<int>(rank) - 2; axis >= 0; --axis) {
      ++idx[axis];
      ia += sa[axis];
      ib += sb[axis];
      if (idx[axis] < out[axis]) break;
      ia -= sa[axis] * out[axis];
      ib -= sb[axis] * out[axis];
      idx[axis] = 0;
    }
  }
}

}  // namespace facestyle::cpu
