// A tiny test harness for the C++ kernel tests: CHECK records failures without stopping, each test
// binary prints "N passed, N skipped, N failed" and exits non-zero on any failure. A test that makes
// no CHECK at all fails (it proved nothing) unless it called SKIP_TEST with its reason: then it is
// listed as skipped, never as passed.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "facestyle/kernel.h"
#include "runtime/session.h"

namespace facestyle::test {

struct Registry {
  std::vector<std::pair<std::string, std::function<void()>>> tests;
  int checks = 0;
  int failures = 0;
  std::string skipReason;  // set by SKIP_TEST in the running test
  static Registry& get() {
    static Registry r;
    return r;
  }
};

struct Register {
  Register(const char* name, std::function<void()> fn) { Registry::get().tests.emplace_back(name, std::move(fn)); }
};

#define TEST_CASE(name)                                              \
  static void name();                                                \
  static ::facestyle::test::Register register_##name(#name, name);   \
  static void name()

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    ++::facestyle::test::Registry::get().checks;                                            \
    if (!(cond)) {                                                                          \
      ++::facestyle::test::Registry::get().failures;                                        \
      std::fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
    }                                                                                       \
  } while (0)

// Ends the running test as skipped, with the reason shown in the output.
#define SKIP_TEST(reason)                                  \
  do {                                                     \
    ::facestyle::test::Registry::get().skipReason = reason; \
    return;                                                \
  } while (0)

#define CHECK_THROWS_CODE(expr, errcode)                                          \
  do {                                                                            \
    bool threw_ = false;                                                          \
    try {                                                                         \
      (void)(expr);                                                               \
    } catch (const ::facestyle::Error& e) {                                       \
      threw_ = e.code() == ::facestyle::ErrorCode::errcode;                       \
      if (!threw_) std::fprintf(stderr, "  wrong code, message: %s\n", e.what()); \
    }                                                                             \
    CHECK(threw_);                                                                \
  } while (0)

// |a - b| <= atol + rtol * |b| elementwise; prints the first few mismatches.
inline bool allClose(const std::vector<float>& a, const std::vector<float>& b, double atol, double rtol) {
  if (a.size() != b.size()) {
    std::fprintf(stderr, "  size %zu != %zu\n", a.size(), b.size());
    return false;
  }
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double diff = std::fabs(double(a[i]) - double(b[i]));
    if (!(diff <= atol + rtol * std::fabs(double(b[i])))) {
      if (bad++ < 5) std::fprintf(stderr, "  at %zu: %g vs %g\n", i, a[i], b[i]);
    }
  }
  return bad == 0;
}

inline std::vector<float> randomVector(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A kernel input on the host: its shape and data.
struct KernelArg {
  Shape shape;
  std::vector<float> data;
};

inline KernelArg randomArg(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  const size_t n = static_cast<size_t>(shapeElements(shape));
  return KernelArg{std::move(shape), randomVector(n, seed, lo, hi)};
}

// Runs one CPU kernel directly (no planner) on host buffers and returns its outputs.
inline std::vector<std::vector<float>> runKernel(OpKind op, const Attrs& attrs, const std::vector<KernelArg>& ins,
                                                 const std::vector<Shape>& outShapes, int threads) {
  NodeDesc node;
  node.name = "k";
  node.op = op;
  node.attrs = attrs;
  std::vector<std::vector<float>> outs;
  for (const Shape& s : outShapes) outs.emplace_back(static_cast<size_t>(std::max<int64_t>(1, shapeElements(s))), 0.f);
  KernelContext ctx{node, {}, {}, threads, nullptr, {}};
  for (const KernelArg& a : ins) ctx.inputs.push_back(Tensor{const_cast<float*>(a.data.data()), a.shape});
  for (size_t i = 0; i < outShapes.size(); ++i) ctx.outputs.push_back(Tensor{outs[i].data(), outShapes[i]});
  KernelFn fn = findKernel(op, Device::CPU);
  if (!fn) throw Error(ErrorCode::Unsupported, "no kernel");
  fn(ctx);
  for (size_t i = 0; i < outShapes.size(); ++i) outs[i].resize(static_cast<size_t>(shapeElements(outShapes[i])));
  return outs;
}

// Attribute values for kernels called directly.
inline Attr numbersAttr(std::vector<double> v) {
  Attr a;
  a.numbers = std::move(v);
  return a;
}

inline Attr textAttr(const std::string& s) {
  Attr a;
  a.text = s;
  a.isText = true;
  return a;
}

inline int runAll() {
  auto& r = Registry::get();
  int passed = 0, skipped = 0, failed = 0;
  for (auto& [name, fn] : r.tests) {
    const int failuresBefore = r.failures, checksBefore = r.checks;
    r.skipReason.clear();
    try {
      fn();
    } catch (const std::exception& e) {
      ++r.failures;
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
    }
    if (r.failures != failuresBefore) {
      std::printf("FAIL %s\n", name.c_str());
      ++failed;
    } else if (!r.skipReason.empty()) {
      std::printf("skip %s: %s\n", name.c_str(), r.skipReason.c_str());
      ++skipped;
    } else if (r.checks == checksBefore) {
      std::printf("FAIL %s: made no checks\n", name.c_str());
      ++failed;
    } else {
      std::printf("ok   %s\n", name.c_str());
      ++passed;
    }
  }
  std::printf("%d passed, %d skipped, %d failed\n", passed, skipped, failed);
  return failed ? 1 : 0;
}

}  // namespace facestyle::test

#define TEST_MAIN() \
  int main() { return ::facestyle::test::runAll(); }
