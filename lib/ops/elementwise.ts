// Elementwise ops: binary with NumPy broadcasting, unary activations, Clip, Identity.
import type { Attrs } from '../graph/ir.js';
import type { Shape, Tensor } from '../graph/tensor.js';
import { type AttrSpec, registerOp } from './registry.js';
import { broadcastShapes, mapTensor, zipTensors } from './util.js';

function binary(name: string, fn: (a: number, b: number) => number, doc: string) {
  registerOp({
    name,
    doc,
    inputs: { min: 2, max: 2, names: ['A', 'B'] },
    outputs: 1,
    attrs: {},
    inferShapes: ([a, b]) => [broadcastShapes(a as Shape, b as Shape)],
    reference: ([a, b]) => [zipTensors(a as Tensor, b as Tensor, fn)],
  });
}

function unary(name: string, fn: (x: number, attrs: Attrs) => number, attrs: Record<string, AttrSpec> = {}, doc = '') {
  registerOp({
    name,
    doc,
    inputs: { min: 1, max: 1, names: ['X'] },
    outputs: 1,
    attrs,
    inferShapes: ([x]) => [[...(x as Shape)]],
    reference: ([x], a) => [mapTensor(x as Tensor, (v) => fn(v, a))],
  });
}

/** Unary elementwise ops (one input, output of the input's shape); ElementwiseChain may contain them. */
export const ELEMENTWISE_UNARY = ['Relu', 'LeakyRelu', 'Tanh', 'Sigmoid', 'Exp', 'Log', 'Sqrt', 'Abs', 'Neg', 'Clip'] as const;
/** Binary elementwise ops with NumPy broadcasting; ElementwiseChain may contain them. */
export const ELEMENTWISE_BINARY = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min'] as const;

// Float32 limits: ONNX Clip's defaults are the lowest and largest float.
const FLOAT_MAX = 3.4028234663852886e38;

binary('Add', (a, b) => a + b, 'A + B with broadcasting');
binary('Sub', (a, b) => a - b, 'A - B with broadcasting');
binary('Mul', (a, b) => a * b, 'A * B with broadcasting');
binary('Div', (a, b) => a / b, 'A / B with broadcasting');
binary('Pow', (a, b) => Math.pow(a, b), 'A ** B with broadcasting (a negative base with a fractional exponent gives NaN)');
binary('Max', (a, b) => Math.max(a, b), 'elementwise maximum with broadcasting');
binary('Min', (a, b) => Math.min(a, b), 'elementwise minimum with broadcasting');

unary('Relu', (x) => (x > 0 ? x : 0), {}, 'max(x, 0)');
unary('LeakyRelu', (x, a) => (x >= 0 ? x : (a.alpha as number) * x), { alpha: { type: 'float', default: 0.01 } }, 'x if x >= 0 else alpha * x');
unary('Tanh', (x) => Math.tanh(x), {}, 'tanh(x)');
unary('Sigmoid', (x) => 1 / (1 + Math.exp(-x)), {}, '1 / (1 + exp(-x))');
unary('Exp', (x) => Math.exp(x), {}, 'exp(x)');
unary('Log', (x) => Math.log(x), {}, 'natural logarithm (NaN below 0, -inf at 0)');
unary('Sqrt', (x) => Math.sqrt(x), {}, 'square root (NaN below 0)');
unary('Abs', (x) => Math.abs(x), {}, '|x|');
unary('Neg', (x) => -x, {}, '-x');
unary(
  'Clip',
  // min(max(x, lo), hi): when lo > hi every value becomes hi, as ONNX specifies.
  (x, a) => Math.min(Math.max(x, a.min as number), a.max as number),
  { min: { type: 'float', default: -FLOAT_MAX }, max: { type: 'float', default: FLOAT_MAX } },
  'clamp x to [min, max]',
);
unary('Identity', (x) => x, {}, 'copy');
