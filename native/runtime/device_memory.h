// Device memory behind one interface, so the executor is the same on CPU and CUDA.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "facestyle/tensor.h"

namespace facestyle {

class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual Device device() const = 0;
  // Throws Error(OutOfMemory) naming the size when the allocation fails.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr) noexcept = 0;
  virtual void copyFromHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyToHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyOnDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() {}
  virtual void* stream() { return nullptr; }
};

std::unique_ptr<DeviceMemory> makeCpuMemory();
// Throws Unsupported when CUDA is not compiled in or no device is present.
std::unique_ptr<DeviceMemory> makeCudaMemory();

struct CudaDeviceInfo {
  std::string name;
  size_t totalMemory = 0;
  size_t freeMemory = 0;
  int computeCapability = 0;  // major * 10 + minor
};

struct CudaInfo {
  bool compiled = false;
  std::string runtimeVersion;
  std::vector<CudaDeviceInfo> devices;
  std::string error;  // why no device is usable, when none is
};

CudaInfo queryCuda();

// An owning buffer on some device.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceMemory* memory, size_t bytes) : memory_(memory), bytes_(bytes) {
    ptr_ = bytes ? memory->allocate(bytes) : nullptr;
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      memory_ = o.memory_; ptr_ = o.ptr_; bytes_ = o.bytes_;
      o.ptr_ = nullptr; o.bytes_ = 0;
    }
    return *this;
  }
  void reset() noexcept {
    if (ptr_ && memory_) memory_->release(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  float* data() const { return static_cast<float*>(ptr_); }
  char* bytes() const { return static_cast<char*>(ptr_); }
  size_t size() const { return bytes_; }

 private:
  DeviceMemory* memory_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace facestyle
