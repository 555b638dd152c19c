// One thread that runs every compile and run of the process, one after another.
//
// Why: Node hands async work to whichever libuv pool thread is free, and OpenMP keeps a separate
// thread team per calling thread. Runs hopping between pool threads therefore woke a different team
// each time (cold caches, wake-up latency) while the previous team was still spinning on the same
// cores: inside a session a conv took 1.5-3x its standalone time on 2 cores. With every kernel launched
// from this one thread there is one OpenMP team, kept warm, and runs never compete for the cores.
// The pool thread that queued a task waits for it, so N-API's async machinery (completion on the main
// thread, error reporting) is unchanged.
#pragma once
#include <functional>

namespace facestyle {

// Runs fn on the compute thread and waits for it; an exception thrown by fn is rethrown here.
// Calls from the compute thread itself run fn directly (no deadlock). FACESTYLE_COMPUTE_THREAD=0 in the
// environment turns the thread off: fn then runs on the caller's thread.
void runOnComputeThread(const std::function<void()>& fn);

// Queues fn on the compute thread and returns at once (fn must not throw; it runs after the tasks
// queued before it). The addon's runs and compiles come this way, without a libuv pool thread that
// would only wait (napi/compute_task.h). With FACESTYLE_COMPUTE_THREAD=0, fn runs on a new thread.
void postToComputeThread(std::function<void()> fn);

}  // namespace facestyle
