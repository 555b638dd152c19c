// NN op schemas (conv, pool, resize, pad, norm): hand-computed values for the TS references (the
// ground truth of the op table), and shape errors at build time that say what was expected.
import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../lib/graph/ir.js';
import { GraphBuilder } from '../../lib/graph/builder.js';
import { Tensor } from '../../lib/graph/tensor.js';
import { getOp, normalizeAttrs } from '../../lib/ops/index.js';

function ref(op: string, inputs: (Tensor | null)[], attrs: Attrs = {}): Tensor {
  return getOp(op).reference(inputs, normalizeAttrs(getOp(op), attrs))[0];
}
const t = (shape: number[], data: number[]) => new Tensor(shape, data);
const values = (x: Tensor) => Array.from(x.data);

describe('nn op references: known values', () => {
  it('Conv2D sums each window, with bias, stride and padding', () => {
    const x = t([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const w = t([1, 1, 2, 2], [1, 1, 1, 1]);
    expect(values(ref('Conv2D', [x, w]))).toEqual([12, 16, 24, 28]);
    const y = ref('Conv2D', [x, w, t([1], [10])], { strides: [2, 2], pads: [1, 1, 0, 0] });
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(values(y)).toEqual([11, 15, 21, 38]);
  });

  it('Conv2D depthwise keeps channels apart', () => {
    const x = t([1, 2, 1, 2], [1, 2, 3, 4]);
    const w = t([2, 1, 1, 2], [1, 10, 100, 1000]);
    expect(values(ref('Conv2D', [x, w], { group: 2 }))).toEqual([21, 4300]);
  });

  it('ConvTranspose2D scatters each input through the kernel', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    const w = t([1, 1, 2, 2], [1, 1, 1, 1]);
    expect(values(ref('ConvTranspose2D', [x, w]))).toEqual([1, 3, 2, 4, 10, 6, 3, 7, 4]);
    // stride 2 places the copies side by side; output_padding adds a bias-only row and column.
    const y = ref('ConvTranspose2D', [t([1, 1, 1, 2], [1, 2]), t([1, 1, 1, 2], [1, -1]), t([1], [0.5])], { strides: [2, 2], output_padding: [1, 1] });
    expect(y.shape).toEqual([1, 1, 2, 5]);
    expect(values(y)).toEqual([1.5, -0.5, 2.5, -1.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  });

  it('AveragePool counts padding only with count_include_pad', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    const a = { kernel_shape: [2, 2], pads: [1, 1, 0, 0] };
    expect(values(ref('AveragePool', [x], a))).toEqual([1, 1.5, 2, 2.5]);
    expect(values(ref('AveragePool', [x], { ...a, count_include_pad: 1 }))).toEqual([0.25, 0.75, 1, 2.5]);
  });

  it('MaxPool ceil_mode keeps a partial window but not one in trailing padding', () => {
    const x = t([1, 1, 1, 5], [1, 5, 2, 4, 3]);
    expect(values(ref('MaxPool', [x], { kernel_shape: [1, 2], strides: [1, 2] }))).toEqual([5, 4]);
    expect(values(ref('MaxPool', [x], { kernel_shape: [1, 2], strides: [1, 2], ceil_mode: 1 }))).toEqual([5, 4, 3]);
    // Width 3 with pads 1 and 1: a third window would start in the right padding, so it is dropped.
    const y = ref('MaxPool', [t([1, 1, 1, 3], [1, 2, 3])], { kernel_shape: [1, 2], strides: [1, 2], pads: [0, 1, 0, 1], ceil_mode: 1 });
    expect(values(y)).toEqual([1, 3]);
  });

  it('Resize nearest: tie rounding follows nearest_mode', () => {
    const x = t([1, 3], [10, 20, 30]);
    // half_pixel x2: coordinates -0.25, 0.25, 0.75, 1.25, 1.75, 2.25.
    expect(values(ref('Resize', [x], { scales: [1, 2] }))).toEqual([10, 10, 20, 20, 30, 30]);
    // asymmetric x2: 0, 0.5, 1, 1.5, 2, 2.5 -> ties go down or up.
    const asym = { scales: [1, 2], coordinate_transformation_mode: 'asymmetric' };
    expect(values(ref('Resize', [x], { ...asym, nearest_mode: 'round_prefer_floor' }))).toEqual([10, 10, 20, 20, 30, 30]);
    expect(values(ref('Resize', [x], { ...asym, nearest_mode: 'round_prefer_ceil' }))).toEqual([10, 20, 20, 30, 30, 30]);
    expect(values(ref('Resize', [x], { ...asym, nearest_mode: 'ceil' }))).toEqual([10, 20, 20, 30, 30, 30]);
  });

  it('Resize linear: align_corners hits the corners, half_pixel clamps at the border', () => {
    const x = t([1, 1, 1, 2], [0, 3]);
    const corners = values(ref('Resize', [x], { mode: 'linear', sizes: [1, 1, 1, 4], coordinate_transformation_mode: 'align_corners' }));
    corners.forEach((v, i) => expect(v).toBeCloseTo(i, 6));
    expect(values(ref('Resize', [x], { mode: 'linear', sizes: [1, 1, 1, 4] }))).toEqual([0, 0.75, 2.25, 3]);
    expect(values(ref('Resize', [x], { mode: 'linear', sizes: [1, 1, 1, 4], coordinate_transformation_mode: 'asymmetric' }))).toEqual([0, 1.5, 3, 3]);
  });

  it('Resize by scales floors the output size in float32', () => {
    // 0.7 is 0.699999988 in float32; times 10 rounds to exactly 7 in float32 (6.99999988 in float64).
    expect(ref('Resize', [Tensor.random([1, 1, 10, 10])], { scales: [1, 1, 0.7, 0.7] }).shape).toEqual([1, 1, 7, 7]);
  });

  it('Pad: reflect mirrors without repeating the edge, edge repeats it, negative pads crop', () => {
    const x = t([3], [1, 2, 3]);
    expect(values(ref('Pad', [x], { pads: [2, 2], mode: 'reflect' }))).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(values(ref('Pad', [x], { pads: [2, 1], mode: 'edge' }))).toEqual([1, 1, 1, 2, 3, 3]);
    expect(values(ref('Pad', [x], { pads: [1, 1], value: 9 }))).toEqual([9, 1, 2, 3, 9]);
    // Crop the 1 first, then reflect [2, 3].
    expect(values(ref('Pad', [x], { pads: [-1, 1], mode: 'reflect' }))).toEqual([2, 3, 2]);
  });

  it('normalisations give zero mean and unit variance before the affine part', () => {
    const x = t([1, 2, 2], [1, 3, 10, 30]);
    const one = t([2], [1, 1]);
    const zero = t([2], [0, 0]);
    const inst = values(ref('InstanceNormalization', [x, one, zero], { epsilon: 0 }));
    inst.forEach((v, i) => expect(v).toBeCloseTo([-1, 1, -1, 1][i], 6));
    const bn = values(ref('BatchNormalization', [x, t([2], [2, 1]), t([2], [1, 0]), t([2], [1, 10]), t([2], [4, 100])], { epsilon: 0 }));
    bn.forEach((v, i) => expect(v).toBeCloseTo([1, 3, 0, 2][i], 6));
    const gn = values(ref('GroupNormalization', [x, t([2], [1, 2]), t([2], [0, 5])], { num_groups: 1, epsilon: 0 }));
    // One group over all four values: mean 11, std sqrt(((100 + 64 + 1 + 361) / 4)).
    const sd = Math.sqrt((100 + 64 + 1 + 361) / 4);
    gn.forEach((v, i) => expect(v).toBeCloseTo([(1 - 11) / sd, (3 - 11) / sd, 2 * (-1 / sd) + 5, 2 * (19 / sd) + 5][i], 5));
    const ln = values(ref('LayerNormalization', [x, t([2], [1, 3])], { epsilon: 0 }));
    ln.forEach((v, i) => expect(v).toBeCloseTo([-1, 3, -1, 3][i], 6));
  });
});

/** Adds one node with inputs of the given shapes; returns the error thrown. */
function buildError(op: string, shapes: (number[] | null)[], attrs: Attrs = {}): { code?: string; message: string } {
  const g = new GraphBuilder('bad');
  const syms = shapes.map((s, i) => (s ? g.input(`in${i}`, s) : null));
  try {
    g.op(op, syms, attrs, 'bad');
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error(`${op} with ${JSON.stringify(shapes)} ${JSON.stringify(attrs)} was accepted`);
}

describe('nn op shape errors at build time', () => {
  const rows: [string, (number[] | null)[], Attrs, RegExp][] = [
    ['Conv2D', [[1, 3, 8, 8], [4, 2, 3, 3]], {}, /expected W of shape \[4,3,kh,kw\].*received \[4,2,3,3\]/],
    ['Conv2D', [[1, 4, 8, 8], [3, 1, 3, 3]], { group: 3 }, /input channels 4 to be divisible by group 3/],
    ['Conv2D', [[1, 3, 2, 2], [4, 3, 5, 5]], {}, /positive output size but received -2x-2/],
    ['Conv2D', [[1, 3, 8, 8], [4, 3, 3, 3], [3]], {}, /bias B of shape \[4\] but received \[3\]/],
    ['Conv2D', [[3, 8, 8], [4, 3, 3, 3]], {}, /X \[N,C,H,W\] of rank 4 but received \[3,8,8\]/],
    ['Conv2D', [[1, 3, 8, 8], [4, 3, 3, 3]], { strides: [0, 1] }, /2 integers >= 1 for strides but received \[0,1\]/],
    ['ConvTranspose2D', [[1, 4, 5, 5], [3, 2, 3, 3]], {}, /W of shape \[4,M\/group,kh,kw\].*received \[3,2,3,3\]/],
    ['ConvTranspose2D', [[1, 4, 5, 5], [4, 2, 3, 3]], { strides: [2, 2], output_padding: [2, 0] }, /output_padding .* received \[2,0\]/],
    ['MaxPool', [[1, 1, 4, 4]], { kernel_shape: [2, 2], pads: [2, 0, 0, 0] }, /pads smaller than kernel_shape \[2,2\] but received pads \[2,0,0,0\]/],
    ['MaxPool', [[1, 1, 2, 2]], { kernel_shape: [3, 3] }, /positive output size but received 0x0/],
    ['AveragePool', [[1, 1, 4]], { kernel_shape: [2, 2] }, /rank 4 but received \[1,1,4\]/],
    ['GlobalAveragePool', [[2, 3]], {}, /rank >= 3 .* received \[2,3\]/],
    ['Resize', [[1, 1, 4, 4]], { scales: [1, 1, 2, 2], sizes: [1, 1, 8, 8] }, /exactly one of scales or sizes/],
    ['Resize', [[1, 1, 4, 4]], {}, /exactly one of scales or sizes/],
    ['Resize', [[1, 1, 4, 4]], { scales: [2, 2] }, /expected 4 scales .* received \[2,2\]/],
    ['Resize', [[1, 2, 4, 4]], { mode: 'linear', scales: [1, 2, 2, 2] }, /linear Resize scales only the last two axes; expected axis 1 to stay 2 but received 4/],
    ['Resize', [[1, 1, 4, 4]], { scales: [1, 1, 0.1, 1] }, /output size >= 1 but received \[1,1,0,4\]/],
    ['Pad', [[2, 3]], { pads: [1, 1] }, /expected 4 pads .* received \[1,1\]/],
    ['Pad', [[2, 3]], { pads: [0, 3, 0, 0], mode: 'reflect' }, /reflect Pad needs pads < axis length \(3 on axis 1/],
    ['Pad', [[2, 3]], { pads: [0, -2, 0, -2] }, /leave every axis non-negative/],
    ['BatchNormalization', [[2, 3, 4, 4], [3], [3], [2], [3]], {}, /input_mean of shape \[3\] but received \[2\]/],
    ['InstanceNormalization', [[2, 3, 4, 4], [3], [4]], {}, /B of shape \[3\] but received \[4\]/],
    ['GroupNormalization', [[2, 6, 4, 4], [6], [6]], { num_groups: 4 }, /num_groups >= 1 dividing the channels 6 but received 4/],
    ['LayerNormalization', [[2, 3, 4], [4]], { axis: 3 }, /axis in \[-3, 2\] but received 3/],
    ['LayerNormalization', [[2, 3, 4], [3]], {}, /Scale broadcastable to the normalised shape \[4\] but received \[3\]/],
  ];
  for (const [op, shapes, attrs, message] of rows) {
    it(`${op} ${JSON.stringify(attrs)}: ${message.source.slice(0, 60)}`, () => {
      const e = buildError(op, shapes, attrs);
      expect(e.code).toBe('ERR_FACESTYLE_SHAPE');
      expect(e.message).toContain(`${op} node 'bad'`);
      expect(e.message).toMatch(message);
    });
  }

  it('an unknown Resize mode is an argument error', () => {
    const e = buildError('Resize', [[1, 1, 2, 2]], { mode: 'cubic', scales: [1, 1, 2, 2] });
    expect(e.code).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(e.message).toMatch(/mode/);
  });
});
