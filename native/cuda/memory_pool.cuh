// A caching allocator for device memory. cudaMalloc/cudaFree synchronise the device and cost
// milliseconds; sessions are compiled and disposed often (tests, a trainer's step graphs), so freed
// blocks are kept and handed out again. Blocks are reused when a free one is at least the request
// and at most twice it (bounded waste); when cudaMalloc fails, every cached block is returned to
// the driver and the allocation is tried once more before reporting OutOfMemory.
//
// The pool knows nothing about streams: whoever releases a block must make sure no queued work
// still uses it (CudaMemory synchronises its stream first).
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

namespace facestyle::cuda {

struct PoolStats {
  size_t inUseBytes = 0;      // handed out and not yet released
  size_t cachedBytes = 0;     // freed, kept for reuse
  size_t peakInUseBytes = 0;
  size_t mallocCalls = 0;     // cudaMalloc calls made (cache misses)
  size_t reuseCount = 0;      // allocations served from the cache
};

class MemoryPool {
 public:
  // Throws Error(OutOfMemory) naming the size, or Error(Cuda) for other failures.
  void* allocate(size_t bytes);
  // Returns a block to the cache. Unknown pointers are ignored (never freed twice).
  void release(void* ptr) noexcept;
  // Frees every cached block back to the driver.
  void trim() noexcept;
  PoolStats stats() const;

  // The process-wide pool of the current device (device 0: sessions run there).
  static MemoryPool& instance();

  // Rounding of a request: 512-byte granules below 1 MiB, 2 MiB granules above, so blocks of
  // similar sizes are interchangeable.
  static size_t roundUp(size_t bytes);

 private:
  void trimLocked() noexcept;

  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;         // size -> block
  std::unordered_map<void*, size_t> inUse_;   // block -> size
  PoolStats stats_;
};

}  // namespace facestyle::cuda
