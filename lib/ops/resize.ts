// Resize (ONNX Resize without roi/antialias): nearest on any axis, linear on the last two axes.
// Coordinates are computed in float32, step by step, exactly as ONNX Runtime does: where a
// coordinate lands on a rounding tie (nearest) the float32 value decides, and the ONNX importer
// compares against onnxruntime.
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { registerOp } from './registry.js';

const f32 = Math.fround;

export const RESIZE_MODES = ['nearest', 'linear'] as const;
export const COORDINATE_MODES = ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel'] as const;
export const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const;

/** Output shape and the float32 scale used for the coordinate transform, per axis. */
export function resizeGeometry(x: Shape, attrs: Attrs): { shape: number[]; scales: number[] } {
  const scales = attrs.scales as number[];
  const sizes = attrs.sizes as number[];
  const rank = x.length;
  if (rank < 1) throw shapeError('expected X of rank >= 1 but received a scalar');
  if ((scales.length > 0) === (sizes.length > 0))
    throw shapeError(`expected exactly one of scales or sizes but received scales [${scales}] and sizes [${sizes}]`);
  let shape: number[];
  let axisScales: number[];
  if (scales.length) {
    if (scales.length !== rank) throw shapeError(`expected ${rank} scales (one per axis of ${shapeToString(x)}) but received [${scales}]`);
    if (scales.some((s) => !(s > 0))) throw shapeError(`expected positive scales but received [${scales}]`);
    axisScales = scales.map(f32);
    // ONNX Runtime: floor(float(scale) * float(length)) in float32.
    shape = x.map((d, i) => Math.floor(f32(axisScales[i] * d)));
  } else {
    if (sizes.length !== rank) throw shapeError(`expected ${rank} sizes (one per axis of ${shapeToString(x)}) but received [${sizes}]`);
    if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw shapeError(`expected positive integer sizes but received [${sizes}]`);
    shape = [...sizes];
    axisScales = sizes.map((s, i) => f32(s / x[i]));
  }
  if (x.some((d) => d === 0)) throw shapeError(`expected a non-empty input but received ${shapeToString(x)}`);
  if (shape.some((d) => d < 1)) throw shapeError(`expected every output size >= 1 but received [${shape}] from input ${shapeToString(x)}`);
  if (attrs.mode === 'linear') {
    if (rank < 2) throw shapeError(`linear Resize expects X of rank >= 2 but received ${shapeToString(x)}`);
    for (let i = 0; i < rank - 2; ++i)
      if (shape[i] !== x[i]) throw shapeError(`linear Resize scales only the last two axes; expected axis ${i} to stay ${x[i]} but received ${shape[i]}`);
  }
  return { shape, scales: axisScales };
}

/** Input coordinate of output index `o` along one axis, in float32 (ONNX Runtime's formulas). */
export function originalCoordinate(mode: string, o: number, scale: number, lengthIn: number, lengthOut: number): number {
  switch (mode) {
    case 'asymmetric':
      return f32(o / scale);
    case 'align_corners':
      return lengthOut === 1 ? 0 : f32(f32(o * (lengthIn - 1)) / (lengthOut - 1));
    case 'pytorch_half_pixel':
      return lengthOut > 1 ? f32(f32(f32(o + 0.5) / scale) - 0.5) : 0;
    default: // half_pixel
      return f32(f32(f32(o + 0.5) / scale) - 0.5);
  }
}

/** Nearest input index for a coordinate, clamped into the input. */
export function nearestIndex(mode: string, v: number, lengthIn: number): number {
  let i: number;
  if (mode === 'floor') i = Math.floor(v);
  else if (mode === 'ceil') i = Math.ceil(v);
  else if (v - Math.floor(v) === 0.5) i = mode === 'round_prefer_ceil' ? Math.ceil(v) : Math.floor(v);
  else i = Math.round(v);
  return Math.min(Math.max(i, 0), lengthIn - 1);
}

function nearestReference(x: Tensor, shape: number[], scales: number[], attrs: Attrs): Tensor {
  const rank = shape.length;
  const maps = shape.map((len, a) =>
    Array.from({ length: len }, (_, o) =>
      nearestIndex(attrs.nearest_mode as string, originalCoordinate(attrs.coordinate_transformation_mode as string, o, scales[a], x.shape[a], len), x.shape[a]),
    ),
  );
  const inStrides = new Array<number>(rank);
  for (let a = rank - 1, s = 1; a >= 0; --a) {
    inStrides[a] = s;
    s *= x.shape[a];
  }
  const y = new Tensor(shape);
  const index = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < y.size; ++flat) {
    let src = 0;
    for (let a = 0; a < rank; ++a) src += maps[a][index[a]] * inStrides[a];
    y.data[flat] = x.data[src];
    for (let a = rank - 1; a >= 0; --a) {
      if (++index[a] < shape[a]) break;
      index[a] = 0;
    }
  }
  return y;
}

/** Two neighbours and their weights along one axis; the coordinate is clamped into the input. */
function linearTaps(coordMode: string, o: number, scale: number, lengthIn: number, lengthOut: number): [number, number, number, number] {
  const v = Math.min(Math.max(originalCoordinate(coordMode, o, scale, lengthIn, lengthOut), 0), lengthIn - 1);
  const i0 = Math.min(Math.floor(v), lengthIn - 1);
  const i1 = Math.min(i0 + 1, lengthIn - 1);
  const t = v - i0;
  return i0 === i1 ? [i0, i1, 0.5, 0.5] : [i0, i1, 1 - t, t];
}

function linearReference(x: Tensor, shape: number[], scales: number[], attrs: Attrs): Tensor {
  const rank = x.rank;
  const coordMode = attrs.coordinate_transformation_mode as string;
  const [h, w] = x.shape.slice(rank - 2);
  const [oh, ow] = shape.slice(rank - 2);
  const planes = x.size / (h * w);
  const ys = Array.from({ length: oh }, (_, o) => linearTaps(coordMode, o, scales[rank - 2], h, oh));
  const xs = Array.from({ length: ow }, (_, o) => linearTaps(coordMode, o, scales[rank - 1], w, ow));
  const y = new Tensor(shape);
  for (let p = 0; p < planes; ++p)
    for (let oy = 0; oy < oh; ++oy) {
      const [y0, y1, wy0, wy1] = ys[oy];
      for (let ox = 0; ox < ow; ++ox) {
        const [x0, x1, wx0, wx1] = xs[ox];
        const at = (iy: number, ix: number) => x.data[(p * h + iy) * w + ix];
        y.data[(p * oh + oy) * ow + ox] = wy0 * (wx0 * at(y0, x0) + wx1 * at(y0, x1)) + wy1 * (wx0 * at(y1, x0) + wx1 * at(y1, x1));
      }
    }
  return y;
}

registerOp({
  name: 'Resize',
  doc: 'ONNX Resize: nearest (any axis) or linear (last two axes), by scales or by sizes',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: {
    mode: { type: 'string', default: 'nearest', oneOf: RESIZE_MODES },
    coordinate_transformation_mode: { type: 'string', default: 'half_pixel', oneOf: COORDINATE_MODES },
    nearest_mode: { type: 'string', default: 'round_prefer_floor', oneOf: NEAREST_MODES },
    scales: { type: 'floats', default: [], doc: 'one per axis; output = floor(input * scale)' },
    sizes: { type: 'ints', default: [], doc: 'one per axis; the output shape' },
  },
  inferShapes: ([x], attrs) => [resizeGeometry(x as Shape, attrs).shape],
  reference: ([x], attrs) => {
    const t = x as Tensor;
    const { shape, scales } = resizeGeometry(t.shape, attrs);
    return [attrs.mode === 'linear' ? linearReference(t, shape, scales, attrs) : nearestReference(t, shape, scales, attrs)];
  },
});
