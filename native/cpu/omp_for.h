// A parallel loop that only enters OpenMP when it will really split the work.
//
// Why not `#pragma omp parallel for if (cond)`: libgomp sets up a team for the region even when its
// if clause is false (an allocation and the team bookkeeping, about 0.4 us). Kernels run that check
// on every node of every run; on a 200-node chain of 4-float Relu / Neg nodes it was most of the
// per-node overhead of a run (0.78 -> 0.09 us a node with the plain loop below).
#pragma once
#include <cstdint>

namespace facestyle::cpu {

// body(i) for i in [0, n): on `threads` OpenMP threads (static schedule) when `parallel` and there is
// more than one thread and one iteration, else a plain loop on the calling thread.
template <typename Body>
inline void ompFor(int64_t n, int threads, bool parallel, const Body& body) {
  if (!parallel || threads < 2 || n < 2) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace facestyle::cpu
