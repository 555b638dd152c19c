// ComputeTask (see compute_task.h): the compute thread runs Work(), a thread-safe function brings the
// task back to the JS thread, which settles its Promise and deletes it.
#include "napi/compute_task.h"

#include <memory>
#include <mutex>
#include <new>
#include <system_error>

#include "runtime/compute_thread.h"

namespace facestyle::napi {

// This environment's completion channel (env_data.h: one per Node environment, so a worker_thread's
// tasks settle on that worker's JS thread): the thread-safe function, made on the first task.
EnvData& ComputeTask::channel(Napi::Env env) {
  EnvData& d = envData(env);
  if (!d.computeDone) {
    auto ch = std::make_shared<ComputeChannel>();
    // No JS function: the callback given to each call does the work. Unreferenced while idle. The
    // finalizer (the environment going away) closes the channel for the compute thread.
    ch->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), "facestyle", 0, 1, [ch](Napi::Env) {
      std::lock_guard<std::mutex> lock(ch->mutex);
      ch->open = false;
    });
    ch->tsfn.Unref(env);
    ch->open = true;
    // When the environment goes away, wait for its tasks still queued or running on the compute thread.
    auto* hookRef = new std::shared_ptr<ComputeChannel>(ch);
    napi_add_env_cleanup_hook(
        env,
        [](void* arg) {
          auto* ref = static_cast<std::shared_ptr<ComputeChannel>*>(arg);
          {
            std::unique_lock<std::mutex> lock((*ref)->mutex);
            (*ref)->idle.wait(lock, [&] { return (*ref)->working == 0; });
          }
          delete ref;
        },
        hookRef);
    d.computeDone = std::move(ch);
  }
  return d;
}

void ComputeTask::Queue() {
  Napi::Env env = env_;
  EnvData& d = channel(env);
  if (d.computeInFlight++ == 0) d.computeDone->tsfn.Ref(env);
  std::shared_ptr<ComputeChannel> ch = d.computeDone;
  {
    std::lock_guard<std::mutex> lock(ch->mutex);
    ++ch->working;
  }
  try {
    postToComputeThread([this, ch] {
      failed_ = !runCoded([this] { Work(); }, code_, message_);
      // A closed channel or napi_closing: the environment is going away (a worker_thread terminated, the
      // process exiting) and nobody waits for the Promise any more; the task is left (its JS references
      // must not be released off their JS thread).
      std::lock_guard<std::mutex> lock(ch->mutex);
      if (ch->open) ch->tsfn.NonBlockingCall(this, [](Napi::Env e, Napi::Function, ComputeTask* task) { task->settle(e); });
      if (--ch->working == 0) ch->idle.notify_all();
    });
  } catch (const std::system_error& e) {  // FACESTYLE_COMPUTE_THREAD=0 and no thread could be started
    {
      std::lock_guard<std::mutex> lock(ch->mutex);
      if (--ch->working == 0) ch->idle.notify_all();
    }
    failed_ = true, code_ = errorCodeName(ErrorCode::OutOfMemory), message_ = std::string("Could not start a thread: ") + e.what();
    settle(env);
  }
}

void ComputeTask::settle(Napi::Env env) {
  if (env == nullptr) return;  // the thread-safe function is being torn down with the environment
  // Nothing may escape into Node from here: this runs as a thread-safe function's callback, and an
  // exception out of it ends the process (std::terminate). Every N-API call can fail when the environment
  // is stopping (a worker_thread being terminated: JS may no longer run, so even making the Error object
  // fails and node-addon-api throws); the Promise then cannot be settled and nobody waits for it.
  try {
    Napi::HandleScope scope(env);
    if (failed_) deferred_.Reject(makeError(env, code_.c_str(), message_).Value());
    else {
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
  } catch (...) {
  }
  try {
    EnvData& d = channel(env);
    if (--d.computeInFlight == 0) d.computeDone->tsfn.Unref(env);
  } catch (...) {
  }
  delete this;
}

}  // namespace facestyle::napi
