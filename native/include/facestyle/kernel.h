// The kernel interface and the kernel table (OpKind x Device). One CPU kernel per op is the
// readable reference; fast paths are chosen inside it (see native/cpu). CUDA kernels register the
// same OpKind for Device::CUDA from native/cuda.
#pragma once
#include <memory>
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
  // Kernel-private data derived from the node's attributes (e.g. parsed windows), made on the first
  // run and kept with the context: a session keeps one context per step for its lifetime, and a node's
  // attributes never change. Use kernelState() below; contexts made for one call start empty.
  std::shared_ptr<void> state;

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

// The context's kernel state as a T, made by make() (returning a T) on first use. One kernel per
// context, so the type is always the same; a throwing make() leaves the state empty.
template <typename T, typename Make>
const T& kernelState(KernelContext& ctx, Make make) {
  if (!ctx.state) ctx.state = std::make_shared<T>(make());
  return *static_cast<const T*>(ctx.state.get());
}

using KernelFn = void (*)(KernelContext& ctx);

void registerKernel(OpKind op, Device device, KernelFn fn);
// nullptr when no kernel is registered for that op on that device.
KernelFn findKernel(OpKind op, Device device);
// Registers every compiled-in kernel once; safe to call many times from any thread.
void ensureKernelsRegistered();

}  // namespace facestyle
