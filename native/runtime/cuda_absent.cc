// Linked when the build has no CUDA: every CUDA entry point says so clearly.
#include "runtime/device_memory.h"
#include "runtime/register_kernels.h"

namespace facestyle {

std::unique_ptr<DeviceMemory> makeCudaMemory() {
  throw Error(ErrorCode::Unsupported,
              "This build of facestyle has no CUDA support; rebuild with nvcc on the PATH (FACESTYLE_CUDA=ON)");
}

CudaInfo queryCuda() {
  CudaInfo info;
  info.compiled = false;
  info.error = "CUDA was not compiled in";
  return info;
}

void registerCudaKernels() {}

}  // namespace facestyle
