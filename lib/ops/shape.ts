// Shape ops: Concat, Slice, Split, Transpose, Reshape, Flatten, Squeeze, Unsqueeze (ONNX semantics,
// with Slice/Split/Reshape/Squeeze/Unsqueeze parameters as attributes; see README.md).
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeSize, shapeToString, stridesOf } from '../graph/tensor.js';
import { registerOp } from './registry.js';
import { forEachIndex, normalizeAxis } from './util.js';

/** Normalises a list of axes, refusing duplicates. */
export function normalizeAxes(axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out = axes.map((a) => normalizeAxis(a, rank, what));
  if (new Set(out).size !== out.length) throw shapeError(`expected distinct ${what} but received [${axes.join(',')}]`);
  return out;
}

// ---------------------------------------------------------------- Concat

registerOp({
  name: 'Concat',
  doc: 'joins tensors along `axis`; every other dimension must match',
  inputs: { min: 1, max: 64 },
  outputs: 1,
  attrs: { axis: { type: 'int' } },
  inferShapes(inputs, attrs) {
    const missing = inputs.indexOf(null);
    if (missing >= 0) throw shapeError(`expected a tensor for every input but input ${missing} is missing`);
    const shapes = inputs as Shape[];
    const rank = shapes[0].length;
    const axis = normalizeAxis(attrs.axis as number, rank);
    const out = [...shapes[0]];
    out[axis] = 0;
    shapes.forEach((s, i) => {
      const same = s.length === rank && s.every((d, k) => k === axis || d === shapes[0][k]);
      if (!same) throw shapeError(`expected input ${i} to match ${shapeToString(shapes[0])} except on axis ${axis} but received ${shapeToString(s)}`);
      out[axis] += s[axis];
    });
    return [out];
  },
  reference(inputs, attrs) {
    const xs = inputs as Tensor[];
    const axis = normalizeAxis(attrs.axis as number, xs[0].rank);
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((n, x) => n + x.shape[axis], 0);
    const out = new Tensor(shape);
    let offset = 0;
    for (const x of xs) {
      forEachIndex(x.shape, (flat, index) => {
        const o = [...index];
        o[axis] += offset;
        out.data[flatIndex(o, shape)] = x.data[flat];
      });
      offset += x.shape[axis];
    }
    return [out];
  },
});

function flatIndex(index: readonly number[], shape: Shape): number {
  let f = 0;
  for (let i = 0; i < shape.length; ++i) f = f * shape[i] + index[i];
  return f;
}

// ---------------------------------------------------------------- Slice

interface SliceAxis {
  start: number;
  step: number;
  count: number;
}

/** Per-axis start, step and count after ONNX's negative-index and clamping rules. */
export function sliceAxes(shape: Shape, attrs: Attrs): SliceAxis[] {
  const starts = attrs.starts as number[];
  const ends = attrs.ends as number[];
  const rank = shape.length;
  const axes = (attrs.axes as number[]).length ? (attrs.axes as number[]) : starts.map((_, i) => i);
  const steps = (attrs.steps as number[]).length ? (attrs.steps as number[]) : starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length)
    throw shapeError(
      `expected starts, ends, axes and steps of equal length but received ${starts.length}, ${ends.length}, ${axes.length}, ${steps.length}`,
    );
  const norm = normalizeAxes(axes, rank);
  const out: SliceAxis[] = shape.map((d) => ({ start: 0, step: 1, count: d }));
  norm.forEach((axis, i) => {
    const d = shape[axis];
    const step = steps[i];
    if (step === 0) throw shapeError(`expected non-zero steps but received [${steps.join(',')}]`);
    let start = starts[i] < 0 ? starts[i] + d : starts[i];
    let end = ends[i] < 0 ? ends[i] + d : ends[i];
    if (step > 0) {
      start = Math.min(Math.max(start, 0), d);
      end = Math.min(Math.max(end, 0), d);
    } else {
      start = Math.min(Math.max(start, 0), d - 1);
      end = Math.min(Math.max(end, -1), d - 1);
    }
    const count = step > 0 ? Math.ceil((end - start) / step) : Math.ceil((start - end) / -step);
    out[axis] = { start, step, count: Math.max(0, count) };
  });
  return out;
}

registerOp({
  name: 'Slice',
  doc: 'ONNX Slice: starts/ends (negative counts from the end, clamped to the dimension), axes, steps (negative walks backwards)',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: {
    starts: { type: 'ints' },
    ends: { type: 'ints' },
    axes: { type: 'ints', default: [] },
    steps: { type: 'ints', default: [] },
  },
  inferShapes: ([x], attrs) => [sliceAxes(x as Shape, attrs).map((a) => a.count)],
  reference([x], attrs) {
    const t = x as Tensor;
    const s = sliceAxes(t.shape, attrs);
    const shape = s.map((a) => a.count);
    const strides = stridesOf(t.shape);
    const out = new Tensor(shape);
    forEachIndex(shape, (flat, index) => {
      let src = 0;
      for (let i = 0; i < index.length; ++i) src += (s[i].start + index[i] * s[i].step) * strides[i];
      out.data[flat] = t.data[src];
    });
    return [out];
  },
});

// ---------------------------------------------------------------- Split

function splitSizes(shape: Shape, attrs: Attrs): { axis: number; sizes: number[] } {
  const axis = normalizeAxis(attrs.axis as number, shape.length);
  const sizes = attrs.split as number[];
  if (sizes.length === 0) throw shapeError('expected at least one size in split but received []');
  if (sizes.some((s) => s < 0)) throw shapeError(`expected non-negative split sizes but received [${sizes.join(',')}]`);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== shape[axis])
    throw shapeError(`expected split sizes [${sizes.join(',')}] to sum to dimension ${axis} of ${shapeToString(shape)} (${shape[axis]}) but they sum to ${total}`);
  return { axis, sizes };
}

registerOp({
  name: 'Split',
  doc: 'splits X along `axis` into pieces of the given sizes',
  inputs: { min: 1, max: 1 },
  outputs: (attrs) => (Array.isArray(attrs.split) ? attrs.split.length : 1),
  attrs: { axis: { type: 'int', default: 0 }, split: { type: 'ints' } },
  inferShapes([x], attrs) {
    const shape = x as Shape;
    const { axis, sizes } = splitSizes(shape, attrs);
    return sizes.map((n) => shape.map((d, i) => (i === axis ? n : d)));
  },
  reference([x], attrs) {
    const t = x as Tensor;
    const { axis, sizes } = splitSizes(t.shape, attrs);
    let offset = 0;
    return sizes.map((n) => {
      const starts = t.shape.map((_, i) => (i === axis ? offset : 0));
      const ends = t.shape.map((d, i) => (i === axis ? offset + n : d));
      offset += n;
      return getSlice(t, starts, ends);
    });
  },
});

function getSlice(t: Tensor, starts: number[], ends: number[]): Tensor {
  const shape = ends.map((e, i) => e - starts[i]);
  const out = new Tensor(shape);
  forEachIndex(shape, (flat, index) => {
    out.data[flat] = t.data[flatIndex(index.map((v, i) => v + starts[i]), t.shape)];
  });
  return out;
}

// ---------------------------------------------------------------- Transpose

function permOf(rank: number, attrs: Attrs): number[] {
  const given = attrs.perm as number[];
  if (given.length === 0) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const ok = given.length === rank && given.every((p) => p >= 0 && p < rank) && new Set(given).size === rank;
  if (!ok) throw shapeError(`expected perm to be a permutation of 0..${rank - 1} but received [${given.join(',')}]`);
  return [...given];
}

registerOp({
  name: 'Transpose',
  doc: 'permutes axes: output dim i is input dim perm[i] (default: reversed)',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: { perm: { type: 'ints', default: [] } },
  inferShapes([x], attrs) {
    const s = x as Shape;
    return [permOf(s.length, attrs).map((p) => s[p])];
  },
  reference([x], attrs) {
    const t = x as Tensor;
    const perm = permOf(t.rank, attrs);
    const shape = perm.map((p) => t.shape[p]);
    const strides = stridesOf(t.shape);
    const out = new Tensor(shape);
    forEachIndex(shape, (flat, index) => {
      let src = 0;
      for (let i = 0; i < index.length; ++i) src += index[i] * strides[perm[i]];
      out.data[flat] = t.data[src];
    });
    return [out];
  },
});

// ---------------------------------------------------------------- Reshape family (copies)

/** The registered reshape-like ops copy the data and only change the shape. */
function copyAs(shape: Shape) {
  return ([x]: readonly (Tensor | null)[]) => [new Tensor(shape, (x as Tensor).data.slice())];
}

export function reshapeTarget(input: Shape, attrs: Attrs): number[] {
  const spec = attrs.shape as number[];
  const allowzero = (attrs.allowzero as number) !== 0;
  const size = shapeSize(input);
  let inferAt = -1;
  let known = 1;
  const out = spec.map((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) throw shapeError(`expected at most one -1 in shape but received [${spec.join(',')}]`);
      inferAt = i;
      return -1;
    }
    if (d < -1) throw shapeError(`expected dimensions >= -1 in shape but received [${spec.join(',')}]`);
    if (d === 0 && !allowzero) {
      if (i >= input.length) throw shapeError(`shape [${spec.join(',')}] copies dimension ${i} (0) but the input ${shapeToString(input)} has rank ${input.length}`);
      known *= input[i];
      return input[i];
    }
    known *= d;
    return d;
  });
  if (inferAt >= 0) {
    if (known === 0 || size % known !== 0)
      throw shapeError(`cannot infer the -1 in shape [${spec.join(',')}] for input ${shapeToString(input)} (${size} elements)`);
    out[inferAt] = size / known;
  } else if (known !== size) {
    throw shapeError(`expected shape [${spec.join(',')}] to hold ${size} elements (input ${shapeToString(input)}) but it holds ${known}`);
  }
  shapeSize(out, 'reshape target');
  return out;
}

registerOp({
  name: 'Reshape',
  doc: 'new shape with the same element count; 0 copies the input dimension (unless allowzero), -1 is inferred',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: { shape: { type: 'ints' }, allowzero: { type: 'int', default: 0 } },
  inferShapes: ([x], attrs) => [reshapeTarget(x as Shape, attrs)],
  reference: (inputs, attrs) => copyAs(reshapeTarget((inputs[0] as Tensor).shape, attrs))(inputs),
});

function flattenShape(s: Shape, attrs: Attrs): number[] {
  const axis = attrs.axis as number;
  const a = axis < 0 ? axis + s.length : axis;
  if (a < 0 || a > s.length) throw shapeError(`expected axis in [${-s.length}, ${s.length}] but received ${axis}`);
  const outer = s.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = s.slice(a).reduce((p, d) => p * d, 1);
  return [outer, inner];
}

registerOp({
  name: 'Flatten',
  doc: '2-D view: dims before `axis` times dims from `axis` on',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: { axis: { type: 'int', default: 1 } },
  inferShapes: ([x], attrs) => [flattenShape(x as Shape, attrs)],
  reference: (inputs, attrs) => copyAs(flattenShape((inputs[0] as Tensor).shape, attrs))(inputs),
});

function squeezeShape(s: Shape, attrs: Attrs): number[] {
  const given = attrs.axes as number[];
  if (given.length === 0) return s.filter((d) => d !== 1);
  const axes = normalizeAxes(given, s.length);
  for (const a of axes) if (s[a] !== 1) throw shapeError(`expected size 1 on squeezed axis ${a} of ${shapeToString(s)} but received ${s[a]}`);
  return s.filter((_, i) => !axes.includes(i));
}

registerOp({
  name: 'Squeeze',
  doc: 'removes size-1 axes (the given ones, or all)',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: { axes: { type: 'ints', default: [] } },
  inferShapes: ([x], attrs) => [squeezeShape(x as Shape, attrs)],
  reference: (inputs, attrs) => copyAs(squeezeShape((inputs[0] as Tensor).shape, attrs))(inputs),
});

function unsqueezeShape(s: Shape, attrs: Attrs): number[] {
  const given = attrs.axes as number[];
  if (given.length === 0) throw shapeError('expected at least one axis in axes but received []');
  const rank = s.length + given.length;
  const axes = normalizeAxes(given, rank);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; ++i) out.push(axes.includes(i) ? 1 : s[k++]);
  return out;
}

registerOp({
  name: 'Unsqueeze',
  doc: 'inserts size-1 axes at the given positions of the output',
  inputs: { min: 1, max: 1 },
  outputs: 1,
  attrs: { axes: { type: 'ints' } },
  inferShapes: ([x], attrs) => [unsqueezeShape(x as Shape, attrs)],
  reference: (inputs, attrs) => copyAs(unsqueezeShape((inputs[0] as Tensor).shape, attrs))(inputs),
});
