// The PointwiseDepthwise op (lib/ops/pointwise_depthwise.ts; made by the fusePointwiseDepthwise pass): a 1x1
// Conv2D and the depthwise 3x3 / stride 1 / pad 1 Conv2D on its output, each with its activation, the second
// optionally max-pooled 2x2; optionally then a 1x1 projection with a residual input and its activation (an
// inverted residual block). The fused kernels (cpu/conv_pwdw_kernels.h through conv2dPointwiseDepthwiseFast,
// cpu/conv_inverted_residual_kernels.h through conv2dInvertedResidualFast) run it when they apply; otherwise
// the convs run one after the other through scratch tensors (the plain composition, also the statement of
// what the op means).
#include <memory>
#include <string>

#include "cpu/conv_kernels.h"
#include "cpu/conv_mobile.h"
#include "cpu/conv_transpose.h"
#include "facestyle/kernel.h"
#include "runtime/register_kernels.h"

namespace facestyle {

namespace {

// What a node's attributes say, parsed on its first run and kept in its context.
struct PointwiseDepthwiseState {
  cpu::ConvActivation pointwiseAct, depthwiseAct, projectAct;
  bool pool = false;
};

void pointwiseDepthwiseKernel(KernelContext& ctx) {
  FACESTYLE_REQUIRE(ctx, ctx.inputs.size() >= 3 && ctx.inputs.size() <= 8 && ctx.outputs.size() == 1,
                    "expects 3 to 8 inputs (X, W1, W2, B1, B2, W3, B3, Z) and 1 output");
  const Tensor &x = ctx.in(0), &w1 = ctx.in(1), &w2 = ctx.in(2);
  const bool hasB1 = ctx.hasInput(3), hasB2 = ctx.hasInput(4), project = ctx.hasInput(5), hasB3 = ctx.hasInput(6), hasZ = ctx.hasInput(7);
  FACESTYLE_REQUIRE(ctx, project || (!hasB3 && !hasZ), "B3 and Z belong to the projection: they need W3");
  cpu::ConvGeometry pg, dg, qg;
  const PointwiseDepthwiseState* state = nullptr;
  try {
    state = &kernelState<PointwiseDepthwiseState>(ctx, [&] {
      return PointwiseDepthwiseState{cpu::parseConvActivation(ctx.attrs(), ""), cpu::parseConvActivation(ctx.attrs(), "dw_"),
                                     cpu::parseConvActivation(ctx.attrs(), "project_"), cpu::parseConvPool(ctx.attrs())};
    });
    pg = cpu::conv2DGeometry(x.shape, w1.shape, hasB1 ? &ctx.in(3).shape : nullptr, cpu::ConvAttrs{});
    if (pg.kh != 1 || pg.kw != 1) throw Error(ErrorCode::Shape, "expected a 1x1 kernel W1 [M,C,1,1] but received " + shapeToString(w1.shape));
    if (!(w2.shape.size() == 4 && w2.shape[0] == pg.m && w2.shape[1] == 1 && w2.shape[2] == 3 && w2.shape[3] == 3))
      throw Error(ErrorCode::Shape, "expected a depthwise 3x3 kernel W2 [" + std::to_string(pg.m) + ",1,3,3] but received " + shapeToString(w2.shape));
    cpu::ConvAttrs dwAttrs;
    dwAttrs.group = pg.m;
    dwAttrs.win.pt = dwAttrs.win.pl = dwAttrs.win.pb = dwAttrs.win.pr = 1;
    dg = cpu::conv2DGeometry(Shape{pg.n, pg.m, pg.oh, pg.ow}, w2.shape, hasB2 ? &ctx.in(4).shape : nullptr, dwAttrs);
    if (project) {
      const Tensor& w3 = ctx.in(5);
      if (!(w3.shape.size() == 4 && w3.shape[1] == pg.m && w3.shape[2] == 1 && w3.shape[3] == 1))
        throw Error(ErrorCode::Shape, "expected a 1x1 projection W3 [K," + std::to_string(pg.m) + ",1,1] but received " + shapeToString(w3.shape));
      const int64_t dh = state->pool ? dg.oh / 2 : dg.oh, dw = state->pool ? dg.ow / 2 : dg.ow;
      qg = cpu::conv2DGeometry(Shape{dg.n, dg.m, dh, dw}, w3.shape, hasB3 ? &ctx.in(6).shape : nullptr, cpu::ConvAttrs{});
    }
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
  const bool pool = state->pool;
  if (pool) FACESTYLE_REQUIRE(ctx, dg.oh >= 2 && dg.ow >= 2, "a fused 2x2 max pool needs a conv output of at least 2x2 but it is " + shapeToString(Shape{dg.n, dg.m, dg.oh, dg.ow}));
  const Shape pairShape = pool ? Shape{dg.n, dg.m, dg.oh / 2, dg.ow / 2} : Shape{dg.n, dg.m, dg.oh, dg.ow};
  const Shape want = project ? Shape{qg.n, qg.m, qg.oh, qg.ow} : pairShape;
  Tensor& y = ctx.out(0);
  FACESTYLE_REQUIRE(ctx, y.shape == want, "expected output shape " + shapeToString(want) + " but the plan has " + shapeToString(y.shape));
  if (hasZ) FACESTYLE_REQUIRE(ctx, ctx.in(7).shape == want, "expected Z of the output's shape " + shapeToString(want) + " but received " + shapeToString(ctx.in(7).shape));
  const float* b1 = hasB1 ? ctx.in(3).data : nullptr;
  const float* b2 = hasB2 ? ctx.in(4).data : nullptr;
  const float* w3 = project ? ctx.in(5).data : nullptr;
  const float* b3 = hasB3 ? ctx.in(6).data : nullptr;
  const float* z = hasZ ? ctx.in(7).data : nullptr;
  if (project && !pool &&
      cpu::conv2dInvertedResidualFast(pg, x.data, w1.data, b1, state->pointwiseAct, dg, w2.data, b2, state->depthwiseAct, qg, w3, b3,
                                      state->projectAct, z, y.data, ctx.threads))
    return;
  // The pair's output: y itself, or scratch before the projection.
  std::unique_ptr<float[]> d;
  if (project) d.reset(new float[static_cast<size_t>(qg.n * qg.c * qg.h * qg.w)]);
  float* pairOut = project ? d.get() : y.data;
  if (!cpu::conv2dPointwiseDepthwiseFast(pg, x.data, w1.data, b1, state->pointwiseAct, dg, w2.data, b2, state->depthwiseAct, pool, pairOut,
                                         ctx.threads)) {
    // The two convs in turn (an activation the fused kernel does not apply in registers, or more than 1024
    // input channels): the 1x1 output in scratch.
    const std::unique_ptr<float[]> t(new float[static_cast<size_t>(pg.n * pg.m * pg.oh * pg.ow)]);
    cpu::conv2d(pg, x.data, w1.data, b1, t.get(), ctx.threads, &state->pointwiseAct);
    if (pool) cpu::conv2dPooled(dg, t.get(), w2.data, b2, nullptr, pairOut, ctx.threads, &state->depthwiseAct);
    else cpu::conv2d(dg, t.get(), w2.data, b2, pairOut, ctx.threads, &state->depthwiseAct);
  }
  if (project) cpu::conv2dResidual(qg, d.get(), w3, b3, z, y.data, ctx.threads, &state->projectAct);
}

}  // namespace

void registerCpuPointwiseDepthwiseKernel() { registerKernel(OpKind::PointwiseDepthwise, Device::CPU, pointwiseDepthwiseKernel); }

}  // namespace facestyle
