// A small thread pool for the mobile-layer kernels (conv_mobile.h): layers of 10-100 us, dozens per run.
//
// Why not OpenMP here: a parallel region ends at a barrier that waits for every thread of the team.
// With passive waiting (the default, lib/native.ts) each region first wakes a sleeping worker, and
// the master then waits at the barrier for it to be scheduled, run, and arrive, even when it came too
// late to do any of the work; on a busy machine that wait is a time slice. Spinning workers avoid the
// wake-up but, measured on the shared 2-core machine, stalled runs by 20-280 ms whenever anything
// else ran (GOMP_SPINCOUNT 2000 to 200000).
//
// Here the calling thread never waits for a worker that has not started: the work is a counter of
// chunks that the caller and any worker that is awake claim one at a time, the caller from the first
// chunk up, workers from the last one down (so each thread's part of a layer is contiguous). The caller posts the job
// (one futex wake when a worker sleeps), runs chunks itself, and at the end waits only for chunks a
// worker has actually claimed (spinning briefly, then asleep: a preempted worker costs no CPU). A
// worker that wakes after the caller took the last chunk finds nothing and goes back to sleep;
// between jobs it polls for at most 400 us (yielding the core; kPollTime in mobile_pool.cc), then sleeps.
#pragma once
#include <algorithm>
#include <cstdint>

namespace facestyle::cpu {

// Runs fn(ctx, k) for every k in [0, chunks), each exactly once, on the calling thread and up to
// threads - 1 helper threads. The calling thread runs a prefix [0, j) of the chunks in order, the
// helpers the rest. Returns when all have finished. An exception thrown by fn stops chunks
// not yet started and is rethrown here (the first one). A call made while another call is running
// (another session's thread, or from inside fn) runs its chunks on its own thread, in order.
// chunks must be below 2^20.
void mobileParallel(int64_t chunks, int threads, void (*fn)(void*, int64_t), void* ctx);

// Starts the pool's helper threads for jobs of `threads` threads now, before a run needs them; returns how
// many helpers there are (at most threads - 1; fewer when the process cannot create more threads).
int mobilePoolPrepare(int threads);

template <typename Body>
void mobileParallelFor(int64_t chunks, int threads, Body& body) {
  mobileParallel(chunks, threads, [](void* c, int64_t k) { (*static_cast<Body*>(c))(k); }, &body);
}

// Runs body(begin, end) over [0, n) split into min(n, threads * perThread) contiguous ranges of about
// equal size, each claimed as one chunk of mobileParallel: several per thread, so a helper that wakes
// late takes fewer ranges instead of holding the caller up.
template <typename Body>
void mobileParallelRanges(int64_t n, int threads, int64_t perThread, Body body) {
  if (n <= 0) return;
  const int64_t chunks = std::min<int64_t>(n, int64_t(threads < 1 ? 1 : threads) * perThread);
  auto chunk = [&](int64_t k) { body(n * k / chunks, n * (k + 1) / chunks); };
  mobileParallelFor(chunks, threads, chunk);
}

}  // namespace facestyle::cpu
