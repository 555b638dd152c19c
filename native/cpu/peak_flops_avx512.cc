// FMA throughput loop for the avx512 peak FLOP/s (see peak_flops.h). 24 independent accumulators:
// more than FMA latency (4 cycles) x 2 ports, fewer than the vector registers, so no spills.
#include <immintrin.h>

#include <time.h>

#include "cpu/peak_flops.h"

namespace facestyle::cpu {
namespace {
// A C clock, not std::chrono: templates instantiated in this ISA-flagged file could be shared, by the
// linker, with code that runs on CPUs without the ISA.
double nowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
}  // namespace

double peakFlopsAvx512(int threads, double seconds) {
  constexpr int kAcc = 24, kLanes = 16;
  // The machine is shared (other processes, hypervisor): run short bursts of fixed work on all threads
  // between barriers and keep the fastest burst, the rate when every thread had its core.
  constexpr long kRounds = 1L << 17;  // about 1 ms per burst
  if (threads < 1) threads = 1;
  double best = 0;
  float sink = 0;
  bool stop = false;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    // acc = acc * m + a converges to a / (1 - m): values stay normal, never overflow or go denormal.
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
    __m512 acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(float(i));
    const double start = nowSeconds();
    double t0 = 0;
    while (true) {
#pragma omp barrier
#pragma omp master
      t0 = nowSeconds();
      for (long r = 0; r < kRounds; ++r) {
#pragma GCC unroll 24
        for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
      }
#pragma omp barrier
#pragma omp master
      {
        const double t1 = nowSeconds();
        const double rate = double(threads) * kRounds * kAcc * kLanes * 2 / (t1 - t0);
        if (rate > best) best = rate;
        stop = t1 - start >= seconds;
      }
#pragma omp barrier
      if (stop) break;
    }
    // Use the results so the loop is not optimised away.
    alignas(64) float out[kLanes];
    for (int i = 1; i < kAcc; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    _mm512_store_ps(out, acc[0]);
    sink += out[0];
  }
  return sink == 12345.f ? best + 1 : best;
}

}  // namespace facestyle::cpu
