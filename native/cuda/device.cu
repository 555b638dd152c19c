// CUDA device discovery, CUDA errors as facestyle::Error, and the session's device memory
// (buffers from the caching pool in memory_pool.cu, one stream per session).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cuda/common.cuh"
#include "cuda/math_mode.cuh"
#include "cuda/memory_pool.cuh"
#include "runtime/device_memory.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace cuda {

namespace {

// Errors after which the CUDA context cannot be used again in this process.
bool isSticky(cudaError_t s) {
  switch (s) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

std::atomic<int> tf32Mode{-1};  // -1: not yet read from the environment

}  // namespace

void throwCudaError(cudaError_t status, const char* what) {
  const bool sticky = isSticky(status);
  if (!sticky) cudaGetLastError();  // clear a non-sticky error so later calls start clean
  std::string message = std::string(what) + ": " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
  if (sticky) message += "; the CUDA context is no longer usable: restart the process to use the GPU again";
  throw Error(status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Cuda, message);
}

int deviceComputeCapability() {
  static const int cc = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return major * 10 + minor;
  }();
  return cc;
}

void setTf32Enabled(bool enabled) { tf32Mode.store(enabled ? 1 : 0); }

bool tf32Enabled() {
  int mode = tf32Mode.load();
  if (mode < 0) {
    const char* env = std::getenv("FACESTYLE_CUDA_TF32");
    mode = (env && std::strcmp(env, "1") == 0) ? 1 : 0;
    tf32Mode.store(mode);
  }
  return mode == 1;
}

bool useTf32() { return tf32Enabled() && deviceComputeCapability() >= 80; }

}  // namespace cuda

namespace {

using cuda::check;

class CudaMemory final : public DeviceMemory {
 public:
  CudaMemory() {
    // Sessions run on device 0 (queryCuda leaves the caller's current device as it found it).
    check(cudaSetDevice(0), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~CudaMemory() override {
    if (stream_) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
      cudaGetLastError();
    }
  }
  Device device() const override { return Device::CUDA; }
  void* allocate(size_t bytes) override { return cuda::MemoryPool::instance().allocate(bytes); }
  void release(void* ptr) noexcept override {
    // Queued work on this stream may still read the block: let it finish before another session
    // (another stream) can be handed the same memory.
    if (stream_) cudaStreamSynchronize(stream_);
    cuda::MemoryPool::instance().release(ptr);
  }
  void copyFromHost(void* dst, const void* src, size_t bytes) override {
    // Pageable host memory: the copy has read `src` when the call returns, so the caller may free it.
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpy host to device");
  }
  void copyToHost(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpy device to host");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void copyOnDevice(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpy device to device");
  }
  void synchronize() override { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (a kernel failed)"); }
  void* stream() override { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace

CudaInfo queryCuda() {
  CudaInfo info;
  info.compiled = true;
  int version = 0;
  if (cudaRuntimeGetVersion(&version) == cudaSuccess)
    info.runtimeVersion = std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // No driver or no device: report it, never fail (the addon must load on CPU-only machines).
    info.error = cudaGetErrorString(status);
    cudaGetLastError();
    return info;
  }
  int previous = 0;
  const bool restore = cudaGetDevice(&previous) == cudaSuccess;
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    CudaDeviceInfo dev;
    dev.name = prop.name;
    dev.totalMemory = prop.totalGlobalMem;
    dev.computeCapability = prop.major * 10 + prop.minor;
    size_t freeBytes = 0, totalBytes = 0;
    if (cudaSetDevice(d) == cudaSuccess && cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) dev.freeMemory = freeBytes;
    else cudaGetLastError();
    info.devices.push_back(dev);
  }
  if (restore) cudaSetDevice(previous);
  if (count == 0) info.error = "no CUDA device found";
  return info;
}

std::unique_ptr<DeviceMemory> makeCudaMemory() {
  CudaInfo info = queryCuda();
  if (info.devices.empty()) throw Error(ErrorCode::Unsupported, "No CUDA device is available: " + info.error);
  return std::make_unique<CudaMemory>();
}

}  // namespace facestyle
