// Conv2D / ConvTranspose2D fast paths (im2col + sgemm, pointwise, depthwise, the direct kernels, col2im,
// and the kernel == stride scatter) against the plain reference loops, on odd shapes and with 1 and
// several threads; geometry errors.
#include <algorithm>
#include <string>

#include "cpu/conv_kernels.h"
#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;

namespace {

struct ConvCase {
  const char* label;
  Shape x, w;
  bool bias;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group;
  std::vector<int64_t> outputPadding;  // ConvTranspose2D only
};

Attrs makeAttrs(const ConvCase& c) {
  Attrs a;
  auto put = [&](const char* name, const std::vector<int64_t>& v) {
    Attr attr;
    for (int64_t x : v) attr.numbers.push_back(double(x));
    a.values[name] = attr;
  };
  put("strides", c.strides);
  put("pads", c.pads);
  put("dilations", c.dilations);
  put("group", {c.group});
  if (!c.outputPadding.empty()) put("output_padding", c.outputPadding);
  return a;
}

// Runs the fast path with `threads` and the reference; true when they agree.
bool agrees(const ConvCase& c, bool transposed, int threads, uint32_t seed) {
  const Attrs attrs = makeAttrs(c);
  const Shape bshape{transposed ? c.w[1] * c.group : c.w[0]};
  const cpu::ConvGeometry g = transposed ? cpu::convTranspose2DGeometry(c.x, c.w, c.bias ? &bshape : nullptr, attrs)
                                         : cpu::conv2DGeometry(c.x, c.w, c.bias ? &bshape : nullptr, attrs);
  auto x = randomVector(shapeElements(c.x), seed);
  auto w = randomVector(shapeElements(c.w), seed + 1);
  auto b = randomVector(bshape[0], seed + 2);
  const size_t outSize = static_cast<size_t>(g.n * g.m * g.oh * g.ow);
  // Poisoned outputs: every element must be written.
  std::vector<float> fast(outSize, 1e30f), ref(outSize, -1e30f);
  const float* bias = c.bias ? b.data() : nullptr;
  if (transposed) {
    cpu::convTranspose2d(g, x.data(), w.data(), bias, fast.data(), threads);
    cpu::convTranspose2dReference(g, x.data(), w.data(), bias, ref.data());
  } else {
    cpu::conv2d(g, x.data(), w.data(), bias, fast.data(), threads);
    cpu::conv2dReference(g, x.data(), w.data(), bias, ref.data());
  }
  const bool ok = allClose(fast, ref, 1e-4, 1e-4);
  if (!ok) std::fprintf(stderr, "  %s (%s, %d threads)\n", c.label, transposed ? "transposed" : "conv", threads);
  return ok;
}

const std::vector<ConvCase> convCases = {
    {"3x3 pad 1 bias", {2, 3, 7, 5}, {4, 3, 3, 3}, true, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, {}},
    {"pointwise 1x1", {3, 5, 3, 7}, {6, 5, 1, 1}, true, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {}},
    {"pointwise grouped", {2, 6, 5, 3}, {4, 3, 1, 1}, false, {1, 1}, {0, 0, 0, 0}, {1, 1}, 2, {}},
    {"1x1 stride 2 pads", {1, 4, 6, 5}, {3, 4, 1, 1}, true, {2, 2}, {1, 0, 0, 1}, {1, 1}, 1, {}},
    {"stride [2,3] asymmetric pads", {1, 3, 11, 13}, {5, 3, 3, 4}, false, {2, 3}, {0, 2, 1, 0}, {1, 1}, 1, {}},
    {"dilation [2,3]", {2, 2, 9, 10}, {3, 2, 3, 3}, true, {1, 1}, {2, 3, 2, 3}, {2, 3}, 1, {}},
    {"group 3 stride 2 dilation 2", {1, 6, 12, 9}, {9, 2, 3, 3}, true, {2, 2}, {2, 1, 1, 2}, {2, 2}, 3, {}},
    {"depthwise 3x3", {2, 7, 9, 6}, {7, 1, 3, 3}, true, {1, 1}, {1, 1, 1, 1}, {1, 1}, 7, {}},
    {"depthwise stride 2 dilation [1,2]", {1, 5, 10, 11}, {5, 1, 3, 3}, false, {2, 2}, {0, 2, 1, 1}, {1, 2}, 5, {}},
    {"depthwise kernel larger than input", {1, 3, 2, 3}, {3, 1, 5, 5}, true, {1, 1}, {2, 2, 2, 2}, {1, 1}, 3, {}},
    {"channel multiplier", {1, 4, 6, 6}, {8, 1, 3, 3}, true, {1, 1}, {1, 1, 1, 1}, {1, 1}, 4, {}},
    {"1x1 spatial input", {2, 8, 1, 1}, {3, 8, 3, 3}, true, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, {}},
    // K * P above the column budget: several column tiles per image.
    {"tiled columns 64->8 on 32x33", {1, 64, 32, 33}, {8, 64, 3, 3}, true, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, {}},
};

const std::vector<ConvCase> transposedCases = {
    {"stride 2 pad 1 output_padding 1", {1, 4, 5, 5}, {4, 3, 3, 3}, true, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1, {1, 1}},
    {"stride 1 odd", {2, 3, 4, 3}, {3, 2, 3, 3}, false, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}},
    {"group 2", {1, 4, 5, 5}, {4, 3, 3, 3}, true, {2, 2}, {0, 0, 0, 0}, {1, 1}, 2, {0, 0}},
    {"depthwise 4x4 stride 2", {1, 4, 5, 6}, {4, 1, 4, 4}, true, {2, 2}, {1, 1, 1, 1}, {1, 1}, 4, {0, 0}},
    {"dilation [2,1] strides [1,2] asymmetric pads", {1, 3, 5, 4}, {3, 2, 3, 2}, false, {1, 2}, {1, 0, 0, 2}, {2, 1}, 1, {0, 0}},
    {"output_padding [1,2] strides [2,3]", {1, 2, 3, 4}, {2, 3, 3, 3}, true, {2, 3}, {0, 0, 0, 0}, {1, 1}, 1, {1, 2}},
    {"1x1 spatial to 4x4", {3, 8, 1, 1}, {8, 4, 4, 4}, false, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}},
    {"tiled columns 2->32 k4 on 40x41", {1, 2, 40, 41}, {2, 32, 4, 4}, true, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1, {0, 0}},
    // Kernel == stride (the non-overlapping scatter path): the generator's 2x2 / 2, odd sizes, batch 2.
    {"kernel = stride 2x2 96->64", {2, 96, 7, 9}, {96, 64, 2, 2}, true, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}},
    {"kernel = stride, pads and output_padding", {1, 5, 6, 7}, {5, 3, 2, 2}, true, {2, 2}, {1, 0, 0, 1}, {1, 1}, 1, {1, 1}},
    {"kernel = stride [2,3], output_padding [1,2], no bias", {1, 4, 5, 3}, {4, 2, 2, 3}, false, {2, 3}, {0, 0, 0, 0}, {1, 1}, 1, {1, 2}},
    {"kernel = stride, groups 2", {2, 6, 4, 5}, {6, 5, 2, 2}, true, {2, 2}, {0, 1, 1, 0}, {1, 1}, 2, {0, 0}},
    {"kernel = stride 1x1 (plain pointwise transpose)", {1, 7, 3, 5}, {7, 4, 1, 1}, true, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}},
    {"kernel = stride, row tiles (K * w over the column budget)", {1, 8, 40, 64}, {8, 128, 2, 2}, true, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, {0, 0}},
};

}  // namespace

TEST_CASE(conv2d_fast_paths_match_reference) {
  uint32_t seed = 1;
  for (const auto& c : convCases)
    for (int threads : {1, 3}) CHECK(agrees(c, false, threads, seed += 7));
}

TEST_CASE(conv_transpose2d_fast_path_matches_reference) {
  uint32_t seed = 100;
  for (const auto& c : transposedCases)
    for (int threads : {1, 3}) CHECK(agrees(c, true, threads, seed += 7));
}

TEST_CASE(conv2d_reference_known_values) {
  // 1 channel 3x3 input 1..9, 2x2 kernel of ones, stride 1: each output sums a 2x2 block.
  ConvCase c{"known", {1, 1, 3, 3}, {1, 1, 2, 2}, false, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {}};
  const Attrs attrs = makeAttrs(c);
  const auto g = cpu::conv2DGeometry(c.x, c.w, nullptr, attrs);
  CHECK(g.oh == 2 && g.ow == 2);
  std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w{1, 1, 1, 1}, y(4), yf(4);
  cpu::conv2dReference(g, x.data(), w.data(), nullptr, y.data());
  CHECK(y == (std::vector<float>{12, 16, 24, 28}));
  cpu::conv2d(g, x.data(), w.data(), nullptr, yf.data(), 2);
  CHECK(yf == y);
  // The transpose of that conv scatters a 2x2 input into a 3x3 output.
  const auto gt = cpu::convTranspose2DGeometry({1, 1, 2, 2}, {1, 1, 2, 2}, nullptr, attrs);
  CHECK(gt.oh == 3 && gt.ow == 3);
  std::vector<float> xt{1, 2, 3, 4}, yt(9);
  cpu::convTranspose2d(gt, xt.data(), w.data(), nullptr, yt.data(), 1);
  CHECK(yt == (std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4}));
}

TEST_CASE(conv_geometry_rejects_bad_shapes) {
  ConvCase c{"bad", {1, 4, 5, 5}, {2, 4, 3, 3}, false, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, {}};
  Attrs a = makeAttrs(c);
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 3, 5, 5}, {2, 4, 3, 3}, nullptr, a), Shape);  // channel mismatch
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 4, 5}, {2, 4, 3, 3}, nullptr, a), Shape);     // rank
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 4, 2, 2}, {2, 4, 3, 3}, nullptr, a), Shape);  // output 0x0
  const Shape badBias{3};
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 4, 5, 5}, {2, 4, 3, 3}, &badBias, a), Shape);
  c.group = 3;
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 4, 5, 5}, {3, 1, 3, 3}, nullptr, makeAttrs(c)), Shape);  // 3 does not divide 4
  c.group = 1;
  c.strides = {0, 1};
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 4, 5, 5}, {2, 4, 3, 3}, nullptr, makeAttrs(c)), Shape);
  c.strides = {1, 1};
  c.pads = {-1, 0, 0, 0};
  CHECK_THROWS_CODE(cpu::conv2DGeometry({1, 4, 5, 5}, {2, 4, 3, 3}, nullptr, makeAttrs(c)), Shape);
  c.pads = {0, 0, 0, 0};
  c.outputPadding = {1, 0};  // must be below max(stride, dilation) = 1
  CHECK_THROWS_CODE(cpu::convTranspose2DGeometry({1, 4, 5, 5}, {4, 2, 3, 3}, nullptr, makeAttrs(c)), Shape);
  c.outputPadding = {0, 0};
  CHECK_THROWS_CODE(cpu::convTranspose2DGeometry({1, 4, 5, 5}, {3, 2, 3, 3}, nullptr, makeAttrs(c)), Shape);  // W dim 0 != C
}

// The conv kernel parses its node's attributes on the first run and keeps them in the context
// (KernelContext::state): later runs of that context use them, a fresh context parses again, and an
// unsupported fused activation is one coded error that names the node once.
TEST_CASE(conv_kernel_keeps_parsed_attributes_in_its_context) {
  NodeDesc node;
  node.name = "c0";
  node.op = OpKind::Conv2D;
  node.attrs.values["pads"] = numbersAttr({1, 1, 1, 1});
  node.attrs.values["activation"] = textAttr("Relu");
  const KernelArg x = randomArg({1, 2, 5, 5}, 1), w = randomArg({3, 2, 3, 3}, 2);
  std::vector<float> y(75, 0.f);
  KernelContext ctx{node, {}, {}, 1, nullptr, {}};
  ctx.inputs = {Tensor{const_cast<float*>(x.data.data()), x.shape}, Tensor{const_cast<float*>(w.data.data()), w.shape}};
  ctx.outputs = {Tensor{y.data(), {1, 3, 5, 5}}};
  KernelFn fn = findKernel(OpKind::Conv2D, Device::CPU);
  CHECK(fn != nullptr);
  CHECK(!ctx.state);
  fn(ctx);
  CHECK(ctx.state != nullptr);
  const void* made = ctx.state.get();
  const std::vector<float> first = y;
  CHECK(std::all_of(first.begin(), first.end(), [](float v) { return v >= 0.f; }));  // Relu applied
  CHECK(std::any_of(first.begin(), first.end(), [](float v) { return v > 0.f; }));
  // The attributes change under the context (they never do in a session): the kept parse still rules.
  node.attrs.values["activation"] = textAttr("");
  std::fill(y.begin(), y.end(), -1.f);
  fn(ctx);
  CHECK(ctx.state.get() == made);
  CHECK(y == first);
  // A fresh context reads them again: no activation now, so some outputs are negative.
  KernelContext fresh{node, ctx.inputs, ctx.outputs, 1, nullptr, {}};
  fn(fresh);
  CHECK(std::any_of(y.begin(), y.end(), [](float v) { return v < 0.f; }));
  node.attrs.values["activation"] = textAttr("Swish");
  KernelContext bad{node, ctx.inputs, ctx.outputs, 1, nullptr, {}};
  bool threw = false;
  try {
    fn(bad);
  } catch (const Error& e) {
    threw = true;
    const std::string m = e.what();
    CHECK(e.code() == ErrorCode::Shape);
    CHECK(m.find("unsupported fused activation 'Swish'") != std::string::npos);
    CHECK(m.find("'c0'") != std::string::npos && m.find("'c0'") == m.rfind("'c0'"));
  }
  CHECK(threw);
  CHECK(!bad.state);
}

TEST_MAIN()
