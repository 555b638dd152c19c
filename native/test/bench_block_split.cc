// bench_block_split: how much a chain of inverted-residual blocks (PFLD's: a fused 1x1 expansion + depthwise
// 3x3, then a 1x1 projection) loses at 2 threads to data crossing between the cores, and what splitting each
// block by rows per thread could win. Not a test and not part of `npm run bench`; build it against a CMake
// build's core library:
//   g++ -std=c++17 -O2 -fopenmp -Inative/include -Inative native/test/bench_block_split.cc build/libfacestyle_core.a
//       /usr/local/cuda/lib64/libcudart_static.a -ldl -lrt -lpthread -o /tmp/bench_block_split   (one line)
//   /tmp/bench_block_split <C> <E> <size> <blocks> <reps>     (PFLD: 128 256 14 and 64 64 28)
// Prints the median microseconds per block of:
// - current: the engine's kernels on the whole tensors at 1 and 2 threads (conv2dPointwiseDepthwiseFast, then
//   conv2dPointwiseFast), each splitting its layer its own way (the fused one by channel blocks on small
//   planes, the 1x1 by output channels on 14x14 or by columns), so each layer reads about half of its input
//   from the other core's cache;
// - private halves: two threads, each running the same kernels single-threaded on its own half-height image
//   (plus the one halo row) in its own buffers, a barrier between layers: nothing crosses between the cores,
//   the ceiling of any row split;
// - gather / scatter: the same, but each thread copies its rows (and halo) out of the shared NCHW tensor first
//   and its output rows back after: a row split that keeps the engine's layout, paying the copies and the
//   cache lines both threads write where rows are not whole lines (14x14).
// Intel Xeon (2 cores, AVX-512), 2026-11-25, two runs: 128 -> 256 -> 128 at 14x14: current 170 / 126-133 us
// (1 / 2 threads), private halves 100-101, gather / scatter 117-119; 64 -> 64 -> 64 at 28x28: 92 / 83-86,
// 57-58, 82-83 (the fused kernel already splits 28x28 by rows at 2 threads).
// onnxruntime's NCHWc blocks at 2 threads take about 108 and 69 us inside PFLD (its per-node profile,
// less its profiling overhead), near the private-halves ceiling.
// - fused block: the engine's block kernel (conv2dInvertedResidualFast, each thread a band of rows through the
//   three layers, in the shared tensors). 2026-11-25 later, the machine slower (current 131-132 / 84-85 us,
//   private halves 117-119 / 74-75): 114-117 and 68-69 us at 2 threads, 170 and 93-95 at 1.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "cpu/conv_mobile.h"

using namespace facestyle;
using namespace facestyle::cpu;

namespace {

float* alignedFloats(size_t n) {
  float* p = static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64));
  for (size_t i = 0; i < n; ++i) p[i] = 0.001f * static_cast<float>(i % 97) - 0.04f;
  return p;
}

// One block's three layers on an h x w image: 1x1 C -> E, depthwise 3x3 "same" on E, 1x1 E -> C.
struct Block {
  ConvGeometry expand, depthwise, project;
  Block(int64_t C, int64_t E, int64_t h, int64_t w) {
    expand.n = 1, expand.c = C, expand.m = E, expand.group = 1, expand.h = expand.oh = h, expand.w = expand.ow = w, expand.kh = expand.kw = 1;
    depthwise = expand;
    depthwise.c = depthwise.m = depthwise.group = E, depthwise.kh = depthwise.kw = 3;
    depthwise.win.pt = depthwise.win.pb = depthwise.win.pl = depthwise.win.pr = 1;
    project = expand;
    project.c = E, project.m = C;
  }
};

struct Weights {
  float *w1, *b1, *w2, *b2, *w3, *b3;
  Weights(int64_t C, int64_t E)
      : w1(alignedFloats(C * E)), b1(alignedFloats(E)), w2(alignedFloats(E * 9)), b2(alignedFloats(E)), w3(alignedFloats(C * E)), b3(alignedFloats(C)) {}
};

// A spinning barrier for two threads (the layers are tens of microseconds).
struct Barrier {
  std::atomic<int> arrived{0}, generation{0};
  int count;
  explicit Barrier(int n) : count(n) {}
  void wait() {
    const int g = generation.load();
    if (arrived.fetch_add(1) + 1 == count) {
      arrived = 0;
      generation.fetch_add(1);
    } else {
      while (generation.load() == g) {
      }
    }
  }
};

// Runs fused + projection on one thread's block, failing loudly when a kernel declines the geometry.
void runBlock(const Block& b, const Weights& w, const float* x, float* t, float* y, const float* residual, int threads) {
  ConvActivation relu, none;
  relu.kind = ConvActivation::Relu;
  if (!conv2dPointwiseDepthwiseFast(b.expand, x, w.w1, w.b1, relu, b.depthwise, w.w2, w.b2, relu, false, t, threads) ||
      !conv2dPointwiseFast(b.project, t, w.w3, w.b3, y, threads, none, residual)) {
    std::fprintf(stderr, "a kernel declined the geometry\n");
    std::exit(1);
  }
}

template <typename Run>
double medianPerBlock(int reps, int blocks, Run run) {
  std::vector<double> us;
  for (int round = 0; round < 2; ++round) {  // the first round warms up
    us.clear();
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      run();
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / blocks);
    }
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench_block_split <C> <E> <size> <blocks> <reps>\n");
    return 2;
  }
  const int64_t C = std::atoi(argv[1]), E = std::atoi(argv[2]), s = std::atoi(argv[3]);
  const int blocks = std::max(1, std::atoi(argv[4])), reps = std::max(1, std::atoi(argv[5]));
  if (C < 1 || E < 1 || s < 4) return 2;
  const Weights w(C, E);

  // The engine's kernels on the whole tensors; the block's output replaces its input (with the residual).
  const Block whole(C, E, s, s);
  float *x = alignedFloats(C * s * s), *t = alignedFloats(E * s * s);
  for (int threads = 1; threads <= 2; ++threads) {
    const double us = medianPerBlock(reps, blocks, [&] {
      for (int i = 0; i < blocks; ++i) runBlock(whole, w, x, t, x, x, threads);
    });
    std::printf("current, %d thread%s: %.1f us per block\n", threads, threads > 1 ? "s" : "", us);
  }
  // The fused block kernel (conv2dInvertedResidualFast): each thread a band of rows through the three layers;
  // its output goes to a second tensor (it must not overwrite its input), the two swapped between blocks.
  float* x2 = alignedFloats(C * s * s);
  for (int threads = 1; threads <= 2; ++threads) {
    ConvActivation relu, none;
    relu.kind = ConvActivation::Relu;
    float *in = x, *out = x2;
    const double us = medianPerBlock(reps, blocks, [&] {
      for (int i = 0; i < blocks; ++i) {
        if (!conv2dInvertedResidualFast(whole.expand, in, w.w1, w.b1, relu, whole.depthwise, w.w2, w.b2, relu, whole.project, w.w3, w.b3, none, in,
                                        out, threads)) {
          std::fprintf(stderr, "the block kernel declined the geometry\n");
          std::exit(1);
        }
        std::swap(in, out);
      }
    });
    std::printf("fused block, %d thread%s: %.1f us per block\n", threads, threads > 1 ? "s" : "", us);
  }

  // Thread i's output rows [r0, r1) need input rows [g0, g1) (one halo row inside the image). Each runs the
  // block "same"-padded on its g1 - g0 rows and keeps the rows it owns (the halo row's output, computed
  // against a zero row, is dropped).
  struct Part {
    int64_t r0, r1, g0, g1;
    Block block;
    float *x, *t, *y;
  };
  std::vector<Part> parts;
  for (int i = 0; i < 2; ++i) {
    const int64_t r0 = i == 0 ? 0 : s / 2, r1 = i == 0 ? s / 2 : s;
    const int64_t g0 = std::max<int64_t>(0, r0 - 1), g1 = std::min(s, r1 + 1), rows = g1 - g0;
    parts.push_back({r0, r1, g0, g1, Block(C, E, rows, s), alignedFloats(C * rows * s), alignedFloats(E * rows * s), alignedFloats(C * rows * s)});
  }
  for (const bool copies : {false, true}) {
    Barrier barrier(2);
    auto body = [&](int i) {
      Part& p = parts[static_cast<size_t>(i)];
      const int64_t rows = p.g1 - p.g0, own = p.r1 - p.r0;
      for (int b = 0; b < blocks; ++b) {
        if (copies)
          for (int64_t c = 0; c < C; ++c) std::memcpy(p.x + c * rows * s, x + c * s * s + p.g0 * s, sizeof(float) * static_cast<size_t>(rows * s));
        barrier.wait();  // every thread has read its rows before any writes the block's output
        runBlock(p.block, w, p.x, p.t, p.y, p.x, 1);
        if (copies)
          for (int64_t c = 0; c < C; ++c)
            std::memcpy(x + c * s * s + p.r0 * s, p.y + c * rows * s + (p.r0 - p.g0) * s, sizeof(float) * static_cast<size_t>(own * s));
        else
          std::swap(p.x, p.y);  // the next block reads this one's output
        barrier.wait();
      }
    };
    const double us = medianPerBlock(reps, blocks, [&] {
      std::thread helper(body, 1);
      body(0);
      helper.join();
    });
    std::printf("%s: %.1f us per block (thread start included)\n", copies ? "gather / scatter rows of the shared tensor" : "private halves", us);
  }
  return 0;
}
