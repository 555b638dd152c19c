// The direct ConvTranspose2D 2x2 / 2 kernel (cpu/conv_transpose_direct.h) and the residual input Z of
// the conv entry points (cpu/conv_transpose.h) against the float64 reference loops plus a plain
// y = act(ref + z): odd sizes, planes smaller than one register block, rows that are not a multiple
// of the vector width (vectors across row ends), pads (odd, asymmetric, larger than a stride),
// output_padding margins, groups, batches, 1 to 5 output channels per group (register-block tails),
// with and without bias and Z, every fused activation; every SIMD build this CPU can run and the
// dispatchers, 1 and 2 threads. Outputs start poisoned, so every element must be written.
#include <cmath>
#include <cstdio>
#include <string>

#include "cpu/conv_transpose.h"
#include "facestyle/capabilities.h"
#include "harness.h"

using namespace facestyle;
using namespace facestyle::test;
using cpu::ConvActivation;
using cpu::ConvGeometry;

namespace {

std::vector<ConvActivation> activations() {
  std::vector<ConvActivation> v(6);
  v[1].kind = ConvActivation::Relu;
  v[2].kind = ConvActivation::LeakyRelu, v[2].alpha = 0.2f;
  v[3].kind = ConvActivation::Clip, v[3].lo = -0.3f, v[3].hi = 0.4f;
  v[4].kind = ConvActivation::Tanh;
  v[5].kind = ConvActivation::Sigmoid;
  return v;
}

// The activation by its plain definition (not ConvActivation::apply).
float activateRef(const ConvActivation& a, double v) {
  switch (a.kind) {
    case ConvActivation::Relu: return static_cast<float>(v < 0 ? 0 : v);
    case ConvActivation::LeakyRelu: return static_cast<float>(v < 0 ? a.alpha * v : v);
    case ConvActivation::Clip: return static_cast<float>(v < a.lo ? a.lo : v > a.hi ? a.hi : v);
    case ConvActivation::Tanh: return static_cast<float>(std::tanh(v));
    case ConvActivation::Sigmoid: return static_cast<float>(1.0 / (1.0 + std::exp(-v)));
    default: return static_cast<float>(v);
  }
}

// Transposed: n, c, h, w, m (total), kh, kw, sh, sw, pt, pl, pb, pr, oph, opw, group.
struct TCase {
  int64_t n, c, h, w, m, kh, kw, sh, sw, pt, pl, pb, pr, oph, opw, group;
};

ConvGeometry transposedGeometry(const TCase& k) {
  ConvGeometry g;
  g.n = k.n, g.c = k.c, g.h = k.h, g.w = k.w, g.m = k.m, g.kh = k.kh, g.kw = k.kw, g.group = k.group;
  g.win.sh = k.sh, g.win.sw = k.sw, g.win.pt = k.pt, g.win.pl = k.pl, g.win.pb = k.pb, g.win.pr = k.pr;
  g.oh = k.sh * (k.h - 1) + k.oph + k.kh - k.pt - k.pb;
  g.ow = k.sw * (k.w - 1) + k.opw + k.kw - k.pl - k.pr;
  return g;
}

std::string describe(const TCase& k) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "n%lld c%lld %lldx%lld m%lld k%lldx%lld s%lld,%lld p%lld,%lld,%lld,%lld op%lld,%lld g%lld", (long long)k.n,
                (long long)k.c, (long long)k.h, (long long)k.w, (long long)k.m, (long long)k.kh, (long long)k.kw, (long long)k.sh,
                (long long)k.sw, (long long)k.pt, (long long)k.pl, (long long)k.pb, (long long)k.pr, (long long)k.oph, (long long)k.opw,
                (long long)k.group);
  return buf;
}

const std::vector<TCase>& upCases() {
  static const std::vector<TCase> table = {
      {1, 96, 32, 32, 64, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1},   // generator dec2.up shape (one row = 2 zmm)
      {1, 16, 64, 64, 16, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1},   // generator dec0.up shape, smaller plane (threads engage)
      {2, 7, 5, 9, 5, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1},       // batch 2, plane of 45 < one AVX-512 block (48)
      {1, 3, 1, 1, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1},       // 1x1 input
      {1, 8, 7, 19, 3, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1},      // 19 columns: vectors across row ends, 3 channels
      {1, 5, 6, 7, 3, 2, 2, 2, 2, 1, 0, 0, 1, 1, 1, 1},       // pads and output_padding
      {1, 4, 9, 33, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1},      // odd pads on every side, one output channel
      {1, 6, 12, 40, 6, 2, 2, 2, 2, 3, 2, 0, 5, 1, 0, 1},     // pads larger than the stride (whole input rows cut)
      {2, 6, 4, 21, 10, 2, 2, 2, 2, 0, 1, 1, 0, 0, 1, 2},     // groups 2 (cg 3, mg 5), batch 2
      {1, 12, 11, 48, 12, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 3},   // groups 3, output_padding margin on both sides
      {1, 4, 17, 16, 4, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 4},     // depthwise (one channel per group)
  };
  return table;
}

struct Data {
  std::vector<float> x, w, b, z;
};

Data dataFor(const ConvGeometry& g, int64_t wSize, uint32_t seed) {
  Data d;
  d.x = randomVector(static_cast<size_t>(g.n * g.c * g.h * g.w), seed);
  d.w = randomVector(static_cast<size_t>(wSize), seed + 1, -0.5f, 0.5f);
  d.b = randomVector(static_cast<size_t>(g.m), seed + 2);
  d.z = randomVector(static_cast<size_t>(g.n * g.m * g.oh * g.ow), seed + 3);
  return d;
}

// act(ref + bias + z) from the reference loops (z may be null).
std::vector<float> expected(const std::vector<float>& ref, const float* z, const ConvActivation& act) {
  std::vector<float> out(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) out[i] = activateRef(act, double(ref[i]) + (z ? double(z[i]) : 0.0));
  return out;
}

using UpFn = void (*)(const ConvGeometry&, const float*, const float*, const float*, const float*, float*, int, const ConvActivation*);

std::vector<std::pair<const char*, UpFn>> upPaths() {
  std::vector<std::pair<const char*, UpFn>> p{{"up scalar", cpu::convTransposeUpScalar},
                                              {"up dispatch", cpu::convTransposeUp},
                                              {"convTranspose2dResidual", cpu::convTranspose2dResidual}};
  if (detectedSimdLevel() >= SimdLevel::Avx2) p.push_back({"up avx2", cpu::convTransposeUpAvx2});
  if (detectedSimdLevel() >= SimdLevel::Avx512) p.push_back({"up avx512", cpu::convTransposeUpAvx512});
  return p;
}

}  // namespace

TEST_CASE(up_kernel_matches_reference_over_shapes) {
  uint32_t seed = 11;
  const auto acts = activations();
  for (const TCase& k : upCases()) {
    const ConvGeometry g = transposedGeometry(k);
    CHECK(cpu::convTransposeUpApplies(g));
    const Data d = dataFor(g, k.c * (k.m / k.group) * 4, seed += 7);
    for (int withBias = 0; withBias < 2; ++withBias) {
      const float* bias = withBias ? d.b.data() : nullptr;
      std::vector<float> ref(d.z.size(), -1e30f);
      cpu::convTranspose2dReference(g, d.x.data(), d.w.data(), bias, ref.data());
      for (int withZ = 0; withZ < 2; ++withZ) {
        const float* z = withZ ? d.z.data() : nullptr;
        for (size_t a = 0; a < acts.size(); ++a) {
          // Every activation once with bias and Z; without them only None, to keep the table fast.
          if (a > 0 && !(withBias && withZ)) continue;
          const std::vector<float> want = expected(ref, z, acts[a]);
          for (const auto& [name, fn] : upPaths())
            for (int threads : {1, 2}) {
              std::vector<float> got(want.size(), 1e30f);
              fn(g, d.x.data(), d.w.data(), bias, z, got.data(), threads, &acts[a]);
              const bool ok = allClose(got, want, 2e-5, 2e-5);
              if (!ok) std::fprintf(stderr, "  %s: %s bias %d z %d act %zu threads %d\n", name, describe(k).c_str(), withBias, withZ, a, threads);
              CHECK(ok);
            }
        }
      }
    }
  }
}

TEST_CASE(up_kernel_is_not_applied_to_other_geometries) {
  // kernel 2x2 stride 2 only, dilation 1: others stay on the GEMM paths.
  TCase k{1, 2, 3, 3, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1};
  ConvGeometry g = transposedGeometry(k);
  CHECK(cpu::convTransposeUpApplies(g));
  g.win.dh = 2;
  CHECK(!cpu::convTransposeUpApplies(g));
  g = transposedGeometry({1, 2, 3, 3, 2, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 1});
  CHECK(!cpu::convTransposeUpApplies(g));
  g = transposedGeometry({1, 2, 3, 3, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1});
  CHECK(!cpu::convTransposeUpApplies(g));
}

TEST_CASE(kernel_stride_gemm_path_and_residual_fallback_match_reference) {
  // The GEMM + scatter path (kernel == stride other than 2x2) and the residual sweep after it.
  const std::vector<TCase> table = {
      {1, 5, 6, 7, 3, 3, 3, 3, 3, 1, 2, 0, 1, 2, 1, 1},
      {2, 4, 5, 9, 6, 1, 2, 1, 2, 0, 0, 0, 0, 0, 1, 2},
      {1, 8, 7, 7, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 1},
      {1, 4, 5, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  // overlapping windows: col2im path
  };
  uint32_t seed = 501;
  const auto acts = activations();
  for (const TCase& k : table) {
    const ConvGeometry g = transposedGeometry(k);
    const Data d = dataFor(g, k.c * (k.m / k.group) * k.kh * k.kw, seed += 5);
    std::vector<float> ref(d.z.size());
    cpu::convTranspose2dReference(g, d.x.data(), d.w.data(), d.b.data(), ref.data());
    if (k.kh == k.sh && k.kw == k.sw) {
      std::vector<float> got(ref.size(), 1e30f);
      cpu::convTranspose2dKernelStride(g, d.x.data(), d.w.data(), d.b.data(), got.data(), 2);
      CHECK(allClose(got, ref, 1e-5, 1e-5));
    }
    for (const ConvActivation& a : {acts[0], acts[2], acts[4]}) {
      std::vector<float> got(ref.size(), 1e30f);
      cpu::convTranspose2dResidual(g, d.x.data(), d.w.data(), d.b.data(), d.z.data(), got.data(), 2, &a);
      const bool ok = allClose(got, expected(ref, d.z.data(), a), 2e-5, 2e-5);
      if (!ok) std::fprintf(stderr, "  %s\n", describe(k).c_str());
      CHECK(ok);
    }
  }
}

namespace {

// Conv2D: n, c, h, w, m, kh, kw, sh, sw, pt, pl, pb, pr, group.
struct CCase {
  int64_t n, c, h, w, m, kh, kw, sh, sw, pt, pl, pb, pr, group;
  const char* path;  // which conv2d path it exercises (for failure messages)
};

ConvGeometry convGeometry(const CCase& k) {
  ConvGeometry g;
  g.n = k.n, g.c = k.c, g.h = k.h, g.w = k.w, g.m = k.m, g.kh = k.kh, g.kw = k.kw, g.group = k.group;
  g.win.sh = k.sh, g.win.sw = k.sw, g.win.pt = k.pt, g.win.pl = k.pl, g.win.pb = k.pb, g.win.pr = k.pr;
  g.oh = (k.h + k.pt + k.pb - k.kh) / k.sh + 1;
  g.ow = (k.w + k.pl + k.pr - k.kw) / k.sw + 1;
  return g;
}

}  // namespace

TEST_CASE(conv2d_residual_matches_reference_on_every_path) {
  const std::vector<CCase> table = {
      {1, 16, 13, 37, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, "flat, rows across vector ends"},
      {1, 3, 17, 23, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, "flat, RGB stem stride 2"},
      {2, 16, 11, 67, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, "flat, RGB head, 67 columns, batch 2"},
      {2, 5, 9, 11, 3, 3, 3, 2, 2, 1, 0, 1, 1, 1, "flat, stride 2, 3 outputs, batch 2"},
      {1, 6, 8, 10, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, "flat, groups 2"},
      {1, 64, 12, 12, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, "Winograd (then the residual sweep)"},
      {1, 96, 8, 8, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, "Winograd, generator residual block channels"},
      {2, 12, 7, 9, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, "pointwise GEMM"},
      {1, 8, 10, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, "depthwise"},
      {1, 8, 3, 3, 6, 3, 3, 1, 1, 0, 0, 0, 0, 1, "one output position"},
  };
  uint32_t seed = 901;
  const auto acts = activations();
  for (const CCase& k : table) {
    const ConvGeometry g = convGeometry(k);
    const Data d = dataFor(g, k.m * (k.c / k.group) * k.kh * k.kw, seed += 3);
    std::vector<float> ref(d.z.size());
    cpu::conv2dReference(g, d.x.data(), d.w.data(), d.b.data(), ref.data());
    // Winograd's error is about 1e-5 of the output's magnitude (conv_winograd.h).
    const double tol = k.kh == 3 && k.c >= 64 ? 2e-4 : 2e-5;
    for (const ConvActivation& a : acts) {
      const std::vector<float> want = expected(ref, d.z.data(), a);
      std::vector<float> got(ref.size(), 1e30f);
      cpu::conv2dResidual(g, d.x.data(), d.w.data(), d.b.data(), d.z.data(), got.data(), 2, &a);
      const bool ok = allClose(got, want, tol, tol);
      if (!ok) std::fprintf(stderr, "  conv2dResidual %s, activation %d\n", k.path, static_cast<int>(a.kind));
      CHECK(ok);
    }
    // Without Z it is plain conv2d.
    std::vector<float> got(ref.size(), 1e30f);
    cpu::conv2dResidual(g, d.x.data(), d.w.data(), d.b.data(), nullptr, got.data(), 1, nullptr);
    CHECK(allClose(got, ref, tol, tol));
  }
}

TEST_MAIN()
