// bench_conv: times Conv2D paths on the light generator's layers (and the detector stems), for tuning
// the dense conv kernels. Not a test and not part of `npm run bench` (which times layers through the
// addon); build it against a CMake build's core library:
//   g++ -std=c++17 -O2 -fopenmp -Inative/include -Inative native/test/bench_conv.cc build-dense/libfacestyle_core.a -o /tmp/bench_conv
//   /tmp/bench_conv <auto|flat|wino|direct|flat-scalar|flat-avx2|flat-avx512|tconv> <threads> <reps> [layer name substring]
// Prints, per layer, the best and median ms of `reps` runs (after one warm-up) and the best GFLOP/s
// counted as direct convolution (2 * M * OH * OW * C/group * kh * kw). With 1 thread also the best
// thread CPU time ("cpu"), which a preempting neighbour on a shared machine does not inflate.
// FACESTYLE_BENCH_ACT=tanh|none picks the fused activation (LeakyRelu 0.2 by default).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/conv_kernels.h"
#include "facestyle/capabilities.h"

using namespace facestyle;

namespace {

struct Layer {
  const char* name;
  int64_t c, m, size, k, stride, pad;
};

// The light generator at 256 (models/comic-light.json) and the detector / landmark stems.
const Layer kLayers[] = {
    {"g.enc0 3x3/1 3->16 @256", 3, 16, 256, 3, 1, 1},     {"g.enc1 3x3/2 16->32 @256", 16, 32, 256, 3, 2, 1},
    {"g.enc2 3x3/2 32->64 @128", 32, 64, 128, 3, 2, 1},   {"g.enc3 3x3/2 64->96 @64", 64, 96, 64, 3, 2, 1},
    {"g.res 3x3/1 96->96 @32", 96, 96, 32, 3, 1, 1},      {"g.dec2 3x3/1 96->64 @32", 96, 64, 32, 3, 1, 1},
    {"g.dec1 3x3/1 64->32 @64", 64, 32, 64, 3, 1, 1},     {"g.dec0 3x3/1 32->16 @128", 32, 16, 128, 3, 1, 1},
    {"g.head0 3x3/1 16->16 @256", 16, 16, 256, 3, 1, 1},  {"g.out 3x3/1 16->3 @256", 16, 3, 256, 3, 1, 1},
    {"yunet.stem 3x3/2 3->16 @320", 3, 16, 320, 3, 2, 1}, {"pfld.stem 3x3/2 3->64 @112", 3, 64, 112, 3, 2, 1},
    {"x.stem 7x7/1 3->32 @256", 3, 32, 256, 7, 1, 3},     {"x.head 7x7/1 32->3 @256", 32, 3, 256, 7, 1, 3},
    // YuNet-n's pointwise layers at 640 (planes a multiple of 4 KiB: 160x160) and 150x150 for contrast.
    {"yunet.pw 1x1 64->64 @160", 64, 64, 160, 1, 1, 0},   {"yunet.pw 1x1 64->64 @80", 64, 64, 80, 1, 1, 0},
    {"x.pw 1x1 64->64 @150", 64, 64, 150, 1, 1, 0},
    {"x.probe 3x3/2 16->32 @64", 16, 32, 64, 3, 2, 1},    {"x.wide 3x3/1 128->128 @64", 128, 128, 64, 3, 1, 1},
    // PFLD's 14x14 pointwise layers (196 columns: rows of 784 bytes, not a whole number of cache lines).
    {"pfld.pw 1x1 256->128 @14", 256, 128, 14, 1, 1, 0},  {"pfld.pw 1x1 128->256 @14", 128, 256, 14, 1, 1, 0},
    {"pfld.s2 3x3/2 16->32 @14", 16, 32, 14, 3, 2, 1},    {"pfld.head 7x7/1 32->128 @7", 32, 128, 7, 7, 1, 0},
};

// ConvTranspose2D layers (kernel == stride: the generator's 2x2 / 2 upsampling), timed with "tconv".
struct TLayer {
  const char* name;
  int64_t c, m, size;
};
const TLayer kTLayers[] = {{"g.up2 2x2/2 96->64 @32", 96, 64, 32}, {"g.up1 2x2/2 64->32 @64", 64, 32, 64}, {"g.up0 2x2/2 32->16 @128", 32, 16, 128}};

using Fn = void (*)(const cpu::ConvGeometry&, const float*, const float*, const float*, float*, int, const cpu::ConvActivation*);

Fn pick(const std::string& impl) {
  if (impl == "auto") return cpu::conv2d;
  if (impl == "direct") return cpu::conv2dDirect;
#ifndef BENCH_CONV_BASELINE  // -DBENCH_CONV_BASELINE: link against a core library built before conv2dFlat existed
  if (impl == "flat") return cpu::conv2dFlat;
  if (impl == "rows") return [](const cpu::ConvGeometry& g, const float* x, const float* w, const float* b, float* y, int t,
                                const cpu::ConvActivation* a) {
    if (!cpu::conv2dRows3x3(g, x, w, b, y, t, a)) cpu::conv2dFlat(g, x, w, b, y, t, a);
  };
  if (impl == "wino") return cpu::conv2dWinograd;
  if (impl == "flat-scalar") return cpu::conv2dFlatScalar;
  if (impl == "flat-avx2" && detectedSimdLevel() >= SimdLevel::Avx2) return cpu::conv2dFlatAvx2;
  if (impl == "flat-avx512" && detectedSimdLevel() >= SimdLevel::Avx512) return cpu::conv2dFlatAvx512;
#endif
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_conv <impl> <threads> <reps> [filter]\n");
    return 2;
  }
  const std::string impl = argv[1];
  const int threads = std::atoi(argv[2]), reps = std::max(1, std::atoi(argv[3]));
  const std::string filter = argc > 4 ? argv[4] : "";
  if (impl == "tconv") {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (const TLayer& l : kTLayers) {
      if (!filter.empty() && std::string(l.name).find(filter) == std::string::npos) continue;
      cpu::ConvGeometry g;
      g.n = 1, g.c = l.c, g.h = l.size, g.w = l.size, g.m = l.m, g.kh = g.kw = 2, g.group = 1;
      g.win.sh = g.win.sw = 2;
      g.oh = g.ow = 2 * l.size;
      std::vector<float> x(g.c * g.h * g.w), w(g.c * g.m * 4), b(g.m), y(g.m * g.oh * g.ow);
      for (auto* v : {&x, &w, &b})
        for (auto& e : *v) e = dist(rng);
      double best = 1e30;
      for (int r = 0; r <= reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        cpu::convTranspose2d(g, x.data(), w.data(), b.data(), y.data(), threads);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r) best = std::min(best, s);
      }
      const double flops = 2.0 * g.c * g.m * 4 * g.h * g.w;
      std::printf("%-30s best %8.3f ms  %7.1f GFLOP/s\n", l.name, best * 1e3, flops / best / 1e9);
    }
    return 0;
  }
  const Fn fn = pick(impl);
  if (!fn) {
    std::fprintf(stderr, "unknown or unavailable impl %s\n", impl.c_str());
    return 2;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  cpu::ConvActivation act;
  act.kind = cpu::ConvActivation::LeakyRelu, act.alpha = 0.2f;
  if (const char* a = std::getenv("FACESTYLE_BENCH_ACT")) {
    if (std::string(a) == "tanh") act.kind = cpu::ConvActivation::Tanh;
    if (std::string(a) == "none") act.kind = cpu::ConvActivation::None;
  }
  for (const Layer& l : kLayers) {
    if (!filter.empty() && std::string(l.name).find(filter) == std::string::npos) continue;
    cpu::ConvGeometry g;
    g.n = 1, g.c = l.c, g.h = l.size, g.w = l.size, g.m = l.m, g.kh = l.k, g.kw = l.k, g.group = 1;
    g.win.sh = g.win.sw = l.stride;
    g.win.pt = g.win.pl = g.win.pb = g.win.pr = l.pad;
    g.oh = (l.size + 2 * l.pad - l.k) / l.stride + 1, g.ow = g.oh;
    std::vector<float> x(g.c * g.h * g.w), w(g.m * g.c * g.kh * g.kw), b(g.m), y(g.m * g.oh * g.ow);
    for (auto* v : {&x, &w, &b})
      for (auto& e : *v) e = dist(rng);
    // The input on a 64-byte boundary, as the engine's arena places its values (std::vector guarantees 16).
    std::vector<float> xStore(x.size() + 16);
    float* const xa = xStore.data() + (16 - reinterpret_cast<uintptr_t>(xStore.data()) / sizeof(float) % 16) % 16;
    std::copy(x.begin(), x.end(), xa);
    // The output too.
    std::vector<float> yStore(y.size() + 16);
    float* const ya = yStore.data() + (16 - reinterpret_cast<uintptr_t>(yStore.data()) / sizeof(float) % 16) % 16;
    std::vector<double> times;
    double cpuBest = 1e30;
    auto cpuNow = [] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + ts.tv_nsec * 1e-9;
    };
    for (int r = 0; r <= reps; ++r) {
      const double c0 = cpuNow();
      const auto t0 = std::chrono::steady_clock::now();
      fn(g, xa, w.data(), b.data(), ya, threads, &act);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r) times.push_back(s), cpuBest = std::min(cpuBest, cpuNow() - c0);
    }
    std::sort(times.begin(), times.end());
    const double flops = 2.0 * g.m * g.oh * g.ow * g.c * g.kh * g.kw;
    std::printf("%-30s best %8.3f ms  median %8.3f ms", l.name, times.front() * 1e3, times[times.size() / 2] * 1e3);
    if (threads == 1) std::printf("  cpu %8.3f ms  %7.1f cpu-GFLOP/s", cpuBest * 1e3, flops / cpuBest / 1e9);
    std::printf("  %7.1f GFLOP/s\n", flops / times.front() / 1e9);
  }
  return 0;
}
