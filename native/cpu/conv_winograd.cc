// Winograd F(4x4, 3x3) Conv2D: the baseline build of conv_winograd.h and the run-time dispatch.
#include "cpu/conv_winograd.h"

#include <cstring>
#include <list>
#include <memory>
#include <atomic>
#include <mutex>

#include "facestyle/capabilities.h"

namespace facestyle::cpu {

namespace {

// Transformed weight blocks alive now: in the cache or held by a call (winogradLiveWeightBlocks).
std::atomic<int64_t> liveBlocks{0};

std::shared_ptr<std::vector<float>> newBlock(size_t floats) {
  auto* v = new std::vector<float>(floats);
  ++liveBlocks;
  return std::shared_ptr<std::vector<float>>(v, [](std::vector<float>* p) {
    --liveBlocks;
    delete p;
  });
}

// Transformed weights of recent calls. The transform costs about as much as the input transform (15%
// of a 96->96 layer at 32x32), and inference runs the same weights every time; but params can be
// rewritten between runs (writeParam, training steps), so an entry is reused only when the weights
// are byte for byte those it was made from (a kept copy compared with memcmp, several times cheaper
// than the transform). Equal bytes give an equal transform whatever buffer holds them, so a reused
// address can never return a wrong result. Thread-safe (sessions run on several threads); the least
// recently used entries are dropped past kBudget floats; a caller keeps its entry alive (shared_ptr)
// while it runs.
class WeightCache {
 public:
  using Block = std::shared_ptr<const std::vector<float>>;  // what callers hold

  Block get(const ConvGeometry& g, const float* w, int64_t mp, int threads, WinogradTransformFn transform) {
    const size_t rawN = static_cast<size_t>(g.m * g.c * 9);
    auto same = [&](const Entry& e) { return e.w == w && e.m == g.m && e.c == g.c && e.mp == mp && e.transform == transform; };
    std::list<Entry> mine;  // the entry being (re)made, outside the list while the lock is released
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (!same(*it)) continue;
        if (std::memcmp(it->raw.data(), w, rawN * sizeof(float)) == 0) {
          entries_.splice(entries_.begin(), entries_, it);  // most recently used first
          return it->u;
        }
        // Same buffer, new weights (a training step, writeParam): remake this entry in place, so that
        // a run of misses reuses its memory instead of allocating (and page-faulting) a fresh block
        // per call; unless a caller still holds its transform.
        if (it->u.use_count() == 1) mine.splice(mine.begin(), entries_, it);
        break;
      }
    }
    if (mine.empty()) mine.push_back(Entry{w, g.m, g.c, mp, transform, std::vector<float>(rawN), newBlock(static_cast<size_t>(36 * mp * g.c))});
    Entry& e = mine.front();
    std::memcpy(e.raw.data(), w, rawN * sizeof(float));
    transform(g, w, e.u->data(), mp, threads);
    Block u = e.u;
    std::lock_guard<std::mutex> lock(mu_);
    entries_.remove_if(same);  // another thread may have made one meanwhile
    entries_.splice(entries_.begin(), mine);
    size_t total = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      total += it->raw.size() + it->u->size();
      it = total > kBudget && it != entries_.begin() ? entries_.erase(it) : std::next(it);  // the newest always stays
    }
    return u;
  }

 private:
  static constexpr size_t kBudget = size_t(16) << 20;  // floats (64 MiB)
  struct Entry {
    const float* w;
    int64_t m, c, mp;
    WinogradTransformFn transform;  // one per ISA build (their layouts differ in Mp only, but keep them apart)
    std::vector<float> raw;
    std::shared_ptr<std::vector<float>> u;
  };
  std::mutex mu_;
  std::list<Entry> entries_;
};

WeightCache& weightCache() {
  static WeightCache* cache = new WeightCache;  // never destroyed: kernels may run during static destruction
  return *cache;
}

}  // namespace

const float* winogradWeightsAcquire(const ConvGeometry& g, const float* w, int64_t Mp, int threads, WinogradTransformFn transform,
                                    void** handle) {
  auto* block = new WeightCache::Block(weightCache().get(g, w, Mp, threads, transform));
  *handle = block;
  return (*block)->data();
}

void winogradWeightsRelease(void* handle) { delete static_cast<WeightCache::Block*>(handle); }

int64_t winogradLiveWeightBlocks() { return liveBlocks.load(); }

bool winogradApplies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 3 && g.kw == 3 && v.sh == 1 && v.sw == 1 && v.dh == 1 && v.dw == 1 && g.group == 1;
}

void conv2dWinogradScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation* act) {
  winogradConvAll(g, x, w, bias, y, threads, act);
}

void conv2dWinograd(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                    const ConvActivation* act) {
  switch (simdLevel()) {
#if defined(__x86_64__) || defined(_M_X64)
    case SimdLevel::Avx512: return conv2dWinogradAvx512(g, x, w, bias, y, threads, act);
    case SimdLevel::Avx2: return conv2dWinogradAvx2(g, x, w, bias, y, threads, act);
#endif
    default: return conv2dWinogradScalar(g, x, w, bias, y, threads, act);
  }
}

}  // namespace facestyle::cpu
