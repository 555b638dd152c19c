// Optimizer and weight-averaging ops. They read a parameter and its state and output new values;
// a step graph commits those into the parameters (Graph.updates). Per-step scalars (learning
// rate, bias corrections, EMA decay) arrive as small fed tensors so schedules need no recompile.
import { shapeError } from '../errors.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { registerOp } from './registry.js';

function same(a: Shape | null, b: Shape | null, what: string): void {
  if (!a || !b || a.length !== b.length || a.some((d, i) => d !== b[i]))
    throw shapeError(`expected ${what} ${b ? shapeToString(b) : 'none'} to match the parameter ${a ? shapeToString(a) : 'none'}`);
}

const atLeast = (s: Shape | null, n: number, what: string) => {
  if (!s || s.reduce((a, d) => a * d, 1) < n) throw shapeError(`expected ${what} with at least ${n} values but received ${s ? shapeToString(s) : 'none'}`);
};

registerOp({
  name: 'AdamUpdate',
  doc: 'Adam/AdamW step. Inputs W, G, M, V, S=[lr, 1-beta1^t, 1-beta2^t], optional C=[grad scale, norm] (GlobalNormClip). Outputs W\', M\', V\'',
  inputs: { min: 5, max: 6, names: ['W', 'G', 'M', 'V', 'S', 'C'] },
  outputs: 3,
  attrs: {
    beta1: { type: 'float', default: 0.9 },
    beta2: { type: 'float', default: 0.999 },
    epsilon: { type: 'float', default: 1e-8 },
    weight_decay: { type: 'float', default: 0, doc: 'decoupled (AdamW), scaled by lr' },
  },
  inferShapes: ([w, g, m, v, s]) => {
    same(w, g, 'gradient');
    same(w, m, 'first moment');
    same(w, v, 'second moment');
    atLeast(s, 3, 'S');
    return [[...w!], [...w!], [...w!]];
  },
  reference: ([w, g, m, v, s, c], a) => {
    const [lr, bc1, bc2] = s!.data;
    const gs = c ? c.data[0] : 1;
    const b1 = a.beta1 as number, b2 = a.beta2 as number, eps = a.epsilon as number, wd = a.weight_decay as number;
    const n = w!.size;
    const W = new Float32Array(n), M = new Float32Array(n), V = new Float32Array(n);
    for (let i = 0; i < n; ++i) {
      const gi = g!.data[i] * gs;
      M[i] = b1 * m!.data[i] + (1 - b1) * gi;
      V[i] = b2 * v!.data[i] + (1 - b2) * gi * gi;
      W[i] = w!.data[i] - lr * ((M[i] / bc1) / (Math.sqrt(V[i] / bc2) + eps) + wd * w!.data[i]);
    }
    return [new Tensor(w!.shape, W), new Tensor(w!.shape, M), new Tensor(w!.shape, V)];
  },
});

registerOp({
  name: 'SgdMomentumUpdate',
  doc: 'SGD with momentum: vel = momentum*vel + g + wd*w; w -= lr*vel. Inputs W, G, Vel, S=[lr], optional C. Outputs W\', Vel\'',
  inputs: { min: 4, max: 5, names: ['W', 'G', 'Vel', 'S', 'C'] },
  outputs: 2,
  attrs: { momentum: { type: 'float', default: 0.9 }, weight_decay: { type: 'float', default: 0 } },
  inferShapes: ([w, g, vel, s]) => {
    same(w, g, 'gradient');
    same(w, vel, 'velocity');
    atLeast(s, 1, 'S');
    return [[...w!], [...w!]];
  },
  reference: ([w, g, vel, s, c], a) => {
    const lr = s!.data[0], gs = c ? c.data[0] : 1;
    const n = w!.size;
    const W = new Float32Array(n), Vl = new Float32Array(n);
    for (let i = 0; i < n; ++i) {
      Vl[i] = (a.momentum as number) * vel!.data[i] + g!.data[i] * gs + (a.weight_decay as number) * w!.data[i];
      W[i] = w!.data[i] - lr * Vl[i];
    }
    return [new Tensor(w!.shape, W), new Tensor(w!.shape, Vl)];
  },
});

registerOp({
  name: 'EmaUpdate',
  doc: "Weight EMA: E' = decay*E + (1-decay)*W. Inputs E, W, D=[decay] (warm-up is computed by the caller)",
  inputs: { min: 3, max: 3, names: ['E', 'W', 'D'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([e, w, d]) => {
    same(e, w, 'weights');
    atLeast(d, 1, 'D');
    return [[...e!]];
  },
  reference: ([e, w, d]) => {
    const decay = d!.data[0];
    const out = new Float32Array(e!.size);
    for (let i = 0; i < out.length; ++i) out[i] = decay * e!.data[i] + (1 - decay) * w!.data[i];
    return [new Tensor(e!.shape, out)];
  },
});

registerOp({
  name: 'GlobalNormClip',
  doc: 'Gradient clipping by global norm: [min(1, max_norm/(norm+1e-6)), norm] over all inputs',
  inputs: { min: 1, max: 4096 },
  outputs: 1,
  attrs: { max_norm: { type: 'float', default: 1 } },
  inferShapes: () => [[2]],
  reference: (gs, a) => {
    let sum = 0;
    for (const g of gs) for (const v of g!.data) sum += v * v;
    const norm = Math.sqrt(sum);
    return [new Tensor([2], [Math.min(1, (a.max_norm as number) / (norm + 1e-6)), norm])];
  },
});
