// Registers every CUDA kernel family (one per native/cuda/<family>.cu, as on the CPU).
#include "cuda/families.cuh"
#include "runtime/register_kernels.h"

namespace facestyle {

void registerCudaKernels() {
  registerCudaConvKernels();
  registerCudaPoolKernels();
  registerCudaResizeKernels();
  registerCudaPadKernels();
  registerCudaNormKernels();
  registerCudaElementwiseKernels();
  registerCudaShapeKernels();
  registerCudaReduceKernels();
  registerCudaGemmKernels();
  registerCudaWarpKernels();
  registerCudaConvBackwardKernels();
  registerCudaElementwiseBackwardKernels();
  registerCudaResizeBackwardKernels();
  registerCudaOptimKernels();
  registerCudaLossKernels();
  registerCudaPadBackwardKernels();
  registerCudaNormBackwardKernels();
}

}  // namespace facestyle
