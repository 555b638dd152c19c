// Fast paths for the layers of mobile detectors and landmark models (YuNet, PFLD, RFB: 1x1
// pointwise and depthwise convs on small planes). conv2d() in native/cpu/conv.cc offers each such
// layer here first; a function returns false when it has no better path for that geometry, and
// conv.cc then runs its general one.
#pragma once
#include "cpu/conv_kernels.h"

namespace facestyle::cpu {

// 1x1, stride 1, no padding, any group count. Returns true when it wrote y.
bool conv2dPointwiseFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act);

// group == C == M. Returns true when it wrote y (activation applied).
bool conv2dDepthwiseFast(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                         const ConvActivation& act);

}  // namespace facestyle::cpu
