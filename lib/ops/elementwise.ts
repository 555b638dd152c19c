// Elementwise ops: binary with NumPy broadcasting, unary activations, Clip, Identity.
import type { Attrs } from '../graph/ir.js';
import type { Shape, Tensor } from '../graph/tensor.js';
import { registerOp } from './registry.js';
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

function unary(name: string, fn: (x: number, attrs: Attrs) => number, attrs: Record<string, import('./registry.js').AttrSpec> = {}, doc = '') {
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

binary('Add', (a, b) => a + b, 'A + B with broadcasting');
unary('Relu', (x) => (x > 0 ? x : 0), {}, 'max(x, 0)');
unary('Identity', (x) => x, {}, 'copy');
