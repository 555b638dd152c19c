// Depthwise conv built with the avx512 flags (see conv_fast_depthwise.h): the same loops, vectorised wider.
#include "cpu/conv_fast.h"

#define FACESTYLE_DW_VECTOR_BYTES 64
#include "cpu/conv_fast_depthwise.h"

namespace facestyle::cpu {

void depthwiseConv2dAvx512(const DepthwiseShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  depthwiseAll(s, x, w, bias, y, threads);
}

}  // namespace facestyle::cpu
