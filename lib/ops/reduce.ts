// Reductions (ReduceMean, ReduceSum, ReduceMax over `axes`, keepdims) and Softmax along one axis.
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeSize } from '../graph/tensor.js';
import { registerOp } from './registry.js';
import { normalizeAxes } from './shape.js';
import { forEachIndex, normalizeAxis } from './util.js';

/** Reduced axes (all when `axes` is empty) and the output shape. */
function reduceShape(s: Shape, attrs: Attrs): { reduced: boolean[]; shape: number[] } {
  const given = attrs.axes as number[];
  const axes = given.length ? normalizeAxes(given, s.length) : s.map((_, i) => i);
  const reduced = s.map((_, i) => axes.includes(i));
  const keep = (attrs.keepdims as number) !== 0;
  const shape = keep ? s.map((d, i) => (reduced[i] ? 1 : d)) : s.filter((_, i) => !reduced[i]);
  return { reduced, shape };
}

type Fold = { init: number; step: (acc: number, v: number) => number; finish: (acc: number, count: number) => number };

function reduceOp(name: string, fold: Fold, doc: string) {
  registerOp({
    name,
    doc,
    inputs: { min: 1, max: 1 },
    outputs: 1,
    attrs: { axes: { type: 'ints', default: [] }, keepdims: { type: 'int', default: 1 } },
    inferShapes: ([x], attrs) => [reduceShape(x as Shape, attrs).shape],
    reference([x], attrs) {
      const t = x as Tensor;
      const { reduced, shape } = reduceShape(t.shape, attrs);
      // Accumulate in doubles at the output index of each input element (keepdims layout).
      const keptShape = t.shape.map((d, i) => (reduced[i] ? 1 : d));
      const acc = new Float64Array(shapeSize(keptShape)).fill(fold.init);
      const count = t.shape.reduce((n, d, i) => (reduced[i] ? n * d : n), 1);
      forEachIndex(t.shape, (flat, index) => {
        let o = 0;
        for (let i = 0; i < index.length; ++i) o = o * keptShape[i] + (reduced[i] ? 0 : index[i]);
        acc[o] = fold.step(acc[o], t.data[flat]);
      });
      return [new Tensor(shape, Float32Array.from(acc, (a) => fold.finish(a, count)))];
    },
  });
}

reduceOp('ReduceSum', { init: 0, step: (a, v) => a + v, finish: (a) => a }, 'sum over axes');
// An empty reduction gives 0/0 = NaN for the mean and -inf for the max, as NumPy does.
reduceOp('ReduceMean', { init: 0, step: (a, v) => a + v, finish: (a, n) => a / n }, 'mean over axes');
reduceOp('ReduceMax', { init: -Infinity, step: (a, v) => Math.max(a, v), finish: (a) => a }, 'maximum over axes');

registerOp({
  name: 'Softmax',
  doc: 'exp(x - max) / sum(exp(x - max)) along `axis`',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: { axis: { type: 'int', default: -1 } },
  inferShapes([x], attrs) {
    const s = x as Shape;
    normalizeAxis(attrs.axis as number, s.length);
    return [[...s]];
  },
  reference([x], attrs) {
    const t = x as Tensor;
    const axis = normalizeAxis(attrs.axis as number, t.rank);
    const n = t.shape[axis];
    const inner = t.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const outer = t.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const out = new Tensor(t.shape);
    for (let o = 0; o < outer; ++o)
      for (let i = 0; i < inner; ++i) {
        const at = (k: number) => (o * n + k) * inner + i;
        let max = -Infinity;
        for (let k = 0; k < n; ++k) max = Math.max(max, t.data[at(k)]);
        let sum = 0;
        for (let k = 0; k < n; ++k) sum += Math.exp(t.data[at(k)] - max);
        for (let k = 0; k < n; ++k) out.data[at(k)] = Math.exp(t.data[at(k)] - max) / sum;
      }
    return [out];
  },
});
