// The kernel table: OpKind x Device -> KernelFn, filled once by each family's register function.
#include <mutex>

#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {
KernelFn table[kOpCount][kDeviceCount] = {};
}

void registerKernel(OpKind op, Device device, KernelFn fn) {
  table[static_cast<int>(op)][static_cast<int>(device)] = fn;
}

KernelFn findKernel(OpKind op, Device device) {
  ensureKernelsRegistered();
  return table[static_cast<int>(op)][static_cast<int>(device)];
}

void ensureKernelsRegistered() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerCpuKernels();
#ifdef FACESTYLE_WITH_CUDA
    registerCudaKernels();
#endif
  });
}

}  // namespace facestyle
