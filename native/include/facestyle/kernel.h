// The kernel interface and the kernel table (OpKind x Device). One CPU kernel per op is the
// readable reference; fast paths are chosen inside it (see native/cpu). CUDA kernels register the
// same OpKind for Device::CUDA from native/cuda.
#pragma once
#include <vector>

#include "facestyle/plan.h"
#include "facestyle/tensor.h"

namespace facestyle {

struct KernelContext {
  const NodeDesc& node;
  std::vector<Tensor> inputs;   // an omitted optional input has data == nullptr and empty shape
  std::vector<Tensor> outputs;  // already allocated with the planned shapes
  int threads = 1;              // CPU threads this call may use
  void* stream = nullptr;       // cudaStream_t on Device::CUDA

  const Tensor& in(size_t i) const { return inputs.at(i); }
  Tensor& out(size_t i) { return outputs.at(i); }
  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i].data != nullptr; }
  const Attrs& attrs() const { return node.attrs; }
  // Throws a shape error naming this node.
  [[noreturn]] void fail(const std::string& message) const;
};

// Checks a condition and reports a shape error naming the node of `ctx`. A macro so that the message
// (usually built from shapes and numbers) is only put together when the check fails: kernels check
// their shapes on every run, and building those strings eagerly cost about a third of the per-node
// overhead of a run (a 200-node chain of 4-float ops).
#define FACESTYLE_REQUIRE(ctx, condition, ...)   \
  do {                                           \
    if (!(condition)) (ctx).fail(__VA_ARGS__);   \
  } while (0)

using KernelFn = void (*)(KernelContext& ctx);

void registerKernel(OpKind op, Device device, KernelFn fn);
// nullptr when no kernel is registered for that op on that device.
KernelFn findKernel(OpKind op, Device device);
// Registers every compiled-in kernel once; safe to call many times from any thread.
void ensureKernelsRegistered();

}  // namespace facestyle
