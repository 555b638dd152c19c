// The caching device allocator (see memory_pool.cuh).
#include "cuda/common.cuh"
#include "cuda/memory_pool.cuh"

namespace facestyle::cuda {

size_t MemoryPool::roundUp(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  if (bytes == 0) bytes = 1;
  const size_t g = bytes < kSmallLimit ? kSmall : kLarge;
  return (bytes + g - 1) / g * g;
}

void* MemoryPool::allocate(size_t bytes) {
  const size_t size = roundUp(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first <= 2 * size) {
    void* p = it->second;
    const size_t got = it->first;
    free_.erase(it);
    stats_.cachedBytes -= got;
    inUse_[p] = got;
    stats_.inUseBytes += got;
    if (stats_.inUseBytes > stats_.peakInUseBytes) stats_.peakInUseBytes = stats_.inUseBytes;
    ++stats_.reuseCount;
    return p;
  }
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, size);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it, give the cache back and try once more
    trimLocked();
    status = cudaMalloc(&p, size);
  }
  if (status != cudaSuccess) {
    if (status == cudaErrorMemoryAllocation) cudaGetLastError();
    size_t freeBytes = 0, totalBytes = 0;
    std::string detail;
    if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess)
      detail = " (" + std::to_string(freeBytes >> 20) + " MiB free of " + std::to_string(totalBytes >> 20) + " MiB)";
    else
      cudaGetLastError();
    throwCudaError(status, ("Could not allocate " + std::to_string(bytes) + " bytes of GPU memory" + detail).c_str());
  }
  ++stats_.mallocCalls;
  inUse_[p] = size;
  stats_.inUseBytes += size;
  if (stats_.inUseBytes > stats_.peakInUseBytes) stats_.peakInUseBytes = stats_.inUseBytes;
  return p;
}

void MemoryPool::release(void* ptr) noexcept {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = inUse_.find(ptr);
  if (it == inUse_.end()) return;
  const size_t size = it->second;
  inUse_.erase(it);
  stats_.inUseBytes -= size;
  try {
    free_.emplace(size, ptr);
    stats_.cachedBytes += size;
  } catch (...) {
    cudaFree(ptr);  // no host memory to remember it: give it straight back
  }
}

void MemoryPool::trimLocked() noexcept {
  for (auto& [size, p] : free_) cudaFree(p);
  free_.clear();
  stats_.cachedBytes = 0;
}

void MemoryPool::trim() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  trimLocked();
}

PoolStats MemoryPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

MemoryPool& MemoryPool::instance() {
  // Never destroyed: at process exit the driver reclaims device memory, and freeing from a static
  // destructor after the CUDA runtime has shut down would fail.
  static MemoryPool* pool = new MemoryPool();
  return *pool;
}

}  // namespace facestyle::cuda
