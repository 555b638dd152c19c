// Temp outputs removed at environment teardown (see teardown.h).
#include "napi/teardown.h"

#include "napi/env_data.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

namespace facestyle::napi {

namespace {

struct TempOutput {
  std::string path;
  bool folder = false;
  int pid = 0;
};

// One registry per environment, deleted by its cleanup hook (on the environment's thread).
struct Registry {
  std::map<double, TempOutput> outputs;
  double next = 1;
};

// Whether process `pid` has ended (gone, or a zombie waiting for its parent).
bool ended(int pid) {
  if (kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && (line[close + 2] == 'Z' || line[close + 2] == 'X');
}

void teardown(void* arg) {
  auto* registry = static_cast<Registry*>(arg);
  for (const auto& [id, out] : registry->outputs) {
    // Stop the writer first (it would otherwise finish the file, or recreate it), for at most a second.
    // Then reap it: the child was started from this environment's event loop, which would have, and is
    // gone now (the process's other loops wait only for their own children). waitpid, not the /proc state,
    // says when: a multi-threaded ffmpeg's main thread shows 'Z' while its other threads still exit, and
    // until they have it cannot be reaped. A pid that is not our child (ECHILD) is waited for by its state.
    if (out.pid > 0 && kill(out.pid, SIGKILL) == 0)
      for (int i = 0; i < 200; ++i) {
        const pid_t r = waitpid(out.pid, nullptr, WNOHANG);
        if (r == out.pid || (r < 0 && ended(out.pid))) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    if (out.path.empty()) continue;
    std::error_code ec;
    if (out.folder) std::filesystem::remove_all(out.path, ec);
    else std::filesystem::remove(out.path, ec);
  }
  delete registry;
}

// This environment's registry: made on first use with the cleanup hook that owns it (EnvData keeps a
// non-owning pointer to find it again).
Registry& registry(Napi::Env env) {
  EnvData& d = envData(env);
  if (!d.teardown) {
    auto* r = new Registry();
    napi_add_env_cleanup_hook(env, teardown, r);
    d.teardown = r;
  }
  return *static_cast<Registry*>(d.teardown);
}

Napi::Value RegisterTeardown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBoolean() || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "registerTeardown(path: string, isFolder: boolean, pid: number)");
  Registry& r = registry(env);
  const double id = r.next++;
  r.outputs[id] = TempOutput{info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Boolean>().Value(), info[2].As<Napi::Number>().Int32Value()};
  return Napi::Number::New(env, id);
}

Napi::Value UnregisterTeardown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() >= 1 && info[0].IsNumber()) registry(env).outputs.erase(info[0].As<Napi::Number>().DoubleValue());
  return env.Undefined();
}

}  // namespace

void registerTeardownOps(Napi::Env env, Napi::Object exports) {
  exports.Set("registerTeardown", Napi::Function::New(env, RegisterTeardown));
  exports.Set("unregisterTeardown", Napi::Function::New(env, UnregisterTeardown));
}

}  // namespace facestyle::napi
