// The "stem" conv of detector and landmark models: the first layer, a 3x3 conv on the RGB image
// (at most 4 input channels, group 1, stride 1 or 2, dilation 1, any padding), for example YuNet's
// 3 -> 16 stride 2 on 320x320 and PFLD's 3 -> 64 stride 2 on 112x112. Included by the ISA files after
// conv_mobile_kernels.h (it uses their Isa, ActRegs and runChunks).
//
// Why a kernel of its own: with 3 input channels the general paths do little arithmetic per byte
// moved (im2col writes 27 columns per output pixel; the direct kernel pads every plane), and stride 2
// makes the tap vectors strided. Here, per output row, each of the 3 input rows of each channel is
// split once into its even and odd columns (zero-padded), so every tap of a stride-2 row is a
// contiguous vector load: tap kx of output column ox reads padded column 2*ox + kx, which is
// phase (kx & 1) at index ox + (kx >> 1). A register block of R output channels x U vectors of output
// columns then takes its C*9 taps as one load and R broadcast FMAs each, and bias + activation are
// applied before the single store. Stride 1 is the same with one phase.
#pragma once

namespace facestyle::cpu {
namespace {

constexpr int64_t kStemMaxChannels = 4;
// Register block: 4 output channels x 2 vectors of columns. Measured on AVX-512 (single thread, YuNet
// 3->16 s2 at 320, PFLD 3->64 s2 at 112, 3->16 s1 at 256 / 512): 0.144 / 0.106 / 0.306 / 1.35 ms, against
// 0.218-0.240 / 0.113-0.143 / 0.46-0.52 / 2.2-2.5 ms for 8x2, 8x3, 4x4 and 6x4 blocks (and the
// general direct path: 0.20 / 0.10 / 0.39 / 1.63 ms).
constexpr int kStemR = 4, kStemU = 2;

inline bool stemApplies(const ConvGeometry& g) {
  const Window2D& v = g.win;
  return g.group == 1 && g.c >= 1 && g.c <= kStemMaxChannels && g.kh == 3 && g.kw == 3 && v.dh == 1 && v.dw == 1 &&
         (v.sw == 1 || v.sw == 2) && v.sh == v.sw && v.pt >= 0 && v.pl >= 0 && v.pt <= 2 && v.pl <= 2 && g.m >= 1 && g.ow >= 1;
}

// Rows [m0, m0 + R) x columns [o0, o0 + U*kL) (or `cols` of them when Tail) of output row `oy` of
// one image. `phase[(c * 3 + ky) * 2 + p]` is phase p of channel c's input row for tap row ky (null:
// that input row lies in the padding, its taps add nothing).
template <int R, int U, bool Tail>
inline void stemBlock(const float* const* phase, int64_t C, int stride, const float* w, const float* bias, float* y, int64_t ldy,
                      int64_t o0, int64_t cols, const ActRegs& act, bool actInRegisters) {
  V acc[R][U];
  Mask mask[U];
  for (int u = 0; u < U; ++u) mask[u] = Tail ? Isa::firstLanes(cols - u * kL) : Isa::allLanes();
  for (int i = 0; i < R; ++i) {
    const V b = bias ? Isa::set1(bias[i]) : Isa::zero();
    for (int u = 0; u < U; ++u) acc[i][u] = b;
  }
  for (int64_t c = 0; c < C; ++c)
    for (int ky = 0; ky < 3; ++ky) {
      const float* const* ph = phase + (c * 3 + ky) * 2;
      if (!ph[0]) continue;
      for (int kx = 0; kx < 3; ++kx) {
        // stride 2: phase kx & 1 at ox + (kx >> 1); stride 1: the one phase at ox + kx.
        const float* src = stride == 2 ? ph[kx & 1] + (kx >> 1) + o0 : ph[0] + kx + o0;
        V v[U];
        // The phase rows are padded past the last column a full vector can reach, so no masked load.
        for (int u = 0; u < U; ++u) v[u] = Isa::load(src + u * kL);
        const float* wt = w + (c * 3 + ky) * 3 + kx;  // weight [m][c][ky][kx], rows of C*9
        for (int i = 0; i < R; ++i) {
          const V wv = Isa::set1(wt[i * C * 9]);
          for (int u = 0; u < U; ++u) acc[i][u] = Isa::fma(wv, v[u], acc[i][u]);
        }
      }
    }
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < U; ++u) {
      const V out = actInRegisters ? act(acc[i][u]) : acc[i][u];
      float* dst = y + i * ldy + o0 + u * kL;
      if (Tail) Isa::storeMasked(dst, out, mask[u]);
      else Isa::store(dst, out);
    }
}

// All output channels of columns [o0, o0 + U*kL) (or `cols`): blocks of kStemR channels, then the
// remainder in blocks of 2, 1.
template <int U, bool Tail>
inline void stemColumns(const float* const* phase, const ConvGeometry& g, int stride, const float* w, const float* bias, float* y,
                        int64_t ldy, int64_t o0, int64_t cols, const ActRegs& act, bool actInRegisters) {
  const int64_t C = g.c, W = C * 9;
  int64_t m = 0;
  for (; m + kStemR <= g.m; m += kStemR)
    stemBlock<kStemR, U, Tail>(phase, C, stride, w + m * W, bias ? bias + m : nullptr, y + m * ldy, ldy, o0, cols, act, actInRegisters);
  for (; m + 2 <= g.m; m += 2) stemBlock<2, U, Tail>(phase, C, stride, w + m * W, bias ? bias + m : nullptr, y + m * ldy, ldy, o0, cols, act, actInRegisters);
  for (; m < g.m; ++m) stemBlock<1, U, Tail>(phase, C, stride, w + m * W, bias ? bias + m : nullptr, y + m * ldy, ldy, o0, cols, act, actInRegisters);
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

inline void stemConv(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads, const ConvActivation& a) {
  const Window2D& v = g.win;
  const int stride = static_cast<int>(v.sw);
  const int64_t C = g.c, H = g.h, Wd = g.w, OH = g.oh, OW = g.ow, OP = OH * OW;
  const ActRegs act(a);
  const bool actInRegisters = activationInRegisters(a);
  constexpr int U = kStemU;
  // Phase row length: the output columns rounded up to whole vectors, plus the 1 (stride 2) or 2
  // (stride 1) columns the taps reach past them.
  const int64_t phaseLen = ((OW + kL - 1) / kL) * kL + 2;
  const int64_t rowFloats = C * 3 * 2 * phaseLen;
  const int64_t macs = g.n * OP * g.m * C * 9;
  // Tasks: (image, output row).
  runChunks(g.n * OH, macs / kPointwiseMacsPerNs, threads, [&](int64_t t0, int64_t t1) {
    // Phase rows of up to 3 input rows per channel (the ones the current output row reads), kept by
    // input row: at stride 2 consecutive output rows share one input row, at stride 1 two.
    std::vector<float> rows(static_cast<size_t>(rowFloats));
    int64_t held[kStemMaxChannels][3];
    for (auto& h : held) h[0] = h[1] = h[2] = -1;
    int64_t heldImage = -1;
    const float* phase[kStemMaxChannels * 3 * 2];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / OH, oy = t % OH;
      const float* xn = x + n * C * H * Wd;
      if (n != heldImage) {
        for (auto& h : held) h[0] = h[1] = h[2] = -1;
        heldImage = n;
      }
      for (int64_t c = 0; c < C; ++c)
        for (int ky = 0; ky < 3; ++ky) {
          const int64_t iy = oy * stride - v.pt + ky;
          const float** ph = phase + (c * 3 + ky) * 2;
          if (iy < 0 || iy >= H) {
            ph[0] = ph[1] = nullptr;
            continue;
          }
          // Slot iy mod 3: the three rows one output row reads are distinct mod 3.
          const int slot = static_cast<int>(iy % 3);
          float* p0 = rows.data() + ((c * 3 + slot) * 2) * phaseLen;
          float* p1 = p0 + phaseLen;
          ph[0] = p0;
          ph[1] = p1;
          if (held[c][slot] == iy) continue;
          held[c][slot] = iy;
          stemPhaseRow(xn + (c * H + iy) * Wd, Wd, v.pl, stride, phaseLen, p0, p1);
        }
      float* yrow = y + n * g.m * OP + oy * OW;
      int64_t o0 = 0;
      for (; o0 + U * kL <= OW; o0 += U * kL) stemColumns<U, false>(phase, g, stride, w, bias, yrow, OP, o0, U * kL, act, actInRegisters);
      for (; o0 + kL <= OW; o0 += kL) stemColumns<1, false>(phase, g, stride, w, bias, yrow, OP, o0, kL, act, actInRegisters);
      if (o0 < OW) stemColumns<1, true>(phase, g, stride, w, bias, yrow, OP, o0, OW - o0, act, actInRegisters);
      if (!actInRegisters)
        for (int64_t m = 0; m < g.m; ++m) activateScalar(a, yrow + m * OP, OW);
    }
  });
}

}  // namespace
}  // namespace facestyle::cpu
