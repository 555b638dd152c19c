#include "runtime/register_kernels.h"

namespace facestyle {

void registerCpuKernels() {
  registerCpuConvKernels();
  registerCpuPoolKernels();
  registerCpuResizeKernels();
  registerCpuPadKernels();
  registerCpuNormKernels();
  registerCpuElementwiseKernels();
  registerCpuShapeKernels();
  registerCpuReduceKernels();
  registerCpuGemmKernels();
  registerCpuWarpKernels();
}

}  // namespace facestyle
