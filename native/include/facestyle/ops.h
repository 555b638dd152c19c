// Op kinds and node attributes as the native runtime sees them. The TypeScript op registry
// (lib/ops) is the source of truth for names, attributes and shape inference; the names here must
// match it exactly (test/native-op-names.test.ts checks that).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "facestyle/status.h"
#include "facestyle/tensor.h"

namespace facestyle {

#define FACESTYLE_OP_LIST(X)                                                                     \
  X(Conv2D) X(ConvTranspose2D) X(MaxPool) X(AveragePool) X(GlobalAveragePool) X(GlobalMaxPool)  \
  X(Resize) X(Pad) X(BatchNormalization) X(InstanceNormalization) X(LayerNormalization)         \
  X(GroupNormalization) X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Max) X(Min) X(Relu) X(LeakyRelu)  \
  X(Tanh) X(Sigmoid) X(Exp) X(Log) X(Sqrt) X(Abs) X(Neg) X(Clip) X(Concat) X(Slice) X(Split)    \
  X(Transpose) X(Reshape) X(Flatten) X(Squeeze) X(Unsqueeze) X(ReduceMean) X(ReduceSum)         \
  X(ReduceMax) X(MatMul) X(Gemm) X(Softmax) X(Identity) X(WarpAffine)                            \
  /* training: backward, optimizer and loss ops (lib/ops/backward.ts, optim.ts, loss.ts) */   \
  X(Conv2DBackpropInput) X(Conv2DBackpropFilter) X(Conv2DBackpropBias) X(LeakyReluGrad)        \
  X(ReluGrad) X(TanhGrad) X(SigmoidGrad) X(AbsGrad) X(ReduceSumTo) X(ResizeBackward)          \
  X(AdamUpdate) X(SgdMomentumUpdate) X(EmaUpdate) X(GlobalNormClip) X(L1Loss) X(L1LossGrad)   \
  X(MseLoss) X(MseLossGrad) X(LsganLoss) X(LsganLossGrad) X(ColorLoss) X(ColorLossGrad)    \
  X(BceLogitsLoss) X(BceLogitsLossGrad) X(HingeLoss) X(HingeLossGrad) X(TotalVariationLoss)   \
  X(TotalVariationLossGrad) X(PadBackward) X(InstanceNormalizationGrad)                        \
  /* inference fusion (lib/ops/elementwise_chain.ts, pointwise_depthwise.ts) */                \
  X(ElementwiseChain) X(PointwiseDepthwise)

enum class OpKind {
#define FACESTYLE_OP_ENUM(name) name,
  FACESTYLE_OP_LIST(FACESTYLE_OP_ENUM)
#undef FACESTYLE_OP_ENUM
  Count
};

constexpr int kOpCount = static_cast<int>(OpKind::Count);

const char* opKindName(OpKind kind);
// Throws Unsupported (naming the op) when `name` is not a native op.
OpKind opKindFromName(const std::string& name);

// One attribute: numbers (ints are stored as doubles; exact up to 2^53) or a string.
struct Attr {
  std::vector<double> numbers;
  std::string text;
  bool isText = false;
};

class Attrs {
 public:
  std::map<std::string, Attr> values;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  int64_t getInt(const std::string& name, int64_t fallback) const;
  double getFloat(const std::string& name, double fallback) const;
  std::vector<int64_t> getInts(const std::string& name, const std::vector<int64_t>& fallback) const;
  std::vector<double> getFloats(const std::string& name, const std::vector<double>& fallback) const;
  std::string getString(const std::string& name, const std::string& fallback) const;
};

}  // namespace facestyle
