// One register function per CUDA kernel family (native/cuda/<family>.cu), called by
// registerCudaKernels() in register.cu; mirrors the CPU list in runtime/register_kernels.h.
#pragma once

namespace facestyle {

void registerCudaConvKernels();         // Conv2D, ConvTranspose2D
void registerCudaPoolKernels();         // MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void registerCudaResizeKernels();       // Resize
void registerCudaPadKernels();          // Pad
void registerCudaNormKernels();         // BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization
void registerCudaElementwiseKernels();  // Add Sub Mul Div Pow Max Min, unary ops, Clip, Identity
void registerCudaShapeKernels();        // Concat Slice Split Transpose Reshape Flatten Squeeze Unsqueeze
void registerCudaReduceKernels();       // ReduceMean ReduceSum ReduceMax, Softmax
void registerCudaGemmKernels();         // MatMul, Gemm
void registerCudaWarpKernels();         // WarpAffine
void registerCudaConvBackwardKernels();         // Conv2DBackpropInput, Conv2DBackpropFilter, Conv2DBackpropBias
void registerCudaElementwiseBackwardKernels();  // activation grads, ReduceSumTo
void registerCudaResizeBackwardKernels();       // ResizeBackward
void registerCudaOptimKernels();                // AdamUpdate, SgdMomentumUpdate, EmaUpdate, GlobalNormClip
void registerCudaLossKernels();                 // L1/MSE/LSGAN/colour/BCE/hinge/TV losses and their grads
void registerCudaPadBackwardKernels();          // PadBackward
void registerCudaNormBackwardKernels();         // InstanceNormalizationGrad

}  // namespace facestyle
