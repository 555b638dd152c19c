// The planner: validation errors, lifetimes, and buffer reuse that never aliases live values.
#include <cstdio>
#include <string>

#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;

namespace {

// A chain x -> relu -> relu -> ... of `n` nodes, each value of `elems` floats.
GraphDesc chain(int n, int64_t elems) {
  GraphDesc g;
  g.values.push_back({"x", ValueKind::Input, {elems}, {}});
  for (int i = 0; i < n; ++i) {
    g.values.push_back({"v" + std::to_string(i), ValueKind::Intermediate, {elems}, {}});
    NodeDesc node;
    node.name = "relu" + std::to_string(i);
    node.op = OpKind::Relu;
    node.inputs = {i};
    node.outputs = {i + 1};
    g.nodes.push_back(node);
  }
  g.inputs = {0};
  g.outputs = {n};
  return g;
}

}  // namespace

TEST_CASE(reuse_keeps_a_chain_to_two_buffers) {
  Plan p = makePlan(chain(10, 1000), PlanOptions{});
  // 1000 floats = 4000 bytes, aligned to 4032; a chain needs two live buffers at a time.
  CHECK(p.arenaBytes == 2 * 4032);
  CHECK(p.largestLiveSetBytes == 2 * 4032);
  Plan q = makePlan(chain(10, 1000), PlanOptions{false, 64});
  CHECK(q.arenaBytes == 11 * 4032);
}

// Inputs read in place (the CPU session's plan): no arena offset for the graph input, an arena one
// buffer smaller without reuse, the same two buffers with it (the first node's output and the next).
TEST_CASE(inputs_read_in_place_take_no_arena_space) {
  PlanOptions inPlace;
  inPlace.inputsInPlace = true;
  Plan p = makePlan(chain(10, 1000), inPlace);
  CHECK(p.offsets[0] == -1);
  for (int v = 1; v <= 10; ++v) CHECK(p.offsets[v] >= 0);
  CHECK(p.arenaBytes == 2 * 4032);
  inPlace.reuseBuffers = false;
  CHECK(makePlan(chain(10, 1000), inPlace).arenaBytes == 10 * 4032);
  // A one-node chain: only the output is in the arena.
  Plan one = makePlan(chain(1, 1000), PlanOptions{true, 64, true});
  CHECK(one.arenaBytes == 4032);
  CHECK(one.largestLiveSetBytes == 4032);
}

TEST_CASE(live_values_never_share_memory) {
  GraphDesc g = chain(6, 100);
  // A skip connection: v0 is also read by the last node, so it stays live throughout.
  g.values.push_back({"sum", ValueKind::Intermediate, {100}, {}});
  NodeDesc add;
  add.name = "add";
  add.op = OpKind::Add;
  add.inputs = {1, 6};
  add.outputs = {7};
  g.nodes.push_back(add);
  g.outputs = {7};
  Plan p = makePlan(g, PlanOptions{});
  for (size_t a = 0; a < g.values.size(); ++a)
    for (size_t b = a + 1; b < g.values.size(); ++b) {
      bool overlapTime = p.firstUse[a] <= p.lastUse[b] && p.firstUse[b] <= p.lastUse[a];
      bool overlapMem = p.offsets[a] < p.offsets[b] + 448 && p.offsets[b] < p.offsets[a] + 448;
      CHECK(!(overlapTime && overlapMem));
    }
  CHECK(p.arenaBytes == 3 * 448);
}

// Random DAGs of Add nodes with values of random sizes (the planner tries several placements and keeps
// the smallest): no two values that are live at the same step share a byte, every value lies inside
// the arena, and the arena is at least the largest live set and at most the no-reuse total.
TEST_CASE(random_graphs_never_alias_live_values) {
  uint32_t seed = 12345;
  auto next = [&seed](uint32_t n) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % n;
  };
  for (int trial = 0; trial < 60; ++trial) {
    GraphDesc g;
    const int inputs = 1 + static_cast<int>(next(3)), nodes = 5 + static_cast<int>(next(40));
    for (int i = 0; i < inputs; ++i) g.values.push_back({"x" + std::to_string(i), ValueKind::Input, {1 + next(3000)}, {}}), g.inputs.push_back(i);
    for (int k = 0; k < nodes; ++k) {
      const int v = static_cast<int>(g.values.size());
      g.values.push_back({"v" + std::to_string(k), ValueKind::Intermediate, {1 + next(3000)}, {}});
      NodeDesc node;
      node.name = "n" + std::to_string(k);
      node.op = OpKind::Add;
      node.inputs = {static_cast<int>(next(v)), static_cast<int>(next(v))};  // any earlier values (shapes do not matter to the planner)
      node.outputs = {v};
      g.nodes.push_back(node);
    }
    g.outputs = {static_cast<int>(g.values.size()) - 1, static_cast<int>(next(static_cast<uint32_t>(g.values.size())))};
    if (g.outputs[0] == g.outputs[1]) g.outputs.pop_back();
    for (const bool inPlace : {false, true}) {
      PlanOptions options;
      options.inputsInPlace = inPlace;
      const Plan p = makePlan(g, options);
      PlanOptions separate = options;
      separate.reuseBuffers = false;
      const size_t noReuse = makePlan(g, separate).arenaBytes;
      auto bytesOf = [&](size_t v) { return (shapeElements(g.values[v].shape) * 4 + 63) / 64 * 64; };
      for (size_t a = 0; a < g.values.size(); ++a) {
        if (p.offsets[a] < 0) continue;
        CHECK(static_cast<size_t>(p.offsets[a]) + bytesOf(a) <= p.arenaBytes);
        for (size_t b = a + 1; b < g.values.size(); ++b) {
          if (p.offsets[b] < 0) continue;
          const bool overlapTime = p.firstUse[a] <= p.lastUse[b] && p.firstUse[b] <= p.lastUse[a];
          const bool overlapMem = p.offsets[a] < p.offsets[b] + static_cast<int64_t>(bytesOf(b)) && p.offsets[b] < p.offsets[a] + static_cast<int64_t>(bytesOf(a));
          if (overlapTime && overlapMem) std::fprintf(stderr, "  trial %d: values %zu and %zu alias\n", trial, a, b);
          CHECK(!(overlapTime && overlapMem));
        }
      }
      CHECK(p.arenaBytes >= p.largestLiveSetBytes);
      CHECK(p.arenaBytes <= noReuse);
    }
  }
}

TEST_CASE(cycles_and_bad_indices_are_errors) {
  GraphDesc g = chain(2, 4);
  g.nodes[0].inputs = {2};  // relu0 reads the output of relu1, which reads relu0
  CHECK_THROWS_CODE(makePlan(g, PlanOptions{}), Argument);
  GraphDesc h = chain(2, 4);
  h.nodes[1].inputs = {42};
  CHECK_THROWS_CODE(makePlan(h, PlanOptions{}), Argument);
  GraphDesc k = chain(2, 4);
  k.nodes.push_back(k.nodes[1]);  // v1 written twice
  CHECK_THROWS_CODE(makePlan(k, PlanOptions{}), Argument);
}

TEST_CASE(absurd_and_negative_shapes_are_shape_errors) {
  GraphDesc g = chain(1, 4);
  g.values[1].shape = {1000000, 1000000};
  CHECK_THROWS_CODE(makePlan(g, PlanOptions{}), Shape);
  g.values[1].shape = {-3};
  CHECK_THROWS_CODE(makePlan(g, PlanOptions{}), Shape);
}

TEST_CASE(session_runs_and_reports_missing_kernels) {
  Session s(chain(3, 5), SessionOptions{});
  std::vector<float> x = {-2, -1, 0, 1, 2};
  auto out = s.run({HostSpan{x.data(), x.size()}});
  CHECK(out.size() == 1);
  CHECK(allClose(out[0], {0, 0, 0, 1, 2}, 0, 0));
  CHECK_THROWS_CODE(s.run({HostSpan{x.data(), 4}}), Shape);
  // With the Relu kernel taken out of the table, compiling names the op and its count.
  KernelFn relu = findKernel(OpKind::Relu, Device::CPU);
  registerKernel(OpKind::Relu, Device::CPU, nullptr);
  std::string message;
  try {
    Session bad(chain(2, 4), SessionOptions{});
  } catch (const Error& e) {
    if (e.code() == ErrorCode::Unsupported) message = e.what();
  }
  registerKernel(OpKind::Relu, Device::CPU, relu);
  CHECK(message.find("Relu (2)") != std::string::npos);
}

TEST_CASE(updates_commit_computed_values_into_parameters) {
  // w <- relu(w + x) each run: the parameter accumulates across runs.
  GraphDesc g;
  g.values.push_back({"x", ValueKind::Input, {3}, {}});
  g.values.push_back({"w", ValueKind::Param, {3}, {1.f, -5.f, 2.f}});
  g.values.push_back({"sum", ValueKind::Intermediate, {3}, {}});
  g.values.push_back({"next", ValueKind::Intermediate, {3}, {}});
  NodeDesc add;
  add.name = "add"; add.op = OpKind::Add; add.inputs = {0, 1}; add.outputs = {2};
  NodeDesc relu;
  relu.name = "relu"; relu.op = OpKind::Relu; relu.inputs = {2}; relu.outputs = {3};
  g.nodes = {add, relu};
  g.inputs = {0};
  g.outputs = {2};
  g.updates = {{3, 1}};
  Session s(g, SessionOptions{});
  std::vector<float> x = {1, 1, -1};
  s.run({HostSpan{x.data(), 3}});
  s.run({HostSpan{x.data(), 3}});
  CHECK(allClose(s.readValue(1), {3, 1, 0}, 0, 0));  // [2,0,1] after run 1
  GraphDesc bad = g;
  bad.updates = {{3, 0}};  // target is an input, not a parameter
  CHECK_THROWS_CODE(makePlan(bad, PlanOptions{}), Argument);
}

TEST_MAIN()
