// Direct Conv2D for layers with few channels (the RGB stem, 3- or 16-channel layers at full
// resolution), where im2col + GEMM spends its time writing and packing a tall, thin column matrix.
// Shared by the scalar, AVX2 and AVX-512 builds (conv_direct*.cc); the including file sets the vector
// width and register blocking, GCC / Clang vector extensions map Vec onto xmm / ymm / zmm. Internal
// linkage: one copy per ISA, never merged by the linker.
//
// Layout trick: the input is first copied, zero-padded, into "phase rows": for stride s, row iy of
// channel c becomes s rows, phase p holding padded columns p, p + s, p + 2s, ... Then the input of
// output column ox for tap kx is phase (kx*dw) % s at index ox + (kx*dw) / s: contiguous vector loads
// for every stride and dilation, and no bounds checks (padding is real zeros).
// Each task is one output row of MB output channels; it keeps MB x U vectors of outputs in registers
// over all (ci, ky, kx) taps and writes them once, bias added first and the fused activation applied
// in registers. Also here: depthwiseFlatAll, the small-plane depthwise kernel (same idea, the padded
// plane flattened). conv2d() in conv.cc no longer picks directConvAll (the flat phase-plane kernel in
// conv_direct_flat.h, which builds on the helpers here, was level or faster on every layer measured);
// it stays as a second direct implementation, tested against conv2dReference in test_conv_algos.cc.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "cpu/conv_kernels.h"
#if FACESTYLE_DIRECT_VECTOR_BYTES == 64 && defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef FACESTYLE_DIRECT_VECTOR_BYTES
#define FACESTYLE_DIRECT_VECTOR_BYTES 16
#endif
#ifndef FACESTYLE_DIRECT_MB
#define FACESTYLE_DIRECT_MB 4
#endif
#ifndef FACESTYLE_DIRECT_U
#define FACESTYLE_DIRECT_U 2
#endif

namespace facestyle::cpu {
namespace {

typedef float DVec __attribute__((vector_size(FACESTYLE_DIRECT_VECTOR_BYTES)));
constexpr int64_t kDLanes = FACESTYLE_DIRECT_VECTOR_BYTES / sizeof(float);
// Register blocking for layers with at least FACESTYLE_DIRECT_MB output channels per group: that
// many channels x FACESTYLE_DIRECT_U vectors of columns. Layers with fewer channels (an RGB output
// layer) use a narrower, longer block so that no lane computes a channel that does not exist.
constexpr int64_t kDirectMB = FACESTYLE_DIRECT_MB;
constexpr int64_t kDirectAccumulators = FACESTYLE_DIRECT_MB * FACESTYLE_DIRECT_U;

// A vector of s in every lane. Written s - 0 (an identity the compiler may fold) rather than 0 + s,
// which it may not (0 + -0 is +0): that form cost a scalar add before every broadcast in the inner
// loops, where s - 0 compiles to an FMA with an embedded broadcast operand (3-5% on 3x3 layers, 8-15%
// on the stride-2 RGB stems).
inline DVec splat(float s) { return s - DVec{}; }

inline DVec dload(const float* p) {
  DVec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

typedef int32_t DIVec __attribute__((vector_size(FACESTYLE_DIRECT_VECTOR_BYTES)));

// Lanes [lo, hi) of v to dst[0 .. hi - lo), 0 <= lo < hi <= kDLanes; nothing else is written.
inline void storeLanes(float* dst, DVec v, int64_t lo, int64_t hi) {
#if FACESTYLE_DIRECT_VECTOR_BYTES == 64 && defined(__AVX512F__)
  // Lane lo moved down to lane 0, then a masked store of the first hi - lo lanes.
  const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                       _mm512_set1_epi32(static_cast<int>(lo)));
  // (The maskz form: the plain one's undefined pass-through operand trips GCC 12's -Wmaybe-uninitialized.)
  const __mmask16 first = static_cast<__mmask16>((1u << (hi - lo)) - 1u);
  _mm512_mask_storeu_ps(dst, first, _mm512_maskz_permutexvar_ps(first, idx, (__m512)v));
#else
  float lanes[kDLanes];
  std::memcpy(lanes, &v, sizeof lanes);
  std::memcpy(dst, lanes + lo, static_cast<size_t>(hi - lo) * sizeof(float));
#endif
}

// e^v for a vector, |relative error| < 2.5e-7 on [-87, 88] (inputs are clamped there: the result then
// saturates near 1.7e-38 / 1.6e38 instead of 0 / inf, which tanh and sigmoid below never see).
// e^v = 2^n * e^r with n = round(v / ln 2), r = v - n ln 2 in [-0.35, 0.35] (ln 2 split in two so that
// n ln 2 is exact), e^r by its degree-6 Taylor polynomial (truncation error r^7/7! < 1.3e-7 * e^r),
// 2^n built from its exponent bits. Lane by lane std::exp cost 10x the conv itself on a 16->3 head.
inline DVec vexp(DVec v) {
  const DVec lo = splat(-87.f), hi = splat(88.f);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  const DVec magic = splat(12582912.f);  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  const DVec t = v * 1.44269504f + magic;
  const DVec n = t - magic;
  const DVec r = (v - n * 0.693145752f) - n * 1.42860677e-6f;
  DVec p = splat(1.f / 720.f);
  p = p * r + (1.f / 120.f);
  p = p * r + (1.f / 24.f);
  p = p * r + (1.f / 6.f);
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  // (DIVec)x reinterprets the bits of a same-sized vector (a GCC / Clang vector cast, not a conversion).
  const DIVec bits = ((DIVec)t - (DIVec)magic + 127) << 23;  // 2^n
  return p * (DVec)bits;
}

// tanh(v) = sign(v) (1 - 2 / (e^{2|v|} + 1)); below |v| = 1/4 its odd Taylor polynomial to v^7 instead,
// which avoids the cancellation in 1 - 2/(...) near 0. Measured |relative error| < 5e-7 over [-100, 100].
inline DVec vtanh(DVec v) {
  const DVec a = v < DVec{} ? -v : v;
  const DVec big = 1.f - 2.f / (vexp(a + a) + 1.f);
  const DVec a2 = a * a;
  const DVec small = a * (1.f + a2 * (-1.f / 3.f + a2 * (2.f / 15.f + a2 * (-17.f / 315.f))));
  const DVec m = a < 0.25f ? small : big;
  return v < DVec{} ? -m : m;
}

// 1 / (1 + e^-v): |relative error| < 3e-7 (measured) where the result is above 1e-30.
inline DVec vsigmoid(DVec v) { return 1.f / (1.f + vexp(-v)); }

// The activations a store applies to a vector in registers.
inline DVec activate(const ConvActivation& a, DVec v) {
  switch (a.kind) {
    case ConvActivation::Relu: return v > DVec{} ? v : DVec{};
    case ConvActivation::LeakyRelu: return v >= DVec{} ? v : v * a.alpha;
    case ConvActivation::Clip: {
      const DVec lo = splat(a.lo), hi = splat(a.hi);
      v = lo < v ? v : lo;     // std::max(lo, v), NaN included
      return v < hi ? v : hi;  // std::min(hi, v)
    }
    case ConvActivation::Tanh: return vtanh(v);
    case ConvActivation::Sigmoid: return vsigmoid(v);
    case ConvActivation::None: return v;
  }
  for (int64_t i = 0; i < kDLanes; ++i) v[i] = a.apply(v[i]);  // (every kind is handled above)
  return v;
}

// Weights regrouped per (group, block of `block` output channels): [group][block][tap][channel in
// block], zeros past the last channel, so a register block reads one tap's weights contiguously.
// `taps` = input channels per group x kernel taps. (new[], not std::vector: see conv_direct_flat.h.)
inline std::unique_ptr<float[]> packWeightBlocks(const ConvGeometry& g, const float* w, int64_t taps, int64_t block) {
  const int64_t mg = g.mg(), mblocks = (mg + block - 1) / block;
  const size_t len = static_cast<size_t>(g.group * mblocks * taps * block);
  std::unique_ptr<float[]> packed(new float[len]);
  std::memset(packed.get(), 0, len * sizeof(float));
  for (int64_t grp = 0; grp < g.group; ++grp)
    for (int64_t mb = 0; mb < mblocks; ++mb)
      for (int64_t i = 0; i < block && mb * block + i < mg; ++i) {
        const float* src = w + (grp * mg + mb * block + i) * taps;
        float* dst = packed.get() + (grp * mblocks + mb) * taps * block + i;
        for (int64_t t = 0; t < taps; ++t) dst[t * block] = src[t];
      }
  return packed;
}

template <int64_t kDMB, int64_t kDU>
void directConvBlocked(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                       const ConvActivation& act) {
  constexpr int64_t kDCols = kDLanes * kDU;
  const Window2D& v = g.win;
  const int64_t cg = g.cg(), mg = g.mg(), sw = v.sw;
  const int64_t hp = g.h + v.pt + v.pb;
  const int64_t owp = std::max(g.ow, kDCols);                 // columns computed (a row narrower than a block is padded)
  const int64_t wq = owp + ((g.kw - 1) * v.dw) / sw + 1;       // entries per phase row
  const int64_t rowLen = sw * wq;                              // one padded input row, all phases
  const int64_t mblocks = (mg + kDMB - 1) / kDMB;
  const int64_t taps = cg * g.kh * g.kw;
  const int nt = threads < 1 ? 1 : threads;

  // Phase rows of the zero-padded input: xq[((n*c + ci)*hp + iyp)*rowLen + p*wq + j] = padded(iyp, j*sw + p).
  float* const xq = convScratch(0, static_cast<size_t>(g.n * g.c * hp * rowLen));  // every entry is written below
  const int64_t inRows = g.n * g.c * hp;
#pragma omp parallel for num_threads(nt) if (nt > 1 && inRows * rowLen > 65536)
  for (int64_t r = 0; r < inRows; ++r) {
    float* dst = xq + r * rowLen;
    const int64_t iy = r % hp - v.pt, plane = r / hp;
    if (iy < 0 || iy >= g.h) {
      std::fill(dst, dst + rowLen, 0.f);
      continue;
    }
    const float* src = x + (plane * g.h + iy) * g.w;
    for (int64_t p = 0; p < sw; ++p) {
      float* d = dst + p * wq;
      if (sw == 1) {
        // Left pad, the row, right pad (and the round-up tail).
        const int64_t left = std::min(v.pl, wq);
        std::fill(d, d + left, 0.f);
        const int64_t n = std::max<int64_t>(0, std::min(g.w, wq - left));
        std::memcpy(d + left, src, static_cast<size_t>(n) * sizeof(float));
        std::fill(d + left + n, d + wq, 0.f);
      } else {
        // Entries j whose column j * sw + p - pl lies in the row: [jlo, jhi); zeros around them.
        const int64_t first = v.pl - p;  // j * sw >= first
        const int64_t jlo = std::min(wq, first <= 0 ? 0 : (first + sw - 1) / sw);
        const int64_t jhi = std::max(jlo, std::min(wq, (g.w - 1 + v.pl - p) < 0 ? 0 : (g.w - 1 + v.pl - p) / sw + 1));
        std::fill(d, d + jlo, 0.f);
        for (int64_t j = jlo; j < jhi; ++j) d[j] = src[j * sw + p - v.pl];
        std::fill(d + jhi, d + wq, 0.f);
      }
    }
  }

  const std::unique_ptr<float[]> wq2 = packWeightBlocks(g, w, taps, kDMB);

  const int64_t tasks = g.n * g.group * mblocks * g.oh;
  const int64_t khw = g.kh * g.kw;
  // Threads only for enough work (4M multiply-adds, tens of microseconds on one core): a fork / join
  // costs microseconds on an idle machine and a whole time slice when a worker is preempted.
  const bool parallel = nt > 1 && tasks > 1 && tasks * owp * kDMB * taps > (int64_t(1) << 22);
#pragma omp parallel for num_threads(nt) if (parallel) schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    // Channel blocks innermost: consecutive tasks read the same input rows while they are in cache.
    const int64_t mb = t % mblocks, oy = (t / mblocks) % g.oh, grp = (t / (g.oh * mblocks)) % g.group, n = t / (g.oh * mblocks * g.group);
    const int64_t m0 = mb * kDMB, mcount = std::min(kDMB, mg - m0);
    const float* wb = wq2.get() + (grp * mblocks + mb) * taps * kDMB;
    const float* xplane = xq + (n * g.c + grp * cg) * hp * rowLen;
    float* yrow[kDMB];
    float b[kDMB];
    for (int64_t i = 0; i < kDMB; ++i) {
      const int64_t m = grp * mg + m0 + std::min(i, mcount - 1);
      yrow[i] = y + ((n * g.m + m) * g.oh + oy) * g.ow;
      b[i] = bias && i < mcount ? bias[m] : 0.f;
    }
    for (int64_t cb = 0; cb < g.ow; cb += kDCols) {
      // The last block of a row ends at the row's end, overlapping the previous block (it writes the
      // same values again) rather than computing columns past the end.
      const int64_t c0 = std::min(cb, owp - kDCols);
      DVec acc[kDMB][kDU];
      for (int64_t i = 0; i < kDMB; ++i)
        for (int64_t u = 0; u < kDU; ++u) acc[i][u] = splat(b[i]);
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const float* row = xplane + (ci * hp + oy * v.sh + ky * v.dh) * rowLen + c0;
          const float* wt = wb + (ci * khw + ky * g.kw) * kDMB;
          for (int64_t kx = 0; kx < g.kw; ++kx, wt += kDMB) {
            const int64_t off = kx * v.dw;
            const float* xr = row + (off % sw) * wq + off / sw;
            DVec xv[kDU];
            for (int64_t u = 0; u < kDU; ++u) xv[u] = dload(xr + u * kDLanes);
            for (int64_t i = 0; i < kDMB; ++i) {
              const DVec wv = splat(wt[i]);
              for (int64_t u = 0; u < kDU; ++u) acc[i][u] += wv * xv[u];
            }
          }
        }
      if (act.kind != ConvActivation::None)
        for (int64_t i = 0; i < kDMB; ++i)
          for (int64_t u = 0; u < kDU; ++u) acc[i][u] = activate(act, acc[i][u]);
      // Store the valid channels and columns (only a row narrower than one block is partial).
      const int64_t cols = std::min(kDCols, g.ow - c0);
      for (int64_t i = 0; i < mcount; ++i) {
        if (cols == kDCols) {
          std::memcpy(yrow[i] + c0, &acc[i][0], sizeof(float) * kDCols);
        } else {
          float tmp[kDCols];
          std::memcpy(tmp, &acc[i][0], sizeof tmp);
          std::memcpy(yrow[i] + c0, tmp, static_cast<size_t>(cols) * sizeof(float));
        }
      }
    }
  }
}

// Depthwise, stride 1, on small planes (rows shorter than a few vectors, where row-wise vector code
// is mostly edge handling): each plane is copied zero-padded into a flat buffer whose rows are
// wp = w + pl + pr long. Output (oy, ox) then sits at flat index oy * wp + ox and tap (ky, kx) at
// + ky * dh * wp + kx * dw, so whole vectors of the flattened plane are computed with contiguous loads
// and no bounds checks; the wp - ow columns between rows are computed and dropped.
inline void depthwiseFlatAll(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                             const ConvActivation* actOrNull) {
  const ConvActivation act = actOrNull ? *actOrNull : ConvActivation{};
  const Window2D& v = g.win;
  const int64_t wp = g.w + v.pl + v.pr, hp = g.h + v.pt + v.pb;
  const int64_t flatOut = (g.oh * wp + 2 * kDLanes - 1) / (2 * kDLanes) * (2 * kDLanes);  // computed outputs, whole vector pairs
  const int64_t reach = (g.kh - 1) * v.dh * wp + (g.kw - 1) * v.dw;       // farthest tap from its output
  const int64_t padded = std::max(hp * wp, flatOut + reach);
  const int64_t planes = g.n * g.c, taps = g.kh * g.kw, inPlane = g.h * g.w, outPlane = g.oh * g.ow;
  const int nt = threads < 1 ? 1 : threads;
  // Threads only for 1M multiply-adds and up (see directConvBlocked).
  // Per-thread padded plane and output buffers, allocated before the OpenMP region (a bad_alloc must
  // not escape it).
  const std::unique_ptr<float[]> mem(new float[static_cast<size_t>((padded + flatOut) * nt)]);
#pragma omp parallel num_threads(nt) if (nt > 1 && planes > 1 && planes * flatOut * taps > (int64_t(1) << 20))
  {
    float* const buf = mem.get() + threadIndex() * (padded + flatOut);
    float* const out = buf + padded;
    std::memset(buf, 0, static_cast<size_t>(padded) * sizeof(float));
#pragma omp for schedule(dynamic, 4)
    for (int64_t p = 0; p < planes; ++p) {
      const int64_t c = p % g.c;
      const float* src = x + p * inPlane;
      // The padding stays zero from the first fill; only the image rows are rewritten.
      for (int64_t iy = 0; iy < g.h; ++iy) std::memcpy(buf + (iy + v.pt) * wp + v.pl, src + iy * g.w, static_cast<size_t>(g.w) * sizeof(float));
      const float* wc = w + c * taps;
      const float b = bias ? bias[c] : 0.f;
      if (g.kh == 3 && g.kw == 3) {
        // The common 3x3: the nine weights broadcast once per plane, two vectors per step.
        DVec wv[9];
        for (int t = 0; t < 9; ++t) wv[t] = splat(wc[t]);
        const int64_t r1 = v.dh * wp, r2 = 2 * v.dh * wp, c1 = v.dw, c2 = 2 * v.dw;
        for (int64_t q = 0; q < flatOut; q += 2 * kDLanes) {
          DVec acc[2];
          for (int u = 0; u < 2; ++u) {
            const float* p0 = buf + q + u * kDLanes;
            acc[u] = splat(b) + wv[0] * dload(p0) + wv[1] * dload(p0 + c1) + wv[2] * dload(p0 + c2) + wv[3] * dload(p0 + r1) +
                     wv[4] * dload(p0 + r1 + c1) + wv[5] * dload(p0 + r1 + c2) + wv[6] * dload(p0 + r2) + wv[7] * dload(p0 + r2 + c1) +
                     wv[8] * dload(p0 + r2 + c2);
            acc[u] = activate(act, acc[u]);
          }
          std::memcpy(out + q, acc, sizeof acc);
        }
      } else {
        for (int64_t q = 0; q < flatOut; q += kDLanes) {
          DVec acc = splat(b);
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const float* row = buf + q + ky * v.dh * wp;
            for (int64_t kx = 0; kx < g.kw; ++kx) acc += wc[ky * g.kw + kx] * dload(row + kx * v.dw);
          }
          acc = activate(act, acc);
          std::memcpy(out + q, &acc, sizeof acc);
        }
      }
      float* dst = y + p * outPlane;
      for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(dst + oy * g.ow, out + oy * wp, static_cast<size_t>(g.ow) * sizeof(float));
    }
  }
}

inline void directConvAll(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                          const ConvActivation* actOrNull) {
  const ConvActivation act = actOrNull ? *actOrNull : ConvActivation{};
  constexpr int64_t A = kDirectAccumulators;
  switch (g.mg() < kDirectMB ? g.mg() : kDirectMB) {
    // At most 4 vectors of columns: longer blocks would mostly overlap on narrow rows.
    case 1: return directConvBlocked<1, 4>(g, x, w, bias, y, threads, act);
    case 2: return directConvBlocked<2, A / 4 < 4 ? A / 4 : 4>(g, x, w, bias, y, threads, act);
    case 3: return directConvBlocked<3, A / 6 < 4 ? A / 6 : 4>(g, x, w, bias, y, threads, act);
    case 4: return directConvBlocked<4, A / 8 < 2 ? 2 : A / 8>(g, x, w, bias, y, threads, act);
    default: return directConvBlocked<kDirectMB, FACESTYLE_DIRECT_U>(g, x, w, bias, y, threads, act);
  }
}

}  // namespace
}  // namespace facestyle::cpu
