#include "runtime/session.h"

#include "runtime/openmp_threads.h"

#include <chrono>
#include <map>
#include <new>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace facestyle {

namespace {

int defaultThreads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
#endif
}

}  // namespace

Session::Session(GraphDesc graph, const SessionOptions& options) : graph_(std::move(graph)), options_(options) {
  FACESTYLE_CHECK(options.threads >= 0 && options.threads <= 1024, Argument,
                  "Expected threads between 0 and 1024 but received " + std::to_string(options.threads));
  threads_ = options.threads > 0 ? options.threads : defaultThreads();
  // On the CPU the kernels read the feeds where the caller has them (bindContexts, run): inputs get no
  // arena space there (it was reserved and never used; it counts where the input is live at the peak).
  PlanOptions planOptions = options.plan;
  planOptions.inputsInPlace = options.device == Device::CPU;
  plan_ = makePlan(graph_, planOptions);

  // Every op must have a kernel on this device; list all that do not, with counts.
  std::map<std::string, int> missing;
  kernels_.reserve(plan_.order.size());
  for (int n : plan_.order) {
    KernelFn fn = findKernel(graph_.nodes[n].op, options.device);
    if (!fn) ++missing[opKindName(graph_.nodes[n].op)];
    kernels_.push_back(fn);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& [name, count] : missing) list += (list.empty() ? "" : ", ") + name + " (" + std::to_string(count) + ")";
    throw Error(ErrorCode::Unsupported,
                std::string("No ") + deviceName(options.device) + " kernel for: " + list);
  }

  memory_ = options.device == Device::CPU ? makeCpuMemory() : makeCudaMemory();
  try {
    arena_ = DeviceBuffer(memory_.get(), plan_.arenaBytes);
    storage_.resize(graph_.values.size());
    address_.assign(graph_.values.size(), nullptr);
    for (size_t v = 0; v < graph_.values.size(); ++v) {
      ValueDesc& val = graph_.values[v];
      if (val.kind == ValueKind::Param || val.kind == ValueKind::Const) {
        size_t bytes = val.data.size() * sizeof(float);
        storage_[v] = DeviceBuffer(memory_.get(), bytes);
        if (bytes) memory_->copyFromHost(storage_[v].data(), val.data.data(), bytes);
        address_[v] = storage_[v].data();
        paramBytes_ += bytes;
        // The device copy is the truth from now on; keep no second host copy.
        std::vector<float>().swap(val.data);
      } else if (plan_.offsets[v] >= 0) {
        address_[v] = reinterpret_cast<float*>(arena_.bytes() + plan_.offsets[v]);
      }  // (else a graph input read in place: its feed is bound at each run)
    }
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, "Out of host memory while compiling the graph");
  }
  bindContexts();
}

Session::~Session() = default;

void Session::bindContexts() {
  contexts_.clear();
  contexts_.reserve(plan_.order.size());
  boundThreads_ = threads_;
  for (int n : plan_.order) {
    const NodeDesc& node = graph_.nodes[n];
    KernelContext ctx{node, {}, {}, threads_, memory_->stream(), {}};
    for (int v : node.inputs) {
      Tensor t;
      if (v >= 0) {
        t.data = address_[v];
        t.shape = graph_.values[v].shape;
      }
      ctx.inputs.push_back(std::move(t));
    }
    for (int v : node.outputs) ctx.outputs.push_back(Tensor{address_[v], graph_.values[v].shape});
    contexts_.push_back(std::move(ctx));
  }
  // On the CPU the kernels read the feeds where the caller has them: copying a 1.2 MB image into the
  // arena cost a run 40-60 us (YuNet 320: 108 vs onnxruntime's 46 us for a one-node graph on that
  // input). Safe because no kernel writes to its inputs and the plan gives every value its own slot.
  feedUses_.clear();
  if (options_.device != Device::CPU) return;
  for (size_t i = 0; i < graph_.inputs.size(); ++i)
    for (size_t s = 0; s < plan_.order.size(); ++s) {
      const NodeDesc& node = graph_.nodes[plan_.order[s]];
      for (size_t k = 0; k < node.inputs.size(); ++k)
        if (node.inputs[k] == graph_.inputs[i]) feedUses_.push_back({static_cast<int>(i), static_cast<int>(s), static_cast<int>(k)});
    }
}

size_t Session::outputElements(size_t i) const { return static_cast<size_t>(shapeElements(graph_.values[graph_.outputs.at(i)].shape)); }

std::vector<std::vector<float>> Session::run(const std::vector<HostSpan>& feeds) {
  std::vector<std::vector<float>> results;
  std::vector<float*> outs;
  try {
    results.reserve(graph_.outputs.size());
    for (size_t i = 0; i < graph_.outputs.size(); ++i) results.emplace_back(outputElements(i));
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, "Out of host memory for the outputs of the graph");
  }
  for (auto& r : results) outs.push_back(r.empty() ? nullptr : r.data());
  runInto(feeds, outs);
  return results;
}

void Session::runInto(const std::vector<HostSpan>& feeds, const std::vector<float*>& outs) {
  std::lock_guard<std::mutex> lock(mutex_);
  FACESTYLE_CHECK(outs.size() == graph_.outputs.size(), Argument,
                  "Expected " + std::to_string(graph_.outputs.size()) + " output buffers but received " + std::to_string(outs.size()));
  FACESTYLE_CHECK(feeds.size() == graph_.inputs.size(), Argument,
                  "Expected " + std::to_string(graph_.inputs.size()) + " feeds but received " + std::to_string(feeds.size()));
  try {
    for (size_t i = 0; i < feeds.size(); ++i) {
      const ValueDesc& val = graph_.values[graph_.inputs[i]];
      size_t n = static_cast<size_t>(shapeElements(val.shape));
      FACESTYLE_CHECK(feeds[i].size == n, Shape,
                      "Feed '" + val.name + "' needs " + std::to_string(n) + " floats for shape " + shapeToString(val.shape) +
                          " but received " + std::to_string(feeds[i].size));
      // CPU: read in place (bindContexts); a graph output or update that is an input is copied below.
      if (n && options_.device != Device::CPU) memory_->copyFromHost(address_[graph_.inputs[i]], feeds[i].data, n * sizeof(float));
    }
    for (const FeedUse& u : feedUses_) contexts_[u.step].inputs[u.slot].data = const_cast<float*>(feeds[u.input].data);
    // As many threads as this thread can start (libgomp would end the process on a failed thread
    // creation): all of threads_ but in a process at its thread or memory limit (runtime/openmp_threads.h).
    const int threads = options_.device == Device::CPU ? openmpThreadsAvailable(threads_) : threads_;
    if (threads != boundThreads_) {
      for (KernelContext& c : contexts_) c.threads = threads;
      boundThreads_ = threads;
    }
    // Where a value's data is during this run: a graph input is its feed on the CPU.
    auto source = [&](int v) -> const float* {
      if (options_.device == Device::CPU)
        for (size_t i = 0; i < graph_.inputs.size(); ++i)
          if (graph_.inputs[i] == v) return feeds[i].data;
      return address_[v];
    };
    if (options_.profile) {
      stepSeconds_.resize(contexts_.size(), 0.0);
      for (size_t s = 0; s < contexts_.size(); ++s) {
        auto t0 = std::chrono::steady_clock::now();
        kernels_[s](contexts_[s]);
        memory_->synchronize();
        stepSeconds_[s] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      ++profiledRuns_;
    } else {
      for (size_t s = 0; s < contexts_.size(); ++s) kernels_[s](contexts_[s]);
    }
    for (const auto& u : graph_.updates)
      memory_->copyOnDevice(address_[u.target], source(u.source), storage_[u.target].size());
    memory_->synchronize();
    for (size_t i = 0; i < graph_.outputs.size(); ++i) {
      const size_t n = outputElements(i);
      if (n) memory_->copyToHost(outs[i], source(graph_.outputs[i]), n * sizeof(float));
    }
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, "Out of host memory while running the graph");
  }
}

int Session::findValue(const std::string& name) const {
  for (size_t v = 0; v < graph_.values.size(); ++v)
    if (graph_.values[v].name == name) return static_cast<int>(v);
  return -1;
}

std::vector<float> Session::readValue(int v) {
  std::lock_guard<std::mutex> lock(mutex_);
  FACESTYLE_CHECK(v >= 0 && v < static_cast<int>(graph_.values.size()) && storage_[v].data(), Argument,
                  "Value " + std::to_string(v) + " is not a parameter or constant");
  std::vector<float> out(storage_[v].size() / sizeof(float));
  if (!out.empty()) memory_->copyToHost(out.data(), storage_[v].data(), storage_[v].size());
  return out;
}

void Session::writeValue(int v, const float* data, size_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  FACESTYLE_CHECK(v >= 0 && v < static_cast<int>(graph_.values.size()) &&
                      (graph_.values[v].kind == ValueKind::Param || graph_.values[v].kind == ValueKind::Const),
                  Argument, "Value " + std::to_string(v) + " is not a parameter or constant");
  FACESTYLE_CHECK(n * sizeof(float) == storage_[v].size(), Shape,
                  "Parameter '" + graph_.values[v].name + "' holds " + std::to_string(storage_[v].size() / sizeof(float)) +
                      " floats but received " + std::to_string(n));
  if (n) memory_->copyFromHost(storage_[v].data(), data, n * sizeof(float));
}

}  // namespace facestyle
