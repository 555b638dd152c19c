// ComputeTask (see compute_task.h): the compute thread runs Work(), a thread-safe function brings the
// task back to the JS thread, which settles its Promise and deletes it.
#include "napi/compute_task.h"

#include <new>
#include <system_error>

#include "runtime/compute_thread.h"

namespace facestyle::napi {

// One per Node environment (the addon's instance data): the thread-safe function and how many tasks
// are in flight. Touched only on the JS thread, except tsfn.NonBlockingCall (thread-safe by design).
struct ComputeTask::Channel {
  Napi::ThreadSafeFunction tsfn;
  int inFlight = 0;
};

ComputeTask::Channel& ComputeTask::channel(Napi::Env env) {
  if (Channel* c = env.GetInstanceData<Channel>()) return *c;
  auto* c = new Channel();
  // No JS function: the callback given to each call does the work. Unreferenced while idle.
  c->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), "facestyle", 0, 1);
  c->tsfn.Unref(env);
  env.SetInstanceData<Channel>(c);  // deleted when the environment goes away
  return *c;
}

void ComputeTask::Queue() {
  Napi::Env env = env_;
  Channel& ch = channel(env);
  if (ch.inFlight++ == 0) ch.tsfn.Ref(env);
  Napi::ThreadSafeFunction tsfn = ch.tsfn;
  try {
    postToComputeThread([this, tsfn]() mutable {
      failed_ = !runCoded([this] { Work(); }, code_, message_);
      // napi_closing: the environment is shutting down and nobody waits for the Promise any more; the
      // task is left (its JS references must not be released off the JS thread).
      tsfn.NonBlockingCall(this, [](Napi::Env e, Napi::Function, ComputeTask* task) { task->settle(e); });
    });
  } catch (const std::system_error& e) {  // FACESTYLE_COMPUTE_THREAD=0 and no thread could be started
    failed_ = true, code_ = errorCodeName(ErrorCode::OutOfMemory), message_ = std::string("Could not start a thread: ") + e.what();
    settle(env);
  }
}

void ComputeTask::settle(Napi::Env env) {
  if (env == nullptr) return;  // the thread-safe function is being torn down with the environment
  {
    Napi::HandleScope scope(env);
    if (failed_) deferred_.Reject(makeError(env, code_.c_str(), message_).Value());
    else {
      // Nothing may escape into Node from here: this runs as a thread-safe function's callback.
      try {
        OnOK();
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      } catch (const std::bad_alloc&) {
        deferred_.Reject(makeError(env, ErrorCode::OutOfMemory, "Out of memory").Value());
      } catch (...) {
        deferred_.Reject(makeError(env, ErrorCode::Internal, "Unknown native error while returning the result").Value());
      }
    }
  }
  Channel& ch = channel(env);
  if (--ch.inFlight == 0) ch.tsfn.Unref(env);
  delete this;
}

}  // namespace facestyle::napi
