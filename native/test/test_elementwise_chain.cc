// ElementwiseChain and the normalisations' fused activation against the single-op kernels applied one
// after another (the unfused graph): the same formulas, so the results must be identical, for odd
// shapes, broadcast operands, rows longer than one block, and 1 and 4 threads. Malformed programs are
// shape errors, never crashes.
#include <algorithm>
#include <string>

#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;

namespace {

using Arg = KernelArg;

// One output of one CPU kernel run directly (harness.h runKernel).
std::vector<float> run(OpKind op, const Attrs& attrs, const std::vector<Arg>& ins, const Shape& out, int threads) {
  return runKernel(op, attrs, ins, {out}, threads)[0];
}

// Inputs in [-2, 2] unless given: past the activations' knees on both sides.
Arg random(Shape shape, uint32_t seed, float lo = -2.f, float hi = 2.f) { return randomArg(std::move(shape), seed, lo, hi); }

Attrs chain(const std::string& program, std::vector<double> operands, std::vector<double> params) {
  Attrs a;
  a.values["program"] = textAttr(program);
  a.values["operands"] = numbersAttr(std::move(operands));
  a.values["params"] = numbersAttr(std::move(params));
  return a;
}

}  // namespace

// Add(x, y) -> LeakyRelu -> Mul(., k[1,C,1,1]) -> Add(., s[]) -> Tanh: rows of 14000 (28 blocks, the
// last partial), 84000 elements (enough for the 4-thread path).
TEST_CASE(chain_equals_the_ops_one_after_another) {
  const Shape shape{2, 3, 20, 700};
  const Arg x = random(shape, 1), y = random(shape, 2), k = random({1, 3, 1, 1}, 3, 0.5f, 1.5f), s = random({}, 4);
  const Attrs program = chain("Add LeakyRelu Mul Add Tanh", {0, 1, 4, -1, 5, 2, 6, 3, 7, -1}, {0, 0, 0.2, 0, 0, 0, 0, 0, 0, 0});
  for (int threads : {1, 4}) {
    Attrs leaky;
    leaky.values["alpha"] = numbersAttr({0.2f});  // the float the chain's params hold
    std::vector<float> t = run(OpKind::Add, {}, {x, y}, shape, threads);
    t = run(OpKind::LeakyRelu, leaky, {{shape, t}}, shape, threads);
    t = run(OpKind::Mul, {}, {{shape, t}, k}, shape, threads);
    t = run(OpKind::Add, {}, {{shape, t}, s}, shape, threads);
    t = run(OpKind::Tanh, {}, {{shape, t}}, shape, threads);
    CHECK(run(OpKind::ElementwiseChain, program, {x, y, k, s}, shape, threads) == t);
  }
}

// x * sigmoid(x), one input read by two steps; Sub with the constant first; a step on two
// per-channel values (one value per block) broadcast into the last step.
TEST_CASE(chain_reuses_inputs_and_computes_block_constants_once) {
  const Shape shape{1, 4, 7, 9};
  const Arg x = random(shape, 5, -6.f, 6.f);
  std::vector<float> sig = run(OpKind::Sigmoid, {}, {x}, shape, 1);
  CHECK(run(OpKind::ElementwiseChain, chain("Sigmoid Mul", {0, -1, 0, 1}, {0, 0, 0, 0}), {x}, shape, 1) ==
        run(OpKind::Mul, {}, {x, {shape, sig}}, shape, 1));
  const Arg a = random({1, 4, 1, 1}, 6, 0.5f, 2.f), b = random({4, 1, 1}, 7, 0.5f, 2.f);
  std::vector<float> ab = run(OpKind::Mul, {}, {a, b}, {1, 4, 1, 1}, 1);
  ab = run(OpKind::Sqrt, {}, {{{1, 4, 1, 1}, ab}}, {1, 4, 1, 1}, 1);
  const std::vector<float> expected = run(OpKind::Sub, {}, {{{1, 4, 1, 1}, ab}, x}, shape, 1);
  CHECK(run(OpKind::ElementwiseChain, chain("Mul Sqrt Sub", {1, 2, 3, -1, 4, 0}, {0, 0, 0, 0, 0, 0}), {x, a, b}, shape, 4) == expected);
}

// Rows of 16 (an NHWC tensor with per-channel operands): blocks of many short rows, operands that vary
// along the row ([16]) or per row ([300,1]) copied row by row, a scalar kept as one value.
TEST_CASE(chain_over_short_rows_equals_the_ops) {
  const Shape shape{1, 300, 16};
  const Arg x = random(shape, 21), c = random({16}, 22, 0.5f, 2.f), r = random({300, 1}, 23), s = random({1}, 24);
  for (int threads : {1, 4}) {
    std::vector<float> t = run(OpKind::Div, {}, {x, c}, shape, threads);
    t = run(OpKind::Mul, {}, {{shape, t}, r}, shape, threads);
    t = run(OpKind::Max, {}, {{shape, t}, s}, shape, threads);
    CHECK(run(OpKind::ElementwiseChain, chain("Div Mul Max", {0, 1, 4, 2, 5, 3}, {0, 0, 0, 0, 0, 0}), {x, c, r, s}, shape, threads) == t);
  }
  const Shape big{1, 4096, 16};  // 65536 elements: the threaded path over short rows
  const Arg xb = random(big, 25);
  std::vector<float> t = run(OpKind::Div, {}, {xb, c}, big, 4);
  t = run(OpKind::Sub, {}, {{big, t}, xb}, big, 4);
  CHECK(run(OpKind::ElementwiseChain, chain("Div Sub", {0, 1, 2, 0}, {0, 0, 0, 0}), {xb, c}, big, 4) == t);
}

// A chain whose every step is constant along the rows still fills the whole output.
TEST_CASE(chain_of_broadcast_values_fills_the_output) {
  const Arg a = random({3, 1}, 8);
  const std::vector<float> out = run(OpKind::ElementwiseChain, chain("Neg Abs", {0, -1, 1, -1}, {0, 0, 0, 0}), {a}, {3, 5}, 1);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) CHECK(out[r * 5 + c] == std::fabs(a.data[r]));
}

TEST_CASE(norms_apply_their_fused_activation_like_the_separate_op) {
  const Shape shape{2, 5, 9, 11};
  const Arg x = random(shape, 9, -2.f, 3.f), scale = random({5}, 10, 0.5f, 2.f), bias = random({5}, 11);
  for (const char* act : {"Relu", "LeakyRelu", "Tanh", "Sigmoid", "Clip"}) {
    Attrs fused, sep;
    fused.values["activation"] = textAttr(act);
    fused.values["activation_alpha"] = numbersAttr({0.1});
    fused.values["activation_min"] = numbersAttr({-0.3});
    fused.values["activation_max"] = numbersAttr({0.6});
    sep.values["alpha"] = numbersAttr({0.1});
    sep.values["min"] = numbersAttr({-0.3});
    sep.values["max"] = numbersAttr({0.6});
    std::string name(act);
    const OpKind kind = name == "Relu" ? OpKind::Relu : name == "LeakyRelu" ? OpKind::LeakyRelu : name == "Tanh" ? OpKind::Tanh
                        : name == "Sigmoid" ? OpKind::Sigmoid : OpKind::Clip;
    for (int threads : {1, 4}) {
      const std::vector<float> plain = run(OpKind::InstanceNormalization, {}, {x, scale, bias}, shape, threads);
      CHECK(run(OpKind::InstanceNormalization, fused, {x, scale, bias}, shape, threads) == run(kind, sep, {{shape, plain}}, shape, threads));
      const Arg mean = random({5}, 12), var = random({5}, 13, 0.1f, 2.f);
      const std::vector<float> bn = run(OpKind::BatchNormalization, {}, {x, scale, bias, mean, var}, shape, threads);
      CHECK(run(OpKind::BatchNormalization, fused, {x, scale, bias, mean, var}, shape, threads) == run(kind, sep, {{shape, bn}}, shape, threads));
    }
  }
  Attrs bad;
  bad.values["activation"] = textAttr("Softplus");
  CHECK_THROWS_CODE(run(OpKind::InstanceNormalization, bad, {x, scale, bias}, shape, 1), Shape);
}

TEST_CASE(malformed_chains_are_shape_errors) {
  const Arg x = random({4}, 1);
  CHECK_THROWS_CODE(run(OpKind::ElementwiseChain, chain("Softmax", {0, -1}, {0, 0}), {x}, {4}, 1), Shape);   // not elementwise
  CHECK_THROWS_CODE(run(OpKind::ElementwiseChain, chain("Relu Add", {0, -1, 0, 2}, {0, 0, 0, 0}), {x}, {4}, 1), Shape);  // reads itself
  CHECK_THROWS_CODE(run(OpKind::ElementwiseChain, chain("Add", {0, -1}, {0, 0}), {x}, {4}, 1), Shape);      // binary with one operand
  CHECK_THROWS_CODE(run(OpKind::ElementwiseChain, chain("Relu", {0, -1, 0}, {0, 0}), {x}, {4}, 1), Shape);  // operands length
  CHECK_THROWS_CODE(run(OpKind::ElementwiseChain, chain("", {}, {}), {x}, {4}, 1), Shape);                  // empty program
  CHECK_THROWS_CODE(run(OpKind::ElementwiseChain, chain("Relu", {0, -1}, {0, 0}), {random({5}, 2)}, {4}, 1), Shape);  // no broadcast
}

TEST_MAIN()
