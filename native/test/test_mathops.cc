// Elementwise, shape, reduce and matmul CPU kernels: each fast path (merged broadcast axes, row
// chunks across threads, tiled transpose, contiguous reductions) against a plain index loop, with
// 1 and 4 threads; and the kernels' own shape checks.
#include <algorithm>
#include <cmath>

#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;

namespace {

// Multi-index of flat index `f` in `shape`.
std::vector<int64_t> unflatten(int64_t f, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    idx[i] = f % shape[i];
    f /= shape[i];
  }
  return idx;
}

// Flat index of the right-aligned broadcast of `idx` into `shape`.
int64_t broadcastFlat(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t f = 0;
  const size_t off = idx.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) f = f * shape[i] + (shape[i] == 1 ? 0 : idx[off + i]);
  return f;
}

}  // namespace

TEST_CASE(binary_broadcast_paths_match_a_plain_loop_on_1_and_4_threads) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 64, 33, 17}, {2, 64, 33, 17}},  // one long row, chunked across threads
      {{2, 64, 33, 17}, {1, 64, 1, 1}},    // channel bias
      {{8, 1, 300}, {7, 1}},               // both broadcast
      {{5, 9000}, {}},                     // scalar
      {{3, 1, 4, 1}, {1, 5, 1, 6}},        // outer product-like
  };
  uint32_t seed = 1;
  for (const auto& [sa, sb] : cases) {
    std::vector<KernelArg> ins = {randomArg(sa, seed++), randomArg(sb, seed++)};
    Shape out(std::max(sa.size(), sb.size()), 1);
    for (size_t i = 1; i <= out.size(); ++i) {
      int64_t da = i <= sa.size() ? sa[sa.size() - i] : 1, db = i <= sb.size() ? sb[sb.size() - i] : 1;
      out[out.size() - i] = std::max(da, db);
    }
    std::vector<float> expected(static_cast<size_t>(shapeElements(out)));
    for (int64_t f = 0; f < static_cast<int64_t>(expected.size()); ++f) {
      auto idx = unflatten(f, out);
      expected[f] = ins[0].data[broadcastFlat(idx, sa)] - ins[1].data[broadcastFlat(idx, sb)];
    }
    for (int threads : {1, 4}) CHECK(runKernel(OpKind::Sub, {}, ins, {out}, threads)[0] == expected);
  }
}

TEST_CASE(transpose_and_slice_match_a_plain_loop) {
  std::vector<KernelArg> ins = {randomArg({3, 70, 90}, 7)};
  Attrs perm;
  perm.values["perm"] = numbersAttr({0, 2, 1});  // the tiled path
  std::vector<float> expected(3 * 90 * 70);
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 90; ++i)
      for (int j = 0; j < 70; ++j) expected[(b * 90 + i) * 70 + j] = ins[0].data[(b * 70 + j) * 90 + i];
  for (int threads : {1, 4}) CHECK(runKernel(OpKind::Transpose, perm, ins, {{3, 90, 70}}, threads)[0] == expected);

  // x[:, ::-2, 1:] on [3, 70, 90]
  Attrs sl;
  sl.values["starts"] = numbersAttr({-1, 1});
  sl.values["ends"] = numbersAttr({-1000, 1000});
  sl.values["axes"] = numbersAttr({1, 2});
  sl.values["steps"] = numbersAttr({-2, 1});
  std::vector<float> sliced;
  for (int b = 0; b < 3; ++b)
    for (int i = 69; i >= 0; i -= 2)
      for (int j = 1; j < 90; ++j) sliced.push_back(ins[0].data[(b * 70 + i) * 90 + j]);
  for (int threads : {1, 4}) CHECK(runKernel(OpKind::Slice, sl, ins, {{3, 35, 89}}, threads)[0] == sliced);
}

TEST_CASE(reductions_agree_across_paths_and_threads) {
  // [4, 6, 50, 70] reduced over axes {0, 2} (general walk), {2, 3} (contiguous rows), {0} (column rows).
  std::vector<KernelArg> ins = {randomArg({4, 6, 50, 70}, 11)};
  const Shape& s = ins[0].shape;
  auto plainSum = [&](std::vector<char> red) {
    Shape out;
    for (size_t i = 0; i < s.size(); ++i) out.push_back(red[i] ? 1 : s[i]);
    std::vector<double> acc(static_cast<size_t>(shapeElements(out)), 0.0);
    for (int64_t f = 0; f < shapeElements(s); ++f) acc[broadcastFlat(unflatten(f, s), out)] += ins[0].data[f];
    return std::vector<float>(acc.begin(), acc.end());
  };
  struct Case {
    std::vector<double> axes;
    std::vector<char> red;
  };
  for (const Case& c : {Case{{0, 2}, {1, 0, 1, 0}}, Case{{2, 3}, {0, 0, 1, 1}}, Case{{0}, {1, 0, 0, 0}}}) {
    Attrs a;
    a.values["axes"] = numbersAttr(c.axes);
    Shape out;
    for (size_t i = 0; i < s.size(); ++i) out.push_back(c.red[i] ? 1 : s[i]);
    std::vector<float> expected = plainSum(c.red);
    auto one = runKernel(OpKind::ReduceSum, a, ins, {out}, 1)[0];
    auto four = runKernel(OpKind::ReduceSum, a, ins, {out}, 4)[0];
    CHECK(allClose(one, expected, 1e-5, 1e-5));
    CHECK(one == four);
  }
}

TEST_CASE(softmax_is_stable_and_sums_to_one) {
  // Logits near 1000 overflow exp() unless the max is subtracted first.
  std::vector<KernelArg> ins = {KernelArg{{3, 5, 4}, randomVector(60, 5, 990.f, 1000.f)}};
  for (int axis : {-1, 1, 0}) {
    Attrs a;
    a.values["axis"] = numbersAttr({double(axis)});
    auto y = runKernel(OpKind::Softmax, a, ins, {{3, 5, 4}}, 2)[0];
    const int ax = axis < 0 ? 2 : axis;
    const int64_t strides[3] = {20, 4, 1};
    for (int64_t f = 0; f < 60; ++f) {
      auto idx = unflatten(f, ins[0].shape);
      if (idx[ax] != 0) continue;
      double sum = 0;
      for (int64_t k = 0; k < ins[0].shape[ax]; ++k) sum += y[f + k * strides[ax]];
      CHECK(std::isfinite(sum) && std::fabs(sum - 1.0) < 1e-5);
    }
  }
}

TEST_CASE(matmul_batches_match_per_batch_products) {
  // B broadcast over A's batch of 5, and a 1-D B.
  std::vector<KernelArg> ins = {randomArg({2, 5, 3, 4}, 21), randomArg({5, 4, 6}, 22)};
  std::vector<float> expected(2 * 5 * 3 * 6, 0.f);
  for (int b0 = 0; b0 < 2; ++b0)
    for (int b1 = 0; b1 < 5; ++b1)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 6; ++j) {
          double acc = 0;
          for (int k = 0; k < 4; ++k) acc += ins[0].data[((b0 * 5 + b1) * 3 + i) * 4 + k] * ins[1].data[(b1 * 4 + k) * 6 + j];
          expected[((b0 * 5 + b1) * 3 + i) * 6 + j] = static_cast<float>(acc);
        }
  for (int threads : {1, 4}) CHECK(allClose(runKernel(OpKind::MatMul, {}, ins, {{2, 5, 3, 6}}, threads)[0], expected, 1e-5, 1e-5));
}

TEST_CASE(kernels_refuse_shapes_they_cannot_trust) {
  std::vector<KernelArg> two = {randomArg({2, 3}, 1), randomArg({2, 3}, 2)};
  CHECK_THROWS_CODE(runKernel(OpKind::Add, {}, two, {{3, 2}}, 1), Shape);
  CHECK_THROWS_CODE(runKernel(OpKind::MatMul, {}, two, {{2, 3}}, 1), Shape);
  std::vector<KernelArg> one = {randomArg({2, 3}, 3)};
  Attrs badAxis;
  badAxis.values["axis"] = numbersAttr({2});
  CHECK_THROWS_CODE(runKernel(OpKind::Softmax, badAxis, one, {{2, 3}}, 1), Shape);
  CHECK_THROWS_CODE(runKernel(OpKind::Concat, badAxis, one, {{2, 3}}, 1), Shape);
  Attrs split;
  split.values["split"] = numbersAttr({1, 1});
  auto rows = runKernel(OpKind::Split, split, one, {{1, 3}, {1, 3}}, 1);  // axis 0 is 2: fine
  CHECK(rows[0] == std::vector<float>(one[0].data.begin(), one[0].data.begin() + 3));
  CHECK(rows[1] == std::vector<float>(one[0].data.begin() + 3, one[0].data.end()));
  split.values["axis"] = numbersAttr({1});
  CHECK_THROWS_CODE(runKernel(OpKind::Split, split, one, {{2, 1}, {2, 1}}, 1), Shape);  // sums to 2, not 3
  NodeDesc node;
  node.op = OpKind::Relu;
  std::vector<float> out(1);
  KernelContext ctx{node, {Tensor{}}, {Tensor{out.data(), {}}}, 1, nullptr, {}};
  CHECK_THROWS_CODE(findKernel(OpKind::Relu, Device::CPU)(ctx), Shape);  // omitted required input
}

TEST_MAIN()
