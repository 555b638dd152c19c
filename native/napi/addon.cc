// The N-API layer: capabilities(), compile() and NativeSession. Thin by design: convert, queue,
// run natively, convert back. No JS value is touched off the main thread.
#include <napi.h>

#include <atomic>
#include <cstring>
#include <memory>

#include "facestyle/capabilities.h"
#include "napi/compute_task.h"
#include "napi/convert.h"
#include "napi/env_data.h"
#include "napi/image_ops.h"
#include "napi/teardown.h"
#include "runtime/compute_thread.h"
#include "runtime/session.h"

namespace facestyle::napi {

namespace {

// Runs fn, turning native errors into thrown JS errors with codes.
template <typename Fn>
auto guarded(Napi::Env env, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    throw makeError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw makeError(env, ErrorCode::OutOfMemory, "Out of memory");
  }
}

class NativeSession : public Napi::ObjectWrap<NativeSession> {
 public:
  // The class of this environment (env_data.h): a session made in a worker_thread is that worker's.
  static Napi::Object New(Napi::Env env, const Napi::Value& external) { return envData(env).sessionConstructor.New({external}); }

  static Napi::Function Init(Napi::Env env) {
    Napi::Function fn = DefineClass(env, "NativeSession",
                                    {InstanceMethod("run", &NativeSession::Run), InstanceMethod("runSync", &NativeSession::RunSync),
                                     InstanceMethod("dispose", &NativeSession::Dispose),
                                     InstanceMethod("readValue", &NativeSession::ReadValue),
                                     InstanceMethod("writeValue", &NativeSession::WriteValue),
                                     InstanceMethod("info", &NativeSession::Info),
                                     InstanceMethod("profile", &NativeSession::Profile)});
    envData(env).sessionConstructor = Napi::Persistent(fn);
    return fn;
  }

  explicit NativeSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSession>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw makeError(info.Env(), ErrorCode::Argument, "NativeSession is made by compile(), not constructed directly");
    auto* holder = info[0].As<Napi::External<std::shared_ptr<Session>>>().Data();
    session_ = *holder;
    reported_ = static_cast<int64_t>(session_->plan().arenaBytes + session_->paramBytes());
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_);
  }

  ~NativeSession() override = default;
  void Finalize(Napi::Env env) override { release(env); }

 private:
  void release(Napi::Env env) {
    if (!session_) return;
    session_.reset();
    // From Finalize too, where nothing may throw (std::terminate): while an environment stops (a
    // worker_thread terminated) N-API calls can fail, and node-addon-api turns that into an exception.
    try {
      Napi::MemoryManagement::AdjustExternalMemory(env, -reported_);
    } catch (...) {
    }
    reported_ = 0;
  }

  std::shared_ptr<Session> live(Napi::Env env) {
    if (!session_) throw makeError(env, ErrorCode::Disposed, "The session was disposed; compile the graph again");
    return session_;
  }

  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value RunSync(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value ReadValue(const Napi::CallbackInfo& info);
  Napi::Value WriteValue(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Profile(const Napi::CallbackInfo& info);

  std::shared_ptr<Session> session_;
  int64_t reported_ = 0;
};

// The feeds of a run (an array of Float32Array) as host spans over the caller's buffers: read at once (an
// asynchronous run copies them, RunWorker) or during runSync, which holds JavaScript until it is done.
std::vector<HostSpan> feedSpans(Napi::Env env, const Napi::Array& feeds) {
  std::vector<HostSpan> spans;
  for (uint32_t i = 0; i < feeds.Length(); ++i) {
    Napi::Value v = feeds.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw makeError(env, ErrorCode::Argument, "Expected Float32Array for feed " + std::to_string(i));
    Napi::Float32Array f = v.As<Napi::Float32Array>();
    spans.push_back(HostSpan{f.Data(), f.ElementLength()});
  }
  return spans;
}

// A run's output buffers: allocated uninitialised (the run writes every float; zero-filling a 4 MB
// output first cost as much as copying it), then handed to JavaScript without a copy.
struct RunOutputs {
  std::vector<std::unique_ptr<float[]>> data;
  std::vector<size_t> sizes;

  explicit RunOutputs(const Session& s) {
    for (size_t i = 0; i < s.graph().outputs.size(); ++i) {
      sizes.push_back(s.outputElements(i));
      data.emplace_back(sizes.back() ? new float[sizes.back()] : nullptr);
    }
  }
  std::vector<float*> pointers() const {
    std::vector<float*> p;
    for (const auto& d : data) p.push_back(d.get());
    return p;
  }
  // As an array of Float32Array, each owning its buffer (freed when the array buffer is collected).
  Napi::Array toJs(Napi::Env env) {
    Napi::Array out = Napi::Array::New(env, data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      const size_t bytes = sizes[i] * sizeof(float);
      Napi::ArrayBuffer buf;
      if (bytes == 0) {
        buf = Napi::ArrayBuffer::New(env, 0);
      } else if (bytes > kMaxExternalBytes) {  // see kMaxExternalBytes (convert.h)
        buf = copyArrayBuffer(env, data[i].get(), bytes);
        data[i].reset();
      } else {
        buf = Napi::ArrayBuffer::New(env, data[i].get(), bytes, [](Napi::Env, void* p) { delete[] static_cast<float*>(p); });
        data[i].release();  // owned by the array buffer now
      }
      out.Set(static_cast<uint32_t>(i), Napi::Float32Array::New(env, sizes[i], buf, 0));
    }
    return out;
  }
};

// Caller-given output buffers (run(feeds, outputs)): an array with one Float32Array per graph output, each
// exactly outputElements(i) floats. The run writes into them (after every kernel has run, so an output may
// be one of the feeds' own arrays) and returns them; no buffer is allocated. (An asynchronous run only checks
// them here and fills them when it settles, RunWorker.)
std::vector<float*> givenOutputs(Napi::Env env, const Session& s, const Napi::Value& value) {
  if (!value.IsArray()) throw makeError(env, ErrorCode::Argument, "Expected an array of Float32Array outputs");
  const Napi::Array outs = value.As<Napi::Array>();
  const size_t count = s.graph().outputs.size();
  if (outs.Length() != count)
    throw makeError(env, ErrorCode::Argument, "Expected " + std::to_string(count) + " output arrays but received " + std::to_string(outs.Length()));
  std::vector<float*> pointers;
  for (uint32_t i = 0; i < count; ++i) {
    // "output 0 ('y')": the index is the array's position, the name the graph's.
    const std::string which = std::to_string(i) + " ('" + s.graph().values[static_cast<size_t>(s.graph().outputs[i])].name + "')";
    Napi::Value v = outs.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw makeError(env, ErrorCode::Argument, "Expected Float32Array for output " + which);
    Napi::Float32Array f = v.As<Napi::Float32Array>();
    if (f.ElementLength() != s.outputElements(i))
      throw makeError(env, ErrorCode::Shape, "Output " + which + " needs " + std::to_string(s.outputElements(i)) + " floats but the array has " + std::to_string(f.ElementLength()));
    pointers.push_back(f.Data());
  }
  return pointers;
}

// An asynchronous run works on memory of its own, never on the caller's buffers: JavaScript runs while it
// does, and a buffer it read in place could be transferred (postMessage to a worker, structuredClone with
// transfer) and freed mid-run: the compute thread then read or wrote freed memory (SIGSEGV). The feeds are
// copied when run() is called (a memcpy: ~10 us for PFLD's 150 KB input, 0.1 ms for the generator's batch
// of 4 at 256, against runs of 1.6 and ~40 ms); outputs the caller gave are filled from the run's own
// buffers when it settles, on the JS thread, where a detached one is ERR_FACESTYLE_ARGUMENT.
// runSync() blocks JavaScript for its run, so it reads and writes the caller's buffers in place.
class RunWorker : public ComputeTask {
 public:
  // Feeds and outputs are checked before the worker exists (a throw here would leave its Promise unsettled).
  RunWorker(Napi::Env env, std::shared_ptr<Session> session, const std::vector<HostSpan>& feeds, const Napi::Value& outputs)
      : ComputeTask(env), session_(std::move(session)), intoGiven_(!outputs.IsUndefined()) {
    for (const HostSpan& f : feeds) {
      feedData_.emplace_back(new float[f.size ? f.size : 1]);
      if (f.size) std::memcpy(feedData_.back().get(), f.data, f.size * sizeof(float));
      feeds_.push_back(HostSpan{feedData_.back().get(), f.size});
    }
    if (intoGiven_) givenArray_ = Napi::Persistent(outputs.As<Napi::Object>());
  }
  void Work() override {
    outputs_ = std::make_unique<RunOutputs>(*session_);
    session_->runInto(feeds_, outputs_->pointers());
  }
  void OnOK() override {
    if (!intoGiven_) return deferred_.Resolve(outputs_->toJs(Env()));
    Napi::Env env = Env();
    const Napi::Array outs = givenArray_.Value().As<Napi::Array>();
    for (uint32_t i = 0; i < outs.Length(); ++i) {
      Napi::Float32Array f = outs.Get(i).As<Napi::Float32Array>();
      // Checked again: the array may have been transferred or resized since run() was called.
      if (f.ArrayBuffer().IsDetached() || f.ElementLength() != outputs_->sizes[i])
        return deferred_.Reject(makeError(env, ErrorCode::Argument, "Output " + std::to_string(i) + "'s buffer was detached (transferred) while the run was in progress; its results are lost").Value());
    }
    for (uint32_t i = 0; i < outs.Length(); ++i) {
      Napi::Float32Array f = outs.Get(i).As<Napi::Float32Array>();
      if (outputs_->sizes[i]) std::memcpy(f.Data(), outputs_->data[i].get(), outputs_->sizes[i] * sizeof(float));
    }
    deferred_.Resolve(givenArray_.Value());
  }

 private:
  std::shared_ptr<Session> session_;
  std::vector<std::unique_ptr<float[]>> feedData_;
  std::vector<HostSpan> feeds_;
  std::unique_ptr<RunOutputs> outputs_;
  const bool intoGiven_;  // read on the compute thread: a plain flag, not the JS reference
  Napi::ObjectReference givenArray_;
};

Napi::Value NativeSession::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = live(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw makeError(env, ErrorCode::Argument, "Expected an array of Float32Array feeds");
  const auto spans = feedSpans(env, info[0].As<Napi::Array>());
  if (!info[1].IsUndefined()) givenOutputs(env, *session, info[1]);  // checked now, filled when the run settles
  // The feed copies are allocated here: out of memory is ERR_FACESTYLE_OUT_OF_MEMORY, not a C++ exception in Node.
  auto* worker = guarded(env, [&] { return new RunWorker(env, session, spans, info[1]); });
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// runSync: the same run on the calling (JavaScript) thread, which it blocks until the outputs are
// back; no hand-off to the compute thread and back (two thread wake-ups, tens of microseconds on a
// run of a small model). A run of this session in flight on the compute thread finishes first (the
// session's mutex). Kernels that use OpenMP get a team of their own for this thread.
Napi::Value NativeSession::RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = live(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw makeError(env, ErrorCode::Argument, "Expected an array of Float32Array feeds");
  const std::vector<HostSpan> spans = feedSpans(env, info[0].As<Napi::Array>());
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    const std::vector<float*> given = givenOutputs(env, *session, info[1]);
    return guarded(env, [&] {
      session->runInto(spans, given);
      return info[1];
    });
  }
  return guarded(env, [&] {
    RunOutputs outputs(*session);
    session->runInto(spans, outputs.pointers());
    return outputs.toJs(env);
  });
}

int valueIndex(Napi::Env env, Session& s, const Napi::Value& name) {
  if (!name.IsString()) throw makeError(env, ErrorCode::Argument, "Expected string value name");
  int v = s.findValue(name.As<Napi::String>().Utf8Value());
  if (v < 0) throw makeError(env, ErrorCode::Argument, "No value named '" + name.As<Napi::String>().Utf8Value() + "'");
  return v;
}

Napi::Value NativeSession::ReadValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = live(env);
  int v = valueIndex(env, *session, info[0]);
  std::vector<float> data = guarded(env, [&] { return session->readValue(v); });
  Napi::Float32Array out = Napi::Float32Array::New(env, data.size());
  std::copy(data.begin(), data.end(), out.Data());
  return out;
}

Napi::Value NativeSession::WriteValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = live(env);
  int v = valueIndex(env, *session, info[0]);
  if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw makeError(env, ErrorCode::Argument, "Expected Float32Array data");
  Napi::Float32Array f = info[1].As<Napi::Float32Array>();
  guarded(env, [&] { session->writeValue(v, f.Data(), f.ElementLength()); return 0; });
  return env.Undefined();
}

Napi::Value NativeSession::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = live(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("arenaBytes", Napi::Number::New(env, static_cast<double>(session->plan().arenaBytes)));
  o.Set("largestLiveSetBytes", Napi::Number::New(env, static_cast<double>(session->plan().largestLiveSetBytes)));
  o.Set("paramBytes", Napi::Number::New(env, static_cast<double>(session->paramBytes())));
  o.Set("threads", Napi::Number::New(env, session->threads()));
  o.Set("device", Napi::String::New(env, deviceName(session->device())));
  Napi::Array order = Napi::Array::New(env, session->plan().order.size());
  for (size_t i = 0; i < session->plan().order.size(); ++i) order.Set(static_cast<uint32_t>(i), session->plan().order[i]);
  o.Set("order", order);
  return o;
}

// {runs, steps: [{node, seconds}]} in plan order; node is the index into graph.nodes.
Napi::Value NativeSession::Profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = live(env);
  int runs = 0;
  std::vector<double> seconds = session->profile(&runs);
  Napi::Object o = Napi::Object::New(env);
  o.Set("runs", runs);
  Napi::Array steps = Napi::Array::New(env, seconds.size());
  for (size_t i = 0; i < seconds.size(); ++i) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("node", session->plan().order[i]);
    s.Set("seconds", seconds[i]);
    steps.Set(static_cast<uint32_t>(i), s);
  }
  o.Set("steps", steps);
  return o;
}

class CompileWorker : public ComputeTask {
 public:
  CompileWorker(Napi::Env env, GraphDesc graph, SessionOptions options)
      : ComputeTask(env), graph_(std::move(graph)), options_(options) {}
  void Work() override { session_ = std::make_shared<Session>(std::move(graph_), options_); }
  void OnOK() override {
    Napi::Env env = Env();
    auto external = Napi::External<std::shared_ptr<Session>>::New(env, &session_);
    deferred_.Resolve(NativeSession::New(env, external));
  }

 private:
  GraphDesc graph_;
  SessionOptions options_;
  std::shared_ptr<Session> session_;
};

Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw makeError(env, ErrorCode::Argument, "Expected a graph object");
  SessionOptions options;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Get("device").IsString()) {
      std::string d = o.Get("device").As<Napi::String>().Utf8Value();
      if (d == "cpu") options.device = Device::CPU;
      else if (d == "cuda") options.device = Device::CUDA;
      else throw makeError(env, ErrorCode::Argument, "Expected device 'cpu' or 'cuda' but received '" + d + "'");
    }
    if (o.Get("threads").IsNumber()) options.threads = o.Get("threads").As<Napi::Number>().Int32Value();
    if (o.Get("reuseBuffers").IsBoolean()) options.plan.reuseBuffers = o.Get("reuseBuffers").As<Napi::Boolean>().Value();
    if (o.Get("profile").IsBoolean()) options.profile = o.Get("profile").As<Napi::Boolean>().Value();
  }
  GraphDesc graph = guarded(env, [&] { return graphFromJs(info[0].As<Napi::Object>()); });
  auto* worker = new CompileWorker(env, std::move(graph), options);
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", versionString());
  o.Set("simd", simdLevelName(simdLevel()));
  o.Set("simdDetected", simdLevelName(detectedSimdLevel()));
  o.Set("threads", hardwareThreads());
#ifdef _OPENMP
  o.Set("openmp", true);
#else
  o.Set("openmp", false);
#endif
  CudaInfo cuda = queryCuda();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", cuda.compiled);
  c.Set("runtimeVersion", cuda.runtimeVersion);
  c.Set("error", cuda.error);
  Napi::Array devices = Napi::Array::New(env, cuda.devices.size());
  for (size_t i = 0; i < cuda.devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", cuda.devices[i].name);
    d.Set("totalMemory", static_cast<double>(cuda.devices[i].totalMemory));
    d.Set("freeMemory", static_cast<double>(cuda.devices[i].freeMemory));
    d.Set("computeCapability", cuda.devices[i].computeCapability / 10.0);
    devices.Set(static_cast<uint32_t>(i), d);
  }
  c.Set("devices", devices);
  o.Set("cuda", c);
  Napi::Array ops = Napi::Array::New(env);
  for (int k = 0; k < kOpCount; ++k) {
    Napi::Object op = Napi::Object::New(env);
    op.Set("name", opKindName(static_cast<OpKind>(k)));
    op.Set("cpu", findKernel(static_cast<OpKind>(k), Device::CPU) != nullptr);
    op.Set("cuda", findKernel(static_cast<OpKind>(k), Device::CUDA) != nullptr);
    ops.Set(static_cast<uint32_t>(k), op);
  }
  o.Set("ops", ops);
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSession", NativeSession::Init(env));
  exports.Set("compile", Napi::Function::New(env, Compile));
  exports.Set("capabilities", Napi::Function::New(env, Capabilities));
  registerImageOps(env, exports);  // alignCrops, pasteBlend (napi/image_ops.cc)
  registerTeardownOps(env, exports);  // registerTeardown, unregisterTeardown (napi/teardown.cc)
  return exports;
}

NODE_API_MODULE(facestyle, Init)

}  // namespace facestyle::napi
