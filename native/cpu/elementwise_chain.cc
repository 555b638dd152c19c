// CPU kernel for ElementwiseChain (lib/ops/elementwise_chain.ts): a program of elementwise steps fused
// by the inference passes, evaluated in one pass over the output.
//
// The output is walked as rows (cpu/broadcast.h collapseWalk over every input's broadcast strides) and
// cut into blocks of kBlock elements: a piece of a long row, or several whole short rows. For one block
// every step runs over the whole block before the next (a tight loop the compiler vectorises), its
// result kept in a small per-thread buffer that stays in L1; the last step writes the output. An
// operand that is constant along the block (a scalar, a per-channel value) stays one value, and a step
// whose operands are all such values computes one value. With short rows, an operand that differs
// between rows is copied into a block first (one that repeats the same row is tiled once per thread).
// The readable reference is the ops applied one after another (the TS reference does exactly that);
// the math is the single-op kernels' (elementwise_math.h), so the fused result equals the unfused one
// bit for bit (native/test/test_elementwise_chain.cc checks that).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu/broadcast.h"
#include "cpu/elementwise_math.h"
#include "cpu/mobile_pool.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

constexpr size_t kMaxInputs = 8;  // as lib/ops/elementwise_chain.ts CHAIN_MAX_INPUTS
constexpr size_t kMaxSteps = 32;  // CHAIN_MAX_STEPS
constexpr int64_t kBlock = 512;   // elements per block: (steps + inputs) x 2 KiB stays in L1

struct Step {
  OpKind op;
  int a, b;  // value indices (inputs first, then step results); b = -1 for a unary op
  float p0, p1;
};

bool isUnary(OpKind op) {
  switch (op) {
    case OpKind::Relu: case OpKind::LeakyRelu: case OpKind::Tanh: case OpKind::Sigmoid: case OpKind::Exp:
    case OpKind::Log: case OpKind::Sqrt: case OpKind::Abs: case OpKind::Neg: case OpKind::Clip:
      return true;
    default:
      return false;
  }
}

// The ops a chain may hold, by name (a short table: this runs on every call of the kernel).
constexpr struct {
  const char* name;
  OpKind op;
} kChainOps[] = {{"Relu", OpKind::Relu}, {"LeakyRelu", OpKind::LeakyRelu}, {"Tanh", OpKind::Tanh}, {"Sigmoid", OpKind::Sigmoid},
                 {"Exp", OpKind::Exp},   {"Log", OpKind::Log},             {"Sqrt", OpKind::Sqrt}, {"Abs", OpKind::Abs},
                 {"Neg", OpKind::Neg},   {"Clip", OpKind::Clip},           {"Add", OpKind::Add},   {"Sub", OpKind::Sub},
                 {"Mul", OpKind::Mul},   {"Div", OpKind::Div},             {"Pow", OpKind::Pow},   {"Max", OpKind::Max},
                 {"Min", OpKind::Min}};

// Decodes and checks the program attributes (program, operands, params) for nIn inputs. This runs on
// every call, so error messages are built only on failure (`if (!ok) ctx.fail(...)`, not require()).
std::vector<Step> parseProgram(const KernelContext& ctx, int nIn) {
  const std::string program = ctx.attrs().getString("program", "");
  const std::vector<int64_t> operands = ctx.attrs().getInts("operands", {});
  const std::vector<double> params = ctx.attrs().getFloats("params", {});
  std::vector<Step> steps;
  steps.reserve(operands.size() / 2);
  size_t pos = 0;
  while (true) {
    while (pos < program.size() && program[pos] == ' ') ++pos;
    if (pos >= program.size()) break;
    size_t end = program.find(' ', pos);
    if (end == std::string::npos) end = program.size();
    const int k = static_cast<int>(steps.size());
    if (steps.size() >= kMaxSteps) ctx.fail("expected at most " + std::to_string(kMaxSteps) + " steps in program");
    OpKind op = OpKind::Count;
    for (const auto& e : kChainOps)
      if (program.compare(pos, end - pos, e.name) == 0) op = e.op;
    if (op == OpKind::Count) ctx.fail("step " + std::to_string(k) + ": expected an elementwise op but received '" + program.substr(pos, end - pos) + "'");
    if (!(operands.size() >= 2 * size_t(k) + 2 && params.size() >= 2 * size_t(k) + 2)) ctx.fail("expected two operands and two params per step");
    const int64_t a = operands[2 * k], b = operands[2 * k + 1];
    auto valid = [&](int64_t v) { return v >= 0 && v < nIn + k; };
    if (!(valid(a) && (isUnary(op) ? b == -1 : valid(b)))) ctx.fail("step " + std::to_string(k) + " (" + program.substr(pos, end - pos) + "): operands " + std::to_string(a) + ", " +
                    std::to_string(b) + " are not among the inputs and earlier steps");
    steps.push_back({op, static_cast<int>(a), static_cast<int>(b), static_cast<float>(params[2 * k]), static_cast<float>(params[2 * k + 1])});
    pos = end;
  }
  if (steps.empty()) ctx.fail("expected at least one step in program");
  if (!(operands.size() == 2 * steps.size() && params.size() == 2 * steps.size())) ctx.fail("expected " + std::to_string(2 * steps.size()) + " operands and params (two per step)");
  return steps;
}

// A value over one block: stride 1 (n values) or 0 (one value for the whole block).
struct Operand {
  const float* p;
  int stride;
};

template <typename F>
inline void unaryLoop(float* y, Operand a, int64_t n, F f) {
  const float* x = a.p;
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <typename F>
inline void binaryLoop(float* y, Operand a, Operand b, int64_t n, F f) {
  if (a.stride && b.stride) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a.p[i], b.p[i]);
  } else if (a.stride) {
    const float bv = *b.p;
    for (int64_t i = 0; i < n; ++i) y[i] = f(a.p[i], bv);
  } else {
    const float av = *a.p;
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, b.p[i]);
  }
}

// y[0..n) = step(a, b); the same formulas as the single-op kernels in elementwise.cc.
void runStep(const Step& s, Operand a, Operand b, float* y, int64_t n) {
  const float p0 = s.p0, p1 = s.p1;
  switch (s.op) {
    case OpKind::Relu: return unaryLoop(y, a, n, [](float x) { return cpu::relu(x); });
    case OpKind::LeakyRelu: return unaryLoop(y, a, n, [p0](float x) { return cpu::leakyRelu(x, p0); });
    case OpKind::Tanh: return unaryLoop(y, a, n, [](float x) { return cpu::fastTanh(x); });
    case OpKind::Sigmoid: return unaryLoop(y, a, n, [](float x) { return cpu::sigmoid(x); });
    case OpKind::Exp: return unaryLoop(y, a, n, [](float x) { return std::exp(x); });
    case OpKind::Log: return unaryLoop(y, a, n, [](float x) { return std::log(x); });
    case OpKind::Sqrt: return unaryLoop(y, a, n, [](float x) { return std::sqrt(x); });
    case OpKind::Abs: return unaryLoop(y, a, n, [](float x) { return std::fabs(x); });
    case OpKind::Neg: return unaryLoop(y, a, n, [](float x) { return -x; });
    case OpKind::Clip: return unaryLoop(y, a, n, [p0, p1](float x) { return cpu::clip(x, p0, p1); });
    case OpKind::Add: return binaryLoop(y, a, b, n, [](float u, float v) { return u + v; });
    case OpKind::Sub: return binaryLoop(y, a, b, n, [](float u, float v) { return u - v; });
    case OpKind::Mul: return binaryLoop(y, a, b, n, [](float u, float v) { return u * v; });
    case OpKind::Div: return binaryLoop(y, a, b, n, [](float u, float v) { return u / v; });
    case OpKind::Pow: return binaryLoop(y, a, b, n, [](float u, float v) { return std::pow(u, v); });
    case OpKind::Max: return binaryLoop(y, a, b, n, [](float u, float v) { return cpu::maxNan(u, v); });
    case OpKind::Min: return binaryLoop(y, a, b, n, [](float u, float v) { return cpu::minNan(u, v); });
    default: return;  // parseProgram admits only the ops above
  }
}

void elementwiseChainKernel(KernelContext& ctx) {
  // (cpu::requireArity would build its messages on every call; this kernel is often tiny.)
  const int nIn = static_cast<int>(ctx.inputs.size());
  if (nIn < 1 || nIn > static_cast<int>(kMaxInputs) || ctx.outputs.size() != 1)
    ctx.fail("expected 1 to " + std::to_string(kMaxInputs) + " inputs and 1 output but received " + std::to_string(nIn) + " and " +
             std::to_string(ctx.outputs.size()));
  for (int i = 0; i < nIn; ++i)
    if (!ctx.hasInput(i) && ctx.in(i).size() != 0) ctx.fail("input " + std::to_string(i) + " is missing");
  const std::vector<Step> steps = parseProgram(ctx, nIn);
  Tensor& y = ctx.out(0);
  const int rank = y.rank();
  std::vector<std::vector<int64_t>> strides;
  for (int i = 0; i < nIn; ++i) {
    const Shape& s = ctx.in(i).shape;
    bool ok = static_cast<int>(s.size()) <= rank;
    for (size_t k = 1; ok && k <= s.size(); ++k) ok = s[s.size() - k] == 1 || s[s.size() - k] == y.shape[rank - k];
    if (!ok) ctx.fail("expected input " + std::to_string(i) + " " + shapeToString(s) + " to broadcast to the output shape " + shapeToString(y.shape));
    strides.push_back(cpu::broadcastStrides(s, rank));
  }
  if (y.size() == 0) return;

  const cpu::StridedWalk w = cpu::collapseWalk(y.shape, strides);
  const int wr = static_cast<int>(w.dims.size());
  const int64_t inner = w.dims[wr - 1];
  int64_t rows = 1;
  for (int a = 0; a < wr - 1; ++a) rows *= w.dims[a];
  // A job is one block: a piece of a long row, or several whole short rows (rows of 16 are common:
  // NHWC tensors with a per-channel operand), so the per-block work is never spent on a few elements.
  const int64_t chunks = (inner + kBlock - 1) / kBlock;
  const int64_t rowsPerJob = inner >= kBlock ? 1 : kBlock / inner;
  const int64_t jobs = inner >= kBlock ? rows * chunks : (rows + rowsPerJob - 1) / rowsPerJob;
  // Along the innermost (last non-1) axis a dense input is contiguous or broadcast: stride 1 or 0.
  for (int i = 0; i < nIn; ++i) {
    const int64_t e = w.strides[i][wr - 1];
    if (!(e == 0 || e == 1)) ctx.fail("internal: input " + std::to_string(i) + " has inner stride " + std::to_string(e));
  }
  const bool parallel = ctx.threads > 1 && y.size() >= cpu::kParallelMinElements && jobs > 1;
  const float* base[kMaxInputs];
  bool full[kMaxInputs];      // has the output's size, hence its layout
  bool constant[kMaxInputs];  // one value for the whole output
  bool sameRows[kMaxInputs];  // the same row for every row (e.g. a per-channel vector under NHWC)
  for (int i = 0; i < nIn; ++i) {
    base[i] = ctx.in(i).data;
    full[i] = ctx.in(i).size() == y.size();
    constant[i] = std::all_of(w.strides[i].begin(), w.strides[i].end(), [](int64_t v) { return v == 0; });
    sameRows[i] = std::all_of(w.strides[i].begin(), w.strides[i].end() - 1, [](int64_t v) { return v == 0; });
  }
  float* py = y.data;

  // Element offset of row `row` (of the collapsed walk) in input i.
  auto rowOffset = [&](int i, int64_t row) {
    int64_t off = 0;
    for (int a = wr - 2; a >= 0; --a) {
      off += (row % w.dims[a]) * w.strides[i][a];
      row /= w.dims[a];
    }
    return off;
  };
  // Runs jobs [begin, end); `mine` holds one block per step result, then one per input for gathers.
  auto runJobs = [&](int64_t begin, int64_t end, float* mine) {
    Operand vals[kMaxInputs + kMaxSteps];
    // Short rows: an input that repeats one row is tiled into its block once, for every job.
    if (inner < kBlock)
      for (int i = 0; i < nIn; ++i)
        if (!full[i] && !constant[i] && sameRows[i]) {
          float* g = mine + (steps.size() + i) * kBlock;
          for (int64_t r = 0; r < rowsPerJob; ++r) std::copy(base[i], base[i] + inner, g + r * inner);
        }
    for (int64_t job = begin; job < end; ++job) {
      int64_t row0, nRows, c0, n;
      if (inner >= kBlock) {
        row0 = job / chunks, nRows = 1, c0 = (job % chunks) * kBlock, n = std::min(kBlock, inner - c0);
      } else {
        row0 = job * rowsPerJob, nRows = std::min(rowsPerJob, rows - row0), c0 = 0, n = nRows * inner;
      }
      for (int i = 0; i < nIn; ++i) {
        const int64_t e = w.strides[i][wr - 1];
        if (nRows == 1) {
          vals[i] = {base[i] + rowOffset(i, row0) + c0 * e, static_cast<int>(e)};
        } else if (full[i]) {
          vals[i] = {base[i] + row0 * inner, 1};  // the output's layout: the rows are contiguous
        } else if (constant[i]) {
          vals[i] = {base[i], 0};
        } else if (sameRows[i]) {
          vals[i] = {mine + (steps.size() + i) * kBlock, 1};  // tiled above
        } else {
          // Broadcast across short rows: copy each row's piece (or its one value) into a block.
          float* g = mine + (steps.size() + i) * kBlock;
          for (int64_t r = 0; r < nRows; ++r) {
            const float* src = base[i] + rowOffset(i, row0 + r);
            if (e) std::copy(src, src + inner, g + r * inner);
            else std::fill(g + r * inner, g + (r + 1) * inner, *src);
          }
          vals[i] = {g, 1};
        }
      }
      float* out = py + row0 * inner + c0;
      for (size_t k = 0; k < steps.size(); ++k) {
        const Step& s = steps[k];
        const Operand a = vals[s.a], b = s.b >= 0 ? vals[s.b] : Operand{nullptr, 0};  // b unused by a unary step
        // All operands constant along the block: one value. Otherwise n values (the last into the output).
        const bool scalar = a.stride == 0 && (s.b < 0 || b.stride == 0);
        const bool last = k + 1 == steps.size();
        float* dst = last && !scalar ? out : mine + k * kBlock;
        runStep(s, a, b, dst, scalar ? 1 : n);
        vals[nIn + k] = {dst, scalar ? 0 : 1};
        if (last && scalar) std::fill(out, out + n, dst[0]);
      }
    }
  };
  // Scratch is allocated here, before the parallel part; new[] leaves it uninitialised (every element is written before it is read).
  const int team = parallel ? ctx.threads : 1;
  const size_t perThread = (steps.size() + nIn) * kBlock;
  std::unique_ptr<float[]> scratch(new float[static_cast<size_t>(team) * perThread]);
  if (!parallel) return runJobs(0, jobs, scratch.get());  // small chains: one plain loop
  // One contiguous range of jobs per scratch slot, on the mobile pool (cpu/pool_for.h says why not
  // OpenMP); a thread that runs two ranges uses two slots.
  auto range = [&](int64_t t) { runJobs(jobs * t / team, jobs * (t + 1) / team, scratch.get() + static_cast<size_t>(t) * perThread); };
  cpu::mobileParallelFor(team, team, range);
}

}  // namespace

void registerCpuElementwiseChainKernel() { registerKernel(OpKind::ElementwiseChain, Device::CPU, elementwiseChainKernel); }

}  // namespace facestyle
