// PointwiseDepthwise: a 1x1 conv and the depthwise 3x3 conv that reads its output, fused into one node by
// the inference passes (lib/graph/passes/fuse_pwdw.ts), the pair at the heart of MobileNet-style models
// (YuNet's 1x1 + 3x3 depthwise units, PFLD's expansion + depthwise), optionally with the 1x1 projection
// that alone reads the pair's output (a whole inverted residual block, PFLD's):
//   T = act(conv1x1(X, W1) + B1)                              X [N,C,H,W], W1 [M,C,1,1], B1? [M]
//   D = pool(dw_act(depthwise3x3(T, W2) + B2))                W2 [M,1,3,3], B2? [M], stride 1, pads 1
//   Y = D, or with W3: project_act(conv1x1(D, W3) + B3 + Z)   W3 [K,M,1,1], B3? [K], Z? [N,K,H,W]
// Inputs in the order X, W1, W2, B1, B2, W3, B3, Z (any bias and Z may be omitted).
// The CPU kernels compute T a band of rows at a time into a buffer that stays in cache and run the
// depthwise strips on it (native/cpu/conv_pwdw_kernels.h): T is never written to memory whole; with the
// projection each thread takes a band of rows through all three convs (conv_inverted_residual_kernels.h).
// Inference only (no gradient), CPU only (a CUDA session refuses it); exported back as the Conv nodes
// (+ activations, + MaxPool, + the residual Add).
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, type Tensor, shapeToString } from '../graph/tensor.js';
import { FUSED_ACTIVATIONS, FUSED_POOLS, conv2DShape } from './conv.js';
import { getOp, normalizeAttrs, registerOp } from './registry.js';
import { requireRank } from './util.js';

/** The Conv2D attributes of the 1x1 conv (its activation). */
export function pointwiseAttrs(attrs: Attrs): Attrs {
  return normalizeAttrs(getOp('Conv2D'), {
    activation: attrs.activation,
    activation_alpha: attrs.activation_alpha,
    activation_min: attrs.activation_min,
    activation_max: attrs.activation_max,
  });
}

/** The Conv2D attributes of the projection (its activation). */
export function projectAttrs(attrs: Attrs): Attrs {
  return normalizeAttrs(getOp('Conv2D'), {
    activation: attrs.project_activation,
    activation_alpha: attrs.project_activation_alpha,
    activation_min: attrs.project_activation_min,
    activation_max: attrs.project_activation_max,
  });
}

/** The Conv2D attributes of the depthwise conv on `m` channels (3x3, stride 1, pads 1; its activation and pool). */
export function depthwiseAttrs(attrs: Attrs, m: number): Attrs {
  return normalizeAttrs(getOp('Conv2D'), {
    group: m,
    pads: [1, 1, 1, 1],
    activation: attrs.dw_activation,
    activation_alpha: attrs.dw_activation_alpha,
    activation_min: attrs.dw_activation_min,
    activation_max: attrs.dw_activation_max,
    pool: attrs.pool,
  });
}

type OptShape = Shape | null | undefined;

function shapes(x: Shape | null, w1: Shape | null, b1: OptShape, w2: Shape | null, b2: OptShape, w3: OptShape, b3: OptShape, z: OptShape, attrs: Attrs) {
  const t = conv2DShape(x, w1, b1, pointwiseAttrs(attrs));
  requireRank(w1, 4, 'W1 [M,C,1,1]');
  if (w1[2] !== 1 || w1[3] !== 1) throw shapeError(`expected a 1x1 kernel W1 [M,C,1,1] but received ${shapeToString(w1)}`);
  requireRank(w2, 4, 'W2 [M,1,3,3]');
  const m = t[1];
  if (w2[0] !== m || w2[1] !== 1 || w2[2] !== 3 || w2[3] !== 3) throw shapeError(`expected a depthwise 3x3 kernel W2 [${m},1,3,3] but received ${shapeToString(w2)}`);
  const dwAttrs = depthwiseAttrs(attrs, m);
  const d = getOp('Conv2D').inferShapes([t, w2, b2 ?? null], dwAttrs)[0];
  if (!w3) {
    if (b3 || z) throw shapeError('B3 and Z belong to the projection: they need W3');
    return { y: d, dwAttrs };
  }
  requireRank(w3, 4, 'W3 [K,M,1,1]');
  if (w3[1] !== m || w3[2] !== 1 || w3[3] !== 1) throw shapeError(`expected a 1x1 projection W3 [K,${m},1,1] but received ${shapeToString(w3)}`);
  return { y: getOp('Conv2D').inferShapes([d, w3, b3 ?? null, z ?? null], projectAttrs(attrs))[0], dwAttrs };
}

registerOp({
  name: 'PointwiseDepthwise',
  doc: 'A 1x1 Conv2D (+ activation) and the depthwise 3x3 / stride 1 / pad 1 Conv2D on its output (+ activation, + 2x2 max pool), optionally then a 1x1 projection (+ residual Z, + activation), in one node; made by the fusePointwiseDepthwise pass, inference only',
  inputs: { min: 3, max: 8, names: ['X', 'W1', 'W2', 'B1', 'B2', 'W3', 'B3', 'Z'] },
  outputs: 1,
  attrs: {
    activation: { type: 'string', default: '', oneOf: FUSED_ACTIVATIONS, doc: "the 1x1 conv's activation ('' = none)" },
    activation_alpha: { type: 'float', default: 0.01, doc: 'LeakyRelu slope' },
    activation_min: { type: 'float', default: -3.4028234663852886e38, doc: 'Clip lower bound' },
    activation_max: { type: 'float', default: 3.4028234663852886e38, doc: 'Clip upper bound' },
    dw_activation: { type: 'string', default: '', oneOf: FUSED_ACTIVATIONS, doc: "the depthwise conv's activation ('' = none)" },
    dw_activation_alpha: { type: 'float', default: 0.01, doc: 'LeakyRelu slope' },
    dw_activation_min: { type: 'float', default: -3.4028234663852886e38, doc: 'Clip lower bound' },
    dw_activation_max: { type: 'float', default: 3.4028234663852886e38, doc: 'Clip upper bound' },
    pool: { type: 'string', default: '', oneOf: FUSED_POOLS, doc: "pool after the depthwise activation ('' = none; MaxPool2x2)" },
    project_activation: { type: 'string', default: '', oneOf: FUSED_ACTIVATIONS, doc: "the projection's activation ('' = none), after Z is added" },
    project_activation_alpha: { type: 'float', default: 0.01, doc: 'LeakyRelu slope' },
    project_activation_min: { type: 'float', default: -3.4028234663852886e38, doc: 'Clip lower bound' },
    project_activation_max: { type: 'float', default: 3.4028234663852886e38, doc: 'Clip upper bound' },
  },
  inferShapes: ([x, w1, w2, b1, b2, w3, b3, z], attrs) => [shapes(x, w1, b1, w2, b2, w3, b3, z, attrs).y],
  reference: ([x, w1, w2, b1, b2, w3, b3, z], attrs) => {
    const conv = getOp('Conv2D');
    const { dwAttrs } = shapes(x?.shape ?? null, w1?.shape ?? null, b1?.shape, w2?.shape ?? null, b2?.shape, w3?.shape, b3?.shape, z?.shape, attrs);
    const t = conv.reference([x, w1, b1 ?? null], pointwiseAttrs(attrs))[0];
    const d = conv.reference([t, w2, b2 ?? null], dwAttrs) as Tensor[];
    return w3 ? (conv.reference([d[0], w3, b3 ?? null, z ?? null], projectAttrs(attrs)) as Tensor[]) : d;
  },
});

/**
 * Multiply-adds of a PointwiseDepthwise node with input X [N,C,H,W], W1 [M,C,1,1] and, with a projection,
 * W3 [K,M,1,1]: the 1x1 conv's, the depthwise conv's (before any pool) and the projection's.
 */
export function pointwiseDepthwiseMacs(x: readonly number[], w1: readonly number[], w3?: readonly number[]): number {
  const [n, c, h, w] = x;
  return n * w1[0] * h * w * (c + 9 + (w3 ? w3[0] : 0));
}
