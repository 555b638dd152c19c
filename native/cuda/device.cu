// CUDA device discovery and device memory (a caching pool arrives with the CUDA backend issue).
#include <cuda_runtime.h>

#include "runtime/device_memory.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

void checkCuda(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  ErrorCode code = (status == cudaErrorMemoryAllocation) ? ErrorCode::OutOfMemory : ErrorCode::Cuda;
  throw Error(code, std::string(what) + ": " + cudaGetErrorString(status));
}

class CudaMemory final : public DeviceMemory {
 public:
  CudaMemory() { checkCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~CudaMemory() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  Device device() const override { return Device::CUDA; }
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, bytes ? bytes : 256);
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error so the context stays usable
      throw Error(status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Cuda,
                  "Could not allocate " + std::to_string(bytes) + " bytes of GPU memory: " + cudaGetErrorString(status));
    }
    return p;
  }
  void release(void* ptr) noexcept override { cudaFree(ptr); }
  void copyFromHost(void* dst, const void* src, size_t bytes) override {
    checkCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpy host to device");
  }
  void copyToHost(void* dst, const void* src, size_t bytes) override {
    checkCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpy device to host");
    checkCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void copyOnDevice(void* dst, const void* src, size_t bytes) override {
    checkCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpy device to device");
  }
  void synchronize() override { checkCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }
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
    info.error = cudaGetErrorString(status);
    cudaGetLastError();
    return info;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    CudaDeviceInfo dev;
    dev.name = prop.name;
    dev.totalMemory = prop.totalGlobalMem;
    dev.computeCapability = prop.major * 10 + prop.minor;
    size_t freeBytes = 0, totalBytes = 0;
    if (cudaSetDevice(d) == cudaSuccess && cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) dev.freeMemory = freeBytes;
    info.devices.push_back(dev);
  }
  if (count == 0) info.error = "no CUDA device found";
  return info;
}

std::unique_ptr<DeviceMemory> makeCudaMemory() {
  CudaInfo info = queryCuda();
  if (info.devices.empty()) throw Error(ErrorCode::Unsupported, "No CUDA device is available: " + info.error);
  return std::make_unique<CudaMemory>();
}

}  // namespace facestyle
