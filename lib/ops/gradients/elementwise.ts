// Elementwise ops: broadcasting binaries (gradients summed back to each input's shape) and
// activations (dedicated *Grad kernels reading the saved input or output).
import { Tensor } from '../../graph/tensor.js';
import { registerGradient, sumTo } from './registry.js';

registerGradient('Add', ({ b, inputs: [x, y], dys: [dy], needs, name }) =>
  !dy ? [null, null] : [needs[0] ? sumTo(b, dy, x!.shape, `${name}.grad_a`) : null, needs[1] ? sumTo(b, dy, y!.shape, `${name}.grad_b`) : null]);

registerGradient('Sub', ({ b, inputs: [x, y], dys: [dy], needs, name }) =>
  !dy ? [null, null] : [needs[0] ? sumTo(b, dy, x!.shape, `${name}.grad_a`) : null, needs[1] ? b.op1('Neg', [sumTo(b, dy, y!.shape, `${name}.grad_bsum`)], {}, `${name}.grad_b`) : null]);

registerGradient('Mul', ({ b, inputs: [x, y], dys: [dy], needs, name }) =>
  !dy ? [null, null] : [
    needs[0] ? sumTo(b, b.op1('Mul', [dy, y!], {}, `${name}.grad_a_full`), x!.shape, `${name}.grad_a`) : null,
    needs[1] ? sumTo(b, b.op1('Mul', [dy, x!], {}, `${name}.grad_b_full`), y!.shape, `${name}.grad_b`) : null,
  ]);

// d(a/b) = dy/b, -dy*(a/b)/b
registerGradient('Div', ({ b, inputs: [x, y], outputs: [out], dys: [dy], needs, name }) =>
  !dy ? [null, null] : [
    needs[0] ? sumTo(b, b.op1('Div', [dy, y!], {}, `${name}.grad_a_full`), x!.shape, `${name}.grad_a`) : null,
    needs[1] ? b.op1('Neg', [sumTo(b, b.op1('Div', [b.op1('Mul', [dy, out], {}, `${name}.grad_b_dyy`), y!], {}, `${name}.grad_b_full`), y!.shape, `${name}.grad_bsum`)], {}, `${name}.grad_b`) : null,
  ]);

registerGradient('Relu', ({ b, inputs: [x], dys: [dy], name }) => [dy && b.op1('ReluGrad', [dy, x!], {}, `${name}.grad`)]);
registerGradient('LeakyRelu', ({ b, attrs, inputs: [x], dys: [dy], name }) => [dy && b.op1('LeakyReluGrad', [dy, x!], { alpha: attrs.alpha }, `${name}.grad`)]);
registerGradient('Tanh', ({ b, outputs: [y], dys: [dy], name }) => [dy && b.op1('TanhGrad', [dy, y], {}, `${name}.grad`)]);
registerGradient('Sigmoid', ({ b, outputs: [y], dys: [dy], name }) => [dy && b.op1('SigmoidGrad', [dy, y], {}, `${name}.grad`)]);
registerGradient('Abs', ({ b, inputs: [x], dys: [dy], name }) => [dy && b.op1('AbsGrad', [dy, x!], {}, `${name}.grad`)]);
registerGradient('Neg', ({ b, dys: [dy], name }) => [dy && b.op1('Neg', [dy], {}, `${name}.grad`)]);
registerGradient('Identity', ({ dys: [dy] }) => [dy]);
registerGradient('Exp', ({ b, outputs: [y], dys: [dy], name }) => [dy && b.op1('Mul', [dy, y], {}, `${name}.grad`)]);
registerGradient('Log', ({ b, inputs: [x], dys: [dy], name }) => [dy && b.op1('Div', [dy, x!], {}, `${name}.grad`)]);
// d sqrt(x) = dy * 0.5 / y
registerGradient('Sqrt', ({ b, outputs: [y], dys: [dy], name }) => {
  if (!dy) return [null];
  const half = b.constant(`${name}.half`, new Tensor([], [0.5]));
  return [b.op1('Div', [b.op1('Mul', [dy, half], {}, `${name}.grad_half`), y], {}, `${name}.grad`)];
});
