// An inverted residual block (MobileNetV2's unit, PFLD's blocks) in one pass, one copy per SIMD level (see
// conv_mobile_common.h; included after conv_pwdw_kernels.h):
//
//   T = act1(W1 X + b1)              1x1 expansion      X [N,C,H,W], T [N,E,H,W]
//   D = act2(depthwise3x3(T) + b2)   stride 1, pad 1    D [N,E,H,W]
//   Y = act3(W3 D + b3 + Z)          1x1 projection     Y, Z [N,K,H,W] (Z optional: the residual)
//
// Why: at 2 threads the separate layers each split the work their own way (the fused expansion + depthwise
// by channels on small planes, the projection by output channels or columns), so each read about half of
// its input from the other core's cache. PFLD's 14x14 blocks took 126-133 us at 2 threads against 100 for
// two threads each on a private half of the image (native/test/bench_block_split.cc). Here each thread
// takes a band of output rows through all three layers: T for its rows and the row above and below (the
// rows at a band's edge are computed by both neighbours), D in a per-thread buffer, and Y's rows, so only
// X's two halo rows and the cache lines Y's band edges share cross between the cores.
// The CPU reference it is tested against: conv2dReference for each layer, in native/test/test_conv_mobile.cc
// at every SIMD level.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/conv_mobile_common.h"

namespace facestyle::cpu {
namespace {

// Whether the fused kernel takes this block (the same answer at every SIMD level): pg and dg as
// pointwiseDepthwiseApplies without a pool; qg a 1x1 stride-1 unpadded one-group conv on D with at most
// 1024 input channels and its activation applied in registers.
inline bool invertedResidualApplies(const ConvGeometry& pg, const ConvGeometry& dg, const ConvGeometry& qg, const ConvActivation& a1,
                                    const ConvActivation& a2, const ConvActivation& a3) {
  return pointwiseDepthwiseApplies(pg, dg, a1, a2, false) && qg.plainPointwise() && qg.group == 1 && qg.n == dg.n && qg.c == dg.m && qg.h == dg.oh && qg.w == dg.ow &&
         qg.c <= 1024 && activationInRegisters(a3);
}

// The projection of a band: y's columns [0, cols) (K rows of ldy floats) = act3(W3 d + b3 + z) where d holds
// the band's E channels, channel e's columns at d + e * ldd; z (laid out as y) optional. Column blocks of
// Isa::U vectors as in pointwiseConv, a last one of at most half a vector on the dot-product path
// (pointwiseTailDot). (Shortening the block before it to give that remainder a whole vector instead, 98
// columns as 48 + 34 + 16 with AVX-512, made PFLD's 14x14 block slower: bench_block_split at 2 threads
// 114-117 -> 123-128 us.)
template <typename Act>
inline void projectBand(const float* d, int64_t ldd, int64_t cols, int64_t E, int64_t K, const float* w3, const float* b3, const float* z,
                        float* y, int64_t ldy, const ConvActivation& a3, const Act& act3, const ActRegs& regs3) {
  constexpr int64_t MR = Isa::MR, NR = Isa::U * kL;
  const int64_t slices = (E + kKC - 1) / kKC, kc = (E + slices - 1) / slices;
  for (int64_t q = 0; q < cols;) {
    const int64_t n = std::min(NR, cols - q);
    if (2 * n <= kL) {
      const int64_t colsPad = (n + 3) / 4 * 4;
      const float* xt = transposeNarrowBlock(d + q, ldd, E, n, colsPad);
      pointwiseTailDot(xt, n, colsPad, w3, E, K, b3, z ? z + q : nullptr, y + q, ldy, a3);
    } else {
      for (int64_t c0 = 0; c0 < E; c0 += kc) {
        const int64_t k = std::min(kc, E - c0);
        for (int64_t m = 0; m < K; m += MR)
          pointwiseTileCols(std::min(MR, K - m), d + c0 * ldd + q, ldd, w3 + m * E + c0, E, k, b3 ? b3 + m : nullptr, z ? z + m * ldy + q : nullptr,
                            y + m * ldy + q, ldy, n, c0 > 0, c0 + k == E, act3, regs3);
      }
    }
    q += n;
  }
}

// T's and D's buffers of a band, each about this size (PFLD's 14x14 and 28x28 blocks: a thread's whole
// band of rows at once).
constexpr int64_t kInvertedResidualBandBytes = 256 * 1024;

// pg, dg, qg as invertedResidualApplies; z null or of y's shape. y must not overlap x (other threads read
// rows of x around their band while this one writes y); z may be y.
inline void invertedResidualConv(const ConvGeometry& pg, const float* x, const float* w1, const float* b1, const ConvActivation& a1,
                                 const ConvGeometry& dg, const float* w2, const float* b2, const ConvActivation& a2, const ConvGeometry& qg,
                                 const float* w3, const float* b3, const ConvActivation& a3, const float* z, float* y, int threads) {
  const int64_t C = pg.c, E = pg.m, K = qg.m, W = dg.w, P = dg.h * W, oh = dg.oh;
  const int64_t ns = pg.n * ((E * C + K * E) * P / kPointwiseMacsPerNs + E * P * 9 / kDepthwiseMacsPerNs);
  const ActRegs regs1(a1), regs3(a3);
  withActivation(a1, [&](const auto& act1) {
    withActivation(a2, [&](const auto& act2) {
      withActivation(a3, [&](const auto& act3) {
        // Image n, output rows [r0, r1), through the three layers a band of rows at a time.
        auto rows = [&](int64_t n, int64_t r0, int64_t r1) {
          const int64_t ldd = pwdwBandRows(kInvertedResidualBandBytes, E, W, r1 - r0, false) * W;
          float* d = convScratch(2, static_cast<size_t>(E * ldd));
          const float* zn = z ? z + n * K * P : nullptr;
          float* yn = y + n * K * P;
          pointwiseDepthwiseRows(
              pg, x + n * C * P, w1, b1, a1, act1, regs1, dg, w2, b2, act2, false, 0, E, r0, r1, kInvertedResidualBandBytes,
              [&](int64_t c, int64_t oy0) { return rowZeroOf(d + c * ldd, oy0, W); },
              [&](int64_t oy0, int64_t oy1) {
                projectBand(d, ldd, (oy1 - oy0) * W, E, K, w3, b3, zn ? zn + oy0 * W : nullptr, yn + oy0 * W, P, a3, act3, regs3);
              });
        };
        // Bands of rows of about equal height, one a thread.
        auto chunk = [&](int64_t u0, int64_t u1) {
          for (int64_t u = u0; u < u1;) {
            const int64_t n = u / oh, r0 = u % oh, r1 = std::min(oh, r0 + (u1 - u));
            rows(n, r0, r1);
            u += r1 - r0;
          }
        };
        const int nt = std::max(threads, 1);
        if (nt <= 1 || ns < kMinParallelNs) chunk(0, pg.n * oh);
        else mobileParallelRanges(pg.n * oh, nt, 1, chunk);
      });
    });
  });
}

}  // namespace
}  // namespace facestyle::cpu
