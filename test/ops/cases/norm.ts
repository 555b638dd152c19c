import type { InputSpec, OpCase } from '../case.js';

// Inputs with an offset and a spread, so mean and variance both matter.
const x = (shape: number[]): InputSpec => ({ shape, range: [-2, 3] });
const c = (n: number, range: [number, number] = [-1, 1]): InputSpec => ({ shape: [n], range, constant: true });
const variance = (n: number): InputSpec => c(n, [0.1, 2]);

export const cases: OpCase[] = [
  { op: 'BatchNormalization', label: 'NCHW odd', inputs: [x([2, 3, 5, 7]), c(3), c(3), c(3), variance(3)] },
  { op: 'BatchNormalization', label: 'rank 2', inputs: [x([4, 6]), c(6), c(6), c(6), variance(6)], attrs: { epsilon: 1e-3 } },
  { op: 'BatchNormalization', label: '1x1 spatial', inputs: [x([2, 8, 1, 1]), c(8), c(8), c(8), variance(8)] },
  { op: 'InstanceNormalization', label: 'NCHW odd', inputs: [x([2, 3, 5, 7]), c(3), c(3)] },
  { op: 'InstanceNormalization', label: 'rank 3', inputs: [x([2, 4, 9]), c(4), c(4)], attrs: { epsilon: 1e-3 } },
  { op: 'InstanceNormalization', label: '1x1 spatial (variance 0: output is B)', inputs: [x([1, 4, 1, 1]), c(4), c(4)] },
  { op: 'InstanceNormalization', label: '32 channels 16x16', inputs: [x([1, 32, 16, 16]), c(32), c(32)] },
  { op: 'LayerNormalization', label: 'axis -1 with B', inputs: [x([2, 3, 8]), { shape: [8], constant: true }, { shape: [8], constant: true }] },
  { op: 'LayerNormalization', label: 'axis 1 over C,H,W', inputs: [x([2, 3, 4, 5]), { shape: [3, 4, 5], constant: true }, { shape: [3, 4, 5], constant: true }], attrs: { axis: 1 } },
  { op: 'LayerNormalization', label: 'axis -2, no B, broadcast Scale [1,5]', inputs: [x([3, 4, 5]), { shape: [1, 5], constant: true }], attrs: { axis: -2, epsilon: 1e-3 } },
  { op: 'LayerNormalization', label: 'axis 0 (whole tensor)', inputs: [x([2, 3, 2]), { shape: [2, 3, 2] }, { shape: [2, 3, 2] }], attrs: { axis: 0 } },
  { op: 'GroupNormalization', label: '6 channels in 3 groups', inputs: [x([2, 6, 4, 5]), c(6), c(6)], attrs: { num_groups: 3 } },
  { op: 'GroupNormalization', label: 'one group', inputs: [x([1, 4, 3, 3]), c(4), c(4)], attrs: { num_groups: 1 } },
  { op: 'GroupNormalization', label: 'groups = channels', inputs: [x([2, 4, 3, 5]), c(4), c(4)], attrs: { num_groups: 4, epsilon: 1e-3 } },
  { op: 'GroupNormalization', label: 'rank 3, 1 spatial', inputs: [x([2, 8, 1]), c(8), c(8)], attrs: { num_groups: 2 } },
];
