// Mobile-layer fast paths (see conv_mobile.h). None yet: conv.cc's general paths run.
#include "cpu/conv_mobile.h"

namespace facestyle::cpu {

bool conv2dPointwiseFast(const ConvGeometry&, const float*, const float*, const float*, float*, int, const ConvActivation&) { return false; }

bool conv2dDepthwiseFast(const ConvGeometry&, const float*, const float*, const float*, float*, int, const ConvActivation&) { return false; }

}  // namespace facestyle::cpu
