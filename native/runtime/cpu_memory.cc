#include <cstdlib>
#include <cstring>

#include "runtime/device_memory.h"

namespace facestyle {

namespace {

class CpuMemory final : public DeviceMemory {
 public:
  Device device() const override { return Device::CPU; }
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0 || !p)
      throw Error(ErrorCode::OutOfMemory, "Could not allocate " + std::to_string(bytes) + " bytes of host memory");
    return p;
  }
  void release(void* ptr) noexcept override { std::free(ptr); }
  void copyFromHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copyToHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copyOnDevice(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
};

}  // namespace

std::unique_ptr<DeviceMemory> makeCpuMemory() { return std::make_unique<CpuMemory>(); }

}  // namespace facestyle
