// Every op with a CUDA kernel, run on CUDA and on the CPU kernel (the reference) with the same
// random inputs, through a one-node Session on each device: |cuda - cpu| <= atol + rtol * |cpu|.
// The CUDA arena is poisoned with NaN before each run, so an output element a kernel forgets to
// write fails the comparison. GEMM-shaped ops (Conv2D, ConvTranspose2D, MatMul, Gemm, the conv
// gradients) run twice on devices with TF32: the opt-in TF32 tensor-core path at TF32 tolerance,
// then the default fp32 path at fp32 tolerance.
//
// Exits 77 (ctest: skipped) with the reason when CUDA is not compiled in or no device is present.
// Goes through Session only, so it needs no CUDA headers; the pool and math-mode headers it uses
// under FACESTYLE_WITH_CUDA are plain C++.
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "harness.h"
#include "runtime/device_memory.h"

#ifdef FACESTYLE_WITH_CUDA
#include "cuda/math_mode.cuh"
#include "cuda/memory_pool.cuh"
#include "cuda/optim.cuh"
#endif

using namespace facestyle;
using namespace facestyle::test;

namespace {

struct In {
  Shape shape;
  float lo = -1.f, hi = 1.f;
  std::vector<float> data;  // explicit values instead of random ones
  bool omitted = false;     // an absent optional input (-1 in the node)
};

In in(Shape s, float lo = -1.f, float hi = 1.f) { return In{std::move(s), lo, hi, {}, false}; }
In fixed(Shape s, std::vector<float> d) { return In{std::move(s), 0, 0, std::move(d), false}; }
In omitted() { return In{{}, 0, 0, {}, true}; }

Attr num(double v) { return Attr{{v}, "", false}; }
Attr nums(std::vector<double> v) { return Attr{std::move(v), "", false}; }
Attr str(const std::string& s) { return Attr{{}, s, true}; }
Attrs attrs(std::map<std::string, Attr> m) {
  Attrs a;
  a.values = std::move(m);
  return a;
}

enum class Math { Exact, Gemm };

struct Case {
  std::string name;
  OpKind op;
  std::vector<In> inputs;
  std::vector<Shape> outputs;
  Attrs at;
  double atol = 1e-5, rtol = 1e-5;
  Math math = Math::Exact;
};

GraphDesc oneNode(const Case& c, OpKind op, const Attrs& at) {
  GraphDesc g;
  NodeDesc node;
  node.name = c.name;
  node.op = op;
  node.attrs = at;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].omitted) {
      node.inputs.push_back(-1);
      continue;
    }
    g.values.push_back({"in" + std::to_string(i), ValueKind::Input, c.inputs[i].shape, {}});
    g.inputs.push_back(static_cast<int>(g.values.size()) - 1);
    node.inputs.push_back(g.inputs.back());
  }
  for (size_t o = 0; o < c.outputs.size(); ++o) {
    g.values.push_back({"out" + std::to_string(o), ValueKind::Intermediate, c.outputs[o], {}});
    node.outputs.push_back(static_cast<int>(g.values.size()) - 1);
    g.outputs.push_back(node.outputs.back());
  }
  g.nodes.push_back(node);
  return g;
}

std::vector<std::vector<float>> makeFeeds(const Case& c, uint32_t seed) {
  std::vector<std::vector<float>> feeds;
  for (const In& i : c.inputs) {
    if (i.omitted) continue;
    feeds.push_back(!i.data.empty() ? i.data : randomVector(static_cast<size_t>(shapeElements(i.shape)), seed++, i.lo, i.hi));
  }
  return feeds;
}

std::vector<std::vector<float>> runSession(const GraphDesc& g, Device device, const std::vector<std::vector<float>>& feeds) {
  SessionOptions o;
  o.device = device;
  o.threads = 2;
#ifdef FACESTYLE_WITH_CUDA
  if (device == Device::CUDA) {
    // Poison: the pool holds exactly one cached block, of the arena's size, full of NaN; the
    // session's arena (its first allocation) is handed that block.
    const Plan plan = makePlan(g, o.plan);
    cuda::MemoryPool::instance().trim();
    if (plan.arenaBytes > 0) {
      auto mem = makeCudaMemory();
      void* p = mem->allocate(plan.arenaBytes);
      std::vector<float> nan((plan.arenaBytes + sizeof(float) - 1) / sizeof(float), std::numeric_limits<float>::quiet_NaN());
      mem->copyFromHost(p, nan.data(), plan.arenaBytes);
      mem->synchronize();
      mem->release(p);
    }
  }
#endif
  Session s(g, o);
  std::vector<HostSpan> spans;
  for (const auto& f : feeds) spans.push_back({f.data(), f.size()});
  return s.run(spans);
}

// Elementwise |cuda - cpu| <= atol + rtol * |cpu| for every output; prints the first mismatches and
// the largest difference.
bool compare(const std::string& label, const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& ref, double atol,
             double rtol) {
  if (got.size() != ref.size()) {
    std::fprintf(stderr, "  %s: %zu outputs vs %zu\n", label.c_str(), got.size(), ref.size());
    return false;
  }
  bool ok = true;
  for (size_t o = 0; o < got.size(); ++o) {
    if (got[o].size() != ref[o].size()) {
      std::fprintf(stderr, "  %s output %zu: %zu values vs %zu\n", label.c_str(), o, got[o].size(), ref[o].size());
      ok = false;
      continue;
    }
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < got[o].size(); ++i) {
      const double a = got[o][i], b = ref[o][i];
      const double diff = std::fabs(a - b);
      const bool pass = diff <= atol + rtol * std::fabs(b);  // NaN on either side fails
      if (std::isfinite(diff)) worst = std::max(worst, diff);
      if (!pass && bad++ < 4) std::fprintf(stderr, "  %s output %zu [%zu]: cuda %.9g cpu %.9g\n", label.c_str(), o, i, a, b);
    }
    if (bad) {
      std::fprintf(stderr, "  %s output %zu: %d of %zu values out of tolerance (max |diff| %.3g)\n", label.c_str(), o, bad, got[o].size(),
                   worst);
      ok = false;
    }
  }
  return ok;
}

[[maybe_unused]] bool tf32Capable() {
  CudaInfo info = queryCuda();
  return !info.devices.empty() && info.devices[0].computeCapability >= 80;
}

// Runs one case on both devices (and both GEMM math modes where that applies).
void runCase(const Case& c, uint32_t seed = 1234) {
  if (!findKernel(c.op, Device::CUDA)) {
    std::fprintf(stderr, "  %s: no CUDA kernel for %s\n", c.name.c_str(), opKindName(c.op));
    CHECK(false);
    return;
  }
  if (!findKernel(c.op, Device::CPU)) {
    // Every CUDA op has its CPU reference: a missing one is a failure, not a skip.
    std::fprintf(stderr, "  %s: no CPU kernel for %s to compare with\n", c.name.c_str(), opKindName(c.op));
    CHECK(false);
    return;
  }
  const GraphDesc g = oneNode(c, c.op, c.at);
  const auto feeds = makeFeeds(c, seed);
  const auto ref = runSession(g, Device::CPU, feeds);
#ifdef FACESTYLE_WITH_CUDA
  if (c.math == Math::Gemm) {
    const bool was = cuda::tf32Enabled();
    if (tf32Capable()) {
      cuda::setTf32Enabled(true);
      CHECK(compare(c.name + " (tf32)", runSession(g, Device::CUDA, feeds), ref, std::max(c.atol, 2e-2), std::max(c.rtol, 1e-2)));
    }
    cuda::setTf32Enabled(false);
    CHECK(compare(c.name + " (fp32)", runSession(g, Device::CUDA, feeds), ref, c.atol, c.rtol));
    cuda::setTf32Enabled(was);
    return;
  }
#endif
  CHECK(compare(c.name, runSession(g, Device::CUDA, feeds), ref, c.atol, c.rtol));
}

void runAllCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    try {
      runCase(c);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  %s: unexpected exception: %s\n", c.name.c_str(), e.what());
      CHECK(false);
    }
  }
}

const Shape kImage{2, 3, 17, 19};

}  // namespace

TEST_CASE(elementwise_binary_with_broadcasting) {
  std::vector<Case> cases;
  const struct {
    OpKind op;
    const char* name;
    float blo, bhi, alo, ahi;
  } ops[] = {{OpKind::Add, "Add", -1, 1, -1, 1}, {OpKind::Sub, "Sub", -1, 1, -1, 1},   {OpKind::Mul, "Mul", -1, 1, -1, 1},
             {OpKind::Div, "Div", 0.5, 2, -1, 1}, {OpKind::Pow, "Pow", -2, 2, 0.1f, 2}, {OpKind::Max, "Max", -1, 1, -1, 1},
             {OpKind::Min, "Min", -1, 1, -1, 1}};
  for (const auto& o : ops) {
    const std::string n = o.name;
    cases.push_back({n + " same shape", o.op, {in({2, 3, 4, 5}, o.alo, o.ahi), in({2, 3, 4, 5}, o.blo, o.bhi)}, {{2, 3, 4, 5}}, {}});
    cases.push_back({n + " channel bias", o.op, {in({2, 3, 4, 5}, o.alo, o.ahi), in({3, 1, 1}, o.blo, o.bhi)}, {{2, 3, 4, 5}}, {}});
    cases.push_back({n + " scalar first", o.op, {in({}, o.alo, o.ahi), in({4, 7}, o.blo, o.bhi)}, {{4, 7}}, {}});
    cases.push_back({n + " scalar second", o.op, {in({4, 7}, o.alo, o.ahi), in({1}, o.blo, o.bhi)}, {{4, 7}}, {}});
    cases.push_back({n + " outer", o.op, {in({1, 5}, o.alo, o.ahi), in({4, 1}, o.blo, o.bhi)}, {{4, 5}}, {}});
  }
  runAllCases(cases);
}

TEST_CASE(elementwise_unary) {
  std::vector<Case> cases = {
      {"Relu", OpKind::Relu, {in(kImage)}, {kImage}, {}},
      {"LeakyRelu", OpKind::LeakyRelu, {in(kImage)}, {kImage}, attrs({{"alpha", num(0.2)}})},
      {"Tanh", OpKind::Tanh, {in(kImage, -3, 3)}, {kImage}, {}},
      {"Sigmoid", OpKind::Sigmoid, {in(kImage, -5, 5)}, {kImage}, {}},
      {"Exp", OpKind::Exp, {in(kImage, -3, 3)}, {kImage}, {}},
      {"Log", OpKind::Log, {in(kImage, 0.01f, 10)}, {kImage}, {}},
      {"Sqrt", OpKind::Sqrt, {in(kImage, 0, 4)}, {kImage}, {}},
      {"Abs", OpKind::Abs, {in(kImage)}, {kImage}, {}},
      {"Neg", OpKind::Neg, {in(kImage)}, {kImage}, {}},
      {"Clip", OpKind::Clip, {in(kImage)}, {kImage}, attrs({{"min", num(-0.3)}, {"max", num(0.5)}})},
      {"Identity", OpKind::Identity, {in(kImage)}, {kImage}, {}},
  };
  runAllCases(cases);
}

TEST_CASE(shape_ops) {
  std::vector<Case> cases = {
      {"Concat axis 1", OpKind::Concat, {in({2, 3, 4}), in({2, 5, 4})}, {{2, 8, 4}}, attrs({{"axis", num(1)}})},
      {"Concat axis -1", OpKind::Concat, {in({2, 3, 4}), in({2, 3, 1}), in({2, 3, 6})}, {{2, 3, 11}}, attrs({{"axis", num(-1)}})},
      {"Slice steps", OpKind::Slice, {in({4, 6, 8})}, {{2, 6, 3}},
       attrs({{"starts", nums({1, -5})}, {"ends", nums({3, 100})}, {"axes", nums({0, 2})}, {"steps", nums({1, 2})}})},
      {"Slice backwards", OpKind::Slice, {in({4, 6, 8})}, {{4, 3, 8}},
       attrs({{"starts", nums({-1})}, {"ends", nums({-100})}, {"axes", nums({1})}, {"steps", nums({-2})}})},
      {"Split", OpKind::Split, {in({2, 7, 3})}, {{2, 2, 3}, {2, 5, 3}}, attrs({{"axis", num(1)}, {"split", nums({2, 5})}})},
      {"Transpose NCHW->NHWC", OpKind::Transpose, {in({2, 3, 4, 5})}, {{2, 4, 5, 3}}, attrs({{"perm", nums({0, 2, 3, 1})}})},
      {"Transpose reversed", OpKind::Transpose, {in({3, 4, 5})}, {{5, 4, 3}}, {}},
      {"Transpose large 2-D", OpKind::Transpose, {in({130, 257})}, {{257, 130}}, attrs({{"perm", nums({1, 0})}})},
      {"Reshape", OpKind::Reshape, {in({2, 3, 4})}, {{4, 6}}, attrs({{"shape", nums({4, 6})}})},
      {"Flatten", OpKind::Flatten, {in({2, 3, 4})}, {{2, 12}}, {}},
      {"Squeeze", OpKind::Squeeze, {in({2, 1, 4})}, {{2, 4}}, {}},
      {"Unsqueeze", OpKind::Unsqueeze, {in({2, 4})}, {{2, 1, 4}}, attrs({{"axes", nums({1})}})},
  };
  runAllCases(cases);
}

TEST_CASE(pad_modes) {
  std::vector<Case> cases = {
      {"Pad constant", OpKind::Pad, {in({2, 3, 5, 6})}, {{2, 3, 8, 9}},
       attrs({{"pads", nums({0, 0, 1, 2, 0, 0, 2, 1})}, {"mode", str("constant")}, {"value", num(0.5)}})},
      {"Pad reflect", OpKind::Pad, {in({2, 3, 5, 6})}, {{2, 3, 9, 10}}, attrs({{"pads", nums({0, 0, 2, 2, 0, 0, 2, 2})}, {"mode", str("reflect")}})},
      {"Pad edge with crop", OpKind::Pad, {in({2, 3, 5, 6})}, {{2, 3, 6, 7}}, attrs({{"pads", nums({0, 0, -1, 3, 0, 0, 2, -2})}, {"mode", str("edge")}})},
      {"Pad reflect with crop", OpKind::Pad, {in({2, 3, 5, 6})}, {{2, 3, 6, 7}},
       attrs({{"pads", nums({0, 0, -1, 3, 0, 0, 2, -2})}, {"mode", str("reflect")}})},
  };
  runAllCases(cases);
}

TEST_CASE(resize_modes) {
  std::vector<Case> cases = {
      {"Resize nearest x2", OpKind::Resize, {in({1, 2, 5, 7})}, {{1, 2, 10, 14}}, attrs({{"scales", nums({1, 1, 2, 2})}})},
      {"Resize nearest sizes asymmetric floor", OpKind::Resize, {in({1, 2, 5, 7})}, {{1, 2, 3, 4}},
       attrs({{"sizes", nums({1, 2, 3, 4})}, {"coordinate_transformation_mode", str("asymmetric")}, {"nearest_mode", str("floor")}})},
      {"Resize nearest ceil on every axis", OpKind::Resize, {in({2, 3, 5, 7})}, {{3, 3, 6, 9}},
       attrs({{"sizes", nums({3, 3, 6, 9})}, {"nearest_mode", str("round_prefer_ceil")}})},
      {"Resize linear half_pixel", OpKind::Resize, {in({1, 2, 5, 7})}, {{1, 2, 9, 11}}, attrs({{"mode", str("linear")}, {"sizes", nums({1, 2, 9, 11})}})},
      {"Resize linear align_corners down", OpKind::Resize, {in({1, 2, 5, 7})}, {{1, 2, 2, 4}},
       attrs({{"mode", str("linear")}, {"scales", nums({1, 1, 0.5, 0.6})}, {"coordinate_transformation_mode", str("align_corners")}})},
      {"Resize linear pytorch_half_pixel", OpKind::Resize, {in({2, 3, 4, 6})}, {{2, 3, 8, 1}},
       attrs({{"mode", str("linear")}, {"sizes", nums({2, 3, 8, 1})}, {"coordinate_transformation_mode", str("pytorch_half_pixel")}})},
  };
  runAllCases(cases);
}

TEST_CASE(pooling) {
  auto window = [](std::vector<double> k, std::vector<double> s, std::vector<double> p) {
    return std::map<std::string, Attr>{{"kernel_shape", nums(k)}, {"strides", nums(s)}, {"pads", nums(p)}};
  };
  auto with = [](std::map<std::string, Attr> m, const char* k, Attr v) {
    m[k] = v;
    return attrs(m);
  };
  std::vector<Case> cases = {
      {"MaxPool 3x3/2 pad 1", OpKind::MaxPool, {in({2, 3, 9, 10})}, {{2, 3, 5, 5}}, attrs(window({3, 3}, {2, 2}, {1, 1, 1, 1}))},
      {"MaxPool ceil_mode", OpKind::MaxPool, {in({1, 2, 5, 7})}, {{1, 2, 3, 4}}, with(window({2, 2}, {2, 2}, {0, 0, 0, 0}), "ceil_mode", num(1))},
      {"MaxPool dilated", OpKind::MaxPool, {in({1, 1, 7, 7})}, {{1, 1, 5, 5}}, with(window({2, 2}, {1, 1}, {0, 0, 0, 0}), "dilations", nums({2, 2}))},
      {"AveragePool exclude pad", OpKind::AveragePool, {in({2, 3, 9, 10})}, {{2, 3, 5, 5}}, attrs(window({3, 3}, {2, 2}, {1, 1, 1, 1}))},
      {"AveragePool include pad", OpKind::AveragePool, {in({2, 3, 9, 10})}, {{2, 3, 5, 5}},
       with(window({3, 3}, {2, 2}, {1, 1, 1, 1}), "count_include_pad", num(1))},
      {"AveragePool include pad ceil_mode", OpKind::AveragePool, {in({1, 2, 6, 8})}, {{1, 2, 4, 5}},
       with(with(window({3, 3}, {2, 2}, {1, 1, 1, 1}), "count_include_pad", num(1)).values, "ceil_mode", num(1))},
      {"GlobalAveragePool", OpKind::GlobalAveragePool, {in({2, 3, 5, 7})}, {{2, 3, 1, 1}}, {}, 1e-5, 1e-4},
      {"GlobalMaxPool", OpKind::GlobalMaxPool, {in({2, 3, 5, 7})}, {{2, 3, 1, 1}}, {}},
  };
  runAllCases(cases);
}

TEST_CASE(normalizations) {
  const Shape x{2, 4, 5, 6};
  std::vector<Case> cases = {
      {"BatchNormalization", OpKind::BatchNormalization, {in(x), in({4}), in({4}), in({4}), in({4}, 0.1f, 2)}, {x}, {}, 1e-5, 1e-4},
      {"InstanceNormalization", OpKind::InstanceNormalization, {in(x, -2, 3), in({4}), in({4})}, {x}, {}, 1e-4, 1e-4},
      {"InstanceNormalization long rows", OpKind::InstanceNormalization, {in({1, 2, 64, 64}, 5, 6), in({2}), in({2})}, {{1, 2, 64, 64}},
       attrs({{"epsilon", num(1e-3)}}), 1e-4, 1e-4},
      {"LayerNormalization last axis", OpKind::LayerNormalization, {in({3, 4, 10}), in({10}), in({10})}, {{3, 4, 10}}, {}, 1e-4, 1e-4},
      {"LayerNormalization broadcast scale, no bias", OpKind::LayerNormalization, {in({2, 3, 4, 5}), in({3, 1, 5})}, {{2, 3, 4, 5}},
       attrs({{"axis", num(1)}}), 1e-4, 1e-4},
      {"GroupNormalization", OpKind::GroupNormalization, {in({2, 6, 4, 5}), in({6}), in({6})}, {{2, 6, 4, 5}}, attrs({{"num_groups", num(3)}}),
       1e-4, 1e-4},
      // The norm + activation fusion (lib/graph/passes/fuse_norm.ts): both devices apply it in the output loop.
      {"InstanceNormalization + LeakyRelu", OpKind::InstanceNormalization, {in(x, -2, 3), in({4}), in({4})}, {x},
       attrs({{"activation", str("LeakyRelu")}, {"activation_alpha", num(0.2)}}), 1e-4, 1e-4},
      {"LayerNormalization + Clip", OpKind::LayerNormalization, {in({3, 4, 10}), in({10}), in({10})}, {{3, 4, 10}},
       attrs({{"activation", str("Clip")}, {"activation_min", num(-0.5)}, {"activation_max", num(0.5)}}), 1e-4, 1e-4},
  };
  runAllCases(cases);
}

TEST_CASE(elementwise_chain) {
  // ElementwiseChain (lib/ops/elementwise_chain.ts): program, two operand indices and two params per step.
  std::vector<Case> cases = {
      {"ElementwiseChain x*sigmoid(x)", OpKind::ElementwiseChain, {in({2, 3, 7, 9})}, {{2, 3, 7, 9}},
       attrs({{"program", str("Sigmoid Mul")}, {"operands", nums({0, -1, 0, 1})}, {"params", nums({0, 0, 0, 0})}}), 1e-6, 1e-5},
      {"ElementwiseChain (x + b) -> LeakyRelu, b broadcast", OpKind::ElementwiseChain, {in({2, 3, 5, 6}), in({3, 1, 1})}, {{2, 3, 5, 6}},
       attrs({{"program", str("Add LeakyRelu")}, {"operands", nums({0, 1, 2, -1})}, {"params", nums({0, 0, 0.2, 0})}}), 1e-6, 1e-5},
      {"ElementwiseChain Tanh Mul Add Clip", OpKind::ElementwiseChain, {in({4, 33}), in({33}), in({4, 1})}, {{4, 33}},
       attrs({{"program", str("Tanh Mul Add Clip")}, {"operands", nums({0, -1, 3, 1, 4, 2, 5, -1})}, {"params", nums({0, 0, 0, 0, 0, 0, -0.4, 0.6})}}),
       1e-6, 1e-5},
  };
  runAllCases(cases);
}

TEST_CASE(reductions_and_softmax) {
  std::vector<Case> cases = {
      {"ReduceSum axis 1 keepdims", OpKind::ReduceSum, {in({2, 3, 4})}, {{2, 1, 4}}, attrs({{"axes", nums({1})}}), 1e-5, 1e-4},
      {"ReduceMean axes 0,2", OpKind::ReduceMean, {in({2, 3, 4})}, {{3}}, attrs({{"axes", nums({0, 2})}, {"keepdims", num(0)}}), 1e-5, 1e-4},
      {"ReduceMax all", OpKind::ReduceMax, {in({2, 3, 4})}, {{1, 1, 1}}, {}},
      {"ReduceSum long rows", OpKind::ReduceSum, {in({5, 3000})}, {{5}}, attrs({{"axes", nums({-1})}, {"keepdims", num(0)}}), 1e-4, 1e-4},
      {"ReduceMean outer axis", OpKind::ReduceMean, {in({300, 7})}, {{1, 7}}, attrs({{"axes", nums({0})}}), 1e-5, 1e-4},
      {"Softmax last axis", OpKind::Softmax, {in({4, 37}, -5, 5)}, {{4, 37}}, {}, 1e-6, 1e-4},
      {"Softmax axis 1", OpKind::Softmax, {in({2, 5, 3, 4}, -5, 5)}, {{2, 5, 3, 4}}, attrs({{"axis", num(1)}}), 1e-6, 1e-4},
  };
  runAllCases(cases);
}

TEST_CASE(matmul_and_gemm) {
  auto gemm = [](Case c) {
    c.math = Math::Gemm;
    c.atol = 1e-4;
    c.rtol = 1e-4;
    return c;
  };
  std::vector<Case> cases = {
      gemm({"MatMul batched", OpKind::MatMul, {in({2, 3, 17, 33}), in({33, 20})}, {{2, 3, 17, 20}}, {}}),
      gemm({"MatMul 1-D A", OpKind::MatMul, {in({33}), in({2, 33, 5})}, {{2, 5}}, {}}),
      gemm({"MatMul 1-D B", OpKind::MatMul, {in({7, 65}), in({65})}, {{7}}, {}}),
      gemm({"MatMul broadcast batch", OpKind::MatMul, {in({3, 1, 4, 8}), in({1, 5, 8, 6})}, {{3, 5, 4, 6}}, {}}),
      gemm({"MatMul large", OpKind::MatMul, {in({130, 200}), in({200, 150})}, {{130, 150}}, {}}),
      gemm({"Gemm alpha beta C row", OpKind::Gemm, {in({70, 50}), in({50, 90}), in({90})}, {{70, 90}},
            attrs({{"alpha", num(0.5)}, {"beta", num(2)}})}),
      gemm({"Gemm transposed, C column", OpKind::Gemm, {in({50, 70}), in({90, 50}), in({70, 1})}, {{70, 90}},
            attrs({{"transA", num(1)}, {"transB", num(1)}})}),
      gemm({"Gemm no C", OpKind::Gemm, {in({3, 40}), in({40, 10})}, {{3, 10}}, {}}),
  };
  runAllCases(cases);
}

TEST_CASE(convolutions) {
  auto conv = [](Case c) {
    c.math = Math::Gemm;
    c.atol = 1e-4;
    c.rtol = 1e-4;
    return c;
  };
  std::vector<Case> cases = {
      conv({"Conv2D 3x3 pad 1 + bias", OpKind::Conv2D, {in({2, 8, 17, 19}), in({16, 8, 3, 3}), in({16})}, {{2, 16, 17, 19}},
            attrs({{"pads", nums({1, 1, 1, 1})}})}),
      conv({"Conv2D strided dilated grouped", OpKind::Conv2D, {in({1, 8, 16, 16}), in({12, 4, 3, 3})}, {{1, 12, 8, 8}},
            attrs({{"strides", nums({2, 2})}, {"dilations", nums({2, 2})}, {"pads", nums({2, 2, 1, 1})}, {"group", num(2)}})}),
      conv({"Conv2D 1x1", OpKind::Conv2D, {in({2, 32, 9, 9}), in({24, 32, 1, 1}), in({24})}, {{2, 24, 9, 9}}, {}}),
      conv({"Conv2D depthwise x2", OpKind::Conv2D, {in({2, 8, 10, 10}), in({16, 1, 3, 3}), in({16})}, {{2, 16, 10, 10}},
            attrs({{"pads", nums({1, 1, 1, 1})}, {"group", num(8)}})}),
      conv({"Conv2D K=576", OpKind::Conv2D, {in({1, 64, 16, 16}), in({32, 64, 3, 3})}, {{1, 32, 16, 16}}, attrs({{"pads", nums({1, 1, 1, 1})}})}),
      conv({"Conv2D 7x7 stride 2 RGB", OpKind::Conv2D, {in({2, 3, 32, 32}), in({16, 3, 7, 7}), in({16})}, {{2, 16, 16, 16}},
            attrs({{"strides", nums({2, 2})}, {"pads", nums({3, 3, 3, 3})}})}),
      conv({"Conv2D fused Clip", OpKind::Conv2D, {in({1, 8, 12, 12}), in({8, 8, 3, 3}), in({8})}, {{1, 8, 12, 12}},
            attrs({{"pads", nums({1, 1, 1, 1})}, {"activation", str("Clip")}, {"activation_min", num(-0.5)}, {"activation_max", num(0.75)}})}),
      conv({"Conv2D fused Sigmoid, depthwise", OpKind::Conv2D, {in({1, 4, 9, 9}), in({4, 1, 3, 3})}, {{1, 4, 7, 7}},
            attrs({{"group", num(4)}, {"activation", str("Sigmoid")}})}),
      conv({"ConvTranspose2D stride 2 output_padding", OpKind::ConvTranspose2D, {in({2, 6, 5, 7}), in({6, 4, 3, 3})}, {{2, 4, 10, 14}},
            attrs({{"strides", nums({2, 2})}, {"pads", nums({1, 1, 1, 1})}, {"output_padding", nums({1, 1})}})}),
      conv({"ConvTranspose2D grouped + bias", OpKind::ConvTranspose2D, {in({1, 4, 6, 6}), in({4, 3, 3, 3}), in({6})}, {{1, 6, 8, 8}},
            attrs({{"group", num(2)}})}),
      // The residual input Z (input 3, from fuseResidualAdd): act(conv + B + Z) in the epilogue.
      conv({"Conv2D residual Z + LeakyRelu", OpKind::Conv2D, {in({2, 8, 11, 13}), in({12, 8, 3, 3}), in({12}), in({2, 12, 11, 13})},
            {{2, 12, 11, 13}}, attrs({{"pads", nums({1, 1, 1, 1})}, {"activation", str("LeakyRelu")}, {"activation_alpha", num(0.2)}})}),
      conv({"Conv2D residual Z, no bias, depthwise", OpKind::Conv2D, {in({1, 6, 9, 9}), in({6, 1, 3, 3}), omitted(), in({1, 6, 9, 9})},
            {{1, 6, 9, 9}}, attrs({{"pads", nums({1, 1, 1, 1})}, {"group", num(6)}})}),
      conv({"ConvTranspose2D 2x2/2 residual Z, no bias", OpKind::ConvTranspose2D, {in({1, 16, 7, 9}), in({16, 8, 2, 2}), omitted(), in({1, 8, 14, 18})},
            {{1, 8, 14, 18}}, attrs({{"strides", nums({2, 2})}})}),
  };
  runAllCases(cases);
}

// The fused epilogue (CUDA only: an `activation` attribute) against CPU Conv2D then LeakyRelu.
TEST_CASE(conv_fused_activation_matches_conv_then_activation) {
  if (!findKernel(OpKind::Conv2D, Device::CPU) || !findKernel(OpKind::LeakyRelu, Device::CPU)) {
    std::fprintf(stderr, "  no CPU Conv2D/LeakyRelu kernel to compare with\n");
    CHECK(false);
    return;
  }
  Case c{"Conv2D+LeakyRelu", OpKind::Conv2D, {in({1, 8, 12, 12}), in({8, 8, 3, 3}), in({8})}, {{1, 8, 12, 12}},
         attrs({{"pads", nums({1, 1, 1, 1})}})};
  const auto feeds = makeFeeds(c, 77);
  // CPU: two nodes.
  GraphDesc cpu = oneNode(c, OpKind::Conv2D, c.at);
  cpu.values.push_back({"act", ValueKind::Intermediate, {1, 8, 12, 12}, {}});
  NodeDesc act;
  act.name = "act";
  act.op = OpKind::LeakyRelu;
  act.attrs = attrs({{"alpha", num(0.2)}});
  act.inputs = {cpu.outputs[0]};
  act.outputs = {static_cast<int>(cpu.values.size()) - 1};
  cpu.nodes.push_back(act);
  cpu.outputs = {act.outputs[0]};
  const auto ref = runSession(cpu, Device::CPU, feeds);
  Attrs fused = c.at;
  fused.values["activation"] = str("LeakyRelu");
  fused.values["activation_alpha"] = num(0.2);
#ifdef FACESTYLE_WITH_CUDA
  const bool was = cuda::tf32Enabled();
  cuda::setTf32Enabled(false);
#endif
  CHECK(compare(c.name, runSession(oneNode(c, OpKind::Conv2D, fused), Device::CUDA, feeds), ref, 1e-4, 1e-4));
#ifdef FACESTYLE_WITH_CUDA
  cuda::setTf32Enabled(was);
#endif
}

TEST_CASE(warp_affine) {
  // Rotation by ~20 degrees, scale 1.3, shifted so part of the output samples outside the input.
  const std::vector<float> m2 = {1.22f, -0.44f, -3.5f, 0.44f, 1.22f, -2.25f, 0.9f, 0.1f, 1.5f, -0.1f, 0.9f, 0.75f};
  const std::vector<float> m3 = {1, 0, 0.5f, 0, 1, 0.5f, 0.5f, 0, 2, 0, 0.5f, 3, -1, 0, 23, 0, 1, -1.25f};
  std::vector<Case> cases;
  for (const char* border : {"constant", "reflect", "edge"}) {
    cases.push_back({std::string("WarpAffine ") + border, OpKind::WarpAffine, {in({2, 3, 20, 24}), fixed({2, 2, 3}, m2)}, {{2, 3, 16, 18}},
                     attrs({{"out_height", num(16)}, {"out_width", num(18)}, {"border", str(border)}, {"value", num(0.25)}}), 1e-5, 1e-5});
  }
  cases.push_back({"WarpAffine 3 crops of one image", OpKind::WarpAffine, {in({1, 3, 20, 24}), fixed({3, 2, 3}, m3)}, {{3, 3, 10, 12}},
                   attrs({{"out_height", num(10)}, {"out_width", num(12)}, {"border", str("reflect")}}), 1e-5, 1e-5});
  runAllCases(cases);
}

TEST_CASE(convolution_gradients) {
  auto gemm = [](Case c) {
    c.math = Math::Gemm;
    c.atol = 1e-4;
    c.rtol = 1e-4;
    return c;
  };
  const Attrs pad1 = attrs({{"pads", nums({1, 1, 1, 1})}, {"input_shape", nums({2, 8, 17, 19})}, {"filter_shape", nums({16, 8, 3, 3})}});
  const Attrs strided = attrs({{"strides", nums({2, 2})},
                               {"dilations", nums({2, 2})},
                               {"pads", nums({2, 2, 1, 1})},
                               {"group", num(2)},
                               {"input_shape", nums({1, 8, 16, 16})},
                               {"filter_shape", nums({12, 4, 3, 3})}});
  std::vector<Case> cases = {
      gemm({"Conv2DBackpropInput", OpKind::Conv2DBackpropInput, {in({2, 16, 17, 19}), in({16, 8, 3, 3})}, {{2, 8, 17, 19}}, pad1}),
      gemm({"Conv2DBackpropInput strided grouped", OpKind::Conv2DBackpropInput, {in({1, 12, 8, 8}), in({12, 4, 3, 3})}, {{1, 8, 16, 16}},
            strided}),
      gemm({"Conv2DBackpropFilter", OpKind::Conv2DBackpropFilter, {in({2, 8, 17, 19}), in({2, 16, 17, 19})}, {{16, 8, 3, 3}}, pad1}),
      gemm({"Conv2DBackpropFilter strided grouped", OpKind::Conv2DBackpropFilter, {in({1, 8, 16, 16}), in({1, 12, 8, 8})}, {{12, 4, 3, 3}},
            strided}),
      gemm({"Conv2DBackpropFilter split-K", OpKind::Conv2DBackpropFilter, {in({4, 16, 32, 32}), in({4, 16, 32, 32})}, {{16, 16, 3, 3}},
            attrs({{"pads", nums({1, 1, 1, 1})}, {"filter_shape", nums({16, 16, 3, 3})}})}),
      {"Conv2DBackpropBias", OpKind::Conv2DBackpropBias, {in({2, 16, 5, 7})}, {{16}}, {}, 1e-5, 1e-4},
  };
  runAllCases(cases);
}

TEST_CASE(activation_gradients_and_reduce_sum_to) {
  const Shape s{3, 50};
  std::vector<Case> cases = {
      {"ReluGrad", OpKind::ReluGrad, {in(s), in(s)}, {s}, {}},
      {"LeakyReluGrad", OpKind::LeakyReluGrad, {in(s), in(s)}, {s}, attrs({{"alpha", num(0.2)}})},
      {"TanhGrad", OpKind::TanhGrad, {in(s), in(s)}, {s}, {}},
      {"SigmoidGrad", OpKind::SigmoidGrad, {in(s), in(s, 0, 1)}, {s}, {}},
      {"AbsGrad", OpKind::AbsGrad, {in(s), in(s)}, {s}, {}},
      {"ReduceSumTo channels", OpKind::ReduceSumTo, {in({2, 3, 4, 5})}, {{3, 1, 5}}, attrs({{"shape", nums({3, 1, 5})}}), 1e-5, 1e-4},
      {"ReduceSumTo lower rank", OpKind::ReduceSumTo, {in({4, 5})}, {{5}}, attrs({{"shape", nums({5})}}), 1e-5, 1e-4},
      {"ReduceSumTo scalar", OpKind::ReduceSumTo, {in({4, 5})}, {{1}}, attrs({{"shape", nums({1})}}), 1e-5, 1e-4},
  };
  runAllCases(cases);
}

TEST_CASE(resize_backward) {
  std::vector<Case> cases = {
      {"ResizeBackward linear x2", OpKind::ResizeBackward, {in({1, 2, 10, 14})}, {{1, 2, 5, 7}},
       attrs({{"mode", str("linear")}, {"scales", nums({1, 1, 2, 2})}, {"input_shape", nums({1, 2, 5, 7})}}), 1e-5, 1e-4},
      {"ResizeBackward linear align_corners", OpKind::ResizeBackward, {in({2, 3, 9, 11})}, {{2, 3, 5, 7}},
       attrs({{"mode", str("linear")}, {"coordinate_transformation_mode", str("align_corners")}, {"input_shape", nums({2, 3, 5, 7})}}), 1e-5,
       1e-4},
      {"ResizeBackward nearest", OpKind::ResizeBackward, {in({1, 2, 10, 14})}, {{1, 2, 5, 7}},
       attrs({{"scales", nums({1, 1, 2, 2})}, {"input_shape", nums({1, 2, 5, 7})}}), 1e-5, 1e-4},
  };
  runAllCases(cases);
}

TEST_CASE(pad_and_instance_norm_gradients) {
  std::vector<Case> cases;
  for (const char* mode : {"constant", "reflect", "edge"})
    cases.push_back({std::string("PadBackward ") + mode, OpKind::PadBackward, {in({2, 3, 8, 9})}, {{2, 3, 5, 6}},
                     attrs({{"pads", nums({0, 0, 1, 2, 0, 0, 2, 1})}, {"mode", str(mode)}, {"input_shape", nums({2, 3, 5, 6})}}), 1e-6, 1e-5});
  cases.push_back({"InstanceNormalizationGrad", OpKind::InstanceNormalizationGrad, {in({2, 4, 6, 7}), in({2, 4, 6, 7}, -2, 3), in({4})},
                   {{2, 4, 6, 7}, {4}, {4}}, {}, 1e-5, 1e-4});
  runAllCases(cases);
}

TEST_CASE(optimizer_updates) {
  const Shape p{1000};
  std::vector<Case> cases = {
      {"AdamUpdate", OpKind::AdamUpdate, {in(p), in(p), in(p), in(p, 0, 1), in({3}, 0.1f, 0.9f)}, {p, p, p},
       attrs({{"weight_decay", num(0.01)}}), 1e-6, 1e-5},
      {"AdamUpdate clipped", OpKind::AdamUpdate, {in(p), in(p), in(p), in(p, 0, 1), in({3}, 0.1f, 0.9f), in({2}, 0.5f, 1)}, {p, p, p},
       attrs({{"beta1", num(0.8)}, {"beta2", num(0.99)}}), 1e-6, 1e-5},
      {"SgdMomentumUpdate", OpKind::SgdMomentumUpdate, {in(p), in(p), in(p), in({1}, 0.01f, 0.1f)}, {p, p},
       attrs({{"momentum", num(0.9)}, {"weight_decay", num(1e-4)}}), 1e-6, 1e-5},
      {"EmaUpdate", OpKind::EmaUpdate, {in(p), in(p), in({1}, 0.5f, 0.99f)}, {p}, {}, 1e-6, 1e-5},
      {"GlobalNormClip", OpKind::GlobalNormClip, {in({100}), in({3, 7}), in({5000})}, {{2}}, attrs({{"max_norm", num(2)}}), 1e-6, 1e-5},
  };
  Case many{"GlobalNormClip 40 gradients", OpKind::GlobalNormClip, {}, {{2}}, attrs({{"max_norm", num(100)}}), 1e-6, 1e-5};
  for (int i = 0; i < 40; ++i) many.inputs.push_back(in({10 + i}));
  cases.push_back(many);
  runAllCases(cases);
}

TEST_CASE(losses_and_their_gradients) {
  const Shape x{2, 3, 8, 8};
  std::vector<Case> cases = {
      {"L1Loss", OpKind::L1Loss, {in(x), in(x)}, {{}}, {}, 1e-6, 1e-5},
      {"MseLoss", OpKind::MseLoss, {in(x), in(x)}, {{}}, {}, 1e-6, 1e-5},
      {"LsganLoss", OpKind::LsganLoss, {in(x)}, {{}}, attrs({{"target", num(1)}}), 1e-6, 1e-5},
      {"ColorLoss", OpKind::ColorLoss, {in(x), in(x)}, {{}}, {}, 1e-6, 1e-5},
      {"L1LossGrad", OpKind::L1LossGrad, {in(x), in(x), in({}, 0.5f, 2)}, {x}, {}},
      {"MseLossGrad", OpKind::MseLossGrad, {in(x), in(x), in({}, 0.5f, 2)}, {x}, {}},
      {"LsganLossGrad", OpKind::LsganLossGrad, {in(x), in({}, 0.5f, 2)}, {x}, attrs({{"target", num(0)}})},
      {"ColorLossGrad", OpKind::ColorLossGrad, {in(x), in(x), in({}, 0.5f, 2)}, {x}, {}, 1e-6, 1e-5},
      {"BceLogitsLoss", OpKind::BceLogitsLoss, {in(x, -4, 4)}, {{}}, attrs({{"target", num(0.3)}}), 1e-6, 1e-5},
      {"BceLogitsLossGrad", OpKind::BceLogitsLossGrad, {in(x, -4, 4), in({}, 0.5f, 2)}, {x}, attrs({{"target", num(1)}}), 1e-7, 1e-5},
      {"HingeLoss real", OpKind::HingeLoss, {in(x, -2, 2)}, {{}}, attrs({{"sign", num(1)}}), 1e-6, 1e-5},
      {"HingeLoss generator", OpKind::HingeLoss, {in(x, -2, 2)}, {{}}, attrs({{"sign", num(0)}}), 1e-6, 1e-5},
      {"HingeLossGrad fake", OpKind::HingeLossGrad, {in(x, -2, 2), in({}, 0.5f, 2)}, {x}, attrs({{"sign", num(-1)}}), 1e-7, 1e-5},
      {"TotalVariationLoss", OpKind::TotalVariationLoss, {in(x)}, {{}}, {}, 1e-6, 1e-5},
      {"TotalVariationLossGrad", OpKind::TotalVariationLossGrad, {in(x), in({}, 0.5f, 2)}, {x}, {}, 1e-7, 1e-5},
  };
  runAllCases(cases);
}

// Every op the CPU has a kernel for has a CUDA kernel too.
TEST_CASE(every_cpu_op_has_a_cuda_kernel) {
  for (int k = 0; k < kOpCount; ++k) {
    const OpKind op = static_cast<OpKind>(k);
    if (findKernel(op, Device::CPU) && !findKernel(op, Device::CUDA)) {
      std::fprintf(stderr, "  %s has a CPU kernel but no CUDA kernel\n", opKindName(op));
      CHECK(false);
    }
  }
}

TEST_CASE(bad_shapes_are_coded_errors_and_the_device_stays_usable) {
  Case bad{"Add mismatched", OpKind::Add, {in({2, 3}), in({2, 3})}, {{2, 4}}, {}};
  CHECK_THROWS_CODE(runSession(oneNode(bad, bad.op, bad.at), Device::CUDA, makeFeeds(bad, 1)), Shape);
  Case good{"Add after error", OpKind::Add, {fixed({3}, {1, 2, 3}), fixed({3}, {10, 20, 30})}, {{3}}, {}};
  const auto out = runSession(oneNode(good, good.op, good.at), Device::CUDA, makeFeeds(good, 1));
  CHECK(out.size() == 1 && out[0] == std::vector<float>({11, 22, 33}));
}

TEST_CASE(out_of_memory_is_a_coded_error_and_the_device_stays_usable) {
  // 64 values of 2^31 - 1 floats (8 GiB each) without buffer reuse: a 512 GiB arena.
  GraphDesc g;
  const Shape big{(int64_t(1) << 31) - 1};
  g.values.push_back({"x", ValueKind::Input, big, {}});
  g.inputs = {0};
  for (int i = 0; i < 64; ++i) {
    g.values.push_back({"v" + std::to_string(i), ValueKind::Intermediate, big, {}});
    NodeDesc n;
    n.name = "id" + std::to_string(i);
    n.op = OpKind::Identity;
    n.inputs = {i};
    n.outputs = {i + 1};
    g.nodes.push_back(n);
  }
  g.outputs = {64};
  SessionOptions o;
  o.device = Device::CUDA;
  o.plan.reuseBuffers = false;
  CHECK_THROWS_CODE(Session(g, o), OutOfMemory);
  Case good{"Mul after OOM", OpKind::Mul, {fixed({2}, {1.5f, -2}), fixed({2}, {2, 4})}, {{2}}, {}};
  const auto out = runSession(oneNode(good, good.op, good.at), Device::CUDA, makeFeeds(good, 1));
  CHECK(out.size() == 1 && out[0] == std::vector<float>({3, -8}));
}

#ifdef FACESTYLE_WITH_CUDA
TEST_CASE(memory_pool_reuses_freed_blocks) {
  auto mem = makeCudaMemory();
  auto& pool = cuda::MemoryPool::instance();
  pool.trim();
  const cuda::PoolStats before = pool.stats();
  void* a = mem->allocate(3000);
  mem->release(a);
  void* b = mem->allocate(2900);  // same 512-byte granule: the cached block comes back
  CHECK(a == b);
  const cuda::PoolStats after = pool.stats();
  CHECK(after.reuseCount == before.reuseCount + 1);
  CHECK(after.mallocCalls == before.mallocCalls + 1);
  void* c = mem->allocate(100000);  // too big for any cached block: a new one
  CHECK(c != b);
  mem->release(b);
  mem->release(c);
  CHECK(pool.stats().inUseBytes == before.inUseBytes);
  CHECK(cuda::MemoryPool::roundUp(1) == 512 && cuda::MemoryPool::roundUp(513) == 1024 &&
        cuda::MemoryPool::roundUp((size_t(1) << 20) + 1) == (size_t(2) << 20) &&
        cuda::MemoryPool::roundUp((size_t(2) << 20) + 1) == (size_t(4) << 20));
}

// The exported launcher (for the trainer) on hand-checked numbers: w=1, g=0.5, m=v=0, lr=0.1,
// bc1=0.1, bc2=0.001, wd=0: m'=0.05, v'=0.00025, step=(0.5)/(0.5+1e-8) ~ 1, w' = 0.9.
TEST_CASE(adam_launcher_on_known_values) {
  auto mem = makeCudaMemory();
  const std::vector<float> host = {1.f, 0.5f, 0.f, 0.f, 0.1f, 0.1f, 0.001f};
  float* d = static_cast<float*>(mem->allocate(host.size() * sizeof(float)));
  mem->copyFromHost(d, host.data(), host.size() * sizeof(float));
  cuda::AdamHyper h;
  cuda::launchAdamUpdate(d, d + 1, d + 2, d + 3, d + 4, nullptr, d, d + 2, d + 3, 1, h, mem->stream());
  std::vector<float> out(4);
  mem->copyToHost(out.data(), d, 4 * sizeof(float));
  mem->release(d);
  CHECK(std::fabs(out[0] - 0.9f) < 1e-6f);
  CHECK(std::fabs(out[2] - 0.05f) < 1e-7f);
  CHECK(std::fabs(out[3] - 0.00025f) < 1e-9f);
}
#endif

int main() {
#ifndef FACESTYLE_WITH_CUDA
  std::printf("skipped: this build has no CUDA support (FACESTYLE_CUDA=OFF or no nvcc)\n");
  return 77;
#else
  const CudaInfo info = queryCuda();
  if (info.devices.empty()) {
    std::printf("skipped: CUDA is compiled in but no device is usable: %s\n", info.error.c_str());
    return 77;
  }
  std::printf("device: %s (compute capability %d.%d, %zu MiB)\n", info.devices[0].name.c_str(), info.devices[0].computeCapability / 10,
              info.devices[0].computeCapability % 10, info.devices[0].totalMemory >> 20);
  return runAll();
#endif
}
