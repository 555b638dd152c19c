// Pad (ONNX Pad with pads and value as attributes): constant, reflect, edge on any rank.
// Negative pads crop, and cropping happens first: reflect and edge then mirror or repeat the
// cropped input (what ONNX Runtime does).
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeToString, stridesOf } from '../graph/tensor.js';
import { registerOp } from './registry.js';

export const PAD_MODES = ['constant', 'reflect', 'edge'] as const;

export function padShape(x: Shape, attrs: Attrs): number[] {
  const pads = attrs.pads as number[];
  const rank = x.length;
  if (pads.length !== 2 * rank) throw shapeError(`expected ${2 * rank} pads (all begins, then all ends) for input ${shapeToString(x)} but received [${pads}]`);
  const out = x.map((d, i) => d + pads[i] + pads[i + rank]);
  if (out.some((d) => d < 0)) throw shapeError(`expected pads that leave every axis non-negative but received [${pads}] for input ${shapeToString(x)} (output [${out}])`);
  for (let i = 0; i < rank; ++i) {
    // The extent left after cropping is what reflect/edge read from.
    const kept = x[i] + Math.min(pads[i], 0) + Math.min(pads[i + rank], 0);
    const grow = Math.max(pads[i], 0) + Math.max(pads[i + rank], 0);
    if (grow === 0 || attrs.mode === 'constant') continue;
    if (attrs.mode === 'edge' && kept < 1) throw shapeError(`edge Pad needs a non-empty axis ${i} to repeat but received ${shapeToString(x)} with pads [${pads}]`);
    if (attrs.mode === 'reflect' && (Math.max(pads[i], pads[i + rank]) > kept - 1))
      throw shapeError(`reflect Pad needs pads < axis length (${kept} on axis ${i} after cropping) but received [${pads}]`);
  }
  return out;
}

/** Source index along one axis for output index `o`, or -1 for the constant value. */
export function padSource(mode: string, o: number, begin: number, kept: number, cropBegin: number): number {
  let i = o - Math.max(begin, 0); // index into the cropped axis
  if (i < 0 || i >= kept) {
    if (mode === 'constant') return -1;
    if (mode === 'edge') i = i < 0 ? 0 : kept - 1;
    else i = i < 0 ? -i : 2 * (kept - 1) - i; // reflect, edge not repeated
  }
  return i + cropBegin;
}

function padReference(x: Tensor, attrs: Attrs): Tensor {
  const shape = padShape(x.shape, attrs);
  const pads = attrs.pads as number[];
  const rank = x.rank;
  const mode = attrs.mode as string;
  const value = attrs.value as number;
  const inStrides = stridesOf(x.shape);
  const maps = shape.map((len, a) => {
    const cropBegin = -Math.min(pads[a], 0);
    const kept = x.shape[a] - cropBegin + Math.min(pads[a + rank], 0);
    return Array.from({ length: len }, (_, o) => padSource(mode, o, pads[a], kept, cropBegin));
  });
  const y = new Tensor(shape);
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < y.size; ++flat) {
    let src = 0;
    for (let a = 0; a < rank && src >= 0; ++a) {
      const i = maps[a][index[a]];
      src = i < 0 ? -1 : src + i * inStrides[a];
    }
    y.data[flat] = src < 0 ? value : x.data[src];
    for (let a = rank - 1; a >= 0; --a) {
      if (++index[a] < shape[a]) break;
      index[a] = 0;
    }
  }
  return y;
}

registerOp({
  name: 'Pad',
  doc: 'ONNX Pad: pads = all begins then all ends (negative crops); constant, reflect or edge',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: {
    pads: { type: 'ints', doc: '2*rank values: begins of every axis, then ends (required)' },
    mode: { type: 'string', default: 'constant', oneOf: PAD_MODES },
    value: { type: 'float', default: 0 },
  },
  inferShapes: ([x], attrs) => [padShape(x as Shape, attrs)],
  reference: ([x], attrs) => [padReference(x as Tensor, attrs)],
});
