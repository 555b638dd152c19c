// Winograd F(4x4, 3x3) Conv2D for 3x3, stride 1, dilation 1, group 1 layers with enough channels
// (the generator's residual and decoder convs). Shared by the scalar, AVX2 and AVX-512 builds
// (conv_winograd*.cc set the vector width, then include this; DVec / activate come from
// conv_direct.h). The plain reference is conv2dReference; test_conv_algos.cc compares them.
//
// Each output tile of 4x4 pixels needs a 6x6 input patch d. With the (Lavin & Gray) matrices below,
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// where (.) is the element-wise product of two 6x6 matrices: 36 multiplies per tile and channel pair
// instead of 144. Summed over input channels, each of the 36 positions xi is a matrix product
//   M[xi] (M x tiles) = U[xi] (M x C) * V[xi] (C x tiles).
// Steps: weight transform U (cached across calls while the weights stay byte-identical:
// conv_winograd.cc), input transform V, the 36 products (a register-blocked kernel on the transformed
// layouts, no packing), output transform (plus bias and the fused activation) straight into Y.
//
// Vectorised over tiles: the input is first copied, zero-padded, into 4 column-phase planes
// (phase p holds padded columns p, p+4, p+8, ...), so patch column j of consecutive tiles is one
// contiguous load from phase j % 4 at offset j / 4. Tiles are cut into chunks of whole tile rows so
// that a chunk's V and M (36 x (C + M) x tiles floats) stay in L2; chunks run in parallel.
//
// Accuracy: the transforms scale values by up to 8 (A^T) and 5 (B^T) and divide by 6, 12 and 24 (G),
// so float32 rounding costs more than in direct convolution. Measured (random inputs and weights in
// [-1, 1], 32x32, 64 outputs), max |error| / max |y|: 3e-6 at C = 16, 6-7e-6 at C = 64-96, 1e-5 at
// C = 256; the flat direct kernel: 4e-7 to 1.6e-6. Tests allow 1e-4 of the output's magnitude.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "cpu/conv_direct.h"
#include "cpu/mobile_pool.h"
#include "cpu/pool_for.h"

#ifndef FACESTYLE_WINO_MB  // register block of the 36 products: MB output channels x U vectors of tiles
#define FACESTYLE_WINO_MB 4
#endif
#ifndef FACESTYLE_WINO_U
#define FACESTYLE_WINO_U 2
#endif

namespace facestyle::cpu {

// The transformed weights U for (g, w) at padding Mp, from a cache of recent calls (conv_winograd.cc,
// built with baseline flags: std containers must not be instantiated in the ISA files, whose copies
// the linker could pick for every caller), or made with `transform` on a miss. The pointer stays
// valid until winogradWeightsRelease(*handle).
using WinogradTransformFn = void (*)(const ConvGeometry& g, const float* w, float* U, int64_t Mp, int threads);
const float* winogradWeightsAcquire(const ConvGeometry& g, const float* w, int64_t Mp, int threads, WinogradTransformFn transform,
                                    void** handle);
void winogradWeightsRelease(void* handle);
// Transformed weight blocks alive (cached or held by a call): bounded by the cache's budget (tests).
int64_t winogradLiveWeightBlocks();

namespace {

// U[xi][c][m] = (G g_{m,c} G^T)[xi], xi = 6 * row + column, m padded with zeros to Mp (whole register
// blocks of the product below). Per input channel c, vectorised over output channels: the nine taps
// of every m are gathered into kt[tap][m], then each vector of output channels is transformed at once
// and stored as 36 contiguous runs. (Transforming one (m, c) at a time, with 36 scattered stores each,
// took 15% of a 96->96 layer's time.)
inline void winogradWeights(const ConvGeometry& g, const float* w, float* U, int64_t Mp, int threads) {
  const int64_t C = g.c, M = g.m, L = kDLanes, ML = (Mp + L - 1) / L * L;
  // kt[tap][m] per thread, m >= M staying zero; allocated here (a bad_alloc must not escape the
  // OpenMP region), with new[] rather than std::vector (see conv_direct_flat.h).
  const int nt = threads < 1 ? 1 : threads;
  const std::unique_ptr<float[]> kts(new float[static_cast<size_t>(9 * ML * nt)]);
  std::memset(kts.get(), 0, static_cast<size_t>(9 * ML * nt) * sizeof(float));
#pragma omp parallel num_threads(nt) if (nt > 1 && M * C > 4096)
  {
    float* const kt = kts.get() + threadIndex() * 9 * ML;
#pragma omp for
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < 9; ++j) kt[j * ML + m] = w[(m * C + c) * 9 + j];
      for (int64_t m0 = 0; m0 < Mp; m0 += L) {
        DVec k[9];
        for (int j = 0; j < 9; ++j) k[j] = dload(kt + j * ML + m0);
        DVec t[6][3];  // G g: rows of G times the kernel's columns
        for (int j = 0; j < 3; ++j) {
          const DVec g0 = k[j], g1 = k[3 + j], g2 = k[6 + j];
          t[0][j] = g0 * 0.25f;
          t[1][j] = -(g0 + g1 + g2) * (1.f / 6.f);
          t[2][j] = -(g0 - g1 + g2) * (1.f / 6.f);
          t[3][j] = g0 * (1.f / 24.f) + g1 * (1.f / 12.f) + g2 * (1.f / 6.f);
          t[4][j] = g0 * (1.f / 24.f) - g1 * (1.f / 12.f) + g2 * (1.f / 6.f);
          t[5][j] = g2;
        }
        const int64_t lanes = std::min(L, Mp - m0);
        for (int i = 0; i < 6; ++i) {
          const DVec g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
          const DVec u[6] = {g0 * 0.25f,
                             -(g0 + g1 + g2) * (1.f / 6.f),
                             -(g0 - g1 + g2) * (1.f / 6.f),
                             g0 * (1.f / 24.f) + g1 * (1.f / 12.f) + g2 * (1.f / 6.f),
                             g0 * (1.f / 24.f) - g1 * (1.f / 12.f) + g2 * (1.f / 6.f),
                             g2};
          for (int j = 0; j < 6; ++j) {
            float* dst = U + ((i * 6 + j) * C + c) * Mp + m0;
            if (lanes == L) std::memcpy(dst, &u[j], sizeof(DVec));  // (a constant size: no libc call)
            else
              for (int64_t l = 0; l < lanes; ++l) dst[l] = u[j][l];
          }
        }
      }
    }
  }
}

// One register block of the 36 products: Mt[rows m0..m0+MB) x [cols t0..t0+U*L) = sum over c of
// U[c][m] * V[c][t], for one xi. Like the flat direct kernel: U vectors of V loaded per c, MB weights
// broadcast, MB*U accumulators in registers, no packing (U is already laid out [c][m]).
template <int64_t kMB, int64_t kU>
inline void winogradProductBlock(int64_t C, const float* u, int64_t Mp, const float* v, int64_t Tp, float* out) {
  DVec acc[kMB][kU];
  for (int64_t i = 0; i < kMB; ++i)
    for (int64_t q = 0; q < kU; ++q) acc[i][q] = DVec{};
  for (int64_t c = 0; c < C; ++c) {
    DVec xv[kU];
    for (int64_t q = 0; q < kU; ++q) xv[q] = dload(v + c * Tp + q * kDLanes);
    const float* uc = u + c * Mp;
    for (int64_t i = 0; i < kMB; ++i) {
      const DVec wv = splat(uc[i]);
      for (int64_t q = 0; q < kU; ++q) acc[i][q] += wv * xv[q];
    }
  }
  for (int64_t i = 0; i < kMB; ++i)
    for (int64_t q = 0; q < kU; ++q) std::memcpy(out + i * Tp + q * kDLanes, &acc[i][q], sizeof(DVec));
}

// Floats between consecutive xi blocks of V or M for `rows` rows of `len`: rounded to whole cache
// lines, and an odd number of them, so that the 36 blocks (read or written together by the
// transforms) fall into different L1 sets instead of evicting each other.
inline int64_t winogradBlockStride(int64_t rows, int64_t len) {
  int64_t s = (rows * len + 15) / 16 * 16;
  if ((s / 16) % 2 == 0) s += 16;
  return s;
}

// B^T applied to six values (one column or row of a patch).
inline void winogradBt(const DVec d[6], DVec o[6]) {
  o[0] = 4.f * d[0] - 5.f * d[2] + d[4];
  o[1] = -4.f * (d[1] + d[2]) + d[3] + d[4];
  o[2] = 4.f * (d[1] - d[2]) - d[3] + d[4];
  o[3] = 2.f * (d[3] - d[1]) - d[2] + d[4];
  o[4] = 2.f * (d[1] - d[3]) - d[2] + d[4];
  o[5] = 4.f * d[1] - 5.f * d[3] + d[5];
}

// A^T applied to six values.
inline void winogradAt(const DVec m[6], DVec o[4]) {
  const DVec s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  o[0] = m[0] + s12 + s34;
  o[1] = d12 + 2.f * d34;
  o[2] = s12 + 4.f * s34;
  o[3] = d12 + 8.f * d34 + m[5];
}

// Holds one transformed weight set from the cache (conv_winograd.cc) for the length of a call.
// `handle` is declared (so initialised) before `u`: u's initialiser writes it. In the other order its
// default initialiser ran after acquire and reset it to null, so release freed nothing and every miss
// (new weights: each training step, each new session) leaked one transformed block.
struct WinogradWeightsLease {
  void* handle = nullptr;
  const float* u = nullptr;
  WinogradWeightsLease(const ConvGeometry& g, const float* w, int64_t Mp, int threads)
      : u(winogradWeightsAcquire(g, w, Mp, threads, winogradWeights, &handle)) {}
  ~WinogradWeightsLease() { winogradWeightsRelease(handle); }
  WinogradWeightsLease(const WinogradWeightsLease&) = delete;
  WinogradWeightsLease& operator=(const WinogradWeightsLease&) = delete;
};

inline void winogradConvAll(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads,
                            const ConvActivation* actOrNull) {
  const ConvActivation act = actOrNull ? *actOrNull : ConvActivation{};
  const Window2D& v = g.win;
  const int nt = threads < 1 ? 1 : threads;
  const int64_t C = g.c, M = g.m, L = kDLanes;
  const int64_t tilesY = (g.oh + 3) / 4, tilesX = (g.ow + 3) / 4;
  // Column-phase planes: rows 4 * tilesY + 2 of the padded input, wb entries per row (vector slack
  // past the last tile: lanes beyond the row compute garbage tiles that are never stored).
  const int64_t rowsP = 4 * tilesY + 2, wb = tilesX + 1 + L, phaseLen = rowsP * wb, chanLen = 4 * phaseLen;

  constexpr int64_t kMB = FACESTYLE_WINO_MB, kU = FACESTYLE_WINO_U, kCols = kU * kDLanes;
  const int64_t Mp = (M + kMB - 1) / kMB * kMB;
  const WinogradWeightsLease weights(g, w, Mp, nt);
  const float* const U = weights.u;

  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x + n * C * g.h * g.w;
    float* yn = y + n * M * g.oh * g.ow;
    float* xs = convScratch(0, static_cast<size_t>(C * chanLen));
    // Channels in chunks on the mobile pool (mobile_pool.h: no OpenMP wake-up and barrier per layer).
    auto pack = [&](int64_t c0, int64_t cEnd) {
      for (int64_t c = c0; c < cEnd; ++c)
        for (int64_t r = 0; r < rowsP; ++r) {
          const int64_t iy = r - v.pt;
          for (int64_t p = 0; p < 4; ++p) {
            float* d = xs + c * chanLen + p * phaseLen + r * wb;
            if (iy < 0 || iy >= g.h) {
              std::fill(d, d + wb, 0.f);
              continue;
            }
            // Entries b whose column 4b + p - pl lies in [0, w): [blo, bhi); zeros around them.
            const float* s = xn + (c * g.h + iy) * g.w + p - v.pl;  // s[4b] is entry b
            const int64_t first = v.pl - p, last = g.w - 1 + v.pl - p;
            const int64_t blo = std::min(wb, first <= 0 ? 0 : (first + 3) / 4);
            const int64_t bhi = std::max(blo, std::min(wb, last < 0 ? 0 : last / 4 + 1));
            std::fill(d, d + blo, 0.f);
            for (int64_t b = blo; b < bhi; ++b) d[b] = s[4 * b];
            std::fill(d + bhi, d + wb, 0.f);
          }
        }
    };
    mobileParallelRanges(C, nt > 1 && C * chanLen > 65536 ? nt : 1, 4, pack);

    // Chunks of whole tile rows: at least one per thread, each small enough that V and M stay in L2.
    const int64_t bytesPerTile = 36 * (C + Mp) * int64_t(sizeof(float));
    const int64_t rowsFit = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(1, bytesPerTile * tilesX));
    // Also at least a whole product block of tiles (kCols) per chunk where the map has them: a narrower
    // chunk computes padding columns (128->128 at 64x64: 16-tile rows, 32-tile blocks).
    const int64_t rowsBlock = std::min(tilesY, (kCols + tilesX - 1) / tilesX);
    const int64_t chunkRows = std::max<int64_t>(rowsBlock, std::min(rowsFit, (tilesY + nt - 1) / nt));
    const int64_t chunks = (tilesY + chunkRows - 1) / chunkRows;
    const bool outer = chunks >= nt;
    const int team = outer ? nt : 1, inner = outer ? 1 : nt;
    auto run = [&](int64_t ch) {
      const int64_t ty0 = ch * chunkRows, ty1 = std::min(tilesY, ty0 + chunkRows);
      // Tp: a row of V / M: T tiles rounded up to whole product blocks, and at least a vector of slack
      // for the transforms' last vector of a tile row (the extra columns hold garbage, never stored).
      const int64_t T = (ty1 - ty0) * tilesX, Tp = std::max((T + kCols - 1) / kCols * kCols, T + L);
      const int64_t sV = winogradBlockStride(C, Tp), sM = winogradBlockStride(Mp, Tp);  // V[xi] at V + xi * sV
      float* V = convScratch(1, static_cast<size_t>(36 * (sV + sM)));
      float* Mt = V + 36 * sV;
      // Input transform: V[xi][c][t] = (B^T d B)[xi] for tile t of the chunk.
      // (These three loops split on the mobile pool when a chunk has the threads to itself; an OpenMP
      // region here woke a sleeping thread each time: AnimeGANv3's 128->128 at 16x16 ran no faster on 2
      // threads than on one.)
      poolFor(C, inner, inner > 1, [&](int64_t c) {
        for (int64_t ty = ty0; ty < ty1; ++ty)
          for (int64_t tx = 0; tx < tilesX; tx += L) {
            DVec rows[6][6];  // B^T d: rows[i][j] for patch column j
            for (int64_t j = 0; j < 6; ++j) {
              DVec col[6];
              const float* base = xs + c * chanLen + (j % 4) * phaseLen + (4 * ty) * wb + tx + j / 4;
              for (int k = 0; k < 6; ++k) col[k] = dload(base + k * wb);
              DVec o[6];
              winogradBt(col, o);
              for (int i = 0; i < 6; ++i) rows[i][j] = o[i];
            }
            const int64_t t = (ty - ty0) * tilesX + tx;
            for (int i = 0; i < 6; ++i) {
              DVec o[6];
              winogradBt(rows[i], o);
              for (int j = 0; j < 6; ++j) std::memcpy(V + (i * 6 + j) * sV + c * Tp + t, &o[j], sizeof(DVec));
            }
          }
      });
      // The 36 products.
      const int64_t mblocks = Mp / kMB, cblocks = (T + kCols - 1) / kCols;
      poolFor(36 * mblocks, inner, inner > 1, [&](int64_t job) {
        const int64_t xi = job / mblocks, mb = job % mblocks;
        for (int64_t cb = 0; cb < cblocks; ++cb)
          winogradProductBlock<kMB, kU>(C, U + xi * C * Mp + mb * kMB, Mp, V + xi * sV + cb * kCols, Tp,
                                        Mt + xi * sM + mb * kMB * Tp + cb * kCols);
      });
      // Output transform, bias and activation; tiles scattered into Y, cropped at the edges.
      poolFor(M, inner, inner > 1, [&](int64_t m) {
        const float b = bias ? bias[m] : 0.f;
        float* yp = yn + m * g.oh * g.ow;
        for (int64_t ty = ty0; ty < ty1; ++ty)
          for (int64_t tx = 0; tx < tilesX; tx += L) {
            const int64_t t = (ty - ty0) * tilesX + tx;
            DVec cols[4][6];  // A^T over each column of the 6x6 product
            for (int64_t j = 0; j < 6; ++j) {
              DVec mm[6];
              for (int i = 0; i < 6; ++i) mm[i] = dload(Mt + (i * 6 + j) * sM + m * Tp + t);
              DVec o[4];
              winogradAt(mm, o);
              for (int r = 0; r < 4; ++r) cols[r][j] = o[r];
            }
            float out[4][4][kDLanes];  // [row][column][tile]
            for (int r = 0; r < 4; ++r) {
              DVec o[4];
              winogradAt(cols[r], o);
              for (int c = 0; c < 4; ++c) {
                DVec val = activate(act, o[c] + b);
                std::memcpy(out[r][c], &val, sizeof val);
              }
            }
            const int64_t lanes = std::min(L, tilesX - tx);
            for (int r = 0; r < 4; ++r) {
              const int64_t oy = 4 * ty + r;
              if (oy >= g.oh) break;
              float* yr = yp + oy * g.ow;
              for (int64_t l = 0; l < lanes; ++l) {
                const int64_t ox = 4 * (tx + l);
                const int64_t cnt = std::min<int64_t>(4, g.ow - ox);
                for (int64_t c = 0; c < cnt; ++c) yr[ox + c] = out[r][c][l];
              }
            }
          }
      });
    };
    // Whole chunks on the mobile pool; each uses its own thread's scratch (convScratch is per thread).
    if (outer) mobileParallelFor(chunks, team, run);
    else
      for (int64_t ch = 0; ch < chunks; ++ch) run(ch);
  }
}

}  // namespace
}  // namespace facestyle::cpu
