// A compiled graph: planned once, run many times. Parameters and the activation arena live on the
// session's device for its whole life. One run at a time per session (a mutex); sessions are
// independent of each other. On the CPU the kernels read the feeds in place (no copy into the
// arena): the caller keeps them alive and unchanged until run() returns.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facestyle/kernel.h"
#include "facestyle/plan.h"
#include "runtime/device_memory.h"

namespace facestyle {

struct SessionOptions {
  Device device = Device::CPU;
  int threads = 0;  // 0: all hardware threads
  bool profile = false;  // time every node (see Session::profile)
  PlanOptions plan;
};

struct HostSpan {
  const float* data = nullptr;
  size_t size = 0;
};

class Session {
 public:
  Session(GraphDesc graph, const SessionOptions& options);
  ~Session();

  // Feeds in the order of graph().inputs; returns outputs in the order of graph().outputs. On the CPU
  // the feeds are read in place, never written.
  std::vector<std::vector<float>> run(const std::vector<HostSpan>& feeds);
  // The same run, output i copied to outs[i] (outputElements(i) floats; null where that is 0). For
  // buffers the caller allocates uninitialised: run() zero-fills its vectors first.
  void runInto(const std::vector<HostSpan>& feeds, const std::vector<float*>& outs);
  size_t outputElements(size_t i) const;

  const GraphDesc& graph() const { return graph_; }
  const Plan& plan() const { return plan_; }
  Device device() const { return options_.device; }
  int threads() const { return threads_; }
  size_t paramBytes() const { return paramBytes_; }

  // Per step (in plan order): total seconds spent in that node's kernel over all runs so far, and
  // how many runs were timed. Empty unless SessionOptions::profile.
  std::vector<double> profile(int* runs) {
    std::lock_guard<std::mutex> lock(mutex_);
    *runs = profiledRuns_;
    return stepSeconds_;
  }

  // Index of the value with this name, or -1.
  int findValue(const std::string& name) const;
  std::vector<float> readValue(int value);                 // a Param or Const
  void writeValue(int value, const float* data, size_t n);  // a Param or Const

 private:
  void bindContexts();

  GraphDesc graph_;
  SessionOptions options_;
  int threads_ = 1;
  int boundThreads_ = 1;  // the threads contexts_ hold: threads_, or fewer for a run that could not start them all
  Plan plan_;
  std::unique_ptr<DeviceMemory> memory_;
  DeviceBuffer arena_;
  std::vector<DeviceBuffer> storage_;  // per value: own storage for Param/Const
  std::vector<float*> address_;        // per value: where its data is
  std::vector<KernelFn> kernels_;      // per step
  std::vector<KernelContext> contexts_;  // per step, bound once
  // CPU: where each graph input is read (step, input slot), pointed at the feed on every run.
  struct FeedUse {
    int input, step, slot;
  };
  std::vector<FeedUse> feedUses_;
  size_t paramBytes_ = 0;
  std::vector<double> stepSeconds_;
  int profiledRuns_ = 0;
  std::mutex mutex_;
};

}  // namespace facestyle
