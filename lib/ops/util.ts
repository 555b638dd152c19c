// Helpers shared by op schemas: broadcasting, axes, index walking for the TS references.
import { shapeError } from '../errors.js';
import { type Shape, Tensor, shapeSize, shapeToString, stridesOf } from '../graph/tensor.js';

/** NumPy broadcasting of two or more shapes. */
export function broadcastShapes(...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 1; i <= s.length; ++i) {
      const d = s[s.length - i];
      const o = out[rank - i];
      if (d === o || d === 1) continue;
      if (o === 1) out[rank - i] = d;
      else throw shapeError(`shapes ${shapes.map(shapeToString).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/** Index into `shape` (right-aligned, broadcast axes fixed at 0) for an output multi-index. */
export function broadcastIndex(outIndex: readonly number[], shape: Shape): number {
  let idx = 0;
  let stride = 1;
  for (let i = 1; i <= shape.length; ++i) {
    const d = shape[shape.length - i];
    const o = outIndex[outIndex.length - i];
    idx += (d === 1 ? 0 : o) * stride;
    stride *= d;
  }
  return idx;
}

/** Calls fn(flatIndex, multiIndex) for every element of `shape` in row-major order. */
export function forEachIndex(shape: Shape, fn: (flat: number, index: number[]) => void): void {
  const n = shapeSize(shape);
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; ++flat) {
    fn(flat, index);
    for (let a = shape.length - 1; a >= 0; --a) {
      if (++index[a] < shape[a]) break;
      index[a] = 0;
    }
  }
}

/** Normalises a possibly negative axis for a tensor of `rank`. */
export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw shapeError(`expected ${what} in [${-rank}, ${rank - 1}] but received ${axis}`);
  return a;
}

/** Elementwise map of a tensor. */
export function mapTensor(x: Tensor, fn: (v: number) => number): Tensor {
  const out = new Float32Array(x.size);
  for (let i = 0; i < out.length; ++i) out[i] = fn(x.data[i]);
  return new Tensor(x.shape, out);
}

/** Broadcasting binary op on tensors. */
export function zipTensors(a: Tensor, b: Tensor, fn: (x: number, y: number) => number): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const out = new Float32Array(shapeSize(shape));
  forEachIndex(shape, (flat, index) => {
    out[flat] = fn(a.data[broadcastIndex(index, a.shape)], b.data[broadcastIndex(index, b.shape)]);
  });
  return new Tensor(shape, out);
}

export function requireRank(shape: Shape | null, rank: number, what: string): asserts shape is Shape {
  if (!shape || shape.length !== rank) throw shapeError(`expected ${what} of rank ${rank} but received ${shape ? shapeToString(shape) : 'none'}`);
}

export { stridesOf };
