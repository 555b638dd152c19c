// The "stem" conv of detector and landmark models: the first layer, a 3x3 conv on the RGB image
// (at most 4 input channels, group 1, stride 1 or 2, dilation 1, any padding), for example YuNet's
// 3 -> 16 stride 2 on 320x320 and PFLD's 3 -> 64 stride 2 on 112x112. Included by the ISA files after
// conv_mobile_common.h (it uses its Isa, ActRegs and runChunks).
//
// Why a kernel of its own: with 3 input channels the general paths do little arithmetic per byte
// moved (im2col of the whole image writes 27 columns per output pixel to memory; the direct kernel
// pads every plane), and stride 2 makes the tap vectors strided.
//
// The conv is a GEMM with K = 9C: Y[m, p] = bias[m] + sum_k W[m, k] X_k[p], where X_k is the input
// seen through tap k = (c, ky, kx) and p runs over the output plane flattened row-major. Each input row
// the current output row reads is split once into "phase rows", its even and odd padded columns (zero
// outside the image), so at stride 2 tap kx of output column ox is phase (kx & 1) at ox + (kx >> 1):
// X_k restricted to one output row is a contiguous run (stride 1: the padded row at ox + kx).
// The plane is walked in blocks of NR = kStemU vectors of flattened pixels; a register block of
// kStemMR output channels x kStemU vectors takes K steps of kStemU loads, kStemMR weight broadcasts and
// kStemMR * kStemU FMAs, then bias + activation in registers and one store per vector.
// - A block inside one output row reads the phase rows in place.
// - A block across a row end (PFLD's 56-column rows: most of them) or past the plane's end first copies
//   its K row segments into a small column buffer (zeros past the plane); the copy serves every output
//   channel (on PFLD it costs ~6%, measured by skipping it). It keeps every block whole: the row-by-row
//   kernel this replaced ended each 56-column row (32 + 16 + 8) with two one-vector blocks, one of them
//   half masked; with 4 accumulators at a 4-cycle FMA latency such a block issues at most one FMA per
//   cycle, half the peak. Single-thread on AVX-512, PFLD: 110 us before, 65 us for the same 4 x 2 block
//   in this layout, ~59 us with 8 x 2 and the rolled tap loop below (onnxruntime's NCHWc kernel: ~60 us).
//   What is left beside the FMAs (~9 us on PFLD, measured without the GEMM): the phase split, the
//   copies, and reading the input. (Those figures are the AMD EPYC's. On the Intel Xeon, 2026-11-25, a hot
//   C++ loop: 92 us on one thread, 51 us on two; inside PFLD at 2 threads 71-96 us, as its output lines
//   were last written by the other core or evicted. Splitting the layer by output channels instead, so that
//   the depthwise layer after it, split by channels too, reads what its own core wrote: PFLD level, 1.706-1.751
//   against 1.712-1.757 ms in five interleaved pairs.)
#pragma once

namespace facestyle::cpu {
namespace {

constexpr int64_t kStemMaxChannels = 4;
// Register block: kStemMR output channels x kStemU vectors of pixels. Measured single-thread (best of
// 200, interleaved, on PFLD's and YuNet's stems and the generator's 3 -> 16 stride 1 at 256 and 512):
// AVX-512 8x2 against 8x3, 4x4, 12x2, 10x2, 6x3 (8x2 best or within noise everywhere; blocks of 3
// vectors also cross the 256- and 512-column rows); AVX2 6x2 against 4x3, 5x2, 4x2; the 4-lane
// baseline 2x4 against 4x2, 4x3, 3x2.
constexpr int kStemMR = Isa::L >= 16 ? 8 : Isa::L >= 8 ? 6 : 2;
constexpr int kStemU = Isa::L >= 8 ? 2 : 4;
// Tasks for threads: chunks of this many output pixels (whole blocks at every level).
constexpr int64_t kStemChunk = 192;

inline bool stemApplies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.group == 1 && g.c >= 1 && g.c <= kStemMaxChannels && g.kh == 3 && g.kw == 3 && v.dh == 1 && v.dw == 1 &&
         (v.sw == 1 || v.sw == 2) && v.sh == v.sw && v.pt >= 0 && v.pl >= 0 && v.pt <= 2 && v.pl <= 2 && g.m >= 1 && g.ow >= 1;
}

// One register block: output channels [0, R) (rows of ldy) x U vectors of pixels, tap k read from
// src[k] + off, weights w[i * K + k] (rows of the [m][c][ky][kx] tensor). Bias and activation are
// applied in registers before the one store per accumulator.
// The K loop stays rolled: fully unrolled (K = 27), GCC hoisted the 2K tap addresses out of the
// channel-block loop into spilled registers, and the kernel ran 8-12% slower on AVX-512 and AVX2 and
// 1.6x slower on the baseline.
template <int K, int R, int U>
inline void stemGemmBlock(const float* const* src, int64_t off, const float* w, const float* bias, float* y, int64_t ldy, const ActRegs& act) {
  V acc[R][U];
  for (int i = 0; i < R; ++i) {
    const V b = bias ? Isa::set1(bias[i]) : Isa::zero();
    for (int u = 0; u < U; ++u) acc[i][u] = b;
  }
#pragma GCC unroll 1
  for (int k = 0; k < K; ++k) {
    V v[U];
    for (int u = 0; u < U; ++u) v[u] = Isa::load(src[k] + off + u * kL);
    for (int i = 0; i < R; ++i) {
      const V wv = Isa::set1(w[i * K + k]);
      for (int u = 0; u < U; ++u) acc[i][u] = Isa::fma(wv, v[u], acc[i][u]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < U; ++u) Isa::store(y + i * ldy + u * kL, act(acc[i][u]));
}

// Output channels [0, rows) of one block of U vectors of pixels: register blocks of MR channels, then
// 4, 2, 1 for the remainder.
template <int K, int MR, int U>
inline void stemGemmColumns(int64_t rows, const float* const* src, int64_t off, const float* w, const float* bias, float* y, int64_t ldy,
                            const ActRegs& act) {
  int64_t m = 0;
  for (; m + MR <= rows; m += MR) stemGemmBlock<K, MR, U>(src, off, w + m * K, bias ? bias + m : nullptr, y + m * ldy, ldy, act);
  for (; MR > 4 && m + 4 <= rows; m += 4) stemGemmBlock<K, 4, U>(src, off, w + m * K, bias ? bias + m : nullptr, y + m * ldy, ldy, act);
  for (; MR > 2 && m + 2 <= rows; m += 2) stemGemmBlock<K, 2, U>(src, off, w + m * K, bias ? bias + m : nullptr, y + m * ldy, ldy, act);
  for (; m < rows; ++m) stemGemmBlock<K, 1, U>(src, off, w + m * K, bias ? bias + m : nullptr, y + m * ldy, ldy, act);
}

// Phase rows of one input row (`src`, `width` columns): padded column q = input column q - pl (zero
// outside the row); phase p holds q = stride*j + p, j < len. At stride 2 whole vectors of input are
// split with Isa::evens / odds; the edges and the rest go one value at a time.
inline void stemPhaseRow(const float* src, int64_t width, int64_t pl, int stride, int64_t len, float* p0, float* p1) {
  if (stride == 1) {
    const int64_t lo = std::min(len, pl), hi = std::min(len, width + pl);
    std::fill(p0, p0 + lo, 0.f);
    std::copy(src, src + (hi - lo), p0 + lo);
    std::fill(p0 + hi, p0 + len, 0.f);
    return;
  }
  std::fill(p0, p0 + len, 0.f);
  std::fill(p1, p1 + len, 0.f);
  // Input column ix = 2i + q lands in phase (q + pl) & 1 at j = i + ((q + pl) >> 1).
  float* evenDst = ((pl & 1) ? p1 : p0) + (pl >> 1);
  float* oddDst = (((pl + 1) & 1) ? p1 : p0) + ((pl + 1) >> 1);
  int64_t i = 0;
  for (; 2 * (i + kL) <= width && i + kL + 1 < len; i += kL) {
    const V a = Isa::load(src + 2 * i), b = Isa::load(src + 2 * i + kL);
    Isa::store(evenDst + i, Isa::evens(a, b));
    Isa::store(oddDst + i, Isa::odds(a, b));
  }
  for (int64_t ix = 2 * i; ix < width; ++ix) {
    const int64_t q = ix + pl;  // padded column
    if (q / 2 < len) ((q & 1) ? p1 : p0)[q / 2] = src[ix];
  }
}

// n floats from src to dst (null src: zeros), whole vectors and a partial last one (Isa::storeFirst).
inline void stemCopy(const float* src, float* dst, int64_t n) {
  int64_t j = 0;
  if (!src) {
    for (; j + kL <= n; j += kL) Isa::store(dst + j, Isa::zero());
    if (j < n) Isa::storeFirst(dst + j, Isa::zero(), n - j);
    return;
  }
  for (; j + kL <= n; j += kL) Isa::store(dst + j, Isa::load(src + j));
  if (j < n) Isa::storeFirst(dst + j, Isa::loadMasked(src + j, Isa::firstLanes(n - j)), n - j);
}

// The whole layer with C input channels (K = 9C taps, a compile-time trip count). The activation is
// applied in registers for the kinds ActRegs knows; stemConv sweeps the others afterwards.
template <int C, int MR = kStemMR, int U = kStemU>
inline void stemConvC(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads, const ActRegs& act) {
  constexpr int K = C * 9;
  constexpr int64_t NR = U * kL, P = (kStemChunk + NR - 1) / NR * NR;  // P: a chunk is whole blocks
  const Window2D& v = g.win;
  const int stride = static_cast<int>(v.sw);
  const int64_t H = g.h, Wd = g.w, OH = g.oh, OW = g.ow, OP = OH * OW;
  // Phase row length: the output columns plus the 1 (stride 2) or 2 (stride 1) columns the taps reach past them.
  const int64_t phaseLen = OW + 2;
  const int64_t chunks = (OP + P - 1) / P;
  const int64_t macs = g.n * OP * g.m * K;
  // Tasks: (image, chunk of output pixels).
  runChunks(g.n * chunks, macs / kPointwiseMacsPerNs, threads, [&](int64_t t0, int64_t t1) {
    // Per thread: the column buffer of one block (K rows of NR), a row of zeros (the taps of input rows
    // in the padding), the output of a last partial block (written there, then copied), and the phase
    // rows of up to 3 input rows per channel (those the current output row reads), kept by input row:
    // at stride 2 consecutive output rows share one input row, at stride 1 two.
    float* col = convScratch(1, static_cast<size_t>(K * NR + phaseLen + g.m * NR + C * 3 * 2 * phaseLen));
    float* zeros = col + K * NR;
    float* tail = zeros + phaseLen;
    float* rows = tail + g.m * NR;
    std::fill(zeros, zeros + phaseLen, 0.f);
    int64_t held[C][3];
    for (auto& h : held) h[0] = h[1] = h[2] = -1;
    int64_t heldImage = -1, heldRow = -1;
    const float* taps[K];
    const float* colRows[K];
    for (int k = 0; k < K; ++k) colRows[k] = col + k * NR;
    // taps[k]: where tap k = (c * 3 + ky) * 3 + kx of output row oy (image n) reads output column 0:
    // a phase row (see the top of this file) or, for input rows in the padding, the row of zeros.
    auto rowTaps = [&](int64_t n, int64_t oy) {
      if (n != heldImage) {
        for (auto& h : held) h[0] = h[1] = h[2] = -1;
        heldImage = n, heldRow = -1;
      }
      if (oy == heldRow) return;
      heldRow = oy;
      const float* xn = x + n * C * H * Wd;
      for (int c = 0; c < C; ++c)
        for (int ky = 0; ky < 3; ++ky) {
          const float** tk = taps + (c * 3 + ky) * 3;
          const int64_t iy = oy * stride - v.pt + ky;
          if (iy < 0 || iy >= H) {
            tk[0] = tk[1] = tk[2] = zeros;
            continue;
          }
          // Slot iy mod 3: the three rows one output row reads are distinct mod 3.
          const int slot = static_cast<int>(iy % 3);
          float* p0 = rows + ((c * 3 + slot) * 2) * phaseLen;
          float* p1 = p0 + phaseLen;
          if (held[c][slot] != iy) {
            held[c][slot] = iy;
            stemPhaseRow(xn + (c * H + iy) * Wd, Wd, v.pl, stride, phaseLen, p0, p1);
          }
          // stride 2: tap kx of column ox is phase kx & 1 at ox + (kx >> 1); stride 1: the one phase at ox + kx.
          if (stride == 2) tk[0] = p0, tk[1] = p1, tk[2] = p0 + 1;
          else tk[0] = p0, tk[1] = p0 + 1, tk[2] = p0 + 2;
        }
    };
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / chunks, p0 = (t % chunks) * P, cols = std::min(P, OP - p0);
      float* yn = y + n * g.m * OP;
      // Blocks of NR pixels of the flattened plane.
      for (int64_t q0 = p0; q0 < p0 + cols; q0 += NR) {
        const int64_t bc = std::min(NR, OP - q0), ox0 = q0 % OW;
        const float* const* src = taps;
        int64_t off = ox0;
        if (bc == NR && ox0 + NR <= OW) {
          rowTaps(n, q0 / OW);  // inside one output row: the taps read the phase rows in place
        } else {
          // Across rows, or the plane's last block: the taps' row segments copied into col, zeros past the plane.
          for (int64_t q = q0; q < q0 + bc;) {
            const int64_t ox = q % OW, len = std::min(OW - ox, q0 + bc - q);
            rowTaps(n, q / OW);
            for (int k = 0; k < K; ++k) stemCopy(taps[k] + ox, col + k * NR + (q - q0), len);
            q += len;
          }
          if (bc < NR)
            for (int k = 0; k < K; ++k) stemCopy(nullptr, col + k * NR + bc, NR - bc);
          src = colRows, off = 0;
        }
        if (bc == NR) {
          stemGemmColumns<K, MR, U>(g.m, src, off, w, bias, yn + q0, OP, act);
          continue;
        }
        stemGemmColumns<K, MR, U>(g.m, src, off, w, bias, tail, NR, act);
        for (int64_t m = 0; m < g.m; ++m) std::copy(tail + m * NR, tail + m * NR + bc, yn + m * OP + q0);
      }
    }
  });
}

inline void stemConv(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads, const ConvActivation& a) {
  const ActRegs act(a);
  switch (g.c) {
    case 1: stemConvC<1>(g, x, w, bias, y, threads, act); break;
    case 2: stemConvC<2>(g, x, w, bias, y, threads, act); break;
    case 3: stemConvC<3>(g, x, w, bias, y, threads, act); break;
    default: stemConvC<4>(g, x, w, bias, y, threads, act); break;
  }
  // Tanh / Sigmoid (only through the per-level entries, which tests call directly): a scalar pass.
  if (!activationInRegisters(a)) {
    const int64_t n = g.n * g.m * g.oh * g.ow;
    for (int64_t i = 0; i < n; ++i) y[i] = a.apply(y[i]);
  }
}

}  // namespace
}  // namespace facestyle::cpu
