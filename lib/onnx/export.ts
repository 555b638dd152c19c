/// <reference types="long" preserve="true" />
// Graph IR -> ONNX, encoded with the official schema (proto.ts). IR attributes that ONNX passes as
// tensor inputs at the chosen opset (Reshape shape, Slice starts, Resize scales, Pad pads, Clip
// min/max, Split sizes, Squeeze/Unsqueeze/Reduce axes) become int64/float initializers; ops ONNX
// lacks at that opset (LayerNormalization before 17, GroupNormalization) are written as the
// equivalent chain of standard ops, so the file runs on any ONNX runtime.
import type { onnx as OnnxNs } from 'onnx-proto';
import { FacestyleError, argumentError, unsupportedError } from '../errors.js';
import { writeFileWholeSync } from '../files.js';
import { decodeChain } from '../ops/elementwise_chain.js';
import { depthwiseAttrs, pointwiseAttrs, projectAttrs } from '../ops/pointwise_depthwise.js';
import { type Attrs, type Graph, type Node, checkGraph } from '../graph/ir.js';
import * as is from '../is.js';
import { AT, DT, encodeModel, floatTensorProto, floatToHalf, halfTensorProto, int64TensorProto } from './proto.js';

export interface ExportOnnxOptions {
  /** ONNX opset of the default domain, 11 to 17 (default 13: what mobile runtimes support widely). */
  opset?: number;
  /** How weights are stored: 'fp32' (default) or 'fp16' (half the file size; the graph still computes in fp32). */
  weights?: 'fp32' | 'fp16';
  /** Declare the first input dimension as symbolic 'batch' (default true). */
  dynamicBatch?: boolean;
  /** Declare H and W of rank-4 inputs as symbolic 'height'/'width' (default false). */
  dynamicSpatial?: boolean;
  /** Model doc string. */
  docString?: string;
}

export const EXPORT_MIN_OPSET = 11;
export const EXPORT_MAX_OPSET = 17;

type INode = OnnxNs.INodeProto;
type IAttr = OnnxNs.IAttributeProto;

const attrI = (name: string, v: number): IAttr => ({ name, type: AT.INT, i: v });
const attrF = (name: string, v: number): IAttr => ({ name, type: AT.FLOAT, f: v });
const attrS = (name: string, v: string): IAttr => ({ name, type: AT.STRING, s: Buffer.from(v, 'utf8') });
const attrInts = (name: string, v: readonly number[]): IAttr => ({ name, type: AT.INTS, ints: [...v] });

class Writer {
  readonly nodes: INode[] = [];
  readonly initializers: OnnxNs.ITensorProto[] = [];
  private readonly taken = new Set<string>();
  constructor(readonly graph: Graph, readonly opset: number, readonly options: Required<Omit<ExportOnnxOptions, 'docString'>>) {
    for (const v of graph.values) this.taken.add(v.name);
    for (const n of graph.nodes) this.taken.add(n.name);
  }
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); ++i) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }
  ints(base: string, v: readonly number[], shape = [v.length]): string {
    const name = this.fresh(base);
    this.initializers.push(int64TensorProto(name, shape, v));
    return name;
  }
  floats(base: string, v: readonly number[], shape = [v.length]): string {
    const name = this.fresh(base);
    this.initializers.push(floatTensorProto(name, shape, Float32Array.from(v)));
    return name;
  }
  node(opType: string, inputs: string[], outputs: string[], attribute: IAttr[] = [], name?: string): void {
    this.nodes.push({ opType, input: inputs, output: outputs, attribute, name: name ?? this.fresh(opType.toLowerCase()) });
  }
  tmp(base: string): string {
    return this.fresh(`${base}/tmp`);
  }
}

type Emit = (w: Writer, n: Node, ins: string[], outs: string[], a: Attrs, shapeOf: (i: number) => number[]) => void;

const same = (op: string, attrs: (a: Attrs) => IAttr[] = () => []): Emit => (w, n, ins, outs, a) => w.node(op, ins, outs, attrs(a), n.name);
const ints = (a: Attrs, k: string) => a[k] as number[];
const num = (a: Attrs, k: string) => a[k] as number;

/** Reduce with axes as attribute (opset < 18) or input (ReduceSum from 13). */
function reduceNode(w: Writer, op: string, x: string, out: string, axes: number[], keepdims: number, name?: string): void {
  const asInput = op === 'ReduceSum' ? w.opset >= 13 : w.opset >= 18;
  const attrs = [attrI('keepdims', keepdims)];
  if (!axes.length) return w.node(op, [x], [out], attrs, name);
  if (asInput) return w.node(op, [x, w.ints(`${out}/axes`, axes)], [out], attrs, name);
  w.node(op, [x], [out], [...attrs, attrInts('axes', axes)], name);
}

/** Normalization over axes [axis..rank) written with standard ops: (x - mean) / sqrt(var + eps). */
function normalizeChain(w: Writer, x: string, out: string, axes: number[], eps: number): void {
  const mean = w.tmp(out);
  const d = w.tmp(out);
  const sq = w.tmp(out);
  const v = w.tmp(out);
  const ve = w.tmp(out);
  const sd = w.tmp(out);
  reduceNode(w, 'ReduceMean', x, mean, axes, 1);
  w.node('Sub', [x, mean], [d]);
  w.node('Mul', [d, d], [sq]);
  reduceNode(w, 'ReduceMean', sq, v, axes, 1);
  w.node('Add', [v, w.floats(`${out}/eps`, [eps], [])], [ve]);
  w.node('Sqrt', [ve], [sd]);
  w.node('Div', [d, sd], [out]);
}

/** A fused activation (Conv2D or normalisation `activation` attribute) written back as its own ONNX node. */
function emitActivation(w: Writer, n: Node, act: string, x: string, outs: string[], a: Attrs): void {
  if (act === 'LeakyRelu') w.node('LeakyRelu', [x], outs, [attrF('alpha', num(a, 'activation_alpha'))]);
  else if (act === 'Clip') w.node('Clip', [x, w.floats(`${n.name}/min`, [num(a, 'activation_min')], []), w.floats(`${n.name}/max`, [num(a, 'activation_max')], [])], outs);
  else w.node(act, [x], outs);
}

/** Wraps a normalisation's exporter: a fused activation goes to a temporary, then its own node. */
function withActivation(emit: Emit): Emit {
  return (w, n, ins, outs, a, s) => {
    const act = (a.activation as string | undefined) ?? '';
    if (!act) return emit(w, n, ins, outs, a, s);
    const normOut = w.tmp(outs[0]);
    emit(w, n, ins, [normOut], a, s);
    emitActivation(w, n, act, normOut, outs, a);
  };
}

/**
 * An ElementwiseChain (a fusion of the inference passes) written back as the standard nodes it was
 * made of, in program order; the last writes the node's output.
 */
const chainExporter: Emit = (w, n, ins, outs, a) => {
  const steps = decodeChain(a, ins.length);
  const names = [...ins];
  steps.forEach((step, k) => {
    const out = k === steps.length - 1 ? outs[0] : w.tmp(outs[0]);
    const operands = step.operands.map((i) => names[i]);
    EXPORTERS[step.op](w, { ...n, name: w.fresh(`${n.name}/${step.op.toLowerCase()}`), op: step.op }, operands, [out], step.attrs, () => []);
    names.push(out);
  });
};

/**
 * A conv's fused residual input Z and activation (set by the inference passes) written back as the
 * standard nodes: Conv(X, W[, B]) -> Add(., Z) -> activation. `emitConv` writes the conv to the name it gets.
 */
function withResidual(w: Writer, n: Node, ins: string[], outs: string[], act: string, a: Attrs, emitConv: (convIns: string[], out: string) => void): void {
  const z = ins[3] ?? '';
  const convIns = ins.slice(0, 3);
  while (convIns.length > 2 && !convIns[convIns.length - 1]) convIns.pop(); // an omitted bias is left out, not ''
  const convOut = act || z ? w.tmp(outs[0]) : outs[0];
  emitConv(convIns, convOut);
  let last = convOut;
  if (z) {
    last = act ? w.tmp(outs[0]) : outs[0];
    w.node('Add', [convOut, z], [last]);
  }
  if (act) emitActivation(w, n, act, last, outs, a);
}

export const EXPORTERS: Record<string, Emit> = {
  Conv2D: (w, n, ins, outs, a, s) => {
    // A fused pool (fusePool pass) goes after everything else: Conv -> Add(Z) -> activation -> MaxPool 2x2 / 2.
    const pooled = (a.pool as string | undefined) === 'MaxPool2x2';
    const convOuts = pooled ? [w.tmp(outs[0])] : outs;
    withResidual(w, n, ins, convOuts, (a.activation as string | undefined) ?? '', a, (convIns, out) =>
      w.node('Conv', convIns, [out], [attrInts('kernel_shape', s(1).slice(2)), attrInts('strides', ints(a, 'strides')), attrInts('pads', ints(a, 'pads')), attrInts('dilations', ints(a, 'dilations')), attrI('group', num(a, 'group'))], n.name),
    );
    if (pooled) w.node('MaxPool', convOuts, outs, [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2]), attrInts('pads', [0, 0, 0, 0])]);
  },
  // A fused 1x1 + depthwise pair (fusePointwiseDepthwise pass) written back as its two convs (each with its
  // activation; the depthwise one with its pool), and its projection, when it has one, as a third (with its
  // residual Add and activation).
  PointwiseDepthwise: (w, n, ins, outs, a, s) => {
    const t = w.tmp(outs[0]);
    const project = Boolean(ins[5]);
    const d = project ? w.tmp(outs[0]) : outs[0];
    // (Inputs X, W1, W2, B1, B2, W3, B3, Z; the shapes each conv's exporter asks for are its W's.)
    EXPORTERS.Conv2D(w, { ...n, op: 'Conv2D', name: w.fresh(`${n.name}/pointwise`) }, [ins[0], ins[1], ins[3] ?? ''], [t], pointwiseAttrs(a), s);
    const dwShape = (i: number) => (i === 1 ? s(2) : s(i));
    EXPORTERS.Conv2D(w, { ...n, op: 'Conv2D', name: w.fresh(`${n.name}/depthwise`) }, [t, ins[2], ins[4] ?? ''], [d], depthwiseAttrs(a, s(1)[0]), dwShape);
    if (!project) return;
    const projectShape = (i: number) => (i === 1 ? s(5) : s(i));
    EXPORTERS.Conv2D(w, { ...n, op: 'Conv2D', name: w.fresh(`${n.name}/project`) }, [d, ins[5], ins[6] ?? '', ins[7] ?? ''], outs, projectAttrs(a), projectShape);
  },
  ConvTranspose2D: (w, n, ins, outs, a, s) =>
    withResidual(w, n, ins, outs, '', a, (convIns, out) =>
      w.node('ConvTranspose', convIns, [out], [attrInts('kernel_shape', s(1).slice(2)), attrInts('strides', ints(a, 'strides')), attrInts('pads', ints(a, 'pads')), attrInts('dilations', ints(a, 'dilations')), attrI('group', num(a, 'group')), attrInts('output_padding', ints(a, 'output_padding'))], n.name),
    ),
  MaxPool: same('MaxPool', (a) => [attrInts('kernel_shape', ints(a, 'kernel_shape')), attrInts('strides', ints(a, 'strides')), attrInts('pads', ints(a, 'pads')), attrInts('dilations', ints(a, 'dilations')), attrI('ceil_mode', num(a, 'ceil_mode'))]),
  AveragePool: same('AveragePool', (a) => [attrInts('kernel_shape', ints(a, 'kernel_shape')), attrInts('strides', ints(a, 'strides')), attrInts('pads', ints(a, 'pads')), attrI('ceil_mode', num(a, 'ceil_mode')), attrI('count_include_pad', num(a, 'count_include_pad'))]),
  GlobalAveragePool: same('GlobalAveragePool'),
  GlobalMaxPool: same('GlobalMaxPool'),
  Resize: (w, n, ins, outs, a, s) => {
    let scales = ints(a, 'scales') ?? [];
    let sizes = ints(a, 'sizes') ?? [];
    // Fixed sizes pin every dim (batch included); exact ratios as scales keep dynamic dims dynamic.
    if (!scales.length && sizes.length) {
      const x = s(0);
      const ratios = sizes.map((d, i) => Math.fround(d / x[i]));
      if (x.every((d, i) => d > 0 && Math.floor(d * ratios[i]) === sizes[i] && ratios[i] * d === sizes[i])) {
        scales = ratios;
        sizes = [];
      }
    }
    // Opsets 11/12 need roi (and scales) present, possibly empty; 13+ accept '' for omitted inputs.
    const roi = w.opset < 13 ? w.floats(`${n.name}/roi`, [], [0]) : '';
    const inputs = [ins[0], roi];
    if (scales.length) inputs.push(w.floats(`${n.name}/scales`, scales));
    else inputs.push(w.opset < 13 ? w.floats(`${n.name}/scales`, [], [0]) : '', w.ints(`${n.name}/sizes`, sizes));
    w.node('Resize', inputs, outs, [attrS('mode', a.mode as string), attrS('coordinate_transformation_mode', a.coordinate_transformation_mode as string), attrS('nearest_mode', a.nearest_mode as string)], n.name);
  },
  Pad: (w, n, ins, outs, a) =>
    w.node('Pad', [ins[0], w.ints(`${n.name}/pads`, ints(a, 'pads')), w.floats(`${n.name}/value`, [num(a, 'value')], [])], outs, [attrS('mode', a.mode as string)], n.name),
  BatchNormalization: withActivation(same('BatchNormalization', (a) => [attrF('epsilon', num(a, 'epsilon'))])),
  InstanceNormalization: withActivation(same('InstanceNormalization', (a) => [attrF('epsilon', num(a, 'epsilon'))])),
  LayerNormalization: withActivation((w, n, ins, outs, a, s) => {
    if (w.opset >= 17) return w.node('LayerNormalization', ins, outs, [attrI('axis', num(a, 'axis')), attrF('epsilon', num(a, 'epsilon'))], n.name);
    const rank = s(0).length;
    const axis = num(a, 'axis') < 0 ? num(a, 'axis') + rank : num(a, 'axis');
    const normed = w.tmp(outs[0]);
    normalizeChain(w, ins[0], normed, Array.from({ length: rank - axis }, (_, i) => axis + i), num(a, 'epsilon'));
    if (ins[2]) {
      const scaled = w.tmp(outs[0]);
      w.node('Mul', [normed, ins[1]], [scaled]);
      w.node('Add', [scaled, ins[2]], outs, [], n.name);
    } else w.node('Mul', [normed, ins[1]], outs, [], n.name);
  }),
  GroupNormalization: withActivation((w, n, ins, outs, a, s) => {
    // [N,C,...] -> [N,G,-1], normalise each group, back to the input's shape, then per-channel affine.
    const x = s(0);
    const G = num(a, 'num_groups');
    const grouped = w.tmp(outs[0]);
    const normed = w.tmp(outs[0]);
    const back = w.tmp(outs[0]);
    const shape = w.tmp(outs[0]);
    const scaled = w.tmp(outs[0]);
    const scale = w.tmp(outs[0]);
    const bias = w.tmp(outs[0]);
    w.node('Reshape', [ins[0], w.ints(`${n.name}/grouped`, [0, G, -1])], [grouped]);
    normalizeChain(w, grouped, normed, [2], num(a, 'epsilon'));
    w.node('Shape', [ins[0]], [shape]);
    w.node('Reshape', [normed, shape], [back]);
    const perChannel = w.ints(`${n.name}/channel`, [x[1], ...new Array(x.length - 2).fill(1)]);
    w.node('Reshape', [ins[1], perChannel], [scale]);
    w.node('Reshape', [ins[2], perChannel], [bias]);
    w.node('Mul', [back, scale], [scaled]);
    w.node('Add', [scaled, bias], outs, [], n.name);
  }),
  ElementwiseChain: chainExporter,
  Add: same('Add'),
  Sub: same('Sub'),
  Mul: same('Mul'),
  Div: same('Div'),
  Pow: same('Pow'),
  Max: same('Max'),
  Min: same('Min'),
  Relu: same('Relu'),
  Tanh: same('Tanh'),
  Sigmoid: same('Sigmoid'),
  Exp: same('Exp'),
  Log: same('Log'),
  Sqrt: same('Sqrt'),
  Abs: same('Abs'),
  Neg: same('Neg'),
  Identity: same('Identity'),
  LeakyRelu: same('LeakyRelu', (a) => [attrF('alpha', num(a, 'alpha'))]),
  Clip: (w, n, ins, outs, a) => w.node('Clip', [ins[0], w.floats(`${n.name}/min`, [num(a, 'min')], []), w.floats(`${n.name}/max`, [num(a, 'max')], [])], outs, [], n.name),
  Concat: same('Concat', (a) => [attrI('axis', num(a, 'axis'))]),
  Slice: (w, n, ins, outs, a) => {
    const starts = ints(a, 'starts');
    const axes = ints(a, 'axes').length ? ints(a, 'axes') : starts.map((_, i) => i);
    const inputs = [ins[0], w.ints(`${n.name}/starts`, starts), w.ints(`${n.name}/ends`, ints(a, 'ends')), w.ints(`${n.name}/axes`, axes)];
    if (ints(a, 'steps').length) inputs.push(w.ints(`${n.name}/steps`, ints(a, 'steps')));
    w.node('Slice', inputs, outs, [], n.name);
  },
  Split: (w, n, ins, outs, a) => {
    if (w.opset >= 13) return w.node('Split', [ins[0], w.ints(`${n.name}/split`, ints(a, 'split'))], outs, [attrI('axis', num(a, 'axis'))], n.name);
    w.node('Split', ins, outs, [attrI('axis', num(a, 'axis')), attrInts('split', ints(a, 'split'))], n.name);
  },
  Transpose: same('Transpose', (a) => (ints(a, 'perm').length ? [attrInts('perm', ints(a, 'perm'))] : [])),
  Reshape: (w, n, ins, outs, a, s) => {
    const shape = [...ints(a, 'shape')];
    const allowzero = num(a, 'allowzero');
    if (allowzero && w.opset < 14) throw unsupportedError(`Reshape with allowzero needs opset 14 or later (node '${n.name}')`);
    // With a dynamic batch, a target that repeats the input's batch size copies it instead (0).
    if (w.options.dynamicBatch && !allowzero && shape.length && s(0).length && shape[0] === s(0)[0] && shape[0] !== -1) shape[0] = 0;
    w.node('Reshape', [ins[0], w.ints(`${n.name}/shape`, shape)], outs, w.opset >= 14 ? [attrI('allowzero', allowzero)] : [], n.name);
  },
  Flatten: same('Flatten', (a) => [attrI('axis', num(a, 'axis'))]),
  Squeeze: (w, n, ins, outs, a) => {
    const axes = ints(a, 'axes');
    if (!axes.length) return w.node('Squeeze', ins, outs, [], n.name);
    if (w.opset >= 13) return w.node('Squeeze', [ins[0], w.ints(`${n.name}/axes`, axes)], outs, [], n.name);
    w.node('Squeeze', ins, outs, [attrInts('axes', axes)], n.name);
  },
  Unsqueeze: (w, n, ins, outs, a) => {
    if (w.opset >= 13) return w.node('Unsqueeze', [ins[0], w.ints(`${n.name}/axes`, ints(a, 'axes'))], outs, [], n.name);
    w.node('Unsqueeze', ins, outs, [attrInts('axes', ints(a, 'axes'))], n.name);
  },
  ReduceMean: (w, n, ins, outs, a) => reduceNode(w, 'ReduceMean', ins[0], outs[0], ints(a, 'axes'), num(a, 'keepdims'), n.name),
  ReduceSum: (w, n, ins, outs, a) => reduceNode(w, 'ReduceSum', ins[0], outs[0], ints(a, 'axes'), num(a, 'keepdims'), n.name),
  ReduceMax: (w, n, ins, outs, a) => reduceNode(w, 'ReduceMax', ins[0], outs[0], ints(a, 'axes'), num(a, 'keepdims'), n.name),
  MatMul: same('MatMul'),
  Gemm: same('Gemm', (a) => [attrF('alpha', num(a, 'alpha')), attrF('beta', num(a, 'beta')), attrI('transA', num(a, 'transA')), attrI('transB', num(a, 'transB'))]),
  Softmax: (w, n, ins, outs, a, s) => {
    const rank = s(0).length;
    const axis = num(a, 'axis') < 0 ? num(a, 'axis') + rank : num(a, 'axis');
    if (w.opset >= 13 || axis === rank - 1) return w.node('Softmax', ins, outs, [attrI('axis', w.opset >= 13 ? num(a, 'axis') : axis)], n.name);
    // Before opset 13 Softmax flattens axis..end; a single inner axis is written out: exp(x - max) / sum.
    const m = w.tmp(outs[0]);
    const d = w.tmp(outs[0]);
    const e = w.tmp(outs[0]);
    const sum = w.tmp(outs[0]);
    reduceNode(w, 'ReduceMax', ins[0], m, [axis], 1);
    w.node('Sub', [ins[0], m], [d]);
    w.node('Exp', [d], [e]);
    reduceNode(w, 'ReduceSum', e, sum, [axis], 1);
    w.node('Div', [e, sum], outs, [], n.name);
  },
};

/** IR ops this exporter can write (WarpAffine and training-only ops have no ONNX equivalent). */
export const exportableOps = (): string[] => Object.keys(EXPORTERS);

/** The largest finite float16. */
const HALF_MAX = 65504;

/** Whether every finite value stays finite in float16 (values round to nearest: 65519 still does). */
function fitsHalf(data: Float32Array): boolean {
  for (let i = 0; i < data.length; ++i) {
    const x = data[i];
    if (Number.isFinite(x) && Math.abs(x) > HALF_MAX && (floatToHalf(x) & 0x7fff) === 0x7c00) return false;
  }
  return true;
}

function largestMagnitude(data: Float32Array): { value: number; index: number } {
  let index = 0;
  for (let i = 1; i < data.length; ++i) if (Math.abs(data[i]) > Math.abs(data[index])) index = i;
  return { value: data[index], index };
}

function irVersionFor(opset: number): number {
  return opset <= 11 ? 6 : opset <= 14 ? 7 : 8;
}

/** `symbolic[i]`: a name (symbolic dim), '' (unknown dim) or null (the fixed size). */
function valueInfo(name: string, shape: readonly number[], symbolic: (string | null)[] | null): OnnxNs.IValueInfoProto {
  const dim = shape.map((d, i) => {
    const s = symbolic?.[i];
    return s ? { dimParam: s } : s === '' ? {} : { dimValue: d };
  });
  return { name, type: { tensorType: { elemType: DT.FLOAT, shape: { dim } } } };
}

const EXPORT_OPTION_KEYS = is.optionKeys<ExportOnnxOptions>()(['opset', 'weights', 'dynamicBatch', 'dynamicSpatial', 'docString']);

/** Encodes a graph as ONNX bytes. */
export function exportOnnxBuffer(graph: Graph, options: ExportOnnxOptions = {}): Uint8Array {
  checkGraph(graph);
  is.knownOptions('exportOnnx', options, EXPORT_OPTION_KEYS);
  const opset = is.integerInRange('opset', options.opset ?? 13, EXPORT_MIN_OPSET, EXPORT_MAX_OPSET);
  const weights = is.oneOf('weights', options.weights ?? 'fp32', ['fp32', 'fp16'] as const);
  const dynamicBatch = options.dynamicBatch ?? true;
  const dynamicSpatial = options.dynamicSpatial ?? false;
  if (!is.bool(dynamicBatch)) throw is.invalid('dynamicBatch', 'boolean', dynamicBatch);
  if (!is.bool(dynamicSpatial)) throw is.invalid('dynamicSpatial', 'boolean', dynamicSpatial);
  // Weights that do not fill their shape would write a file every reader refuses; NaN / Inf weights a
  // model that outputs NaN: refused here, naming the tensor. (Constants may hold an infinity on purpose.)
  for (const v of graph.values) {
    if ((v.kind !== 'param' && v.kind !== 'const') || v.data === undefined) continue;
    const size = v.shape.reduce((a, d) => a * d, 1);
    if (!(v.data instanceof Float32Array) || v.data.length !== size)
      throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Cannot export to ONNX: ${v.kind} '${v.name}' [${v.shape.join(',')}] needs ${size} values but holds ${v.data instanceof Float32Array ? v.data.length : `a ${typeof v.data}`}`);
    if (v.kind === 'param')
      for (let i = 0; i < v.data.length; ++i)
        if (!Number.isFinite(v.data[i])) throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `Cannot export to ONNX: ${v.kind} '${v.name}' holds ${Number.isNaN(v.data[i]) ? 'NaN' : 'Inf'} (element ${i})`);
    // A weight beyond float16's range would be stored as Inf (a model that outputs NaN); one that only
    // underflows (to a subnormal or 0) is fine.
    if (v.kind === 'param' && weights === 'fp16' && !fitsHalf(v.data)) {
      const { value, index } = largestMagnitude(v.data);
      throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `Cannot export to ONNX with fp16 weights: ${v.kind} '${v.name}' has largest magnitude ${Math.abs(value)} (element ${index}: ${value}), beyond float16's range (±${HALF_MAX}); it would be stored as Inf. Export it with fp32 weights (without --fp16)`);
    }
  }
  const missing = new Map<string, number>();
  for (const n of graph.nodes) if (!EXPORTERS[n.op]) missing.set(n.op, (missing.get(n.op) ?? 0) + 1);
  if (missing.size)
    throw unsupportedError(`Cannot export to ONNX: no ONNX equivalent for ${[...missing].map(([op, c]) => `${op} x${c}`).join(', ')}`);

  const w = new Writer(graph, opset, { opset, weights, dynamicBatch, dynamicSpatial });
  // An Identity that only renames a value (the builder's named outputs) is folded away: its
  // producer writes the Identity's output name directly.
  const uses = new Map<number, number>();
  for (const n of graph.nodes) for (const id of n.inputs) uses.set(id, (uses.get(id) ?? 0) + 1);
  const alias = new Map<number, string>();
  const skipped = new Set<Node>();
  for (const n of graph.nodes) {
    const src = n.inputs[0];
    if (n.op !== 'Identity' || src < 0 || graph.values[src].kind !== 'intermediate' || uses.get(src) !== 1 || graph.outputs.includes(src)) continue;
    alias.set(src, graph.values[n.outputs[0]].name);
    skipped.add(n);
  }
  const name = (id: number) => (id < 0 ? '' : alias.get(id) ?? graph.values[id].name);
  for (const v of graph.values) {
    if (v.kind !== 'param' && v.kind !== 'const') continue;
    if (!v.data) throw argumentError(`Value '${v.name}' (${v.kind}) has no data to export`);
    // A constant float16 cannot hold (a large mask or bound) stays fp32 (weights were checked above).
    if (weights === 'fp16' && (v.kind === 'param' || fitsHalf(v.data))) {
      // fp16 storage, fp32 compute: FLOAT16 initializer + Cast to float under the original name.
      // The graph's inputs, outputs and arithmetic stay float32, so every runtime (ORT, ORT mobile,
      // TFLite/CoreML converters) accepts it unchanged, and converters fold the Cast at load time;
      // the file is half the size. A fully-fp16 graph would need fp16 kernels on the target.
      const half = w.fresh(`${v.name}__fp16`);
      w.initializers.push(halfTensorProto(half, v.shape, v.data));
      w.node('Cast', [half], [v.name], [attrI('to', DT.FLOAT)], w.fresh(`${v.name}__cast`));
    } else w.initializers.push(floatTensorProto(v.name, v.shape, v.data));
  }
  for (const n of graph.nodes) {
    if (skipped.has(n)) continue;
    const shapeOf = (i: number) => graph.values[n.inputs[i]].shape;
    EXPORTERS[n.op](w, n, n.inputs.map(name), n.outputs.map(name), n.attrs, shapeOf);
  }
  const inputSymbols = (shape: readonly number[]): (string | null)[] | null => {
    if (!dynamicBatch && !dynamicSpatial) return null;
    return shape.map((_, i) => (i === 0 && dynamicBatch ? 'batch' : dynamicSpatial && shape.length === 4 && i >= 2 ? (i === 2 ? 'height' : 'width') : null));
  };
  const inputs = graph.inputs.map((id) => valueInfo(name(id), graph.values[id].shape, inputSymbols(graph.values[id].shape)));
  // Output sizes follow the inputs; with dynamic inputs the output dims are left unnamed (unknown).
  const outputs = graph.outputs.map((id) => {
    const v = graph.values[id];
    const sym = dynamicBatch || dynamicSpatial ? v.shape.map(() => '') : null;
    return valueInfo(name(id), v.shape, sym);
  });
  // A graph input or parameter listed as an output needs a node that produces it.
  for (const [k, id] of graph.outputs.entries()) {
    if (graph.values[id].kind === 'intermediate') continue;
    const out = w.fresh(`${graph.values[id].name}__out`);
    w.node('Identity', [graph.values[id].name], [out]);
    outputs[k].name = out;
  }
  return encodeModel({
    irVersion: irVersionFor(opset),
    producerName: 'facestyle',
    producerVersion: process.env.npm_package_version ?? '0.1.0',
    opsetImport: [{ domain: '', version: opset }],
    docString: typeof options.docString === 'string' ? options.docString : '',
    graph: { name: graph.name, node: w.nodes, initializer: w.initializers, input: inputs, output: outputs },
  });
}

/**
 * Writes a graph as an ONNX file (opset 13 and fp32 weights by default; dynamic batch).
 * The file is written to a hidden temporary name beside it and renamed, so a failure never leaves half a
 * model (an existing file stays as it was) and the temporary file is removed. The folder must exist
 * (ERR_FACESTYLE_NOT_FOUND naming it); a folder as `path` is ERR_FACESTYLE_ARGUMENT.
 */
export function exportOnnx(graph: Graph, path: string, options: ExportOnnxOptions = {}): void {
  if (!is.string(path)) throw is.invalid('path', 'a file path', path);
  writeFileWholeSync(path, () => exportOnnxBuffer(graph, options));
}
