// bench_pwdw: times a 1x1 conv + depthwise 3x3 "same" conv pair run one after the other (conv2dPointwiseFast,
// then conv2dDepthwiseFast through a scratch tensor) against the fused kernel (conv2dPointwiseDepthwiseFast,
// cpu/conv_pwdw_kernels.h). Not a test and not part of `npm run bench`; build it against a CMake build's core
// library:
//   g++ -std=c++17 -O2 -fopenmp -Inative/include -Inative native/test/bench_pwdw.cc build/libfacestyle_core.a
//       -L/usr/local/cuda/lib64 -lcudart -o /tmp/bench_pwdw   (one line)
//   /tmp/bench_pwdw <threads> <C> <M> <size> <pool 0|1> <reps>
// Prints the median microseconds of each, twice (the second round is the one to read). The inputs are
// the same every run, so they sit in cache: inside a model the unfused pair also pays for its 1x1 output
// going to memory and, split across threads differently by the two layers, between the cores.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cpu/conv_mobile.h"

using namespace facestyle;
using namespace facestyle::cpu;

namespace {

float* alignedFloats(size_t n) {
  float* p = static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64));
  for (size_t i = 0; i < n; ++i) p[i] = 0.001f * static_cast<float>(i % 97);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: bench_pwdw <threads> <C> <M> <size> <pool 0|1> <reps>\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]), reps = std::max(1, std::atoi(argv[6]));
  const int64_t C = std::atoi(argv[2]), M = std::atoi(argv[3]), s = std::atoi(argv[4]);
  const bool pool = std::atoi(argv[5]) != 0;
  ConvGeometry pg;
  pg.n = 1, pg.c = C, pg.m = M, pg.group = 1, pg.h = pg.w = s, pg.kh = pg.kw = 1, pg.oh = pg.ow = s;
  ConvGeometry dg;
  dg.n = 1, dg.c = M, dg.m = M, dg.group = M, dg.h = dg.w = s, dg.kh = dg.kw = 3, dg.oh = dg.ow = s;
  dg.win.pt = dg.win.pb = dg.win.pl = dg.win.pr = 1;
  float *x = alignedFloats(C * s * s), *w1 = alignedFloats(C * M), *b1 = alignedFloats(M), *t = alignedFloats(M * s * s);
  float *w2 = alignedFloats(M * 9), *b2 = alignedFloats(M), *y = alignedFloats(M * s * s);
  ConvActivation a1, a2;
  a2.kind = ConvActivation::Relu;
  auto median = [&](auto run) {
    std::vector<double> v;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      run();
      v.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (int round = 0; round < 2; ++round) {
    const double apart = median([&] {
      conv2dPointwiseFast(pg, x, w1, b1, t, threads, a1);
      conv2dDepthwiseFast(dg, t, w2, b2, y, threads, a2, pool);
    });
    const double fused = median([&] { conv2dPointwiseDepthwiseFast(pg, x, w1, b1, a1, dg, w2, b2, a2, pool, y, threads); });
    std::printf("%d threads, %lld->%lld at %lldx%lld%s: apart %.1f us, fused %.1f us (%.2fx)\n", threads, (long long)C, (long long)M, (long long)s,
                (long long)s, pool ? " + pool" : "", apart, fused, apart / fused);
  }
  for (float* p : {x, w1, b1, t, w2, b2, y}) std::free(p);
  return 0;
}
