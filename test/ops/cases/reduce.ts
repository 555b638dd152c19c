import type { OpCase } from '../case.js';

// Every reduction on: the last axis (contiguous fast path), all axes, spatial axes of NCHW, a middle
// axis (rows fast path), the first axis, two separate axes (general walk), negative axes, no keepdims,
// a size-1 axis and an empty kept axis.
const reduceShapes: [string, number[], { axes?: number[]; keepdims?: number }][] = [
  ['last axis', [3, 4, 17], { axes: [-1] }],
  ['all axes', [2, 3, 5], {}],
  ['spatial of NCHW', [2, 3, 7, 9], { axes: [2, 3] }],
  ['middle axis', [4, 5, 6], { axes: [1] }],
  ['first axis, no keepdims', [6, 35], { axes: [0], keepdims: 0 }],
  ['separate axes (general walk)', [3, 4, 5, 6], { axes: [0, 2] }],
  ['separate negative axes, no keepdims', [2, 3, 4, 5], { axes: [-1, 1], keepdims: 0 }],
  ['size-1 axis', [3, 1, 4], { axes: [1] }],
  ['1x1 spatial', [2, 4, 1, 1], { axes: [2, 3] }],
  ['empty kept axis', [0, 5], { axes: [1] }],
  ['large last axis (threads)', [64, 1031], { axes: [1] }],
  ['large first axis (threads)', [513, 129], { axes: [0] }],
];

const reduceCases = (op: string): OpCase[] =>
  reduceShapes.map(([label, shape, attrs]) => ({ op, label, inputs: [shape], attrs, atol: 1e-5, rtol: 1e-4 }));

export const cases: OpCase[] = [
  ...reduceCases('ReduceSum'),
  ...reduceCases('ReduceMean'),
  ...reduceCases('ReduceMax'),
  { op: 'Softmax', label: 'last axis', inputs: [[3, 10]] },
  { op: 'Softmax', label: 'channel axis of NCHW', inputs: [[2, 5, 3, 4]], attrs: { axis: 1 } },
  { op: 'Softmax', label: 'axis 0, odd sizes', inputs: [[7, 3, 5]], attrs: { axis: 0 } },
  // Large logits overflow exp() without the max subtraction.
  { op: 'Softmax', label: 'large logits stay finite', inputs: [{ shape: [4, 9], range: [500, 1000] }] },
  { op: 'Softmax', label: 'single element axis', inputs: [[5, 1]] },
  { op: 'Softmax', label: 'empty', inputs: [[0, 6]] },
  { op: 'Softmax', label: 'channels of one large image (column chunks across threads)', inputs: [[1, 19, 64, 65]], attrs: { axis: 1 } },
  { op: 'Softmax', label: 'large (threads)', inputs: [[256, 300]], attrs: { axis: -1 } },
];
