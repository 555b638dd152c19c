// The mobile-layer thread pool (see mobile_pool.h).
//
// One atomic word describes the current job and hands out its chunks: fetch_add(1) on it claims the
// next chunk index and, in the same read, says how many chunks that job has, how many helpers it wants
// and which of the two job slots holds its function. A claim whose index is below the job's chunk count
// is valid, and then the job cannot finish (nor its slot be reused) before that chunk is done, so the
// claimer may read the slot without further synchronisation. A claim past the end is simply dropped.
#include "cpu/mobile_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace facestyle::cpu {

namespace {

// The state word: bits [0, 21) chunks claimed from the front (by the caller), [21, 42) chunks claimed
// from the back (by the workers), [42, 63) chunk count, bit 63 the job's slot. A claim is valid when
// front + back, before it, is below the count: the caller's chunk is `front`, a worker's chunk
// count - 1 - `back`. Each counter can run past the count by one failed claim per thread; counts stay
// at most kMaxChunks = 2^20, so 21 bits hold every field. (How many workers a job wants is in helpersWanted_.)
//
// Why from two ends: with one counter the caller and a worker took alternate chunks, so each one's part
// of a layer was spread over the whole tensor and the next layer read half of its input from the other
// core. From two ends the caller takes the first part of every layer and the worker the last, in about
// the same proportion layer after layer (chunks of equal cost, conv_mobile_common.h), so a chain of
// pointwise layers (split by columns) mostly reads what its own core wrote. Measured at 2 threads (models
// alone, 8 interleaved rounds, medians): YuNet-n 320 883 -> 862 us, PFLD 770 -> 764, YuNet-s 320 / 640
// level; 20 pointwise layers 128 -> 256 -> 128 at 14x14 (C++ harness, the machine in its slower state)
// 788 -> 724 us.
constexpr int kBackShift = 21, kChunksShift = 42, kSlotShift = 63;
constexpr uint64_t kFrontMask = (uint64_t(1) << kBackShift) - 1;
constexpr uint64_t kBackMask = (uint64_t(1) << (kChunksShift - kBackShift)) - 1;
constexpr uint64_t kChunksMask = (uint64_t(1) << (kSlotShift - kChunksShift)) - 1;
constexpr uint64_t kBackOne = uint64_t(1) << kBackShift;
constexpr int64_t kMaxChunks = int64_t(1) << 20;
constexpr int kMaxHelpers = 63;
// How long a worker polls (yielding) for the next job before it sleeps: long enough to catch the next
// layer of a running model (a few microseconds apart), far too short to hold a core that someone else
// needs. A/B at 2 threads on the shared machine (YuNet n/s 320, YuNet-s 256, PFLD; two rounds each):
// with 20 us the pool beat the OpenMP build on every model in both rounds, without polling in one.
// Once the conv kernels ran on the pool too, runs of small layers on the calling thread alone (below
// kMinParallelNs) outlasted 20 us and the helper was asleep at the next parallel layer: native-only
// runs at 2 threads, 30 runs each, two rounds, quiet machine: YuNet-s 320 1.18 / 1.35 ms at 20 us,
// 1.11 / 1.07 at 100 us, 1.03 / 1.04 at 400 us; PFLD 1.10 / 1.08, 1.18 / 1.46, 1.07 / 1.04. A helper
// so burns at most 0.4 ms of yielding after the last layer of a run.
constexpr auto kPollTime = std::chrono::microseconds(400);

inline void relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#endif
}

using Fn = void (*)(void*, int64_t);

struct Job {
  Fn fn = nullptr;
  void* ctx = nullptr;
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> callerSleeps{false};  // the caller waits in Pool::doneWake_ for the last chunk
  std::mutex errorMutex;
  std::exception_ptr error;

  // Returns whether this chunk was the job's last to finish.
  bool runChunk(int64_t k, int64_t chunks) {
    if (!failed.load(std::memory_order_relaxed)) {
      try {
        fn(ctx, k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
    // Publishes the chunk's writes to the caller (seq_cst: see Pool::run's wait).
    return done.fetch_add(1, std::memory_order_seq_cst) + 1 == chunks;
  }
};

class Pool {
 public:
  void run(int64_t chunks, int threads, Fn fn, void* ctx) {
    // One caller at a time owns the pool (an atomic flag, not a mutex: a chunk running on the owner may
    // call in again, and that call must simply find the pool busy).
    bool idle = false;
    const bool owner = threads > 1 && chunks > 1 && chunks <= kMaxChunks && busy_.compare_exchange_strong(idle, true, std::memory_order_acquire);
    struct Release {
      std::atomic<bool>* flag;
      ~Release() {
        if (flag) flag->store(false, std::memory_order_release);
      }
    } release{owner ? &busy_ : nullptr};
    const int helpers = owner ? spawn(std::min(threads - 1, kMaxHelpers)) : 0;
    if (helpers < 1) {
      for (int64_t k = 0; k < chunks; ++k) fn(ctx, k);
      return;
    }
    const uint64_t epoch = ++epoch_;
    Job& job = slots_[epoch & 1];
    job.fn = fn, job.ctx = ctx, job.error = nullptr;
    job.done.store(0, std::memory_order_relaxed);
    job.failed.store(false, std::memory_order_relaxed);
    job.callerSleeps.store(false, std::memory_order_relaxed);
    helpersWanted_.store(helpers, std::memory_order_relaxed);  // published by the release store below
    state_.store((epoch & 1) << kSlotShift | uint64_t(chunks) << kChunksShift, std::memory_order_release);
    // Wake sleeping workers. The seq_cst store / load pairs with the worker's seq_cst increment / load
    // of the same two variables: either it sees this job before it sleeps, or this sees it sleeping.
    posted_.store(epoch, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(sleepMutex_); }  // it is inside wait() once this is free
      wake_.notify_all();
    }
    for (;;) {
      const uint64_t s = state_.fetch_add(1, std::memory_order_acq_rel);
      const int64_t k = static_cast<int64_t>(s & kFrontMask);
      if (k + static_cast<int64_t>(s >> kBackShift & kBackMask) >= chunks) break;
      job.runChunk(k, chunks);
    }
    // Every chunk is claimed; wait for the ones a worker is still running. That is short unless the
    // worker got preempted (a busy machine): then sleep until its last chunk is done rather than burn
    // the core. The seq_cst flag / counter pair works as in the wake-up above: either the worker sees
    // callerSleeps and notifies, or this sees the final count before waiting.
    for (int spins = 0; job.done.load(std::memory_order_acquire) < chunks; ++spins) {
      if (spins < 2000) {
        relax();
      } else if (spins < 2050) {
        std::this_thread::yield();
      } else {
        std::unique_lock<std::mutex> lock(doneMutex_);
        job.callerSleeps.store(true, std::memory_order_seq_cst);
        doneWake_.wait(lock, [&] { return job.done.load(std::memory_order_seq_cst) >= chunks; });
        break;
      }
    }
    if (job.failed.load(std::memory_order_relaxed)) std::rethrow_exception(job.error);
  }

  // Starts helpers for `threads` while no job runs; returns how many helpers there are, at most threads - 1.
  int prepare(int threads) {
    const int want = std::min(threads - 1, kMaxHelpers);
    if (want < 1) return 0;
    bool idle = false;
    if (!busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) return want;  // another caller's job: it started them
    const int helpers = spawn(want);
    busy_.store(false, std::memory_order_release);
    return helpers;
  }

 private:
  // Starts workers until there are `want` (called by the owner); returns how many can help, at most want.
  int spawn(int want) {
    while (workers_ < want) {
      try {
        std::thread([this, index = workers_] { work(index); }).detach();
      } catch (const std::exception&) {
        break;  // no more threads: work with the ones there are
      }
      ++workers_;
    }
    return std::min(workers_, want);
  }

  void work(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t p = posted_.load(std::memory_order_acquire);
      if (p == seen) {
        const auto until = std::chrono::steady_clock::now() + kPollTime;
        // yield(), not a busy loop: an OpenMP worker of the next layer may need this core.
        while (p == seen && std::chrono::steady_clock::now() < until) {
          std::this_thread::yield();
          p = posted_.load(std::memory_order_acquire);
        }
      }
      if (p == seen) {
        std::unique_lock<std::mutex> lock(sleepMutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return posted_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        p = posted_.load(std::memory_order_acquire);
      }
      seen = p;
      // Jobs that want fewer helpers than there are workers (a session with fewer threads) leave the
      // higher-numbered ones asleep.
      if (index >= helpersWanted_.load(std::memory_order_acquire)) continue;
      for (;;) {
        const uint64_t s = state_.fetch_add(kBackOne, std::memory_order_acq_rel);
        const int64_t back = static_cast<int64_t>(s >> kBackShift & kBackMask), chunks = static_cast<int64_t>(s >> kChunksShift & kChunksMask);
        if (static_cast<int64_t>(s & kFrontMask) + back >= chunks) break;
        const int64_t k = chunks - 1 - back;
        Job& job = slots_[(s >> kSlotShift) & 1];
        // After the last chunk the caller may already be on a later job using this slot: then this reads
        // that job's flag and at worst wakes nobody in particular (the wait rechecks its own count).
        if (job.runChunk(k, chunks) && job.callerSleeps.load(std::memory_order_seq_cst)) {
          { std::lock_guard<std::mutex> lock(doneMutex_); }  // the caller is inside wait() once this is free
          doneWake_.notify_all();
        }
      }
    }
  }

  std::atomic<bool> busy_{false};  // set by the caller of the running job
  uint64_t epoch_ = 0;
  int workers_ = 0;
  Job slots_[2];
  std::atomic<uint64_t> state_{0};  // chunks 0: nothing to claim until the first job
  std::atomic<uint64_t> posted_{0};
  std::atomic<int> helpersWanted_{0};  // workers with a lower index join the current job
  std::atomic<int> sleepers_{0};
  std::mutex sleepMutex_;
  std::condition_variable wake_;
  std::mutex doneMutex_;
  std::condition_variable doneWake_;
};

// Never destroyed: its workers are detached and sleep in wait() when the process exits.
Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

int mobilePoolPrepare(int threads) { return pool().prepare(threads); }

void mobileParallel(int64_t chunks, int threads, void (*fn)(void*, int64_t), void* ctx) {
  if (chunks <= 0) return;
  pool().run(chunks, threads, fn, ctx);
}

}  // namespace facestyle::cpu
