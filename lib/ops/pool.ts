// Pooling: MaxPool, AveragePool (2-D windows on NCHW), GlobalAveragePool, GlobalMaxPool (any rank >= 3).
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { window2D } from './conv.js';
import { registerOp } from './registry.js';
import { requireRank } from './util.js';

/** Lowest float32: what ONNX Runtime writes for a max over a window that lies wholly in padding. */
export const LOWEST_FLOAT32 = -3.4028234663852886e38;

/**
 * Output length of a pooling window. With ceil_mode the last window may hang over the end, but
 * it must start inside the input or the leading padding (the rule of PyTorch and ONNX Runtime),
 * so no output is made only of trailing padding.
 */
export function poolOutput(input: number, padBegin: number, padEnd: number, kernel: number, stride: number, dilation: number, ceil: boolean): number {
  const span = input + padBegin + padEnd - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  if (!ceil) return Math.floor(span / stride) + 1;
  let out = Math.ceil(span / stride) + 1;
  if ((out - 1) * stride >= input + padBegin) --out;
  return out;
}

interface PoolGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  dh: number;
  dw: number;
}

function poolGeometry(x: Shape | null, attrs: Attrs): PoolGeometry {
  requireRank(x, 4, 'X [N,C,H,W] (2-D pooling)');
  const k = attrs.kernel_shape as number[];
  if (k.length !== 2 || k.some((v) => v < 1)) throw shapeError(`expected kernel_shape of 2 positive integers but received [${k.join(',')}]`);
  const ceilMode = attrs.ceil_mode as number;
  if (ceilMode !== 0 && ceilMode !== 1) throw shapeError(`expected ceil_mode 0 or 1 but received ${ceilMode}`);
  const { strides: [sh, sw], pads: [pt, pl, pb, pr], dilations: [dh, dw] } = window2D(attrs);
  // ONNX Runtime refuses pads >= kernel (windows made mostly of padding); so do we.
  if (pt >= k[0] || pb >= k[0] || pl >= k[1] || pr >= k[1])
    throw shapeError(`expected pads smaller than kernel_shape [${k}] but received pads [${pt},${pl},${pb},${pr}]`);
  const [n, c, h, w] = x;
  const oh = poolOutput(h, pt, pb, k[0], sh, dh, ceilMode === 1);
  const ow = poolOutput(w, pl, pr, k[1], sw, dw, ceilMode === 1);
  if (oh <= 0 || ow <= 0)
    throw shapeError(`expected a positive output size but received ${oh}x${ow} (input ${shapeToString(x)}, kernel [${k}], pads [${pt},${pl},${pb},${pr}])`);
  return { n, c, h, w, kh: k[0], kw: k[1], oh, ow, sh, sw, pt, pl, pb, pr, dh, dw };
}

/** Runs `reduce(values, windowArea)` over every window; padding cells are not in `values`. */
function poolReference(x: Tensor, g: PoolGeometry, reduce: (values: number[], oy: number, ox: number) => number): Tensor {
  const y = new Float32Array(g.n * g.c * g.oh * g.ow);
  let o = 0;
  for (let plane = 0; plane < g.n * g.c; ++plane)
    for (let oy = 0; oy < g.oh; ++oy)
      for (let ox = 0; ox < g.ow; ++ox) {
        const vals: number[] = [];
        for (let ky = 0; ky < g.kh; ++ky) {
          const iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.kw; ++kx) {
            const ix = ox * g.sw - g.pl + kx * g.dw;
            if (ix >= 0 && ix < g.w) vals.push(x.data[(plane * g.h + iy) * g.w + ix]);
          }
        }
        y[o++] = reduce(vals, oy, ox);
      }
  return new Tensor([g.n, g.c, g.oh, g.ow], y);
}

const windowAttrs = {
  kernel_shape: { type: 'ints', doc: '[kh, kw] (required)' },
  strides: { type: 'ints', default: [1, 1] },
  pads: { type: 'ints', default: [0, 0, 0, 0], doc: '[top, left, bottom, right]' },
  ceil_mode: { type: 'int', default: 0 },
} as const;

registerOp({
  name: 'MaxPool',
  doc: 'max over 2-D windows; padding never wins',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: { ...windowAttrs, dilations: { type: 'ints', default: [1, 1] } },
  inferShapes: ([x], attrs) => {
    const g = poolGeometry(x, attrs);
    return [[g.n, g.c, g.oh, g.ow]];
  },
  reference: ([x], attrs) => [
    poolReference(x as Tensor, poolGeometry((x as Tensor).shape, attrs), (v) => (v.length ? Math.max(...v) : LOWEST_FLOAT32)),
  ],
});

/**
 * Number of window cells inside the padded input, for count_include_pad = 1: cells that hang
 * over the end only because of ceil_mode are not counted (as in PyTorch and ONNX Runtime).
 */
function paddedWindowCount(g: PoolGeometry, oy: number, ox: number): number {
  const count = (o: number, s: number, p: number, k: number, d: number, size: number, padEnd: number) => {
    let c = 0;
    for (let i = 0; i < k; ++i) {
      const at = o * s - p + i * d;
      if (at < size + padEnd) ++c;
    }
    return c;
  };
  return count(oy, g.sh, g.pt, g.kh, g.dh, g.h, g.pb) * count(ox, g.sw, g.pl, g.kw, g.dw, g.w, g.pr);
}

registerOp({
  name: 'AveragePool',
  doc: 'mean over 2-D windows; count_include_pad counts padding cells in the divisor',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: { ...windowAttrs, count_include_pad: { type: 'int', default: 0 } },
  inferShapes: ([x], attrs) => {
    const g = poolGeometry(x, attrs);
    return [[g.n, g.c, g.oh, g.ow]];
  },
  reference: ([x], attrs) => {
    const g = poolGeometry((x as Tensor).shape, attrs);
    const includePad = attrs.count_include_pad !== 0;
    return [
      poolReference(x as Tensor, g, (v, oy, ox) => {
        const divisor = includePad ? paddedWindowCount(g, oy, ox) : v.length;
        return divisor ? v.reduce((a, b) => a + b, 0) / divisor : 0;
      }),
    ];
  },
});

function globalShape(x: Shape | null): number[] {
  if (!x || x.length < 3) throw shapeError(`expected X of rank >= 3 [N,C,spatial...] but received ${x ? shapeToString(x) : 'none'}`);
  if (x.slice(2).some((d) => d === 0)) throw shapeError(`expected non-empty spatial dimensions but received ${shapeToString(x)}`);
  return [x[0], x[1], ...x.slice(2).map(() => 1)];
}

function globalReference(x: Tensor, reduce: (v: Float32Array) => number): Tensor {
  const shape = globalShape(x.shape);
  const planes = x.shape[0] * x.shape[1];
  const area = planes ? x.size / planes : 0;
  const y = new Float32Array(planes);
  for (let p = 0; p < planes; ++p) y[p] = reduce(x.data.subarray(p * area, (p + 1) * area));
  return new Tensor(shape, y);
}

registerOp({
  name: 'GlobalAveragePool',
  doc: 'mean over all spatial axes, kept as size 1',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([x]) => [globalShape(x)],
  reference: ([x]) => [globalReference(x as Tensor, (v) => v.reduce((a, b) => a + b, 0) / v.length)],
});

registerOp({
  name: 'GlobalMaxPool',
  doc: 'max over all spatial axes, kept as size 1',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([x]) => [globalShape(x)],
  reference: ([x]) => [globalReference(x as Tensor, (v) => v.reduce((a, b) => Math.max(a, b), -Infinity))],
});
