// Direct ConvTranspose2D for kernel 2x2, stride 2, dilation 1 (the generator's learned x2 upsampling):
// the kernel windows do not overlap, so output pixel (2*iy + ky - pt, 2*ix + kx - pl) of channel m is
//   y = act(bias[m] + sum_c X[c, iy, ix] * W[c, m, ky, kx] + Z)
// with nothing else adding into it. Each task takes MB output channels x U vectors of consecutive input
// pixels (flat index q = iy*w + ix) and keeps MB x 4 taps x U accumulators in registers over all input
// channels (input vectors loaded once per channel, weights broadcast); the kx = 0 and kx = 1 vectors of
// a row are then interleaved in registers into two output vectors, Z added, the activation applied,
// and stored once. No column buffer, no scatter pass, no read-modify-write of Y. It replaces the GEMM +
// scatter path (convTranspose2dKernelStride in conv.cc) for 2x2 / 2: on the generator's upsamplings
// at 256 (64->64 at 32x32, 32->32 at 64x64, 16->16 at 128x128), best of 60, 2 threads: 0.10 / 0.20 /
// 0.35 ms -> 0.09 / 0.11 / 0.15 ms; 1 thread 0.18 / 0.22 / 0.36 -> 0.17 / 0.20 / 0.27 ms. Tested
// against the reference loops in native/test/test_conv_transpose.cc.
// (The graph's fused residual takes convTranspose2dResidual's sweep instead of Z here: faster in the
// generator, see conv.cc.) Any pads, output_padding, groups and batch: a vector whose outputs leave the image, or whose input
// pixels straddle a row end, is stored lane by lane; rows and columns no input pixel reaches (an
// output_padding margin) get act(bias + Z) in a separate loop.
// Shared by the scalar, AVX2 and AVX-512 builds (conv_transpose_direct*.cc set the vector width and
// FACESTYLE_UP_MB / FACESTYLE_UP_U / FACESTYLE_UP_NARROW_U). Plain new[] buffers, no std containers
// (see conv_direct_flat.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "cpu/conv_direct.h"
#include "cpu/mobile_pool.h"

#ifndef FACESTYLE_UP_MB
#define FACESTYLE_UP_MB 1
#endif
#ifndef FACESTYLE_UP_U
#define FACESTYLE_UP_U 2
#endif
#ifndef FACESTYLE_UP_NARROW_U
#define FACESTYLE_UP_NARROW_U FACESTYLE_UP_U
#endif

namespace facestyle::cpu {
namespace {

// lo = a0 b0 a1 b1 ... (first halves of a and b interleaved), hi = the second halves interleaved.
inline void interleaveLanes(DVec a, DVec b, DVec& lo, DVec& hi) {
#if defined(__GNUC__) && !defined(__clang__)
  DIVec mlo, mhi;
  for (int64_t i = 0; i < kDLanes; ++i) {
    mlo[i] = static_cast<int32_t>((i & 1) * kDLanes + i / 2);
    mhi[i] = static_cast<int32_t>((i & 1) * kDLanes + kDLanes / 2 + i / 2);
  }
  lo = __builtin_shuffle(a, b, mlo);  // (constant masks after unrolling: one vpermt2ps / unpack each)
  hi = __builtin_shuffle(a, b, mhi);
#else
  float t[2 * kDLanes];
  for (int64_t i = 0; i < kDLanes; ++i) t[2 * i] = a[i], t[2 * i + 1] = b[i];
  std::memcpy(&lo, t, sizeof lo);
  std::memcpy(&hi, t + kDLanes, sizeof hi);
#endif
}

inline bool upConvApplies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.kh == 2 && g.kw == 2 && v.sh == 2 && v.sw == 2 && v.dh == 1 && v.dw == 1;
}

// One block of kU vectors of consecutive input pixels (from flat index q0) for kMB output channels
// starting at channel block mb of image / group ng: accumulate over the input channels, then
// interleave, add Z, activate, store. (Software prefetch of Z a few blocks ahead measured no gain over
// the hardware prefetchers once a task walks consecutive blocks.)
template <int64_t kMB, int64_t kU>
inline void upConvBlock(const ConvGeometry& g, const float* xs, int64_t planeStride, const float* wpack, int64_t mblocks, const float* bias,
                        const float* z, float* y, const ConvActivation& act, int64_t ng, int64_t mb, int64_t q0, bool tiny) {
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), HW = g.h * g.w, OP = g.oh * g.ow;
  const int64_t grp = ng % g.group, n = ng / g.group;
  const int64_t m0 = mb * kMB, mcount = std::min(kMB, mg - m0);
  const int64_t mBase = n * g.m + grp * mg + m0;  // first output plane of the block
  const float* wb = wpack + (grp * mblocks + mb) * cg * kMB * 4;
  const float* xin = xs + (n * g.c + grp * cg) * planeStride + q0;
  DVec acc[kMB][4][kU];
  for (int64_t i = 0; i < kMB; ++i) {
    const float b = bias && i < mcount ? bias[grp * mg + m0 + i] : 0.f;
    for (int tap = 0; tap < 4; ++tap)
      for (int64_t u = 0; u < kU; ++u) acc[i][tap][u] = splat(b);
  }
  for (int64_t ci = 0; ci < cg; ++ci) {
    const float* xc = xin + ci * planeStride;
    const float* wc = wb + ci * kMB * 4;
    DVec xv[kU];
    for (int64_t u = 0; u < kU; ++u) xv[u] = dload(xc + u * kDLanes);
    for (int64_t i = 0; i < kMB; ++i)
      for (int tap = 0; tap < 4; ++tap) {
        const DVec wv = splat(wc[i * 4 + tap]);
        for (int64_t u = 0; u < kU; ++u) acc[i][tap][u] += wv * xv[u];
      }
  }
  for (int64_t u = 0; u < kU; ++u) {
    const int64_t q = q0 + u * kDLanes, iy = q / g.w, ix = q % g.w;
    if (tiny && q >= HW) break;
    const int64_t ox0 = 2 * ix - v.pl;
    const bool wholeRow = !tiny && ix + kDLanes <= g.w && ox0 >= 0 && ox0 + 2 * kDLanes <= g.ow;
    for (int64_t i = 0; i < mcount; ++i) {
      const size_t plane = static_cast<size_t>((mBase + i) * OP);
      for (int64_t ky = 0; ky < 2; ++ky) {
        if (wholeRow) {
          // The vector's pixels lie in one input row and their outputs in one output row: two vectors.
          const int64_t oy = 2 * iy + ky - v.pt;
          if (oy < 0 || oy >= g.oh) continue;
          DVec lo, hi;
          interleaveLanes(acc[i][2 * ky][u], acc[i][2 * ky + 1][u], lo, hi);
          const size_t at = plane + static_cast<size_t>(oy * g.ow + ox0);
          if (z) lo += dload(z + at), hi += dload(z + at + kDLanes);
          if (act.kind != ConvActivation::None) lo = activate(act, lo), hi = activate(act, hi);
          std::memcpy(y + at, &lo, sizeof lo);
          std::memcpy(y + at + kDLanes, &hi, sizeof hi);
          continue;
        }
        // Lane by lane: pixels across a row end, outputs cut by pads, or a tiny plane's last lanes.
        for (int64_t kx = 0; kx < 2; ++kx) {
          float lanes[kDLanes];
          std::memcpy(lanes, &acc[i][2 * ky + kx][u], sizeof lanes);
          for (int64_t l = 0; l < kDLanes; ++l) {
            const int64_t ql = q + l;
            if (ql >= HW) break;
            const int64_t oy = 2 * (ql / g.w) + ky - v.pt, ox = 2 * (ql % g.w) + kx - v.pl;
            if (oy < 0 || oy >= g.oh || ox < 0 || ox >= g.ow) continue;
            const size_t at = plane + static_cast<size_t>(oy * g.ow + ox);
            y[at] = act.apply(lanes[l] + (z ? z[at] : 0.f));
          }
        }
      }
    }
  }
}

template <int64_t kMB, int64_t kU>
void upConvBlocked(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                   const ConvActivation& act) {
  constexpr int64_t kCols = kDLanes * kU;
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), HW = g.h * g.w, OP = g.oh * g.ow;
  const int64_t mblocks = (mg + kMB - 1) / kMB;
  const int nt = threads < 1 ? 1 : threads;

  // Planes smaller than one block are copied, zero-padded, to kCols floats each (every load in bounds).
  const bool tiny = HW < kCols;
  const int64_t planeStride = tiny ? kCols : HW;
  const float* xs = x;
  if (tiny) {
    float* xp = convScratch(0, static_cast<size_t>(g.n * g.c * kCols));
    for (int64_t p = 0; p < g.n * g.c; ++p) {
      std::memcpy(xp + p * kCols, x + p * HW, static_cast<size_t>(HW) * sizeof(float));
      std::fill(xp + p * kCols + HW, xp + (p + 1) * kCols, 0.f);
    }
    xs = xp;
  }

  // Weights per (group, block of MB output channels): [ci][i][tap], zeros past the last channel.
  const size_t wLen = static_cast<size_t>(g.group * mblocks * cg * kMB * 4);
  const std::unique_ptr<float[]> wp(new float[wLen]);
  std::memset(wp.get(), 0, wLen * sizeof(float));
  for (int64_t grp = 0; grp < g.group; ++grp)
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t mo = 0; mo < mg; ++mo) {
        const float* src = w + ((grp * cg + ci) * mg + mo) * 4;  // W [c, mg, 2, 2]
        float* dst = wp.get() + (((grp * mblocks + mo / kMB) * cg + ci) * kMB + mo % kMB) * 4;
        for (int t = 0; t < 4; ++t) dst[t] = src[t];
      }

  // A task walks a chunk of consecutive blocks (about 256 input pixels) for its kMB channels: Y and Z
  // are then runs along the same output rows that the prefetchers follow, not 4 x kMB scattered pieces
  // per task. (On planes far larger than the caches Z comes from memory either way: fused, it measured
  // about level with the conv plus a separate Add, 16->16 at 128x128 and 256x256, caches flushed.) The plane's last
  // block ends at the plane's end, overlapping the block before it; a 1-block tail chunk joins the
  // chunk before it, so the two overlapping blocks are always in one task (written by one thread).
  const int64_t qblocks = tiny ? 1 : (HW + kCols - 1) / kCols;
  const int64_t chunkBlocks = std::max<int64_t>(1, 256 / kCols);
  int64_t chunks = (qblocks + chunkBlocks - 1) / chunkBlocks;
  if (chunks > 1 && qblocks - (chunks - 1) * chunkBlocks == 1) --chunks;
  const int64_t tasks = g.n * g.group * chunks * mblocks;
  // Threads only for enough work (1M multiply-adds; see directConvBlocked in conv_direct.h).
  const bool parallel = nt > 1 && tasks > 1 && g.n * g.group * qblocks * mblocks * kCols * kMB * 4 * cg > (int64_t(1) << 20);
  // Contiguous runs of tasks on the mobile pool (mobile_pool.h), 8 per thread, claimed one at a time
  // (no OpenMP wake-up and barrier per layer).
  auto run = [&](int64_t t0, int64_t tEnd) {
    for (int64_t t = t0; t < tEnd; ++t) {
      // Channel blocks innermost: consecutive tasks read the same input chunk while it is in cache.
      const int64_t mb = t % mblocks, chunk = (t / mblocks) % chunks, ng = t / (mblocks * chunks);
      const int64_t qbEnd = chunk == chunks - 1 ? qblocks : (chunk + 1) * chunkBlocks;
      for (int64_t qb = chunk * chunkBlocks; qb < qbEnd; ++qb) {
        const int64_t q0 = tiny ? 0 : std::min(qb * kCols, HW - kCols);
        upConvBlock<kMB, kU>(g, xs, planeStride, wp.get(), mblocks, bias, z, y, act, ng, mb, q0, tiny);
      }
    }
  };
  mobileParallelRanges(tasks, parallel ? nt : 1, 8, run);

  // The output_padding margin: bottom rows, then right columns of the covered rows (act(bias + Z)).
  const int64_t rowsCovered = std::max<int64_t>(0, std::min(g.oh, 2 * g.h - v.pt));
  const int64_t colsCovered = std::max<int64_t>(0, std::min(g.ow, 2 * g.w - v.pl));
  if (rowsCovered < g.oh || colsCovered < g.ow) {
    const int64_t planes = g.n * g.m;
#pragma omp parallel for num_threads(nt) if (nt > 1 && planes > 1 && planes * OP > 65536)
    for (int64_t p = 0; p < planes; ++p) {
      const float b = bias ? bias[p % g.m] : 0.f;
      float* yp = y + p * OP;
      const float* zp = z ? z + p * OP : nullptr;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = oy < rowsCovered ? colsCovered : 0; ox < g.ow; ++ox)
          yp[oy * g.ow + ox] = act.apply(b + (zp ? zp[oy * g.ow + ox] : 0.f));
    }
  }
}

// Picks the register blocking: FACESTYLE_UP_MB channels x FACESTYLE_UP_U vectors for layers with at
// least 32 input channels per group (and FACESTYLE_UP_MB output channels), else one channel x
// FACESTYLE_UP_NARROW_U vectors (see conv_transpose_direct_avx512.cc).
inline void upConvAll(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                      const ConvActivation* actOrNull) {
  const ConvActivation act = actOrNull ? *actOrNull : ConvActivation{};
  constexpr int64_t MB = FACESTYLE_UP_MB, U = FACESTYLE_UP_U, NU = FACESTYLE_UP_NARROW_U;
  if (MB > 1 && (g.mg() < MB || g.cg() < 32)) return upConvBlocked<1, NU>(g, x, w, bias, z, y, threads, act);
  return upConvBlocked<MB, U>(g, x, w, bias, z, y, threads, act);
}

}  // namespace
}  // namespace facestyle::cpu
