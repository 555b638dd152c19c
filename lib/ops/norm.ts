// Normalisations: BatchNormalization (inference), InstanceNormalization, LayerNormalization,
// GroupNormalization (ONNX opset 21: per-channel scale and bias). Variances are biased (divide by
// the count), as in ONNX. Each may carry a fused activation (attribute `activation`, as Conv2D has),
// set by the inference pass fuseNormActivation, applied as the kernels write the output.
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeSize, shapeToString } from '../graph/tensor.js';
import { FUSED_ACTIVATIONS, applyFusedActivation } from './conv.js';
import { type AttrSpec, registerOp } from './registry.js';
import { broadcastIndex, normalizeAxis } from './util.js';

function requireChannels(x: Shape | null, minRank: number): asserts x is Shape {
  if (!x || x.length < minRank) throw shapeError(`expected X of rank >= ${minRank} [N,C,...] but received ${x ? shapeToString(x) : 'none'}`);
}

function requireVector(s: Shape | null | undefined, c: number, what: string): void {
  if (!s || s.length !== 1 || s[0] !== c) throw shapeError(`expected ${what} of shape [${c}] but received ${s ? shapeToString(s) : 'none'}`);
}

/** The fused activation attributes, the same as Conv2D's ('' = none). */
const activationAttrs: Record<string, AttrSpec> = {
  activation: { type: 'string', default: '', oneOf: FUSED_ACTIVATIONS, doc: "fused activation after the affine ('' = none)" },
  activation_alpha: { type: 'float', default: 0.01, doc: 'LeakyRelu slope' },
  activation_min: { type: 'float', default: -3.4028234663852886e38, doc: 'Clip lower bound' },
  activation_max: { type: 'float', default: 3.4028234663852886e38, doc: 'Clip upper bound' },
};

function checkEpsilon(attrs: Attrs): number {
  const eps = attrs.epsilon as number;
  if (!(eps >= 0)) throw shapeError(`expected epsilon >= 0 but received ${eps}`);
  return eps;
}

/** Mean and biased variance (in float64) of data[indices(i)] for i < count. */
function moments(data: Float32Array, indices: (i: number) => number, count: number): [number, number] {
  let mean = 0;
  for (let i = 0; i < count; ++i) mean += data[indices(i)];
  mean /= count;
  let v = 0;
  for (let i = 0; i < count; ++i) v += (data[indices(i)] - mean) ** 2;
  return [mean, v / count];
}

registerOp({
  name: 'BatchNormalization',
  doc: 'inference: (x - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1)',
  inputs: { min: 5, max: 5, names: ['X', 'scale', 'B', 'input_mean', 'input_var'] },
  outputs: 1,
  attrs: { epsilon: { type: 'float', default: 1e-5 }, ...activationAttrs },
  inferShapes: ([x, scale, b, mean, variance], attrs) => {
    requireChannels(x, 2);
    checkEpsilon(attrs);
    const c = x[1];
    requireVector(scale, c, 'scale');
    requireVector(b, c, 'B');
    requireVector(mean, c, 'input_mean');
    requireVector(variance, c, 'input_var');
    return [[...x]];
  },
  reference: ([x, scale, b, mean, variance], attrs) => {
    const t = x as Tensor;
    const c = t.shape[1];
    const inner = shapeSize(t.shape.slice(2));
    const y = new Float32Array(t.size);
    for (let i = 0; i < t.size; ++i) {
      const ch = Math.floor(i / inner) % c;
      const inv = 1 / Math.sqrt(variance!.data[ch] + (attrs.epsilon as number));
      y[i] = (t.data[i] - mean!.data[ch]) * inv * scale!.data[ch] + b!.data[ch];
    }
    return [applyFusedActivation(new Tensor(t.shape, y), attrs)];
  },
});

registerOp({
  name: 'InstanceNormalization',
  doc: 'normalises each (n, c) plane over its spatial axes, then per-channel scale and B',
  inputs: { min: 3, max: 3, names: ['X', 'scale', 'B'] },
  outputs: 1,
  attrs: { epsilon: { type: 'float', default: 1e-5 }, ...activationAttrs },
  inferShapes: ([x, scale, b], attrs) => {
    requireChannels(x, 3);
    checkEpsilon(attrs);
    requireVector(scale, x[1], 'scale');
    requireVector(b, x[1], 'B');
    return [[...x]];
  },
  reference: ([x, scale, b], attrs) => {
    const t = x as Tensor;
    const c = t.shape[1];
    const area = shapeSize(t.shape.slice(2));
    const y = new Float32Array(t.size);
    for (let p = 0; p < t.shape[0] * c; ++p) {
      const base = p * area;
      const [mean, v] = moments(t.data, (i) => base + i, area);
      const inv = 1 / Math.sqrt(v + (attrs.epsilon as number));
      for (let i = 0; i < area; ++i) y[base + i] = (t.data[base + i] - mean) * inv * scale!.data[p % c] + b!.data[p % c];
    }
    return [applyFusedActivation(new Tensor(t.shape, y), attrs)];
  },
});

/** Scale/B of LayerNormalization: unidirectionally broadcastable to the normalised shape. */
function requireBroadcastTo(s: Shape, target: Shape, what: string): void {
  const ok = s.length <= target.length && s.every((d, i) => d === 1 || d === target[target.length - s.length + i]);
  if (!ok) throw shapeError(`expected ${what} broadcastable to the normalised shape ${shapeToString(target)} but received ${shapeToString(s)}`);
}

registerOp({
  name: 'LayerNormalization',
  doc: 'normalises over axes axis..end, then Scale and optional B (broadcast over those axes)',
  inputs: { min: 2, max: 3, names: ['X', 'Scale', 'B'] },
  outputs: 1,
  attrs: { axis: { type: 'int', default: -1 }, epsilon: { type: 'float', default: 1e-5 }, ...activationAttrs },
  inferShapes: ([x, scale, b], attrs) => {
    if (!x || x.length < 1) throw shapeError(`expected X of rank >= 1 but received ${x ? shapeToString(x) : 'none'}`);
    const axis = normalizeAxis(attrs.axis as number, x.length);
    checkEpsilon(attrs);
    const normalized = x.slice(axis);
    requireBroadcastTo(scale as Shape, normalized, 'Scale');
    if (b) requireBroadcastTo(b, normalized, 'B');
    return [[...x]];
  },
  reference: ([x, scale, b], attrs) => {
    const t = x as Tensor;
    const axis = normalizeAxis(attrs.axis as number, t.rank);
    const normalized = t.shape.slice(axis);
    const d = shapeSize(normalized);
    const rows = d ? t.size / d : 0;
    // Scale and B expanded to the normalised shape once.
    const expand = (s: Tensor | null | undefined, fill: number) => {
      const out = new Float32Array(d).fill(fill);
      if (!s) return out;
      const idx = new Array<number>(normalized.length).fill(0);
      for (let i = 0; i < d; ++i) {
        out[i] = s.data[broadcastIndex(idx, s.shape)];
        for (let a = normalized.length - 1; a >= 0; --a) {
          if (++idx[a] < normalized[a]) break;
          idx[a] = 0;
        }
      }
      return out;
    };
    const sc = expand(scale, 1);
    const bias = expand(b, 0);
    const y = new Float32Array(t.size);
    for (let r = 0; r < rows; ++r) {
      const base = r * d;
      const [mean, v] = moments(t.data, (i) => base + i, d);
      const inv = 1 / Math.sqrt(v + (attrs.epsilon as number));
      for (let i = 0; i < d; ++i) y[base + i] = (t.data[base + i] - mean) * inv * sc[i] + bias[i];
    }
    return [applyFusedActivation(new Tensor(t.shape, y), attrs)];
  },
});

registerOp({
  name: 'GroupNormalization',
  doc: 'normalises each group of C/num_groups channels (with their spatial axes), then per-channel scale and bias',
  inputs: { min: 3, max: 3, names: ['X', 'scale', 'bias'] },
  outputs: 1,
  attrs: { num_groups: { type: 'int', doc: 'required' }, epsilon: { type: 'float', default: 1e-5 }, ...activationAttrs },
  inferShapes: ([x, scale, b], attrs) => {
    requireChannels(x, 2);
    checkEpsilon(attrs);
    const g = attrs.num_groups as number;
    if (g < 1 || x[1] % g !== 0) throw shapeError(`expected num_groups >= 1 dividing the channels ${x[1]} but received ${g}`);
    requireVector(scale, x[1], 'scale');
    requireVector(b, x[1], 'bias');
    return [[...x]];
  },
  reference: ([x, scale, b], attrs) => {
    const t = x as Tensor;
    const c = t.shape[1];
    const groups = attrs.num_groups as number;
    const area = shapeSize(t.shape.slice(2));
    const count = (c / groups) * area; // one group is contiguous in NCHW
    const y = new Float32Array(t.size);
    for (let gi = 0; gi < t.shape[0] * groups; ++gi) {
      const base = gi * count;
      const [mean, v] = moments(t.data, (i) => base + i, count);
      const inv = 1 / Math.sqrt(v + (attrs.epsilon as number));
      for (let i = 0; i < count; ++i) {
        const ch = Math.floor((base + i) / area) % c;
        y[base + i] = (t.data[base + i] - mean) * inv * scale!.data[ch] + b!.data[ch];
      }
    }
    return [applyFusedActivation(new Tensor(t.shape, y), attrs)];
  },
});
