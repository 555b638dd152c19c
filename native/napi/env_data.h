// What the addon keeps per Node environment: the main thread and every worker_thread that loads the
// addon are separate environments, and a JS object or function of one must never be used from another
// (V8 aborts the process: "Entering the V8 API without proper locking in place"). N-API gives an addon
// one instance-data slot per environment, so all of it lives in this one struct, made on first use and
// deleted with its environment.
#pragma once
#include <napi.h>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace facestyle::napi {

// ComputeTask's way back to this environment's JS thread (compute_task.cc), shared with the tasks in
// flight. A worker_thread can end (worker.terminate()) while the compute thread still runs one of its
// tasks:
// - its thread-safe function is then finalized with the environment, and calling it afterwards would
//   touch freed memory: the finalizer clears `open` under the mutex, and the compute thread calls only
//   while it holds the mutex and `open` is set;
// - the task reads its feeds and writes its outputs in place, in the worker's ArrayBuffers: the
//   environment's cleanup hook waits (on `idle`) until none of its tasks is queued or running
//   (`working`), so they are done with that memory before the environment frees it.
struct ComputeChannel {
  std::mutex mutex;
  bool open = false;
  Napi::ThreadSafeFunction tsfn;
  std::condition_variable idle;
  int working = 0;
};

struct EnvData {
  // NativeSession's class (addon.cc), to construct sessions in this environment.
  Napi::FunctionReference sessionConstructor;
  // Made on the first task, referenced only while tasks are in flight (computeInFlight, JS thread only).
  std::shared_ptr<ComputeChannel> computeDone;
  int computeInFlight = 0;
  // The temp outputs to remove if this environment goes away (napi/teardown.cc; owned by its cleanup hook).
  void* teardown = nullptr;
};

// This environment's data; made (empty) the first time. On the environment's JS thread only.
EnvData& envData(Napi::Env env);

}  // namespace facestyle::napi
