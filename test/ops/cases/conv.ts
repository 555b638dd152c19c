import type { InputSpec, OpCase } from '../case.js';

// Weights and biases are constants, as in a real model; sums get atol/rtol 1e-4.
const w = (shape: number[]): InputSpec => ({ shape, constant: true });
const tol = { atol: 1e-4, rtol: 1e-4 };

export const cases: OpCase[] = [
  { op: 'Conv2D', label: '3x3 pad 1 with bias', inputs: [[1, 3, 8, 8], w([4, 3, 3, 3]), w([4])], attrs: { pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'odd sizes, no bias, 3x2 kernel', inputs: [[2, 3, 7, 5], w([5, 3, 3, 2])], ...tol },
  { op: 'Conv2D', label: '1x1 stride 1 (GEMM path)', inputs: [[2, 16, 5, 7], w([8, 16, 1, 1]), w([8])], ...tol },
  { op: 'Conv2D', label: '1x1 spatial input, 1x1 kernel', inputs: [[1, 8, 1, 1], w([4, 8, 1, 1]), w([4])], ...tol },
  { op: 'Conv2D', label: '1x1 spatial input, 3x3 kernel pad 1', inputs: [[1, 4, 1, 1], w([2, 4, 3, 3])], attrs: { pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'stride 2 pad 1', inputs: [[1, 3, 9, 9], w([6, 3, 3, 3]), w([6])], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'stride [2,1], asymmetric pads', inputs: [[1, 2, 7, 6], w([3, 2, 3, 2])], attrs: { strides: [2, 1], pads: [0, 1, 2, 0] }, ...tol },
  { op: 'Conv2D', label: 'dilations [2,3]', inputs: [[1, 3, 10, 9], w([4, 3, 3, 3]), w([4])], attrs: { dilations: [2, 3], pads: [2, 3, 2, 3] }, ...tol },
  { op: 'Conv2D', label: 'group 2', inputs: [[2, 4, 6, 6], w([6, 2, 3, 3]), w([6])], attrs: { group: 2, pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'group 3, stride 2, dilation 2, odd', inputs: [[1, 6, 11, 9], w([9, 2, 3, 3])], attrs: { group: 3, strides: [2, 2], dilations: [2, 2], pads: [2, 1, 1, 2] }, ...tol },
  { op: 'Conv2D', label: 'depthwise 3x3 pad 1', inputs: [[2, 8, 9, 7], w([8, 1, 3, 3]), w([8])], attrs: { group: 8, pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'depthwise stride 2 asymmetric pads', inputs: [[1, 5, 10, 11], w([5, 1, 3, 3])], attrs: { group: 5, strides: [2, 2], pads: [0, 0, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'depthwise 5x5 dilation 2', inputs: [[1, 3, 12, 12], w([3, 1, 5, 5]), w([3])], attrs: { group: 3, dilations: [2, 2], pads: [4, 4, 4, 4] }, ...tol },
  { op: 'Conv2D', label: 'channel multiplier 2 (group = C, M = 2C)', inputs: [[1, 4, 6, 6], w([8, 1, 3, 3]), w([8])], attrs: { group: 4, pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: '1x1 stride 2', inputs: [[1, 8, 7, 7], w([4, 8, 1, 1])], attrs: { strides: [2, 2] }, ...tol },
  { op: 'Conv2D', label: '1x1 with asymmetric pads', inputs: [[1, 3, 4, 5], w([2, 3, 1, 1]), w([2])], attrs: { pads: [1, 0, 0, 2] }, ...tol },
  { op: 'Conv2D', label: 'kernel larger than input', inputs: [[1, 2, 2, 3], w([3, 2, 5, 5])], attrs: { pads: [2, 2, 2, 2] }, ...tol },
  // One output per channel from a kernel the size of the input (PFLD's 7x7 head: the input is the column),
  // large enough to split across threads; and with a pad, which needs im2col.
  { op: 'Conv2D', label: 'kernel = input size, 1 output, 32->128 7x7 + Relu (threads)', inputs: [[2, 32, 7, 7], w([128, 32, 7, 7]), w([128])], attrs: { activation: 'Relu' }, ...tol },
  { op: 'Conv2D', label: 'kernel = input size + pad 1, 2x2 outputs', inputs: [[1, 6, 3, 3], w([5, 6, 3, 3]), w([5])], attrs: { pads: [1, 1, 0, 0] }, ...tol },
  { op: 'Conv2D', label: '32->32 3x3 on 16x16 (threads)', inputs: [[2, 32, 16, 16], w([32, 32, 3, 3]), w([32])], attrs: { pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'weights as a graph input', inputs: [[1, 2, 5, 5], [3, 2, 3, 3], [3]], ...tol },
  // A residual input Z (input 3, set by fuseResidualAdd): act(conv + B + Z), after each CPU conv path.
  { op: 'Conv2D', label: 'residual Z + LeakyRelu (direct flat kernel path)', inputs: [[1, 3, 8, 8], w([4, 3, 3, 3]), w([4]), [1, 4, 8, 8]], attrs: { pads: [1, 1, 1, 1], activation: 'LeakyRelu', activation_alpha: 0.2 }, ...tol },
  { op: 'Conv2D', label: 'residual Z, no bias, stride 2, odd sizes', inputs: [[2, 3, 9, 7], w([5, 3, 3, 3]), null, [2, 5, 5, 4]], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, ...tol },
  { op: 'Conv2D', label: 'residual Z, 64->64 3x3 (Winograd path) + Tanh', inputs: [[1, 64, 10, 10], w([64, 64, 3, 3]), w([64]), [1, 64, 10, 10]], attrs: { pads: [1, 1, 1, 1], activation: 'Tanh' }, ...tol },
  { op: 'Conv2D', label: 'residual Z, 1x1 (GEMM path)', inputs: [[2, 16, 5, 7], w([8, 16, 1, 1]), w([8]), [2, 8, 5, 7]], ...tol },
  { op: 'Conv2D', label: 'residual Z, depthwise + Clip', inputs: [[1, 6, 7, 9], w([6, 1, 3, 3]), w([6]), [1, 6, 7, 9]], attrs: { group: 6, pads: [1, 1, 1, 1], activation: 'Clip', activation_min: -0.5, activation_max: 0.5 }, ...tol },

  { op: 'ConvTranspose2D', label: 'stride 2 pad 1 output_padding 1', inputs: [[1, 4, 5, 5], w([4, 3, 3, 3]), w([3])], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, ...tol },
  { op: 'ConvTranspose2D', label: 'stride 1, no bias, odd', inputs: [[2, 3, 4, 3], w([3, 2, 3, 3])], ...tol },
  { op: 'ConvTranspose2D', label: 'group 2', inputs: [[1, 4, 5, 5], w([4, 3, 3, 3]), w([6])], attrs: { group: 2, strides: [2, 2] }, ...tol },
  { op: 'ConvTranspose2D', label: 'depthwise 4x4 stride 2 pad 1', inputs: [[1, 4, 5, 6], w([4, 1, 4, 4]), w([4])], attrs: { group: 4, strides: [2, 2], pads: [1, 1, 1, 1] }, ...tol },
  { op: 'ConvTranspose2D', label: 'dilation [2,1], strides [1,2], asymmetric pads', inputs: [[1, 3, 5, 4], w([3, 2, 3, 2])], attrs: { dilations: [2, 1], strides: [1, 2], pads: [1, 0, 0, 2] }, ...tol },
  { op: 'ConvTranspose2D', label: '1x1 kernel on 1x1 spatial', inputs: [[1, 8, 1, 1], w([8, 4, 1, 1]), w([4])], ...tol },
  { op: 'ConvTranspose2D', label: '1x1 spatial to 4x4 (kernel 4 stride 2)', inputs: [[2, 8, 1, 1], w([8, 4, 4, 4])], attrs: { strides: [2, 2] }, ...tol },
  { op: 'ConvTranspose2D', label: 'output_padding [1,2], strides [2,3]', inputs: [[1, 2, 3, 4], w([2, 3, 3, 3]), w([3])], attrs: { strides: [2, 3], output_padding: [1, 2] }, ...tol },
  { op: 'ConvTranspose2D', label: '16->8 4x4 stride 2 on 8x8 (threads)', inputs: [[2, 16, 8, 8], w([16, 8, 4, 4]), w([8])], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, ...tol },
  // 2x2 / 2 (the direct kernel on CPU) and the residual input Z.
  { op: 'ConvTranspose2D', label: '2x2 stride 2, 19 columns (vectors across row ends), residual Z', inputs: [[1, 8, 7, 19], w([8, 3, 2, 2]), w([3]), [1, 3, 14, 38]], attrs: { strides: [2, 2] }, ...tol },
  { op: 'ConvTranspose2D', label: '2x2 stride 2, pads, output_padding, residual Z, no bias', inputs: [[1, 5, 6, 7], w([5, 3, 2, 2]), null, [1, 3, 12, 14]], attrs: { strides: [2, 2], pads: [1, 0, 0, 1], output_padding: [1, 1] }, ...tol },
  { op: 'ConvTranspose2D', label: '2x2 stride 2, groups 2, batch 2', inputs: [[2, 6, 4, 9], w([6, 5, 2, 2]), w([10])], attrs: { strides: [2, 2], group: 2 }, ...tol },
  { op: 'ConvTranspose2D', label: '2x2 stride 2, 96->64 (generator upsampling) with residual Z', inputs: [[1, 96, 8, 8], w([96, 64, 2, 2]), null, [1, 64, 16, 16]], attrs: { strides: [2, 2] }, ...tol },
  { op: 'ConvTranspose2D', label: '3x3 stride 3 (GEMM + scatter) with residual Z', inputs: [[1, 4, 5, 5], w([4, 3, 3, 3]), w([3]), [1, 3, 15, 15]], attrs: { strides: [3, 3] }, ...tol },
];

// Conv2D with an activation fused by the fusion pass (lib/graph/passes).
export const fusedCases: OpCase[] = (['Relu', 'LeakyRelu', 'Tanh', 'Sigmoid', 'Clip'] as const).map((activation) => ({
  op: 'Conv2D',
  label: `fused ${activation}`,
  inputs: [[2, 3, 9, 7], { shape: [4, 3, 3, 3], constant: true }, { shape: [4], constant: true }],
  attrs: { pads: [1, 1, 1, 1], activation, activation_alpha: 0.2, activation_min: -0.3, activation_max: 0.4 },
  atol: 1e-4,
  rtol: 1e-4,
}));
cases.push(...fusedCases);
