// Gradients of the layout ops and reductions that spectral normalisation and the Gram (style)
// loss are written with: Reshape, Transpose, ReduceSum, ReduceMean and MatMul. All are written
// as other forward ops (no dedicated backward kernels are needed).
import { unsupportedError } from '../../errors.js';
import { Tensor } from '../../graph/tensor.js';
import { normalizeAxes } from '../shape.js';
import { registerGradient, sumTo } from './registry.js';

registerGradient('Reshape', ({ b, inputs: [x], dys: [dy], name }) => [dy && b.op1('Reshape', [dy], { shape: [...x!.shape] }, `${name}.grad`)]);

registerGradient('Transpose', ({ b, attrs, inputs: [x], dys: [dy], name }) => {
  if (!dy) return [null];
  const rank = x!.shape.length;
  const given = attrs.perm as number[];
  const perm = given.length ? given : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => (inverse[p] = i));
  return [b.op1('Transpose', [dy], { perm: inverse }, `${name}.grad`)];
});

/** dy of a reduction broadcast back to x's shape, times `scale` (1 for sums, 1/count for means). */
function reduceGrad(op: 'ReduceSum' | 'ReduceMean') {
  registerGradient(op, ({ b, attrs, inputs: [x], dys: [dy], name }) => {
    if (!dy) return [null];
    const xs = x!.shape;
    const given = attrs.axes as number[];
    const axes = given.length ? normalizeAxes(given, xs.length) : xs.map((_, i) => i);
    const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
    const count = axes.reduce((n, a) => n * xs[a], 1);
    // keepdims 0 dropped the reduced axes: put them back as 1s so the product broadcasts.
    const g = (attrs.keepdims as number) === 0 ? b.op1('Reshape', [dy], { shape: kept }, `${name}.grad_keep`) : dy;
    const n = xs.reduce((a, d) => a * d, 1);
    const fill = new Tensor([...xs], new Float32Array(n).fill(op === 'ReduceMean' ? 1 / count : 1));
    return [b.op1('Mul', [g, b.constant(`${name}.grad_fill`, fill)], {}, `${name}.grad`)];
  });
}
reduceGrad('ReduceSum');
reduceGrad('ReduceMean');

// Y = A B over the last two axes: dA = dY B^T, dB = A^T dY, each summed over broadcast batch axes.
registerGradient('MatMul', ({ b, inputs: [a, m], dys: [dy], needs, name }) => {
  if (!dy) return [null, null];
  if (a!.shape.length < 2 || m!.shape.length < 2) throw unsupportedError(`MatMul node '${name}': no gradient for 1-D operands (reshape them to 2-D)`);
  const t = (s: typeof a, tag: string) => {
    const r = s!.shape.length;
    const perm = Array.from({ length: r }, (_, i) => (i < r - 2 ? i : i === r - 2 ? r - 1 : r - 2));
    return b.op1('Transpose', [s!], { perm }, `${name}.${tag}`);
  };
  return [
    needs[0] ? sumTo(b, b.op1('MatMul', [dy, t(m, 'grad_bt')], {}, `${name}.grad_a_full`), a!.shape, `${name}.grad_a`) : null,
    needs[1] ? sumTo(b, b.op1('MatMul', [t(a, 'grad_at'), dy], {}, `${name}.grad_b_full`), m!.shape, `${name}.grad_b`) : null,
  ];
});
