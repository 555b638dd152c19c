import type { OpCase } from '../case.js';

// Shapes every binary op is run on: the fast paths (same shape, channel bias, scalar) and the
// general strided walk (both operands broadcast, rank mismatch, odd sizes), plus 1x1 and empty.
const binaryShapes: [string, number[], number[]][] = [
  ['same shape', [2, 3, 4, 5], [2, 3, 4, 5]],
  ['broadcast channel bias', [2, 3, 4, 5], [1, 3, 1, 1]],
  ['broadcast both ways', [4, 1, 5], [3, 1]],
  ['scalar', [7, 1, 1], []],
  ['scalar first', [], [3, 5]],
  ['1x1 spatial', [1, 8, 1, 1], [1, 8, 1, 1]],
  ['row vector, odd sizes', [3, 7, 13], [13]],
  ['inner broadcast', [2, 3, 5], [2, 3, 1]],
  ['empty', [0, 4], [1, 4]],
  ['large same shape (threads)', [4, 16, 32, 33], [4, 16, 32, 33]],
  ['large channel bias (threads)', [2, 64, 31, 17], [64, 1, 1]],
];

const binaryCases = (op: string, lhsRange?: [number, number], rhsRange?: [number, number]): OpCase[] =>
  binaryShapes.map(([label, a, b]) => ({
    op,
    label,
    inputs: [lhsRange ? { shape: a, range: lhsRange } : a, rhsRange ? { shape: b, range: rhsRange } : b],
  }));

export const cases: OpCase[] = [
  ...binaryCases('Add'),
  ...binaryCases('Sub'),
  ...binaryCases('Mul'),
  // Divisors kept away from 0 so the relative tolerance means something.
  ...binaryCases('Div', undefined, [0.5, 2]),
  // Positive bases: a negative base with a fractional exponent is NaN on both sides.
  ...binaryCases('Pow', [0.1, 3], [-2, 2]),
  ...binaryCases('Max'),
  ...binaryCases('Min'),
  {
    op: 'Pow',
    label: 'negative bases with integer exponents',
    inputs: [{ shape: [2, 4], range: [-2, 2] }, { shape: [4], data: [0, 1, 2, 3] }],
  },
  // IEEE semantics on both sides: x/0 is +-inf and 0/0 is NaN.
  { op: 'Div', label: 'by zero', inputs: [{ shape: [3], data: [1, -1, 0] }, { shape: [1], data: [0] }] },
  { op: 'Max', label: 'ties', inputs: [{ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, { shape: [3], data: [1, 5, 3] }] },

  { op: 'Relu', label: 'odd size', inputs: [[3, 5, 7]] },
  { op: 'Relu', label: 'empty', inputs: [[0, 4]] },
  { op: 'Relu', label: 'large (threads)', inputs: [[2, 32, 40, 40]] },
  { op: 'LeakyRelu', label: 'default alpha', inputs: [[2, 3, 5, 5]] },
  { op: 'LeakyRelu', label: 'alpha 0.2, 1x1', inputs: [[4, 6, 1, 1]], attrs: { alpha: 0.2 } },
  { op: 'Tanh', label: 'wide range', inputs: [{ shape: [3, 17], range: [-6, 6] }] },
  { op: 'Tanh', label: 'scalar', inputs: [[]] },
  { op: 'Sigmoid', label: 'wide range', inputs: [{ shape: [2, 3, 7], range: [-30, 30] }] },
  { op: 'Sigmoid', label: 'large (threads)', inputs: [[1, 16, 64, 65]] },
  { op: 'Exp', label: 'odd size', inputs: [{ shape: [5, 9], range: [-5, 5] }] },
  { op: 'Exp', label: 'empty', inputs: [[3, 0]] },
  { op: 'Log', label: 'positive', inputs: [{ shape: [4, 11], range: [0.01, 10] }] },
  { op: 'Sqrt', label: 'positive', inputs: [{ shape: [2, 3, 4, 5], range: [0, 9] }] },
  { op: 'Abs', label: 'odd size', inputs: [[7, 3]] },
  { op: 'Neg', label: '1x1 spatial', inputs: [[2, 5, 1, 1]] },
  { op: 'Clip', label: 'defaults (no clipping)', inputs: [{ shape: [3, 4], range: [-100, 100] }] },
  { op: 'Clip', label: 'min and max', inputs: [{ shape: [2, 3, 5, 5], range: [-2, 2] }], attrs: { min: -0.5, max: 0.75 } },
  { op: 'Clip', label: 'only min (relu6-like low side)', inputs: [[9, 7]], attrs: { min: 0 } },
  { op: 'Clip', label: 'min above max gives max', inputs: [[4, 4]], attrs: { min: 0.5, max: -0.5 } },
  { op: 'Identity', label: '4d', inputs: [[2, 3, 4, 5]] },
  { op: 'Identity', label: 'empty', inputs: [[0]] },
];
