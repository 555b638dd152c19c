// What the mobile-layer kernels share (conv_pointwise_kernels.h, conv_depthwise_kernels.h,
// conv_stem_kernels.h), built once per SIMD level by the baseline, AVX2 and AVX-512 files
// (conv_mobile.cc, conv_mobile_avx2.cc, conv_mobile_avx512.cc). The including file first defines
// `struct Isa` (vector type V, lane count L, lane masks and the few operations the kernels use; see
// conv_mobile.cc for the plainest one) and the register blocking; everything here has internal
// linkage, one copy per ISA. Here: the vector aliases, the activations applied in registers, and how a
// layer is split across threads.
//
// Why not GEMM for these layers: they are small (a 64x64 pointwise on a 20x20 plane is 1.6M
// multiply-adds, a few microseconds), so the packing of B, the column tiling and the OpenMP fork / join
// of the general path cost more than the arithmetic.
// - threads: only when a layer has enough work, on the mobile pool (mobile_pool.h: the calling thread
//   never waits for a helper that has not started), in a few contiguous chunks per thread.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/conv_kernels.h"
#include "cpu/mobile_pool.h"

namespace facestyle::cpu {
namespace {

using V = Isa::V;
using Mask = Isa::Mask;
constexpr int64_t kL = Isa::L;

// A layer estimated under this many nanoseconds on one core runs on the calling thread alone: waking
// a helper costs a few microseconds. With OpenMP a late or preempted worker also held up every
// region at its barrier, and the threshold had to be 20-30 us (YuNet-s 256, 2 threads, best of 105
// runs: 8 us 1.34 ms, 30 us 1.15 ms, never split 1.13 ms). The pool never waits for a helper that
// has not started, so smaller layers can be split: PFLD's conv layers run back to back at 2 threads
// (shared machine, load ~5, medians of 300): before the pool 3146 / 3102 us, pool with 20 us 2748 / 2676,
// with 8 us 2728 / 2671 (and a better first quartile: 2300 / 1902 against 2492 / 2259).
constexpr int64_t kMinParallelNs = 8000;
// Single-thread rates the estimates use (multiply-adds per ns; measured on AVX-512, about 60% of
// that on AVX2): pointwise runs near the FMA peak, depthwise is bound by loads and stores.
constexpr int64_t kPointwiseMacsPerNs = 100, kDepthwiseMacsPerNs = 50;

// Bias + activation are applied in registers for these kinds; Tanh / Sigmoid take a scalar pass
// over the freshly written row (still in L1).
inline bool activationInRegisters(const ConvActivation& a) { return a.kind != ConvActivation::Tanh && a.kind != ConvActivation::Sigmoid; }

struct ActRegs {
  int kind;
  V alpha, lo, hi;
  explicit ActRegs(const ConvActivation& a) : kind(a.kind), alpha(Isa::set1(a.alpha)), lo(Isa::set1(a.lo)), hi(Isa::set1(a.hi)) {}
  // Same definitions (NaN handling included) as ConvActivation::apply.
  V operator()(V v) const {
    switch (kind) {
      case ConvActivation::Relu: return Isa::relu(v);
      case ConvActivation::LeakyRelu: return Isa::leaky(v, alpha);
      case ConvActivation::Clip: return Isa::clip(v, lo, hi);
      default: return v;
    }
  }
};

// The activations applied in registers, as compile-time kinds: the inner loops carry no switch.
template <int K>
struct ActK {
  V alpha, lo, hi;
  explicit ActK(const ConvActivation& a) : alpha(Isa::set1(a.alpha)), lo(Isa::set1(a.lo)), hi(Isa::set1(a.hi)) {}
  V operator()(V v) const {  // the same definitions as ActRegs
    if constexpr (K == ConvActivation::Relu) return Isa::relu(v);
    if constexpr (K == ConvActivation::LeakyRelu) return Isa::leaky(v, alpha);
    if constexpr (K == ConvActivation::Clip) return Isa::clip(v, lo, hi);
    return v;
  }
};

// f(ActK<kind>) for the kind in registers; identity for None, Tanh and Sigmoid (the last two then
// take a scalar pass over the plane).
template <typename F>
inline void withActivation(const ConvActivation& a, F f) {
  switch (a.kind) {
    case ConvActivation::Relu: return f(ActK<ConvActivation::Relu>(a));
    case ConvActivation::LeakyRelu: return f(ActK<ConvActivation::LeakyRelu>(a));
    case ConvActivation::Clip: return f(ActK<ConvActivation::Clip>(a));
    default: return f(ActK<ConvActivation::None>(a));
  }
}

inline void activateScalar(const ConvActivation& a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a.apply(y[i]);
}

// Runs body(t0, t1) over contiguous chunks of [0, tasks): on the calling thread when the work
// (estimated in ns on one core) is small, else on up to `threads` threads of the mobile pool
// (mobile_pool.h), four chunks per thread, claimed one at a time: a helper that wakes late takes
// fewer chunks instead of holding up the layer.
template <typename Body>
void runChunks(int64_t tasks, int64_t ns, int threads, Body body) {
  if (tasks <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(threads, 1), tasks));
  if (nt <= 1 || ns < kMinParallelNs) return body(int64_t(0), tasks);
  mobileParallelRanges(tasks, nt, 4, body);  // rethrows an exception (a scratch allocation) after the chunks
}

// runChunks with `perThread` ranges per thread of about equal cost instead of equal length: costBefore(t)
// is the cost of tasks [0, t), non-decreasing; the cut before chunk k is the first task where it reaches
// k / chunks of the total (a binary search). Chunks are still claimed one at a time.
constexpr int kMaxBalancedChunks = 256;
template <typename CostBefore, typename Body>
void runBalancedChunks(int64_t tasks, int64_t ns, int threads, int perThread, CostBefore costBefore, Body body) {
  if (tasks <= 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(threads, 1), tasks));
  if (nt <= 1 || ns < kMinParallelNs) return body(int64_t(0), tasks);
  const int64_t chunks = std::min<int64_t>({tasks, int64_t(nt) * perThread, int64_t(kMaxBalancedChunks)});
  const int64_t total = costBefore(tasks);
  int64_t cut[kMaxBalancedChunks + 1];
  cut[0] = 0, cut[chunks] = tasks;
  for (int64_t k = 1; k < chunks; ++k) {
    const int64_t goal = total * k / chunks;
    int64_t lo = cut[k - 1], hi = tasks;  // the first t with costBefore(t) >= goal
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (costBefore(mid) < goal) lo = mid + 1;
      else hi = mid;
    }
    cut[k] = lo;
  }
  auto chunk = [&](int64_t k) {
    if (cut[k] < cut[k + 1]) body(cut[k], cut[k + 1]);
  };
  mobileParallelFor(chunks, nt, chunk);  // rethrows an exception after the chunks
}

}  // namespace
}  // namespace facestyle::cpu
