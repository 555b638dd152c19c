import { shapeError } from '../errors.js';
import { invalid } from '../is.js';

export type Shape = readonly number[];

/** Largest element count of one tensor (matches the native limit: 2^31 - 1 floats). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Element count of a shape; refuses negative, fractional and absurd sizes. */
export function shapeSize(shape: Shape, what = 'shape'): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw shapeError(`Expected non-negative integer dimensions for ${what} but received [${shape.join(',')}]`);
    n *= d;
  }
  if (n > MAX_TENSOR_ELEMENTS) throw shapeError(`Tensor of shape [${shape.join(',')}] exceeds the limit of ${MAX_TENSOR_ELEMENTS} elements`);
  return n;
}

export const shapeToString = (shape: Shape): string => `[${shape.join(',')}]`;
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** A dense float32 tensor in row-major order (NCHW for images). */
export class Tensor {
  readonly shape: number[];
  readonly data: Float32Array;

  constructor(shape: Shape, data?: Float32Array | ArrayLike<number>) {
    const n = shapeSize(shape);
    this.shape = [...shape];
    if (data === undefined) this.data = new Float32Array(n);
    else if (data instanceof Float32Array) this.data = data;
    else if (typeof (data as ArrayLike<number>).length === 'number') this.data = Float32Array.from(data as ArrayLike<number>);
    else throw invalid('tensor data', 'Float32Array or array of numbers', data);
    if (this.data.length !== n) throw shapeError(`Tensor of shape ${shapeToString(shape)} needs ${n} values but received ${this.data.length}`);
  }

  get size(): number {
    return this.data.length;
  }
  get rank(): number {
    return this.shape.length;
  }

  static zeros(shape: Shape): Tensor {
    return new Tensor(shape);
  }
  static fill(shape: Shape, value: number): Tensor {
    return new Tensor(shape, new Float32Array(shapeSize(shape)).fill(value));
  }
  /** Uniform random values in [lo, hi) from a seeded generator (reproducible). */
  static random(shape: Shape, seed = 1, lo = -1, hi = 1): Tensor {
    const rng = mulberry32(seed);
    const data = new Float32Array(shapeSize(shape));
    for (let i = 0; i < data.length; ++i) data[i] = lo + (hi - lo) * rng();
    return new Tensor(shape, data);
  }

  /** A view with another shape of the same size (shares data). */
  reshape(shape: Shape): Tensor {
    return new Tensor(shape, this.data);
  }
  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice());
  }
}

/** Small, fast, seedable PRNG (uniform in [0, 1)). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
