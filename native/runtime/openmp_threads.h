// How many threads a graph run may ask OpenMP for, checked before libgomp has to create them.
//
// libgomp ends the whole process when it cannot create a thread for a parallel region (gomp_fatal:
// "Thread creation failed: Resource temporarily unavailable", exit code 1): a process at its thread or
// address-space limit (a container's pids limit, ulimit -u or -v, many Node workers each with its own
// team) would lose every user's work to one run. libgomp keeps a team's threads for the thread that
// started it, so the check is needed once per calling thread and team size: the first time a thread
// runs with `wanted` threads, this creates wanted - 1 short-lived threads of libgomp's stack size, all
// alive at once, and joins them. If some cannot be created, the run gets as many threads as could
// (down to 1: the serial kernels, which create none) instead of an exit. The conv pool's helpers
// (cpu/mobile_pool.h, which copes with a failed creation itself) are started before the probe, so that
// they cannot take the threads the probe found.
//
// Not a guarantee: the limit may be reached between the check and libgomp's own creation (another
// thread or process taking the last slot), and libgomp lets surplus threads go when a later region asks
// for a smaller team (2 < team < wanted, only at more than 2 threads) and creates them again for the next
// larger one. It covers the common case: a process that is already at its limit when a run starts.
#pragma once

namespace facestyle {

// The number of threads (1..wanted) a run on the calling thread can use. Probes at most once per calling
// thread for each larger `wanted`; otherwise returns at once.
int openmpThreadsAvailable(int wanted);

}  // namespace facestyle
