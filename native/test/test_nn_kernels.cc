// The nn kernels (conv, pool, resize, pad, norm) check what they rely on: a graph whose planned
// shapes or attributes disagree with the op (one the TS compiler would never send, but the native
// API accepts) gives a Shape error naming the node, never an out-of-bounds access.
#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;

namespace {

// One node `op` with graph inputs of `inShapes` and one output of `outShape`, run on zeros.
std::vector<float> runOne(OpKind op, const std::vector<Shape>& inShapes, const Shape& outShape, const std::map<std::string, Attr>& attrs,
                          const std::vector<std::vector<float>>& data = {}) {
  GraphDesc g;
  NodeDesc node;
  node.name = "n";
  node.op = op;
  node.attrs.values = attrs;
  for (size_t i = 0; i < inShapes.size(); ++i) {
    g.values.push_back({"in" + std::to_string(i), ValueKind::Input, inShapes[i], {}});
    g.inputs.push_back(static_cast<int>(i));
    node.inputs.push_back(static_cast<int>(i));
  }
  g.values.push_back({"out", ValueKind::Intermediate, outShape, {}});
  node.outputs = {static_cast<int>(inShapes.size())};
  g.outputs = node.outputs;
  g.nodes.push_back(node);
  SessionOptions options;
  options.threads = 2;
  Session session(g, options);
  std::vector<std::vector<float>> feeds;
  for (size_t i = 0; i < inShapes.size(); ++i)
    feeds.push_back(i < data.size() ? data[i] : std::vector<float>(static_cast<size_t>(shapeElements(inShapes[i])), 0.f));
  std::vector<HostSpan> spans;
  for (auto& f : feeds) spans.push_back({f.data(), f.size()});
  return session.run(spans).at(0);
}

}  // namespace

TEST_CASE(consistent_graphs_run) {
  // The helper itself works: a well-formed node gives the right values.
  auto y = runOne(OpKind::Resize, {{1, 1, 1, 2}}, {1, 1, 2, 4}, {{"scales", numbersAttr({1, 1, 2, 2})}}, {{1, 2}});
  CHECK(y == (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2}));
  auto p = runOne(OpKind::Pad, {{3}}, {7}, {{"pads", numbersAttr({2, 2})}, {"mode", textAttr("reflect")}}, {{1, 2, 3}});
  CHECK(p == (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
  auto m = runOne(OpKind::MaxPool, {{1, 1, 1, 3}}, {1, 1, 1, 2},
                  {{"kernel_shape", numbersAttr({1, 2})}, {"strides", numbersAttr({1, 2})}, {"pads", numbersAttr({0, 1, 0, 1})}, {"ceil_mode", numbersAttr({1})}}, {{1, 2, 3}});
  CHECK(m == (std::vector<float>{1, 3}));
}

TEST_CASE(conv_kernels_refuse_inconsistent_graphs) {
  CHECK_THROWS_CODE(runOne(OpKind::Conv2D, {{1, 3, 5, 5}, {2, 2, 3, 3}}, {1, 2, 3, 3}, {}), Shape);         // channels
  CHECK_THROWS_CODE(runOne(OpKind::Conv2D, {{1, 3, 5, 5}, {2, 3, 3, 3}}, {1, 2, 5, 5}, {}), Shape);         // planned output
  CHECK_THROWS_CODE(runOne(OpKind::Conv2D, {{1, 3, 5, 5}, {2, 3, 3, 3}, {3}}, {1, 2, 3, 3}, {}), Shape);    // bias
  CHECK_THROWS_CODE(runOne(OpKind::Conv2D, {{1, 4, 5, 5}, {3, 2, 3, 3}}, {1, 3, 3, 3}, {{"group", numbersAttr({2})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Conv2D, {{1, 3, 5, 5}, {2, 3, 3, 3}}, {1, 2, 3, 3}, {{"pads", numbersAttr({1, 1})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::ConvTranspose2D, {{1, 3, 2, 2}, {3, 2, 3, 3}}, {1, 2, 5, 5}, {}), Shape);
}

TEST_CASE(pool_resize_pad_norm_kernels_refuse_inconsistent_graphs) {
  const std::map<std::string, Attr> k2{{"kernel_shape", numbersAttr({2, 2})}};
  CHECK_THROWS_CODE(runOne(OpKind::MaxPool, {{1, 1, 4, 4}}, {1, 1, 4, 4}, k2), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::MaxPool, {{1, 1, 4, 4}}, {1, 1, 3, 3}, {}), Shape);  // no kernel_shape
  CHECK_THROWS_CODE(runOne(OpKind::AveragePool, {{1, 1, 4, 4}}, {1, 1, 5, 5}, {{"kernel_shape", numbersAttr({2, 2})}, {"pads", numbersAttr({2, 2, 2, 2})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::GlobalAveragePool, {{1, 3, 4, 4}}, {1, 3}, {}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Resize, {{1, 1, 2, 2}}, {1, 1, 4, 4}, {{"scales", numbersAttr({1, 1, 2})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Resize, {{1, 1, 2, 2}}, {1, 1, 8, 8}, {{"scales", numbersAttr({1, 1, 2, 2})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Resize, {{1, 1, 2, 2}}, {1, 2, 4, 4}, {{"sizes", numbersAttr({1, 2, 4, 4})}, {"mode", textAttr("linear")}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Resize, {{1, 1, 2, 2}}, {1, 1, 4, 4}, {{"scales", numbersAttr({1, 1, 2, 2})}, {"mode", textAttr("cubic")}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Pad, {{2, 3}}, {2, 5}, {{"pads", numbersAttr({0, 1, 1})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Pad, {{2, 3}}, {2, 9}, {{"pads", numbersAttr({0, 3, 0, 3})}, {"mode", textAttr("reflect")}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::Pad, {{2, 3}}, {2, 4}, {{"pads", numbersAttr({0, 1, 0, 1})}}), Shape);  // planned output
  CHECK_THROWS_CODE(runOne(OpKind::BatchNormalization, {{1, 3, 2, 2}, {3}, {3}, {2}, {3}}, {1, 3, 2, 2}, {}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::InstanceNormalization, {{1, 3}, {3}, {3}}, {1, 3}, {}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::GroupNormalization, {{1, 6, 2, 2}, {6}, {6}}, {1, 6, 2, 2}, {{"num_groups", numbersAttr({4})}}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::LayerNormalization, {{2, 3}, {2}}, {2, 3}, {}), Shape);
  CHECK_THROWS_CODE(runOne(OpKind::LayerNormalization, {{2, 3}, {3}}, {2, 3}, {{"axis", numbersAttr({2})}}), Shape);
}

TEST_MAIN()
