// Backward ops: the explicit gradient kernels that gradient functions (lib/ops/gradients) emit.
// Each has a plain TypeScript reference (the adjoint of its forward op's reference) used as the
// ground truth of the op tests; the finite-difference tests check the pair end to end.
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeSize, shapeToString } from '../graph/tensor.js';
import { conv2DShape, window2D } from './conv.js';
import { registerOp } from './registry.js';
import { forEachIndex, requireRank } from './util.js';

const windowAttrs = {
  strides: { type: 'ints', default: [1, 1] },
  pads: { type: 'ints', default: [0, 0, 0, 0] },
  dilations: { type: 'ints', default: [1, 1] },
  group: { type: 'int', default: 1 },
} as const;

/** Calls fn(xIndex, wIndex, yIndex) for every multiply of the forward convolution. */
function forEachConvTap(xs: Shape, ws: Shape, attrs: Attrs, fn: (xi: number, wi: number, yi: number) => void): void {
  const [n, c, h, wd] = xs;
  const [m, cg, kh, kw] = ws;
  const group = attrs.group as number;
  const { strides: [sh, sw], pads: [pt, pl], dilations: [dh, dw] } = window2D(attrs);
  const [, , oh, ow] = conv2DShape(xs, ws, null, attrs);
  const mg = m / group;
  for (let in_ = 0; in_ < n; ++in_)
    for (let om = 0; om < m; ++om) {
      const g = Math.floor(om / mg);
      for (let oy = 0; oy < oh; ++oy)
        for (let ox = 0; ox < ow; ++ox) {
          const yi = ((in_ * m + om) * oh + oy) * ow + ox;
          for (let ic = 0; ic < cg; ++ic)
            for (let ky = 0; ky < kh; ++ky) {
              const iy = oy * sh - pt + ky * dh;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; ++kx) {
                const ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= wd) continue;
                fn(((in_ * c + g * cg + ic) * h + iy) * wd + ix, ((om * cg + ic) * kh + ky) * kw + kx, yi);
              }
            }
        }
    }
}

function checkDy(dy: Shape, expected: Shape): void {
  if (dy.length !== expected.length || dy.some((d, i) => d !== expected[i]))
    throw shapeError(`expected dY of the forward output shape ${shapeToString(expected)} but received ${shapeToString(dy)}`);
}

registerOp({
  name: 'Conv2DBackpropInput',
  doc: 'dX of Conv2D from dY [N,M,OH,OW] and W; input_shape is X\'s shape',
  inputs: { min: 2, max: 2, names: ['dY', 'W'] },
  outputs: 1,
  attrs: { ...windowAttrs, input_shape: { type: 'ints' } },
  inferShapes: ([dy, w], attrs) => {
    const xs = attrs.input_shape as number[];
    requireRank(dy, 4, 'dY');
    checkDy(dy, conv2DShape(xs, w, null, attrs));
    return [[...xs]];
  },
  reference: ([dy, w], attrs) => {
    const xs = attrs.input_shape as number[];
    const acc = new Float64Array(shapeSize(xs));
    forEachConvTap(xs, w!.shape, attrs, (xi, wi, yi) => (acc[xi] += dy!.data[yi] * w!.data[wi]));
    return [new Tensor(xs, Float32Array.from(acc))];
  },
});

registerOp({
  name: 'Conv2DBackpropFilter',
  doc: 'dW of Conv2D from X and dY; filter_shape is W\'s shape',
  inputs: { min: 2, max: 2, names: ['X', 'dY'] },
  outputs: 1,
  attrs: { ...windowAttrs, filter_shape: { type: 'ints' } },
  inferShapes: ([x, dy], attrs) => {
    const ws = attrs.filter_shape as number[];
    requireRank(dy, 4, 'dY');
    checkDy(dy, conv2DShape(x, ws, null, attrs));
    return [[...ws]];
  },
  reference: ([x, dy], attrs) => {
    const ws = attrs.filter_shape as number[];
    const acc = new Float64Array(shapeSize(ws));
    forEachConvTap(x!.shape, ws, attrs, (xi, wi, yi) => (acc[wi] += dy!.data[yi] * x!.data[xi]));
    return [new Tensor(ws, Float32Array.from(acc))];
  },
});

registerOp({
  name: 'Conv2DBackpropBias',
  doc: 'dB of Conv2D: dY [N,M,...] summed over every axis but 1',
  inputs: { min: 1, max: 1, names: ['dY'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([dy]) => {
    if (!dy || dy.length < 2) throw shapeError(`expected dY [N,M,...] but received ${dy ? shapeToString(dy) : 'none'}`);
    return [[dy[1]]];
  },
  reference: ([dy]) => {
    const m = dy!.shape[1];
    const acc = new Float64Array(m);
    forEachIndex(dy!.shape, (flat, idx) => (acc[idx[1]] += dy!.data[flat]));
    return [new Tensor([m], Float32Array.from(acc))];
  },
});

/** dX = f(dY, S) elementwise, S the saved forward input or output. */
function activationGrad(name: string, doc: string, fn: (d: number, s: number, attrs: Attrs) => number, attrs = {}) {
  registerOp({
    name,
    doc,
    inputs: { min: 2, max: 2, names: ['dY', 'S'] },
    outputs: 1,
    attrs,
    inferShapes: ([dy, s]) => {
      if (dy!.length !== s!.length || dy!.some((d, i) => d !== s![i])) throw shapeError(`expected dY and the saved tensor of one shape but received ${shapeToString(dy!)} and ${shapeToString(s!)}`);
      return [[...dy!]];
    },
    reference: ([dy, s], a) => {
      const out = new Float32Array(dy!.size);
      for (let i = 0; i < out.length; ++i) out[i] = fn(dy!.data[i], s!.data[i], a);
      return [new Tensor(dy!.shape, out)];
    },
  });
}

activationGrad('LeakyReluGrad', 'dY where X >= 0, alpha*dY elsewhere (S = X)', (d, x, a) => (x >= 0 ? d : (a.alpha as number) * d), { alpha: { type: 'float', default: 0.01 } });
activationGrad('ReluGrad', 'dY where X > 0 (S = X)', (d, x) => (x > 0 ? d : 0));
activationGrad('TanhGrad', 'dY * (1 - Y^2) (S = Y)', (d, y) => d * (1 - y * y));
activationGrad('SigmoidGrad', 'dY * Y * (1 - Y) (S = Y)', (d, y) => d * y * (1 - y));
activationGrad('AbsGrad', 'dY * sign(X) (S = X)', (d, x) => (x > 0 ? d : x < 0 ? -d : 0));

registerOp({
  name: 'ReduceSumTo',
  doc: 'X summed over the axes along which `shape` was broadcast to X (the gradient of a broadcast)',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: { shape: { type: 'ints' } },
  inferShapes: ([x], attrs) => {
    const s = attrs.shape as number[];
    const ok = s.length <= x!.length && s.every((d, i) => d === 1 || d === x![x!.length - s.length + i]);
    if (!ok) throw shapeError(`expected a shape that broadcasts to ${shapeToString(x!)} but received ${shapeToString(s)}`);
    return [[...s]];
  },
  reference: ([x], attrs) => {
    const s = attrs.shape as number[];
    const acc = new Float64Array(shapeSize(s));
    const off = x!.shape.length - s.length;
    forEachIndex(x!.shape, (flat, idx) => {
      let j = 0;
      for (let a = 0; a < s.length; ++a) j = j * s[a] + (s[a] === 1 ? 0 : idx[off + a]);
      acc[j] += x!.data[flat];
    });
    return [new Tensor(s, Float32Array.from(acc))];
  },
});

// ---- ResizeBackward: the adjoint of Resize on H and W ----

interface Tap { i0: number; i1: number; w0: number; w1: number }

/** Source taps of every output index along one axis, with ONNX Resize's coordinate rules. */
export function resizeAxisTaps(attrs: Attrs, input: number, output: number, scale: number): Tap[] {
  const ctm = attrs.coordinate_transformation_mode as string;
  const taps: Tap[] = [];
  for (let o = 0; o < output; ++o) {
    let x: number;
    if (ctm === 'align_corners') x = output === 1 ? 0 : (o * (input - 1)) / (output - 1);
    else if (ctm === 'asymmetric') x = o / scale;
    else if (ctm === 'pytorch_half_pixel') x = output > 1 ? (o + 0.5) / scale - 0.5 : 0;
    else x = (o + 0.5) / scale - 0.5;
    if (attrs.mode === 'linear') {
      x = Math.min(Math.max(x, 0), input - 1);
      const i0 = Math.floor(x);
      const w1 = x - i0;
      taps.push({ i0, i1: Math.min(i0 + 1, input - 1), w0: 1 - w1, w1 });
    } else {
      const nm = attrs.nearest_mode as string;
      const f = Math.floor(x);
      let i = nm === 'floor' ? f : nm === 'ceil' ? Math.ceil(x) : x - f === 0.5 ? (nm === 'round_prefer_ceil' ? f + 1 : f) : Math.round(x);
      i = Math.min(Math.max(i, 0), input - 1);
      taps.push({ i0: i, i1: i, w0: 1, w1: 0 });
    }
  }
  return taps;
}

registerOp({
  name: 'ResizeBackward',
  doc: 'dX of Resize (linear or nearest, H and W only) from dY; input_shape is X\'s shape',
  inputs: { min: 1, max: 1, names: ['dY'] },
  outputs: 1,
  attrs: {
    mode: { type: 'string', default: 'nearest', oneOf: ['nearest', 'linear'] },
    coordinate_transformation_mode: { type: 'string', default: 'half_pixel', oneOf: ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel'] },
    nearest_mode: { type: 'string', default: 'round_prefer_floor', oneOf: ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] },
    scales: { type: 'floats', default: [] },
    input_shape: { type: 'ints' },
  },
  inferShapes: ([dy], attrs) => {
    const xs = attrs.input_shape as number[];
    requireRank(dy, 4, 'dY [N,C,OH,OW]');
    if (xs.length !== 4 || xs[0] !== dy[0] || xs[1] !== dy[1]) throw shapeError(`expected input_shape [${dy[0]},${dy[1]},H,W] but received ${shapeToString(xs)}`);
    return [[...xs]];
  },
  reference: ([dy], attrs) => {
    const xs = attrs.input_shape as number[];
    const [n, c, h, w] = xs;
    const [, , oh, ow] = dy!.shape;
    const scales = attrs.scales as number[];
    const ty = resizeAxisTaps(attrs, h, oh, scales.length === 4 ? scales[2] : oh / h);
    const tx = resizeAxisTaps(attrs, w, ow, scales.length === 4 ? scales[3] : ow / w);
    const acc = new Float64Array(n * c * h * w);
    for (let p = 0; p < n * c; ++p)
      for (let oy = 0; oy < oh; ++oy)
        for (let ox = 0; ox < ow; ++ox) {
          const v = dy!.data[(p * oh + oy) * ow + ox];
          const y = ty[oy], x = tx[ox];
          acc[(p * h + y.i0) * w + x.i0] += v * y.w0 * x.w0;
          acc[(p * h + y.i0) * w + x.i1] += v * y.w0 * x.w1;
          acc[(p * h + y.i1) * w + x.i0] += v * y.w1 * x.w0;
          acc[(p * h + y.i1) * w + x.i1] += v * y.w1 * x.w1;
        }
    return [new Tensor(xs, Float32Array.from(acc))];
  },
});

// ---- Pad and InstanceNormalization gradients ----

registerOp({
  name: 'PadBackward',
  doc: 'dX of Pad with non-negative pads: every output gradient is added to the input element it was copied from (constant padding drops it)',
  inputs: { min: 1, max: 1, names: ['dY'] },
  outputs: 1,
  attrs: { pads: { type: 'ints' }, mode: { type: 'string', default: 'constant', oneOf: ['constant', 'reflect', 'edge'] }, input_shape: { type: 'ints' } },
  inferShapes: ([dy], attrs) => {
    const xs = attrs.input_shape as number[];
    const pads = attrs.pads as number[];
    if (pads.length !== 2 * xs.length || pads.some((p) => p < 0)) throw shapeError(`expected ${2 * xs.length} non-negative pads but received [${pads}]`);
    const expected = xs.map((d, i) => d + pads[i] + pads[i + xs.length]);
    checkDy(dy!, expected);
    return [[...xs]];
  },
  reference: ([dy], attrs) => {
    const xs = attrs.input_shape as number[];
    const pads = attrs.pads as number[];
    const rank = xs.length;
    const acc = new Float64Array(shapeSize(xs));
    const strides = xs.map((_, a) => xs.slice(a + 1).reduce((p, d) => p * d, 1));
    forEachIndex(dy!.shape, (flat, idx) => {
      let src = 0;
      for (let a = 0; a < rank; ++a) {
        let i = idx[a] - pads[a];
        if (i < 0 || i >= xs[a]) {
          if (attrs.mode === 'constant') return;
          if (attrs.mode === 'edge') i = i < 0 ? 0 : xs[a] - 1;
          else i = i < 0 ? -i : 2 * (xs[a] - 1) - i;
        }
        src += i * strides[a];
      }
      acc[src] += dy!.data[flat];
    });
    return [new Tensor(xs, Float32Array.from(acc))];
  },
});

registerOp({
  name: 'InstanceNormalizationGrad',
  doc: 'dX, dScale, dB of InstanceNormalization from dY, X and scale',
  inputs: { min: 3, max: 3, names: ['dY', 'X', 'scale'] },
  outputs: 3,
  attrs: { epsilon: { type: 'float', default: 1e-5 } },
  inferShapes: ([dy, x, scale]) => {
    requireRank(x, x!.length, 'X');
    checkDy(dy!, x!);
    if (x!.length < 3 || !scale || scale.length !== 1 || scale[0] !== x![1]) throw shapeError(`expected X [N,C,...] and scale [C] but received ${shapeToString(x!)} and ${scale ? shapeToString(scale) : 'none'}`);
    return [[...x!], [x![1]], [x![1]]];
  },
  reference: ([dy, x, scale], attrs) => {
    const [n, c] = x!.shape;
    const m = x!.size / (n * c);
    const eps = attrs.epsilon as number;
    const dx = new Float32Array(x!.size);
    const ds = new Float64Array(c), db = new Float64Array(c);
    for (let p = 0; p < n * c; ++p) {
      const ch = p % c;
      const xs = x!.data.subarray(p * m, (p + 1) * m), g = dy!.data.subarray(p * m, (p + 1) * m);
      let mean = 0;
      for (const v of xs) mean += v;
      mean /= m;
      let vr = 0;
      for (const v of xs) vr += (v - mean) ** 2;
      const inv = 1 / Math.sqrt(vr / m + eps);
      let sg = 0, sgx = 0;
      for (let i = 0; i < m; ++i) {
        const xh = (xs[i] - mean) * inv;
        sg += g[i];
        sgx += g[i] * xh;
      }
      ds[ch] += sgx;
      db[ch] += sg;
      const s = scale!.data[ch];
      for (let i = 0; i < m; ++i) {
        const xh = (xs[i] - mean) * inv;
        dx[p * m + i] = s * inv * (g[i] - sg / m - (xh * sgx) / m);
      }
    }
    return [new Tensor(x!.shape, dx), new Tensor([c], Float32Array.from(ds)), new Tensor([c], Float32Array.from(db))];
  },
});
