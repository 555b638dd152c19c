// Plain C++ (no CUDA types), so C++ tests can include it: selects the math of the GEMM-shaped
// CUDA kernels (Conv2D, ConvTranspose2D, MatMul, Gemm).
//   FP32 (the default): the tiled GEMM on CUDA cores in full fp32, agreeing with the CPU kernels
//   to float rounding (the op tables and ONNX parity check 1e-4).
//   TF32 (opt-in, compute capability >= 8.0): tensor-core mma.sync with inputs rounded to TF32
//   (10-bit mantissa, ~1e-3 relative error per product) and fp32 accumulation, as PyTorch does for
//   cuDNN convolutions by default; several times the throughput.
// The initial mode comes from FACESTYLE_CUDA_TF32 (1 turns TF32 on); devices below 8.0 always use FP32.
#pragma once

namespace facestyle::cuda {

void setTf32Enabled(bool enabled);
bool tf32Enabled();

}  // namespace facestyle::cuda
