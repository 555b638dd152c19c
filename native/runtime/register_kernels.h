// One register function per kernel family. Adding a family adds one line here and one call in
// registerCpuKernels (native/cpu/register.cc) or registerCudaKernels (native/cuda/register.cu).
#pragma once

namespace facestyle {

void registerCpuKernels();
void registerCudaKernels();

// CPU families (native/cpu/<family>.cc)
void registerCpuConvKernels();         // Conv2D, ConvTranspose2D
void registerCpuPointwiseDepthwiseKernel();  // PointwiseDepthwise (inference fusion)
void registerCpuPoolKernels();         // MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void registerCpuResizeKernels();       // Resize
void registerCpuPadKernels();          // Pad
void registerCpuNormKernels();         // BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization
void registerCpuElementwiseKernels();  // Add Sub Mul Div Pow Max Min, unary ops, Clip, Identity
void registerCpuShapeKernels();        // Concat Slice Split Transpose Reshape Flatten Squeeze Unsqueeze
void registerCpuReduceKernels();       // ReduceMean ReduceSum ReduceMax, Softmax
void registerCpuGemmKernels();         // MatMul, Gemm
void registerCpuWarpKernels();         // WarpAffine
void registerCpuConvBackwardKernels();          // Conv2DBackpropInput, Conv2DBackpropFilter, Conv2DBackpropBias
void registerCpuElementwiseBackwardKernels();   // activation grads, ReduceSumTo
void registerCpuResizeBackwardKernels();        // ResizeBackward
void registerCpuOptimKernels();                 // AdamUpdate, SgdMomentumUpdate, EmaUpdate, GlobalNormClip
void registerCpuNormBackwardKernels();          // InstanceNormalizationGrad
void registerCpuPadBackwardKernels();           // PadBackward
void registerCpuLossKernels();                  // L1/MSE/LSGAN/colour losses and their grads

}  // namespace facestyle
