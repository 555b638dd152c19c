// The async worker behind the image passes' Promises (napi/image_ops.cc): Work() on a libuv pool
// thread, so that those single-threaded passes overlap a model run instead of queueing behind it on
// the compute thread (compiles and runs go through napi/compute_task.h). Its failures reach the
// rejected Promise as a JS Error whose `code` is ERR_FACESTYLE_* (never an exception escaping into
// Node). Its Work() must read and write only memory the worker owns (copies made at the call): a JS
// buffer may be transferred and freed while the pass runs (napi/image_ops.cc).
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "facestyle/status.h"
#include "napi/convert.h"

namespace facestyle::napi {

// Runs fn; what it throws becomes an ERR_FACESTYLE_* code and a message. Returns whether it succeeded.
template <typename Fn>
bool runCoded(Fn&& fn, std::string& code, std::string& message) noexcept {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    code = errorCodeName(e.code()), message = e.what();
  } catch (const std::bad_alloc&) {
    code = errorCodeName(ErrorCode::OutOfMemory), message = "Out of memory";
  } catch (const std::exception& e) {
    code = errorCodeName(ErrorCode::Internal), message = e.what();
  } catch (...) {
    code = errorCodeName(ErrorCode::Internal), message = "Unknown native error";
  }
  return false;
}

class CodedWorker : public Napi::AsyncWorker {
 public:
  explicit CodedWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    std::string message;
    if (!runCoded([this] { Work(); }, code_, message)) SetError(message);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(makeError(Env(), code_.c_str(), e.Message()).Value()); }
  // Settles the Promise (OnOK / OnError) and deletes the worker. When the environment is stopping (a
  // worker_thread terminated while this pass ran), every N-API call fails and node-addon-api throws, even
  // from the handle scope it opens first; an exception out of here would end the process (std::terminate).
  // The Promise cannot be settled then and nobody waits for it: the worker is left.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      Napi::AsyncWorker::OnWorkComplete(env, status);
    } catch (...) {
    }
  }

 protected:
  virtual void Work() = 0;
  Napi::Promise::Deferred deferred_;

 private:
  std::string code_ = "ERR_FACESTYLE_INTERNAL";
};

}  // namespace facestyle::napi
