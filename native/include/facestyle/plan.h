// A graph as the native runtime receives it, and the execution plan made from it once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "facestyle/ops.h"
#include "facestyle/tensor.h"

namespace facestyle {

enum class ValueKind { Input, Param, Const, Intermediate };

struct ValueDesc {
  std::string name;
  ValueKind kind = ValueKind::Intermediate;
  Shape shape;
  std::vector<float> data;  // for Param and Const: the initial contents
};

struct NodeDesc {
  std::string name;
  OpKind op = OpKind::Identity;
  Attrs attrs;
  std::vector<int> inputs;   // value indices; -1 for an omitted optional input
  std::vector<int> outputs;  // value indices
};

struct GraphDesc {
  std::vector<ValueDesc> values;
  std::vector<NodeDesc> nodes;
  std::vector<int> inputs;
  std::vector<int> outputs;
  // In-place updates applied after every run, in order: param `target` <- value `source`
  // (a step graph's optimizer writes new weights as intermediates; this commits them).
  struct Update {
    int source = -1;
    int target = -1;
  };
  std::vector<Update> updates;
};

struct PlanOptions {
  bool reuseBuffers = true;    // false gives every value its own memory (for tests)
  size_t alignment = 64;       // byte alignment of every activation buffer
  bool inputsInPlace = false;  // graph inputs are read where the caller has them (the CPU): no arena space
};

// Where each value lives. Activations (inputs, intermediates, outputs) share one arena at planned
// offsets; parameters and constants have their own storage for the session's lifetime.
struct Plan {
  std::vector<int> order;            // node indices in execution order
  std::vector<int64_t> offsets;      // per value: byte offset in the arena, -1 if not in it (params, constants, inputs read in place)
  std::vector<int> firstUse;         // per value: step that defines it (-1 for graph inputs)
  std::vector<int> lastUse;          // per value: last step that reads it
  size_t arenaBytes = 0;             // arena size = peak activation memory of this plan
  size_t largestLiveSetBytes = 0;    // lower bound: the largest sum of simultaneously live values
};

// Validates the graph's structure (indices, single definition, no cycles, shape limits) and
// makes the plan. Throws Error on any inconsistency.
Plan makePlan(const GraphDesc& graph, const PlanOptions& options);

}  // namespace facestyle
