// The thread check before OpenMP regions (see openmp_threads.h).
#include "runtime/openmp_threads.h"

#include "cpu/mobile_pool.h"

#include <cctype>
#include <cstdlib>
#include <vector>

#ifdef _OPENMP
#include <pthread.h>

#include <condition_variable>
#include <mutex>
#endif

namespace facestyle {

#ifdef _OPENMP
namespace {

// libgomp's worker stack size: OMP_STACKSIZE or GOMP_STACKSIZE ("512", "16M": a number and an optional
// B, K, M or G; K when none), else 0 (the pthread default, as libgomp uses then).
size_t openmpStackSize() {
  for (const char* name : {"OMP_STACKSIZE", "GOMP_STACKSIZE"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    while (*end == ' ') ++end;
    unsigned long long unit = 1024;
    switch (std::toupper(static_cast<unsigned char>(*end))) {
      case 'B': unit = 1; break;
      case 'K': unit = 1024; break;
      case 'M': unit = 1024ull * 1024; break;
      case 'G': unit = 1024ull * 1024 * 1024; break;
      default: break;
    }
    if (n > 0) return static_cast<size_t>(n * unit);
  }
  return 0;
}

// The probe threads wait here until every one of them exists, so that `wanted - 1` threads were alive at once.
struct Gate {
  std::mutex mutex;
  std::condition_variable opened;
  bool open = false;
};

void* waitAtGate(void* arg) {
  Gate* gate = static_cast<Gate*>(arg);
  std::unique_lock<std::mutex> lock(gate->mutex);
  gate->opened.wait(lock, [&] { return gate->open; });
  return nullptr;
}

// How many threads (0..count) could be created and alive at once right now.
int probeThreads(int count) {
  Gate gate;
  std::vector<pthread_t> started;
  try {
    started.reserve(static_cast<size_t>(count));
  } catch (...) {
    return 0;
  }
  pthread_attr_t attr;
  const bool haveAttr = pthread_attr_init(&attr) == 0;
  const size_t stack = openmpStackSize();
  if (haveAttr && stack) pthread_attr_setstacksize(&attr, stack);
  for (int i = 0; i < count; ++i) {
    pthread_t id;
    if (pthread_create(&id, haveAttr ? &attr : nullptr, waitAtGate, &gate) != 0) break;
    started.push_back(id);
  }
  if (haveAttr) pthread_attr_destroy(&attr);
  {
    std::lock_guard<std::mutex> lock(gate.mutex);
    gate.open = true;
  }
  gate.opened.notify_all();
  for (pthread_t id : started) pthread_join(id, nullptr);
  return static_cast<int>(started.size());
}

}  // namespace
#endif

int openmpThreadsAvailable(int wanted) {
#ifdef _OPENMP
  // The largest team this thread has been found able to start (libgomp then holds its threads).
  thread_local int verified = 1;
  if (wanted <= verified) return wanted < 1 ? 1 : wanted;
  // The conv pool's helpers first: they stay, so the probe must count what is left after them (the pool
  // itself copes with a thread it cannot create).
  cpu::mobilePoolPrepare(wanted);
  const int usable = 1 + probeThreads(wanted - 1);
  if (usable > verified) verified = usable;
  return usable;
#else
  return wanted < 1 ? 1 : wanted;
#endif
}

}  // namespace facestyle
