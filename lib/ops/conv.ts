// Convolutions: Conv2D (ONNX Conv) and ConvTranspose2D (ONNX ConvTranspose), NCHW, 2-D only.
// pads are [top, left, bottom, right] as in ONNX ([x1_begin, x2_begin, x1_end, x2_end]).
import { shapeError } from '../errors.js';
import type { Attrs, Graph, Node } from '../graph/ir.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { getOp, normalizeAttrs, registerOp } from './registry.js';
import { requireRank } from './util.js';

/** The 2-D window attributes shared by convolutions and pools, checked. */
export interface Window2D {
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
}

function pairAttr(attrs: Attrs, name: string, min: number): [number, number] {
  const v = attrs[name] as number[];
  if (v.length !== 2 || v.some((x) => x < min)) throw shapeError(`expected 2 integers >= ${min} for ${name} but received [${v.join(',')}]`);
  return [v[0], v[1]];
}

/** strides (>= 1), pads (4 values >= 0), dilations (>= 1) from attributes, checked. */
export function window2D(attrs: Attrs): Window2D {
  const pads = attrs.pads as number[];
  if (pads.length !== 4 || pads.some((p) => p < 0)) throw shapeError(`expected 4 non-negative pads [top,left,bottom,right] but received [${pads.join(',')}]`);
  return {
    strides: pairAttr(attrs, 'strides', 1),
    pads: [pads[0], pads[1], pads[2], pads[3]],
    dilations: attrs.dilations === undefined ? [1, 1] : pairAttr(attrs, 'dilations', 1),
  };
}

/** Output length of a sliding window (floor mode). */
export function windowOutput(input: number, padBegin: number, padEnd: number, kernel: number, stride: number, dilation: number): number {
  return Math.floor((input + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

const windowAttrs = {
  strides: { type: 'ints', default: [1, 1], doc: '[stride_h, stride_w]' },
  pads: { type: 'ints', default: [0, 0, 0, 0], doc: '[top, left, bottom, right]' },
  dilations: { type: 'ints', default: [1, 1], doc: '[dilation_h, dilation_w]' },
  group: { type: 'int', default: 1, doc: 'channel groups; group == C == M is depthwise' },
} as const;

function checkGroup(group: number): void {
  if (!Number.isInteger(group) || group < 1) throw shapeError(`expected group >= 1 but received ${group}`);
}

function checkBias(b: Shape | null | undefined, m: number): void {
  if (b && (b.length !== 1 || b[0] !== m)) throw shapeError(`expected bias B of shape [${m}] but received ${shapeToString(b)}`);
}

export function conv2DShape(x: Shape | null, w: Shape | null, b: Shape | null | undefined, attrs: Attrs): number[] {
  requireRank(x, 4, 'X [N,C,H,W]');
  requireRank(w, 4, 'W [M,C/group,kh,kw]');
  const group = attrs.group as number;
  checkGroup(group);
  const [n, c, h, wd] = x;
  const [m, cg, kh, kw] = w;
  if (c % group !== 0) throw shapeError(`expected input channels ${c} to be divisible by group ${group}`);
  if (m % group !== 0) throw shapeError(`expected output channels M=${m} (W dim 0) to be divisible by group ${group}`);
  if (cg * group !== c) throw shapeError(`expected W of shape [${m},${c / group},kh,kw] (C/group = ${c}/${group}) but received ${shapeToString(w)}`);
  if (kh < 1 || kw < 1) throw shapeError(`expected a kernel of at least 1x1 but received ${shapeToString(w)}`);
  checkBias(b, m);
  const win = window2D(attrs);
  const oh = windowOutput(h, win.pads[0], win.pads[2], kh, win.strides[0], win.dilations[0]);
  const ow = windowOutput(wd, win.pads[1], win.pads[3], kw, win.strides[1], win.dilations[1]);
  if (oh <= 0 || ow <= 0)
    throw shapeError(`expected a positive output size but received ${oh}x${ow} (input ${h}x${wd}, kernel ${kh}x${kw}, dilations [${win.dilations}], pads [${win.pads}])`);
  return [n, m, oh, ow];
}

/** Plain direct-loop convolution: the ground truth. */
function conv2DReference(x: Tensor, w: Tensor, b: Tensor | null, attrs: Attrs): Tensor {
  const [n, c, h, wd] = x.shape;
  const [m, cg, kh, kw] = w.shape;
  const group = attrs.group as number;
  const { strides: [sh, sw], pads: [pt, pl], dilations: [dh, dw] } = window2D(attrs);
  const [, , oh, ow] = conv2DShape(x.shape, w.shape, b?.shape, attrs);
  const mg = m / group;
  const y = new Float32Array(n * m * oh * ow);
  for (let img = 0; img < n; ++img)
    for (let om = 0; om < m; ++om) {
      const g = Math.floor(om / mg);
      for (let oy = 0; oy < oh; ++oy)
        for (let ox = 0; ox < ow; ++ox) {
          let acc = b ? b.data[om] : 0;
          for (let ic = 0; ic < cg; ++ic) {
            const xc = g * cg + ic;
            for (let ky = 0; ky < kh; ++ky) {
              const iy = oy * sh - pt + ky * dh;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; ++kx) {
                const ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= wd) continue;
                acc += x.data[((img * c + xc) * h + iy) * wd + ix] * w.data[((om * cg + ic) * kh + ky) * kw + kx];
              }
            }
          }
          y[((img * m + om) * oh + oy) * ow + ox] = acc;
        }
    }
  return new Tensor([n, m, oh, ow], y);
}

/**
 * The residual input Z (set by the fuseResidualAdd pass, like onnxruntime's FusedConv "Z"): a tensor of
 * exactly the output's shape added to the conv's output before the fused activation. Checked here.
 */
function checkResidual(z: Shape | null | undefined, out: number[]): void {
  if (z && (z.length !== out.length || z.some((d, i) => d !== out[i])))
    throw shapeError(`expected residual input Z of the output's shape ${shapeToString(out)} but received ${shapeToString(z)}`);
}

/** y + Z (Z absent: y unchanged), in place. */
function addResidual(y: Tensor, z: Tensor | null | undefined): Tensor {
  if (z) for (let i = 0; i < y.data.length; ++i) y.data[i] += z.data[i];
  return y;
}

/** Activations a Conv2D can apply to its output in the same kernel (set by the fusion pass). */
export const FUSED_ACTIVATIONS = ['', 'Relu', 'LeakyRelu', 'Tanh', 'Sigmoid', 'Clip'] as const;

/** The fused activation of a Conv2D: '' (none), Relu, LeakyRelu(activation_alpha), Tanh, Sigmoid, Clip(min, max). */
export function applyFusedActivation(t: Tensor, attrs: Attrs): Tensor {
  const act = attrs.activation as string;
  if (!act) return t;
  const alpha = attrs.activation_alpha as number;
  const lo = attrs.activation_min as number;
  const hi = attrs.activation_max as number;
  const f =
    act === 'Relu' ? (v: number) => (v > 0 ? v : 0)
    : act === 'LeakyRelu' ? (v: number) => (v >= 0 ? v : alpha * v)
    : act === 'Tanh' ? Math.tanh
    : act === 'Sigmoid' ? (v: number) => 1 / (1 + Math.exp(-v))
    : (v: number) => Math.min(hi, Math.max(lo, v));
  for (let i = 0; i < t.data.length; ++i) t.data[i] = f(t.data[i]);
  return t;
}

/** Pools a Conv2D can apply to its activated output (set by the fusePool pass; '' = none). */
export const FUSED_POOLS = ['', 'MaxPool2x2'] as const;

/** A Conv2D node's output shape before its fused pool, if any (the MACs are the conv's). */
export function convOutputShape(graph: Graph, n: Node): number[] {
  const y = graph.values[n.outputs[0]].shape;
  if (!n.attrs.pool) return [...y];
  return conv2DShape(graph.values[n.inputs[0]].shape, graph.values[n.inputs[1]].shape, null, normalizeAttrs(getOp('Conv2D'), n.attrs));
}

/** The output shape of a Conv2D's fused pool: MaxPool2x2 halves height and width, rounding down (ONNX MaxPool, no pads, ceil_mode 0). */
function pooledShape(conv: number[], attrs: Attrs): number[] {
  if (!attrs.pool) return conv;
  const [n, m, oh, ow] = conv;
  if (oh < 2 || ow < 2) throw shapeError(`a fused 2x2 max pool needs a conv output of at least 2x2 but it is ${shapeToString(conv)}`);
  return [n, m, Math.floor(oh / 2), Math.floor(ow / 2)];
}

/** The 2x2 / stride-2 max pool of an NCHW tensor (odd last row / column dropped): the MaxPool op's own reference. */
function maxPool2x2(t: Tensor): Tensor {
  const maxPool = getOp('MaxPool');
  return maxPool.reference([t], normalizeAttrs(maxPool, { kernel_shape: [2, 2], strides: [2, 2] }))[0];
}

registerOp({
  name: 'Conv2D',
  doc: 'ONNX Conv on NCHW: X [N,C,H,W], W [M,C/group,kh,kw], optional B [M]; optional residual Z [N,M,oh,ow], fused activation and fused 2x2 max pool: pool(act(conv + B + Z))',
  inputs: { min: 2, max: 4, names: ['X', 'W', 'B', 'Z'] },
  outputs: 1,
  attrs: {
    ...windowAttrs,
    activation: { type: 'string', default: '', oneOf: FUSED_ACTIVATIONS, doc: "fused activation after the bias ('' = none)" },
    activation_alpha: { type: 'float', default: 0.01, doc: 'LeakyRelu slope' },
    activation_min: { type: 'float', default: -3.4028234663852886e38, doc: 'Clip lower bound' },
    activation_max: { type: 'float', default: 3.4028234663852886e38, doc: 'Clip upper bound' },
    pool: { type: 'string', default: '', oneOf: FUSED_POOLS, doc: "fused pool after the activation ('' = none; MaxPool2x2: kernel 2x2, stride 2, no pads)" },
  },
  inferShapes: ([x, w, b, z], attrs) => {
    const out = conv2DShape(x, w, b, attrs);
    checkResidual(z, out);
    return [pooledShape(out, attrs)];
  },
  reference: ([x, w, b, z], attrs) => {
    const y = applyFusedActivation(addResidual(conv2DReference(x as Tensor, w as Tensor, b ?? null, attrs), z), attrs);
    return [attrs.pool ? maxPool2x2(y) : y];
  },
});

export function convTranspose2DShape(x: Shape | null, w: Shape | null, b: Shape | null | undefined, attrs: Attrs): number[] {
  requireRank(x, 4, 'X [N,C,H,W]');
  requireRank(w, 4, 'W [C,M/group,kh,kw]');
  const group = attrs.group as number;
  checkGroup(group);
  const [n, c, h, wd] = x;
  const [wc, mg, kh, kw] = w;
  if (c % group !== 0) throw shapeError(`expected input channels ${c} to be divisible by group ${group}`);
  if (wc !== c) throw shapeError(`expected W of shape [${c},M/group,kh,kw] (dim 0 = input channels) but received ${shapeToString(w)}`);
  if (kh < 1 || kw < 1 || mg < 1) throw shapeError(`expected a kernel of at least 1x1 and M/group >= 1 but received W ${shapeToString(w)}`);
  const m = mg * group;
  checkBias(b, m);
  const win = window2D(attrs);
  const op = attrs.output_padding as number[];
  if (op.length !== 2 || op.some((v, i) => v < 0 || v >= Math.max(win.strides[i], win.dilations[i])))
    throw shapeError(`expected 2 output_padding values in [0, max(stride, dilation)) (strides [${win.strides}], dilations [${win.dilations}]) but received [${op.join(',')}]`);
  const oh = win.strides[0] * (h - 1) + op[0] + (kh - 1) * win.dilations[0] + 1 - win.pads[0] - win.pads[2];
  const ow = win.strides[1] * (wd - 1) + op[1] + (kw - 1) * win.dilations[1] + 1 - win.pads[1] - win.pads[3];
  if (h < 1 || wd < 1 || oh <= 0 || ow <= 0)
    throw shapeError(`expected a positive output size but received ${oh}x${ow} (input ${h}x${wd}, kernel ${kh}x${kw}, pads [${win.pads}])`);
  return [n, m, oh, ow];
}

/** Plain scatter loop: every input pixel adds its weighted kernel into the output. */
function convTranspose2DReference(x: Tensor, w: Tensor, b: Tensor | null, attrs: Attrs): Tensor {
  const [n, c, h, wd] = x.shape;
  const [, mg, kh, kw] = w.shape;
  const group = attrs.group as number;
  const { strides: [sh, sw], pads: [pt, pl], dilations: [dh, dw] } = window2D(attrs);
  const [, m, oh, ow] = convTranspose2DShape(x.shape, w.shape, b?.shape, attrs);
  const cg = c / group;
  const acc = new Float64Array(n * m * oh * ow);
  for (let img = 0; img < n; ++img)
    for (let ic = 0; ic < c; ++ic) {
      const g = Math.floor(ic / cg);
      for (let iy = 0; iy < h; ++iy)
        for (let ix = 0; ix < wd; ++ix) {
          const v = x.data[((img * c + ic) * h + iy) * wd + ix];
          for (let om = 0; om < mg; ++om) {
            const ym = g * mg + om;
            for (let ky = 0; ky < kh; ++ky) {
              const oy = iy * sh - pt + ky * dh;
              if (oy < 0 || oy >= oh) continue;
              for (let kx = 0; kx < kw; ++kx) {
                const ox = ix * sw - pl + kx * dw;
                if (ox < 0 || ox >= ow) continue;
                acc[((img * m + ym) * oh + oy) * ow + ox] += v * w.data[((ic * mg + om) * kh + ky) * kw + kx];
              }
            }
          }
        }
    }
  if (b) for (let i = 0; i < acc.length; ++i) acc[i] += b.data[Math.floor(i / (oh * ow)) % m];
  return new Tensor([n, m, oh, ow], Float32Array.from(acc));
}

registerOp({
  name: 'ConvTranspose2D',
  doc: 'ONNX ConvTranspose on NCHW: X [N,C,H,W], W [C,M/group,kh,kw], optional B [M]; optional residual Z [N,M,oh,ow] added to the output',
  inputs: { min: 2, max: 4, names: ['X', 'W', 'B', 'Z'] },
  outputs: 1,
  attrs: { ...windowAttrs, output_padding: { type: 'ints', default: [0, 0], doc: 'extra rows/columns at the bottom/right' } },
  inferShapes: ([x, w, b, z], attrs) => {
    const out = convTranspose2DShape(x, w, b, attrs);
    checkResidual(z, out);
    return [out];
  },
  reference: ([x, w, b, z], attrs) => [addResidual(convTranspose2DReference(x as Tensor, w as Tensor, b ?? null, attrs), z)],
});
