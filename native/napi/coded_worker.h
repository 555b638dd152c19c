// The async worker behind every Promise the addon returns: its failures reach the rejected Promise as
// a JS Error whose `code` is ERR_FACESTYLE_* (never an exception escaping into Node), and the JS
// objects it reads from (feeds, frames, crops) stay referenced until it settles.
#pragma once
#include <napi.h>

#include <new>
#include <string>
#include <vector>

#include "facestyle/status.h"
#include "napi/convert.h"
#include "runtime/compute_thread.h"

namespace facestyle::napi {

class CodedWorker : public Napi::AsyncWorker {
 public:
  // onComputeThread: Work() runs on the one compute thread (runtime/compute_thread.h: compiles and
  // graph runs, one OpenMP team); otherwise on the libuv pool thread itself (single-threaded image
  // passes that should overlap a model run instead of queueing behind it).
  CodedWorker(Napi::Env env, bool onComputeThread)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), onComputeThread_(onComputeThread) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void keep(const Napi::Object& o) { keepAlive_.push_back(Napi::Persistent(o)); }

  void Execute() override {
    try {
      if (onComputeThread_) runOnComputeThread([this] { Work(); });
      else Work();
    } catch (const Error& e) {
      code_ = errorCodeName(e.code());
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = errorCodeName(ErrorCode::OutOfMemory);
      SetError("Out of memory");
    } catch (const std::exception& e) {
      code_ = errorCodeName(ErrorCode::Internal);
      SetError(e.what());
    } catch (...) {
      code_ = errorCodeName(ErrorCode::Internal);
      SetError("Unknown native error");
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(makeError(Env(), code_.c_str(), e.Message()).Value()); }

 protected:
  virtual void Work() = 0;
  Napi::Promise::Deferred deferred_;

 private:
  bool onComputeThread_;
  std::vector<Napi::ObjectReference> keepAlive_;
  std::string code_ = "ERR_FACESTYLE_INTERNAL";
};

}  // namespace facestyle::napi
