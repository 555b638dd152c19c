#include "runtime/register_kernels.h"

namespace facestyle {

void registerCpuKernels() {
  registerCpuConvKernels();
  registerCpuPointwiseDepthwiseKernel();
  registerCpuPoolKernels();
  registerCpuResizeKernels();
  registerCpuPadKernels();
  registerCpuNormKernels();
  registerCpuElementwiseKernels();
  registerCpuShapeKernels();
  registerCpuReduceKernels();
  registerCpuGemmKernels();
  registerCpuWarpKernels();
  registerCpuConvBackwardKernels();
  registerCpuElementwiseBackwardKernels();
  registerCpuResizeBackwardKernels();
  registerCpuOptimKernels();
  registerCpuLossKernels();
  registerCpuNormBackwardKernels();
  registerCpuPadBackwardKernels();
}

}  // namespace facestyle
