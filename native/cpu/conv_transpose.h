// The direct ConvTranspose2D kernel for kernel == stride == 2x2 (cpu/conv_transpose_direct.h) and the
// conv entry points that take a residual input Z (the graph pass fuseResidualAdd folds an Add of a
// tensor of the output's shape into the conv: y = act(conv(x) + bias + Z)). NCHW float32.
#pragma once
#include "cpu/conv_kernels.h"

namespace facestyle::cpu {

// True when the geometry is kernel 2x2, stride 2, dilation 1 (any pads, output_padding, group, batch).
bool convTransposeUpApplies(const ConvGeometry& g);

// y = act(ConvTranspose2D(x, w) + bias + z) for geometries convTransposeUpApplies() accepts; `bias`,
// `z` (shaped like y; added in registers) and `act` may be null. The AVX2 / AVX-512 entries may only run when
// detectedSimdLevel() reports that level; convTransposeUp dispatches on simdLevel().
void convTransposeUp(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                     const ConvActivation* act = nullptr);
void convTransposeUpScalar(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                           int threads, const ConvActivation* act = nullptr);
void convTransposeUpAvx2(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                         const ConvActivation* act = nullptr);
void convTransposeUpAvx512(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                           int threads, const ConvActivation* act = nullptr);

// The GEMM + scatter path for kernel == stride, dilation 1 (any kernel size), bias only: what
// convTransposeUp replaced for 2x2 / 2, kept for other kernel == stride layers and as a second reference.
void convTranspose2dKernelStride(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads);

// conv2d / convTranspose2d (conv_kernels.h) with a residual input: y = act(conv + bias + z), z shaped
// like y (null = none). The conv runs without the activation, then one sweep applies y = act(y + z)
// (measured faster than adding Z in the kernels' registers: see conv.cc).
void conv2dResidual(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                    const ConvActivation* act = nullptr);
void convTranspose2dResidual(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y,
                             int threads, const ConvActivation* act = nullptr);

// A Conv2D with a fused 2x2 / stride-2 max pool (attribute pool = 'MaxPool2x2', set by the fusePool
// pass): y [N, M, oh / 2, ow / 2] = MaxPool(act(conv + bias + z)), rounded down as ONNX MaxPool with no
// padding and ceil_mode 0; g is the conv's geometry (oh, ow before the pool, at least 2 each). The
// depthwise 3x3 "same" layers (conv2dDepthwiseFast with pool2x2) pool in registers; any other conv runs
// whole into a scratch buffer, then pools it (maxPool2x2Stride2Row).
void conv2dPooled(const ConvGeometry& g, const float* x, const float* w, const float* bias, const float* z, float* y, int threads,
                  const ConvActivation* act = nullptr);

}  // namespace facestyle::cpu
