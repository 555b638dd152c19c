// The process-wide compute thread (see compute_thread.h).
#include "runtime/compute_thread.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace facestyle {

namespace {

class ComputeThread {
 public:
  // id_ is written before any caller can see the object (static initialisation is synchronised) and
  // only read afterwards; loop() does not touch it.
  ComputeThread() : thread_([this] { loop(); }) {
    id_ = thread_.get_id();
    thread_.detach();
  }

  void run(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == id_) return fn();
    std::packaged_task<void()> task(fn);
    std::future<void> done = task.get_future();
    enqueue(std::move(task));
    done.get();  // rethrows what fn threw
  }

  void post(std::function<void()> fn) { enqueue(std::packaged_task<void()>(std::move(fn))); }

 private:
  void enqueue(std::packaged_task<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
      queued_.fetch_add(1, std::memory_order_release);
    }
    ready_.notify_one();
  }

  void loop() {
    for (;;) {
      std::packaged_task<void()> task;
      {
        // Poll (yielding) before sleeping: the next run of a loop (video frames, a benchmark, a detector
        // per face) usually arrives within microseconds, and waking a sleeping thread on an idle core
        // costs 15-25 us here. A one-node graph on 4 floats, awaited run after run (median of 5 x 200, two
        // rounds): 62 -> 28-39 us at threads 1, 22 -> 18-19 us at threads 2 (there the conv pool's polling
        // helper already kept a core awake).
        const auto until = std::chrono::steady_clock::now() + kPollTime;
        while (queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
        queued_.fetch_sub(1, std::memory_order_relaxed);
      }
      task();  // a packaged_task stores fn's exception in its future instead of throwing
    }
  }

  // How long the thread polls for the next task after one ends (as the conv pool's helpers do).
  static constexpr auto kPollTime = std::chrono::microseconds(300);
  std::atomic<int> queued_{0};  // tasks in queue_, readable without the mutex
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> queue_;
  std::thread::id id_;
  std::thread thread_;
};

// Never destroyed: the thread is detached and sleeps in wait() when the process exits.
ComputeThread& computeThread() {
  static ComputeThread* instance = new ComputeThread();
  return *instance;
}

// FACESTYLE_COMPUTE_THREAD=0 runs each task on its caller's thread instead (the old behaviour; for
// comparisons and as an escape hatch).
bool computeThreadEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("FACESTYLE_COMPUTE_THREAD");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

}  // namespace

void runOnComputeThread(const std::function<void()>& fn) {
  if (!computeThreadEnabled()) return fn();
  computeThread().run(fn);
}

void postToComputeThread(std::function<void()> fn) {
  if (!computeThreadEnabled()) return std::thread(std::move(fn)).detach();
  computeThread().post(std::move(fn));
}

}  // namespace facestyle
