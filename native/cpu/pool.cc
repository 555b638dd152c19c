// CPU kernels: see runtime/register_kernels.h for the ops of this family.
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

void registerCpuPoolKernels() {}

}  // namespace facestyle
