// bench_native: the native half of `npm run bench` (bench/build.mjs compiles it, bench/run.mjs runs it).
// Not a test (CMake builds only test_*.cc). Each command prints one JSON object on stdout.
//   bench_native info
//   bench_native peak <avx2|avx512> <threads> <seconds>
//   bench_native gemm <naive|scalar|avx2|avx512|auto> <M> <N> <K> <threads> <minSeconds>
//   bench_native depthwise <scalar|avx2|avx512|auto> <C> <H> <W> <k> <stride> <threads> <minSeconds>
// gemm times C = A * B (row-major, no transposes, beta = 0) after one warm-up call: the median and the
// best of at least 3 repetitions, repeated until minSeconds have passed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/conv_fast.h"
#include "cpu/gemm.h"
#include "cpu/peak_flops.h"
#include "facestyle/capabilities.h"

using namespace facestyle;

namespace {

int fail(const std::string& msg) {
  std::printf("{\"error\":\"%s\"}\n", msg.c_str());
  return 2;
}

bool isaAvailable(const std::string& isa) {
  if (isa == "avx512") return detectedSimdLevel() >= SimdLevel::Avx512;
  if (isa == "avx2") return detectedSimdLevel() >= SimdLevel::Avx2;
  return true;
}

// Median and best seconds of fn() over at least 3 runs and minSeconds, after one warm-up run.
template <class F>
std::pair<double, double> timeIt(F fn, double minSeconds, size_t* reps) {
  auto once = [&] {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  once();
  std::vector<double> times;
  double total = 0;
  while (times.size() < 3 || total < minSeconds) {
    times.push_back(once());
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  *reps = times.size();
  return {times[times.size() / 2], times.front()};
}

int peak(int argc, char** argv) {
  if (argc < 5) return fail("usage: peak <avx2|avx512> <threads> <seconds>");
  std::string isa = argv[2];
  int threads = std::atoi(argv[3]);
  double seconds = std::atof(argv[4]);
  if (isa != "avx2" && isa != "avx512") return fail("unknown isa " + isa);
  if (!isaAvailable(isa)) return fail("this CPU has no " + isa);
  double flops = isa == "avx512" ? cpu::peakFlopsAvx512(threads, seconds) : cpu::peakFlopsAvx2(threads, seconds);
  std::printf("{\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.3f}\n", isa.c_str(), threads, flops / 1e9);
  return 0;
}

int gemm(int argc, char** argv) {
  if (argc < 8) return fail("usage: gemm <impl> <M> <N> <K> <threads> <minSeconds>");
  const std::string impl = argv[2];
  const int64_t M = std::atoll(argv[3]), N = std::atoll(argv[4]), K = std::atoll(argv[5]);
  const int threads = std::atoi(argv[6]);
  const double minSeconds = std::atof(argv[7]);
  if (M <= 0 || N <= 0 || K <= 0) return fail("sizes must be positive");
  decltype(&cpu::sgemm) fn = nullptr;
  // The per-ISA paths take an optional epilogue; bind it to none.
  if (impl == "naive") fn = cpu::sgemmNaive;
  else if (impl == "scalar") fn = [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, float al, const float* a, int64_t lda, const float* b, int64_t ldb, float be, float* c, int64_t ldc, int t) { cpu::sgemmScalar(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, t); };
  else if (impl == "avx2") fn = [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, float al, const float* a, int64_t lda, const float* b, int64_t ldb, float be, float* c, int64_t ldc, int t) { cpu::sgemmAvx2(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, t); };
  else if (impl == "avx512") fn = [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, float al, const float* a, int64_t lda, const float* b, int64_t ldb, float be, float* c, int64_t ldc, int t) { cpu::sgemmAvx512(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, t); };
  else if (impl == "auto") fn = cpu::sgemm;
  else return fail("unknown impl " + impl);
  if (!isaAvailable(impl)) return fail("this CPU has no " + impl);

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> A(M * K), B(K * N), C(M * N);
  for (auto& x : A) x = dist(rng);
  for (auto& x : B) x = dist(rng);
  size_t reps = 0;
  auto [median, best] =
      timeIt([&] { fn(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, C.data(), N, threads); }, minSeconds, &reps);
  const double flops = 2.0 * double(M) * double(N) * double(K);
  std::printf(
      "{\"impl\":\"%s\",\"M\":%lld,\"N\":%lld,\"K\":%lld,\"threads\":%d,\"reps\":%zu,\"medianMs\":%.4f,"
      "\"bestMs\":%.4f,\"gflops\":%.3f,\"bestGflops\":%.3f}\n",
      impl.c_str(), (long long)M, (long long)N, (long long)K, threads, reps, median * 1e3, best * 1e3,
      flops / median / 1e9, flops / best / 1e9);
  return 0;
}

int depthwise(int argc, char** argv) {
  if (argc < 10) return fail("usage: depthwise <impl> <C> <H> <W> <k> <stride> <threads> <minSeconds>");
  const std::string impl = argv[2];
  const int64_t C = std::atoll(argv[3]), H = std::atoll(argv[4]), W = std::atoll(argv[5]), k = std::atoll(argv[6]),
                stride = std::atoll(argv[7]);
  const int threads = std::atoi(argv[8]);
  const double minSeconds = std::atof(argv[9]);
  if (C <= 0 || H <= 0 || W <= 0 || k <= 0 || stride <= 0) return fail("sizes must be positive");
  decltype(&cpu::depthwiseConv2d) fn = nullptr;
  if (impl == "scalar") fn = cpu::depthwiseConv2dScalar;
  else if (impl == "avx2") fn = cpu::depthwiseConv2dAvx2;
  else if (impl == "avx512") fn = cpu::depthwiseConv2dAvx512;
  else if (impl == "auto") fn = cpu::depthwiseConv2d;
  else return fail("unknown impl " + impl);
  if (!isaAvailable(impl)) return fail("this CPU has no " + impl);
  const int64_t pad = k / 2;
  cpu::DepthwiseShape s{1, C, H, W, (H + 2 * pad - k) / stride + 1, (W + 2 * pad - k) / stride + 1, k, k, stride, stride, 1, 1, pad, pad};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> x(C * H * W), w(C * k * k), b(C), y(C * s.oh * s.ow);
  for (auto* v : {&x, &w, &b})
    for (auto& e : *v) e = dist(rng);
  size_t reps = 0;
  auto [median, best] = timeIt([&] { fn(s, x.data(), w.data(), b.data(), y.data(), threads); }, minSeconds, &reps);
  const double flops = 2.0 * double(C) * s.oh * s.ow * k * k;
  std::printf("{\"impl\":\"%s\",\"C\":%lld,\"H\":%lld,\"W\":%lld,\"k\":%lld,\"stride\":%lld,\"threads\":%d,\"reps\":%zu,"
              "\"medianMs\":%.4f,\"bestMs\":%.4f,\"gflops\":%.3f}\n",
              impl.c_str(), (long long)C, (long long)H, (long long)W, (long long)k, (long long)stride, threads, reps,
              median * 1e3, best * 1e3, flops / median / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("usage: bench_native info|peak|gemm ...");
  const std::string cmd = argv[1];
  if (cmd == "info") {
    std::printf("{\"detected\":\"%s\",\"simd\":\"%s\",\"hardwareThreads\":%d}\n", simdLevelName(detectedSimdLevel()),
                simdLevelName(simdLevel()), hardwareThreads());
    return 0;
  }
  if (cmd == "peak") return peak(argc, argv);
  if (cmd == "gemm") return gemm(argc, argv);
  if (cmd == "depthwise") return depthwise(argc, argv);
  return fail("unknown command " + cmd);
}
