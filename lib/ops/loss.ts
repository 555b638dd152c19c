// Fused loss ops (scalar output [], mean reduction) and their gradients. The first input is the
// prediction; the second is a target and gets no gradient. Losses that are compositions of other
// ops (edge, total variation, feature matching, Gram) are built in lib/train/losses.ts instead.
import { shapeError } from '../errors.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { registerOp } from './registry.js';

function samePair(a: Shape | null, b: Shape | null): void {
  if (!a || !b || a.length !== b.length || a.some((d, i) => d !== b[i]))
    throw shapeError(`expected prediction and target of one shape but received ${a ? shapeToString(a) : 'none'} and ${b ? shapeToString(b) : 'none'}`);
  if (a.reduce((x, d) => x * d, 1) === 0) throw shapeError('expected a non-empty prediction');
}

const sign = (d: number) => (d > 0 ? 1 : d < 0 ? -1 : 0);

/** A pair loss mean f(a-b) and its gradient dL * f'(a-b) / n. */
function pairLoss(name: string, doc: string, f: (d: number) => number, df: (d: number) => number): void {
  registerOp({
    name,
    doc,
    inputs: { min: 2, max: 2, names: ['A', 'B'] },
    outputs: 1,
    attrs: {},
    inferShapes: ([a, b]) => (samePair(a, b), [[]]),
    reference: ([a, b]) => {
      let s = 0;
      for (let i = 0; i < a!.size; ++i) s += f(a!.data[i] - b!.data[i]);
      return [new Tensor([], [s / a!.size])];
    },
  });
  registerOp({
    name: `${name}Grad`,
    doc: `dA of ${name}`,
    inputs: { min: 3, max: 3, names: ['A', 'B', 'dL'] },
    outputs: 1,
    attrs: {},
    inferShapes: ([a, b]) => (samePair(a, b), [[...a!]]),
    reference: ([a, b, dl]) => {
      const out = new Float32Array(a!.size);
      const scale = dl!.data[0] / a!.size;
      for (let i = 0; i < out.length; ++i) out[i] = scale * df(a!.data[i] - b!.data[i]);
      return [new Tensor(a!.shape, out)];
    },
  });
}

pairLoss('L1Loss', 'mean |A - B|', Math.abs, sign);
pairLoss('MseLoss', 'mean (A - B)^2', (d) => d * d, (d) => 2 * d);

registerOp({
  name: 'LsganLoss',
  doc: 'least-squares GAN loss mean (A - target)^2 (target 1 for real, 0 for fake)',
  inputs: { min: 1, max: 1, names: ['A'] },
  outputs: 1,
  attrs: { target: { type: 'float', default: 1 } },
  inferShapes: () => [[]],
  reference: ([a], at) => {
    let s = 0;
    for (const v of a!.data) s += (v - (at.target as number)) ** 2;
    return [new Tensor([], [s / a!.size])];
  },
});
registerOp({
  name: 'LsganLossGrad',
  doc: 'dA of LsganLoss',
  inputs: { min: 2, max: 2, names: ['A', 'dL'] },
  outputs: 1,
  attrs: { target: { type: 'float', default: 1 } },
  inferShapes: ([a]) => [[...a!]],
  reference: ([a, dl], at) => {
    const out = new Float32Array(a!.size);
    for (let i = 0; i < out.length; ++i) out[i] = (2 * dl!.data[0] * (a!.data[i] - (at.target as number))) / a!.size;
    return [new Tensor(a!.shape, out)];
  },
});

/** RGB -> YUV (BT.601), rows Y, U, V. */
export const RGB_TO_YUV = [
  [0.299, 0.587, 0.114],
  [-0.14713, -0.28886, 0.436],
  [0.615, -0.51499, -0.10001],
];

function checkRgb(a: Shape | null, b: Shape | null): void {
  samePair(a, b);
  if (a!.length !== 4 || a![1] !== 3) throw shapeError(`expected RGB [N,3,H,W] but received ${shapeToString(a!)}`);
}

/** Per pixel YUV differences of two RGB tensors. */
function yuvDiffs(a: Tensor, b: Tensor, fn: (pixelBase: number, hw: number, e: number[]) => void): void {
  const [n, , h, w] = a.shape;
  const hw = h * w;
  for (let i = 0; i < n; ++i)
    for (let p = 0; p < hw; ++p) {
      const base = i * 3 * hw + p;
      const d = [0, 1, 2].map((c) => a.data[base + c * hw] - b.data[base + c * hw]);
      fn(base, hw, RGB_TO_YUV.map((r) => r[0] * d[0] + r[1] * d[1] + r[2] * d[2]));
    }
}

registerOp({
  name: 'ColorLoss',
  doc: 'colour loss in YUV: mean |dY| + mean huber(dU) + mean huber(dV) (delta 1), means over N*H*W',
  inputs: { min: 2, max: 2, names: ['A', 'B'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([a, b]) => (checkRgb(a, b), [[]]),
  reference: ([a, b]) => {
    let s = 0;
    yuvDiffs(a!, b!, (_b, _hw, e) => {
      s += Math.abs(e[0]);
      for (const d of [e[1], e[2]]) s += Math.abs(d) < 1 ? 0.5 * d * d : Math.abs(d) - 0.5;
    });
    const [n, , h, w] = a!.shape;
    return [new Tensor([], [s / (n * h * w)])];
  },
});
registerOp({
  name: 'ColorLossGrad',
  doc: 'dA of ColorLoss',
  inputs: { min: 3, max: 3, names: ['A', 'B', 'dL'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([a, b]) => (checkRgb(a, b), [[...a!]]),
  reference: ([a, b, dl]) => {
    const [n, , h, w] = a!.shape;
    const out = new Float32Array(a!.size);
    const scale = dl!.data[0] / (n * h * w);
    yuvDiffs(a!, b!, (base, hw, e) => {
      const g = [sign(e[0]), Math.max(-1, Math.min(1, e[1])), Math.max(-1, Math.min(1, e[2]))];
      for (let c = 0; c < 3; ++c) out[base + c * hw] = scale * (RGB_TO_YUV[0][c] * g[0] + RGB_TO_YUV[1][c] * g[1] + RGB_TO_YUV[2][c] * g[2]);
    });
    return [new Tensor(a!.shape, out)];
  },
});

// ---- GAN losses on discriminator logits and total variation ----

const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** A scalar loss mean f(a) of one input and its gradient dL * f'(a) / n. */
function unaryLoss(name: string, doc: string, attrs: Record<string, { type: 'float'; default: number; doc?: string }>, f: (a: number, t: number) => number, df: (a: number, t: number) => number): void {
  const key = Object.keys(attrs)[0];
  registerOp({
    name, doc, inputs: { min: 1, max: 1, names: ['A'] }, outputs: 1, attrs,
    inferShapes: ([a]) => {
      if (!a || a.reduce((x, d) => x * d, 1) === 0) throw shapeError('expected a non-empty input');
      return [[]];
    },
    reference: ([a], at) => {
      let s = 0;
      for (const v of a!.data) s += f(v, at[key] as number);
      return [new Tensor([], [s / a!.size])];
    },
  });
  registerOp({
    name: `${name}Grad`, doc: `dA of ${name}`, inputs: { min: 2, max: 2, names: ['A', 'dL'] }, outputs: 1, attrs,
    inferShapes: ([a]) => [[...a!]],
    reference: ([a, dl], at) => {
      const out = new Float32Array(a!.size);
      for (let i = 0; i < out.length; ++i) out[i] = (dl!.data[0] * df(a!.data[i], at[key] as number)) / a!.size;
      return [new Tensor(a!.shape, out)];
    },
  });
}

// Non-saturating GAN loss: BCE with logits against target 1 (real) or 0 (fake).
unaryLoss('BceLogitsLoss', 'mean BCE of sigmoid(A) against target: softplus(-A) for 1, softplus(A) for 0', { target: { type: 'float', default: 1 } },
  (a, t) => t * softplus(-a) + (1 - t) * softplus(a), (a, t) => sigmoid(a) - t);
// Hinge GAN loss: sign +1: mean relu(1 - A) (D on real), -1: mean relu(1 + A) (D on fake), 0: -mean A (G).
unaryLoss('HingeLoss', 'hinge GAN loss: sign 1 -> mean relu(1-A), sign -1 -> mean relu(1+A), sign 0 -> -mean A', { sign: { type: 'float', default: 1 } },
  (a, s) => (s === 0 ? -a : Math.max(0, 1 - s * a)), (a, s) => (s === 0 ? -1 : 1 - s * a > 0 ? -s : 0));

registerOp({
  name: 'TotalVariationLoss',
  doc: 'mean |X[..,y,x+1] - X[..,y,x]| + mean |X[..,y+1,x] - X[..,y,x]| over NCHW',
  inputs: { min: 1, max: 1, names: ['X'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([x]) => {
    if (!x || x.length !== 4 || x[2] < 2 || x[3] < 2) throw shapeError(`expected NCHW with H, W >= 2 but received ${x ? shapeToString(x) : 'none'}`);
    return [[]];
  },
  reference: ([x]) => {
    const [n, c, h, w] = x!.shape;
    let sx = 0, sy = 0;
    for (let p = 0; p < n * c; ++p)
      for (let y = 0; y < h; ++y)
        for (let i = 0; i < w; ++i) {
          const v = x!.data[(p * h + y) * w + i];
          if (i + 1 < w) sx += Math.abs(x!.data[(p * h + y) * w + i + 1] - v);
          if (y + 1 < h) sy += Math.abs(x!.data[(p * h + y + 1) * w + i] - v);
        }
    return [new Tensor([], [sx / (n * c * h * (w - 1)) + sy / (n * c * (h - 1) * w)])];
  },
});
registerOp({
  name: 'TotalVariationLossGrad',
  doc: 'dX of TotalVariationLoss',
  inputs: { min: 2, max: 2, names: ['X', 'dL'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([x]) => [[...x!]],
  reference: ([x, dl]) => {
    const [n, c, h, w] = x!.shape;
    const out = new Float32Array(x!.size);
    const kx = dl!.data[0] / (n * c * h * (w - 1)), ky = dl!.data[0] / (n * c * (h - 1) * w);
    for (let p = 0; p < n * c; ++p)
      for (let y = 0; y < h; ++y)
        for (let i = 0; i < w; ++i) {
          const at = (p * h + y) * w + i;
          if (i + 1 < w) {
            const s = sign(x!.data[at + 1] - x!.data[at]) * kx;
            out[at + 1] += s;
            out[at] -= s;
          }
          if (y + 1 < h) {
            const s = sign(x!.data[at + w] - x!.data[at]) * ky;
            out[at + w] += s;
            out[at] -= s;
          }
        }
    return [new Tensor(x!.shape, out)];
  },
});
