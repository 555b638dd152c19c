// Backward, optimizer and loss ops: native kernels against the TS references (lib/ops/backward.ts,
// optim.ts, loss.ts). GEMM-based gradients sum up to a few hundred float32 products, hence atol 1e-4.
import type { OpCase } from '../case.js';

const win = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
const s2 = { strides: [2, 2], pads: [1, 0, 1, 1], dilations: [1, 1], group: 1 };
const dw = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 4 };
const dil = { strides: [1, 1], pads: [2, 2, 2, 2], dilations: [2, 2], group: 2 };

export const cases: OpCase[] = [
  { op: 'Conv2DBackpropInput', label: '3x3 pad 1', inputs: [[2, 4, 6, 5], [4, 3, 3, 3]], attrs: { ...win, input_shape: [2, 3, 6, 5] }, atol: 1e-4 },
  { op: 'Conv2DBackpropInput', label: 'stride 2 asymmetric pad', inputs: [[1, 3, 4, 3], [3, 2, 3, 3]], attrs: { ...s2, input_shape: [1, 2, 7, 6] }, atol: 1e-4 },
  { op: 'Conv2DBackpropInput', label: 'depthwise', inputs: [[2, 4, 5, 5], [4, 1, 3, 3]], attrs: { ...dw, input_shape: [2, 4, 5, 5] }, atol: 1e-4 },
  { op: 'Conv2DBackpropInput', label: 'dilation 2 group 2', inputs: [[1, 4, 7, 7], [4, 1, 3, 3]], attrs: { ...dil, input_shape: [1, 2, 7, 7] }, atol: 1e-4 },
  { op: 'Conv2DBackpropFilter', label: '3x3 pad 1', inputs: [[2, 3, 6, 5], [2, 4, 6, 5]], attrs: { ...win, filter_shape: [4, 3, 3, 3] }, atol: 1e-4 },
  { op: 'Conv2DBackpropFilter', label: 'stride 2 asymmetric pad', inputs: [[1, 2, 7, 6], [1, 3, 4, 3]], attrs: { ...s2, filter_shape: [3, 2, 3, 3] }, atol: 1e-4 },
  { op: 'Conv2DBackpropFilter', label: 'depthwise', inputs: [[2, 4, 5, 5], [2, 4, 5, 5]], attrs: { ...dw, filter_shape: [4, 1, 3, 3] }, atol: 1e-4 },
  { op: 'Conv2DBackpropFilter', label: 'dilation 2 group 2', inputs: [[1, 2, 7, 7], [1, 4, 7, 7]], attrs: { ...dil, filter_shape: [4, 1, 3, 3] }, atol: 1e-4 },
  // Large enough for im2row / col2im to split across threads (>= 65536 floats), 64 output channels (B
  // packed) and 16 (B read in place), and for the filter GEMM to split its K (the pixels) across threads.
  { op: 'Conv2DBackpropInput', label: '3x3 pad 1, 32x32 (threaded col2im)', inputs: [[2, 16, 32, 32], [16, 8, 3, 3]], attrs: { ...win, input_shape: [2, 8, 32, 32] }, atol: 2e-4 },
  { op: 'Conv2DBackpropFilter', label: '3x3 pad 1, 48x48, 64 out (threaded im2row, split K)', inputs: [[2, 8, 48, 48], [2, 64, 48, 48]], attrs: { ...win, filter_shape: [64, 8, 3, 3] }, atol: 2e-3 },
  { op: 'Conv2DBackpropFilter', label: 'stride 2, 64x64, 16 out (B in place)', inputs: [[1, 8, 64, 64], [1, 16, 32, 32]], attrs: { ...s2, filter_shape: [16, 8, 3, 3] }, atol: 1e-3 },
  { op: 'Conv2DBackpropBias', label: 'NCHW', inputs: [[3, 5, 4, 6]], atol: 1e-4 },
  { op: 'LeakyReluGrad', label: 'alpha 0.2', inputs: [[2, 3, 4, 5], [2, 3, 4, 5]], attrs: { alpha: 0.2 } },
  { op: 'ReluGrad', label: '3d', inputs: [[3, 4, 5], [3, 4, 5]] },
  { op: 'TanhGrad', label: '3d', inputs: [[3, 4, 5], [3, 4, 5]] },
  { op: 'SigmoidGrad', label: '3d', inputs: [[3, 4, 5], [3, 4, 5]] },
  { op: 'AbsGrad', label: '3d', inputs: [[3, 4, 5], [3, 4, 5]] },
  { op: 'ReduceSumTo', label: 'channel bias', inputs: [[2, 3, 4, 5]], attrs: { shape: [1, 3, 1, 1] }, atol: 1e-5 },
  { op: 'ReduceSumTo', label: 'lower rank', inputs: [[2, 3, 4, 5]], attrs: { shape: [4, 1] }, atol: 1e-5 },
  { op: 'ReduceSumTo', label: 'to scalar', inputs: [[3, 4]], attrs: { shape: [] }, atol: 1e-5 },
  { op: 'ResizeBackward', label: 'linear x2 half_pixel', inputs: [[1, 2, 6, 8]], attrs: { mode: 'linear', scales: [1, 1, 2, 2], input_shape: [1, 2, 3, 4] } },
  { op: 'ResizeBackward', label: 'linear align_corners 5x7', inputs: [[2, 2, 5, 7]], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners', input_shape: [2, 2, 3, 4] } },
  { op: 'ResizeBackward', label: 'nearest asymmetric floor', inputs: [[1, 2, 6, 6]], attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor', scales: [1, 1, 2, 2], input_shape: [1, 2, 3, 3] } },
  {
    op: 'AdamUpdate',
    label: 'AdamW step 3',
    inputs: [[4, 5], [4, 5], [4, 5], { shape: [4, 5], range: [0, 0.5] }, { shape: [3], data: [0.01, 1 - 0.9 ** 3, 1 - 0.999 ** 3] }],
    attrs: { weight_decay: 0.01 },
  },
  {
    op: 'AdamUpdate',
    label: 'with clip scale',
    inputs: [[7], [7], [7], { shape: [7], range: [0, 0.5] }, { shape: [3], data: [0.1, 0.1, 0.001] }, { shape: [2], data: [0.25, 8] }],
  },
  { op: 'SgdMomentumUpdate', label: 'momentum 0.9', inputs: [[3, 4], [3, 4], [3, 4], { shape: [1], data: [0.05] }], attrs: { momentum: 0.9, weight_decay: 0.001 } },
  { op: 'EmaUpdate', label: 'decay 0.99', inputs: [[3, 4, 5], [3, 4, 5], { shape: [1], data: [0.99] }] },
  { op: 'EmaUpdate', label: 'decay 0 copies', inputs: [[6], [6], { shape: [1], data: [0] }] },
  { op: 'GlobalNormClip', label: 'three tensors', inputs: [[3, 4], [5], [2, 2, 2]], attrs: { max_norm: 1 } },
  { op: 'GlobalNormClip', label: 'below the limit', inputs: [{ shape: [4], range: [-0.1, 0.1] }], attrs: { max_norm: 5 } },
  { op: 'L1Loss', label: '4d', inputs: [[2, 3, 4, 5], [2, 3, 4, 5]] },
  { op: 'L1LossGrad', label: '4d', inputs: [[2, 3, 4, 5], [2, 3, 4, 5], { shape: [], data: [0.7] }] },
  { op: 'MseLoss', label: '4d', inputs: [[2, 3, 4, 5], [2, 3, 4, 5]] },
  { op: 'MseLossGrad', label: '4d', inputs: [[2, 3, 4, 5], [2, 3, 4, 5], { shape: [], data: [1.5] }] },
  { op: 'LsganLoss', label: 'fake target', inputs: [[2, 1, 6, 6]], attrs: { target: 0 } },
  { op: 'LsganLossGrad', label: 'real target', inputs: [[2, 1, 6, 6], { shape: [], data: [1] }], attrs: { target: 1 } },
  { op: 'ColorLoss', label: 'RGB', inputs: [{ shape: [2, 3, 4, 5], range: [-2, 2] }, { shape: [2, 3, 4, 5], range: [-2, 2] }] },
  { op: 'ColorLossGrad', label: 'RGB', inputs: [{ shape: [2, 3, 4, 5], range: [-2, 2] }, { shape: [2, 3, 4, 5], range: [-2, 2] }, { shape: [], data: [2] }] },
];

cases.push(
  { op: 'BceLogitsLoss', label: 'real', inputs: [{ shape: [2, 1, 5, 5], range: [-4, 4] }], attrs: { target: 1 } },
  { op: 'BceLogitsLossGrad', label: 'fake', inputs: [{ shape: [2, 1, 5, 5], range: [-4, 4] }, { shape: [], data: [1] }], attrs: { target: 0 } },
  { op: 'HingeLoss', label: 'D on fake', inputs: [{ shape: [2, 1, 5, 5], range: [-2, 2] }], attrs: { sign: -1 } },
  { op: 'HingeLossGrad', label: 'D on real', inputs: [{ shape: [2, 1, 5, 5], range: [-2, 2] }, { shape: [], data: [1] }], attrs: { sign: 1 } },
  { op: 'TotalVariationLoss', label: 'NCHW', inputs: [[2, 3, 4, 5]] },
  { op: 'TotalVariationLossGrad', label: 'NCHW', inputs: [[2, 3, 4, 5], { shape: [], data: [0.5] }] },
);

cases.push(
  { op: 'PadBackward', label: 'reflect NCHW', inputs: [[1, 2, 7, 9]], attrs: { mode: 'reflect', pads: [0, 0, 2, 1, 0, 0, 1, 3], input_shape: [1, 2, 4, 5] } },
  { op: 'PadBackward', label: 'edge 3d', inputs: [[4, 6, 4]], attrs: { mode: 'edge', pads: [0, 1, 2, 2, 2, 0], input_shape: [2, 3, 2] } },
  { op: 'PadBackward', label: 'constant', inputs: [[3, 5]], attrs: { mode: 'constant', pads: [1, 0, 0, 2], input_shape: [2, 3] } },
  { op: 'InstanceNormalizationGrad', label: 'NCHW', inputs: [[2, 3, 4, 5], [2, 3, 4, 5], { shape: [3], range: [0.5, 1.5] }], atol: 1e-4 },
);
