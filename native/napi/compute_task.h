// The async task behind compile() and run(): Work() on the compute thread (runtime/compute_thread.h),
// then the Promise settled on the JS thread, like CodedWorker but without a libuv pool thread in
// between. With Napi::AsyncWorker a run took four thread wake-ups (JS -> pool thread -> compute
// thread -> pool thread -> JS), each 10-20 us when the woken thread slept on an idle core; here it
// takes two (JS -> compute thread, which usually is still polling, -> JS). PFLD at 2 threads spent
// ~55 us of its ~0.85 ms run outside the graph (in Session::run 798 us, awaited 852 us).
//
// Completion goes through one thread-safe function per Node environment (napi/env_data.h: the main
// thread and each worker_thread), referenced only while a task is in flight (so an idle addon does not
// keep the process alive). Failures reject the Promise
// with an Error whose code is ERR_FACESTYLE_* (coded_worker.h's rules). Work() touches no JavaScript
// memory: a task copies what it reads before it is queued (RunWorker's feeds) and holds a reference to
// what it settles with.
#pragma once
#include <napi.h>

#include <string>

#include "napi/coded_worker.h"
#include "napi/env_data.h"

namespace facestyle::napi {

class ComputeTask {
 public:
  explicit ComputeTask(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)), env_(env) {}  // (declaration order)
  virtual ~ComputeTask() = default;
  ComputeTask(const ComputeTask&) = delete;
  ComputeTask& operator=(const ComputeTask&) = delete;

  Napi::Promise promise() { return deferred_.Promise(); }
  // Hands the task to the compute thread; it deletes itself once settled. Call once, on the JS thread.
  void Queue();

 protected:
  virtual void Work() = 0;  // on the compute thread; throws facestyle::Error etc. on failure
  virtual void OnOK() = 0;  // on the JS thread: resolve deferred_
  Napi::Env Env() const { return env_; }
  Napi::Promise::Deferred deferred_;

 private:
  static EnvData& channel(Napi::Env env);
  void settle(Napi::Env env);  // on the JS thread

  Napi::Env env_;
  bool failed_ = false;
  std::string code_, message_;
};

}  // namespace facestyle::napi
