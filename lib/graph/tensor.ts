import { shapeError } from '../errors.js';
import { invalid, number } from '../is.js';

export type Shape = readonly number[];

/** Largest element count of one tensor (matches the native limit: 2^31 - 1 floats). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/**
 * Element count of a shape; refuses negative, fractional and absurd sizes (ERR_FACESTYLE_SHAPE) and
 * anything that is not an array of numbers (ERR_FACESTYLE_ARGUMENT). Cost: one pass over the dimensions.
 */
export function shapeSize(shape: Shape, what = 'shape'): number {
  if (!Array.isArray(shape) && !(ArrayBuffer.isView(shape) && !(shape instanceof DataView) && !(shape instanceof BigInt64Array) && !(shape instanceof BigUint64Array)))
    throw invalid(what, 'an array of non-negative integers', shape);
  let n = 1;
  for (let i = 0; i < shape.length; ++i) {
    const d = shape[i];
    if (typeof d !== 'number') throw invalid(what, 'an array of non-negative integers', shape);
    if (!Number.isSafeInteger(d) || d < 0) throw shapeError(`Expected non-negative integer dimensions for ${what} but received [${shape.join(',')}]`);
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

  /**
   * `data`: a Float32Array (used as is, not copied), another non-BigInt typed array, or an array (or
   * array-like object) of numbers (copied); omitted: zeros. Its length must be the shape's size.
   */
  constructor(shape: Shape, data?: Float32Array | ArrayLike<number>) {
    const n = shapeSize(shape, 'tensor shape');
    this.shape = [...shape];
    if (data === undefined) this.data = new Float32Array(n);
    else if (data instanceof Float32Array) this.data = data;
    else {
      if (typeof data !== 'object' || data === null || !Number.isSafeInteger((data as ArrayLike<number>).length) || data instanceof BigInt64Array || data instanceof BigUint64Array)
        throw invalid('tensor data', 'Float32Array or array of numbers', data);
      const len = (data as ArrayLike<number>).length;
      if (len !== n) throw shapeError(`Tensor of shape ${shapeToString(shape)} needs ${n} values but received ${len}`);
      if (ArrayBuffer.isView(data)) this.data = new Float32Array(data as unknown as ArrayLike<number>);
      else {
        // The copy touches every element anyway; checking each is a number on the way costs nothing extra.
        const out = new Float32Array(n);
        for (let i = 0; i < n; ++i) {
          const v = (data as ArrayLike<number>)[i];
          if (typeof v !== 'number') throw invalid(`tensor data[${i}]`, 'number', v);
          out[i] = v;
        }
        this.data = out;
      }
    }
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
  /** Every element `value` (any number, NaN and infinities included). */
  static fill(shape: Shape, value: number): Tensor {
    if (typeof value !== 'number') throw invalid('fill value', 'a number', value);
    return new Tensor(shape, new Float32Array(shapeSize(shape, 'tensor shape')).fill(value));
  }
  /** Uniform random values in [lo, hi) from a seeded generator (reproducible); seed, lo and hi are finite numbers. */
  static random(shape: Shape, seed = 1, lo = -1, hi = 1): Tensor {
    if (!number(seed)) throw invalid('random seed', 'a finite number', seed);
    if (!number(lo)) throw invalid('random lo', 'a finite number', lo);
    if (!number(hi)) throw invalid('random hi', 'a finite number', hi);
    const rng = mulberry32(seed);
    const data = new Float32Array(shapeSize(shape, 'tensor shape'));
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
