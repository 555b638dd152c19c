// A parallel loop for the light kernels (elementwise ops, copies, pools, pads) on the mobile pool
// (cpu/mobile_pool.h), split only when it is worth it.
//
// Why not `#pragma omp parallel for`: with the passive wait policy the addon sets (lib/native.ts), each
// region first wakes a sleeping OpenMP thread (a futex wake, then a wait for it to be scheduled): an Add
// of two 1x64x40x40 tensors took 46 us at 2 threads against 12 us on one (YuNet's FPN adds; the
// per-node profile of yunet_n_640 at 2 threads had its two Adds and a Transpose 60 us slower than at
// one). The pool's workers poll between jobs while a model runs, and the caller never waits for one that
// has not started. And `omp parallel ... if (false)` still sets up a team in libgomp (about 0.4 us), so
// the serial case is a plain loop.
#pragma once
#include <cstdint>

#include "cpu/mobile_pool.h"

namespace facestyle::cpu {

// body(i) for i in [0, n): in contiguous ranges on up to `threads` threads of the mobile pool when
// `parallel` and there is more than one thread and one iteration, else a plain loop on the calling
// thread. An exception from body is rethrown here.
template <typename Body>
inline void poolFor(int64_t n, int threads, bool parallel, const Body& body) {
  if (!parallel || threads < 2 || n < 2) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  mobileParallelRanges(n, threads, 4, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

}  // namespace facestyle::cpu
