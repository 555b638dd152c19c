// CUDA kernel for ElementwiseChain; mirrors native/cpu/elementwise_chain.cc (lib/ops/elementwise_chain.ts
// is the reference). One thread per output element (grid-stride): it loads each input once (through
// its broadcast strides, or directly when every input has the output's size), runs the program in
// registers and writes one value, so the chain costs one read of each operand and one write.
// The step math matches native/cuda/elementwise.cu.
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/families.cuh"

namespace facestyle {

namespace {

using namespace cuda;

constexpr int kMaxInputs = 8;   // as lib/ops/elementwise_chain.ts CHAIN_MAX_INPUTS
constexpr int kMaxSteps = 32;   // CHAIN_MAX_STEPS

enum ChainOp : unsigned char { kRelu, kLeakyRelu, kTanh, kSigmoid, kExp, kLog, kSqrt, kAbs, kNeg, kClip, kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };

// The program as a launch parameter (about 400 bytes).
struct ChainProgram {
  int nIn = 0, nSteps = 0;
  unsigned char op[kMaxSteps] = {};
  signed char a[kMaxSteps] = {}, b[kMaxSteps] = {};
  float p0[kMaxSteps] = {}, p1[kMaxSteps] = {};
};

struct Inputs {
  const float* p[kMaxInputs];
};

__device__ __forceinline__ float nanValue() { return __int_as_float(0x7fc00000); }

__device__ __forceinline__ float runStep(unsigned char op, float u, float v, float p0, float p1) {
  switch (op) {
    case kRelu: return u > 0.f ? u : 0.f;
    case kLeakyRelu: return u >= 0.f ? u : p0 * u;
    case kTanh: return tanhf(u);
    case kSigmoid: return 1.f / (1.f + expf(-u));
    case kExp: return expf(u);
    case kLog: return logf(u);
    case kSqrt: return sqrtf(u);
    case kAbs: return fabsf(u);
    case kNeg: return -u;
    case kClip: {
      if (u != u) return u;
      const float w = u < p0 ? p0 : u;
      return w > p1 ? p1 : w;
    }
    case kAdd: return u + v;
    case kSub: return u - v;
    case kMul: return u * v;
    case kDiv: return u / v;
    case kPow: return powf(u, v);
    case kMax: return (u != u || v != v) ? nanValue() : (u > v ? u : v);
    case kMin: return (u != u || v != v) ? nanValue() : (u < v ? u : v);
    default: return nanValue();
  }
}

// kFlat: every input has the output's size, so element i of each input is element i of the output.
template <bool kFlat>
__global__ void chainImpl(Inputs in, float* __restrict__ y, int64_t n, Walk<kMaxInputs> w, ChainProgram prog) {
  FACESTYLE_CUDA_LOOP(i, n) {
    float v[kMaxInputs + kMaxSteps];
    if (kFlat) {
      for (int t = 0; t < prog.nIn; ++t) v[t] = in.p[t][i];
    } else {
      int off[kMaxInputs];
      w.offsets(i, off);
      for (int t = 0; t < prog.nIn; ++t) v[t] = in.p[t][off[t]];
    }
    for (int k = 0; k < prog.nSteps; ++k) {
      const float u = v[prog.a[k]];
      const float b = prog.b[k] >= 0 ? v[prog.b[k]] : 0.f;
      v[prog.nIn + k] = runStep(prog.op[k], u, b, prog.p0[k], prog.p1[k]);
    }
    y[i] = v[prog.nIn + prog.nSteps - 1];
  }
}

bool chainOpOf(const std::string& name, unsigned char& op) {
  static const char* const names[] = {"Relu", "LeakyRelu", "Tanh", "Sigmoid", "Exp", "Log", "Sqrt", "Abs", "Neg",
                                      "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};
  for (unsigned char k = 0; k < sizeof(names) / sizeof(names[0]); ++k)
    if (name == names[k]) {
      op = k;
      return true;
    }
  return false;
}

ChainProgram parseProgram(const KernelContext& ctx, int nIn) {
  ChainProgram prog;
  prog.nIn = nIn;
  std::istringstream names(ctx.attrs().getString("program", ""));
  const std::vector<int64_t> operands = ctx.attrs().getInts("operands", {});
  const std::vector<double> params = ctx.attrs().getFloats("params", {});
  std::string name;
  while (names >> name) {
    const int k = prog.nSteps;
    FACESTYLE_REQUIRE(ctx, k < kMaxSteps, "expected at most " + std::to_string(kMaxSteps) + " steps in program");
    unsigned char op = 0;
    FACESTYLE_REQUIRE(ctx, (chainOpOf(name, op)), "step " + std::to_string(k) + ": expected an elementwise op but received '" + name + "'");
    FACESTYLE_REQUIRE(ctx, operands.size() >= 2 * size_t(k) + 2 && params.size() >= 2 * size_t(k) + 2, "expected two operands and two params per step");
    const bool unary = op <= kClip;
    const int64_t a = operands[2 * k], b = operands[2 * k + 1];
    auto valid = [&](int64_t x) { return x >= 0 && x < nIn + k; };
    FACESTYLE_REQUIRE(ctx, valid(a) && (unary ? b == -1 : valid(b)),
                "step " + std::to_string(k) + " (" + name + "): operands " + std::to_string(a) + ", " + std::to_string(b) +
                    " are not among the inputs and earlier steps");
    prog.op[k] = op;
    prog.a[k] = static_cast<signed char>(a);
    prog.b[k] = static_cast<signed char>(b);
    prog.p0[k] = static_cast<float>(params[2 * k]);
    prog.p1[k] = static_cast<float>(params[2 * k + 1]);
    prog.nSteps = k + 1;
  }
  FACESTYLE_REQUIRE(ctx, prog.nSteps > 0, "expected at least one step in program");
  FACESTYLE_REQUIRE(ctx, operands.size() == 2 * size_t(prog.nSteps) && params.size() == 2 * size_t(prog.nSteps),
              "expected " + std::to_string(2 * prog.nSteps) + " operands and params (two per step)");
  return prog;
}

void elementwiseChainKernel(KernelContext& ctx) {
  requireArity(ctx, 1, kMaxInputs, 1);
  const int nIn = static_cast<int>(ctx.inputs.size());
  const ChainProgram prog = parseProgram(ctx, nIn);
  Tensor& y = ctx.out(0);
  const int rank = y.rank();
  std::vector<std::vector<int64_t>> strides(kMaxInputs, std::vector<int64_t>(rank, 0));
  Inputs in{};
  bool flat = true;
  for (int i = 0; i < nIn; ++i) {
    const Shape& s = ctx.in(i).shape;
    bool ok = static_cast<int>(s.size()) <= rank;
    for (size_t k = 1; ok && k <= s.size(); ++k) ok = s[s.size() - k] == 1 || s[s.size() - k] == y.shape[rank - k];
    FACESTYLE_REQUIRE(ctx, ok, "expected input " + std::to_string(i) + " " + shapeToString(s) + " to broadcast to the output shape " + shapeToString(y.shape));
    strides[i] = broadcastStrides(s, rank);
    in.p[i] = ctx.in(i).data;
    flat = flat && ctx.in(i).size() == y.size();
  }
  const int64_t n = y.size();
  if (n == 0) return;
  cudaStream_t stream = streamOf(ctx);
  if (flat) {
    chainImpl<true><<<blocksFor(n), kThreads, 0, stream>>>(in, y.data, n, Walk<kMaxInputs>{}, prog);
  } else {
    const Walk<kMaxInputs> w = makeWalk<kMaxInputs>(ctx, y.shape, strides);
    chainImpl<false><<<blocksFor(n), kThreads, 0, stream>>>(in, y.data, n, w, prog);
  }
  checkLaunch("ElementwiseChain");
}

}  // namespace

void registerCudaElementwiseChainKernel() { registerKernel(OpKind::ElementwiseChain, Device::CUDA, elementwiseChainKernel); }

}  // namespace facestyle
