// The warp-per-output reduction of reduce.cu, shared with ReduceSumTo (elementwise_backward.cu).
#pragma once
#include <vector>

#include "facestyle/kernel.h"

namespace facestyle::cuda {

enum ReduceKind { kSum = 0, kMean = 1, kMax = 2 };

// y[o] = reduce over r of x[kept(o) + reduced(r)]: output o walks keptDims (row-major) with
// keptStrides into x, r walks reducedDims with reducedStrides. An empty reduction gives 0 (sum),
// NaN (mean) or -inf (max).
void launchReduce(const KernelContext& ctx, int kind, const float* x, float* y, const Shape& keptDims, const std::vector<int64_t>& keptStrides,
                  const Shape& reducedDims, const std::vector<int64_t>& reducedStrides);

}  // namespace facestyle::cuda
