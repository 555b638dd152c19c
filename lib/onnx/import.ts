// ONNX -> graph IR. The model is decoded with the official schema (proto.ts); every node is either
// folded at load time (constants and shape subgraphs, fold.ts; any IR op whose inputs are all
// constant, by its registry reference) or converted to IR ops whose ONNX tensor arguments (Reshape
// shape, Slice starts, Resize scales, Pad pads, ...) become attributes. The input sizes are fixed
// at load time, so dynamic models are loaded once per input size.
import { readFileSync, statSync } from 'node:fs';
import { FacestyleError, formatError, readError, shapeError, unsupportedError } from '../errors.js';
import type { Attrs, Graph, Node, Value, ValueKind } from '../graph/ir.js';
import { Tensor } from '../graph/tensor.js';
import * as is from '../is.js';
import { getOp, hasOp, inferNodeShapes, normalizeAttrs, outputCount } from '../ops/index.js';
import { type AttrReader, FOLDABLE, attrReader, foldNode, resolveReshape, values } from './fold.js';
import { type ConstTensor, DT, type ModelProto, type NodeProto, dataTypeName, decodeModel, isFloatType, readTensor, toNum } from './proto.js';

export interface LoadOnnxOptions {
  /**
   * Input shapes by input name, for inputs with dynamic dimensions (e.g. `{ input: [1, 3, 480, 640] }`).
   * A dynamic first (batch) dimension defaults to 1; other dynamic dimensions must be given.
   * A shape given for a fixed-size input must match it.
   */
  inputShapes?: Record<string, number[]>;
}

/** Opsets of the default ONNX domain this importer implements. */
export const MIN_OPSET = 9;
export const MAX_OPSET = 17;

/**
 * Reads a path or bytes and decodes the model (FORMAT / NOT_FOUND errors). `file`: where bytes were read
 * from, named by the errors instead of 'model buffer'.
 */
export function readOnnxModel(source: string | Uint8Array, file?: string): { model: ModelProto; opset: number; what: string; bytes: Uint8Array } {
  let bytes: Uint8Array;
  let what = typeof file === 'string' ? `'${file}'` : 'model buffer';
  if (typeof source === 'string') {
    what = `'${source}'`;
    try {
      // A FIFO blocked the process for good and /dev/zero read until memory ran out: only regular files are read.
      const st = statSync(source);
      if (!st.isFile()) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `ONNX model ${what} is ${st.isDirectory() ? 'a directory' : 'not a regular file (a device, pipe or socket)'}`);
      bytes = readFileSync(source);
    } catch (e) {
      if (e instanceof FacestyleError) throw e;
      throw readError(e, `ONNX model ${what}`) ?? new FacestyleError('ERR_FACESTYLE_FORMAT', `Cannot read ONNX model ${what}: ${(e as Error).message}`, { cause: e });
    }
  } else if (source instanceof Uint8Array) bytes = source;
  else throw is.invalid('model', 'a file path or a Uint8Array/Buffer of an ONNX model', source);
  const model = decodeModel(bytes, what);
  const imp = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = imp ? toNum(imp.version) : 0;
  if (!imp) throw formatError(`${what} does not import the default ONNX opset`);
  if (opset < MIN_OPSET || opset > MAX_OPSET)
    throw unsupportedError(`${what} uses ONNX opset ${opset}; supported opsets are ${MIN_OPSET} to ${MAX_OPSET} (convert it with onnx.version_converter)`);
  return { model, opset, what, bytes };
}

/**
 * `unknown`: the output of an op the engine cannot run (or of one downstream of it); `constLike` when it
 * would be a load-time constant were those ops supported (a Shape of it, a shape subgraph after that), so
 * the foldable ops reading it are not listed as unsupported.
 */
type Entry = { kind: 'const'; t: ConstTensor; init: boolean; id?: number } | { kind: 'value'; id: number } | { kind: 'unknown'; constLike: boolean };

/** How an input is known at load time: 'const' (folded, or would be), 'value' (computed at run time), undefined (omitted). */
type InputKind = 'const' | 'value' | undefined;

/** Whether a node of `op` folds at load time given how its inputs are known (the importer's rule). */
function foldsAtLoad(op: string, ins: readonly InputKind[]): boolean {
  if (!FOLDABLE.has(op)) return false;
  // Shape and Size only need the input's shape, which is known at load time.
  if ((op === 'Shape' || op === 'Size') && ins[0] !== undefined) return true;
  return ins.every((k) => k !== 'value') && (ins.length > 0 || op === 'Constant');
}

/** The converter of an ONNX op (own keys only: 'toString' is not an op). */
function converterOf(op: string): Converter | undefined {
  return Object.hasOwn(CONVERTERS, op) ? CONVERTERS[op] : undefined;
}

/** Largest constant (elements) folded through an op's TS reference at load time, as an input or an output. */
const FOLD_REFERENCE_LIMIT = 1 << 20;
/** Most multiply-adds one folded Conv / ConvTranspose / MatMul / Gemm may take in TypeScript (about a second). */
const FOLD_REFERENCE_MACS = 1 << 26;
/** Most elements all folded constants of one import may hold together (a chain of folds, each under the limits, held gigabytes). */
const FOLD_TOTAL_LIMIT = 1 << 25;
const HEAVY_FOLD_OPS = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);
/** Folded ops that pass a constant on as it is or re-laid out (not counted against FOLD_TOTAL_LIMIT). */
const RELAYOUT_FOLD_OPS = new Set(['Constant', 'Cast', 'Identity', 'Dropout', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Shape', 'Size']);

class Importer {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];
  readonly inputs: number[] = [];
  readonly outputs: number[] = [];
  readonly sym = new Map<string, Entry>();
  readonly unsupported = new Map<string, number>();
  private readonly names = new Set<string>();
  readonly nodeNames = new Set<string>();
  private tmpCount = 0;

  constructor(readonly opset: number) {}

  /** Elements of the constants folded so far (FOLD_TOTAL_LIMIT). */
  folded = 0;
  /** Per set of taken names: the next suffix to try for each base (40,000 nodes of one name took 86 s counting up from _1 each time). */
  private readonly suffixes = new Map<Set<string>, Map<string, number>>();

  unique(base: string, taken = this.names): string {
    let name = base;
    if (taken.has(name)) {
      let next = this.suffixes.get(taken);
      if (!next) this.suffixes.set(taken, (next = new Map()));
      let i = next.get(base) ?? 1;
      while (taken.has(`${base}_${i}`)) ++i;
      next.set(base, i + 1);
      name = `${base}_${i}`;
    }
    taken.add(name);
    return name;
  }

  tmp(base: string): string {
    return `${base}/tmp${this.tmpCount++}`;
  }

  addValue(name: string, kind: ValueKind, shape: number[], data?: Float32Array): number {
    const v: Value = { id: this.values.length, name: this.unique(name), kind, shape: [...shape], data };
    this.values.push(v);
    return v.id;
  }

  entry(name: string, where: string): Entry {
    const e = this.sym.get(name);
    if (!e) throw formatError(`${where} reads '${name}', which no initializer, input or earlier node produces`);
    return e;
  }

  shapeOf(name: string, where: string): number[] {
    const e = this.entry(name, where);
    if (e.kind === 'const') return e.t.shape;
    if (e.kind === 'value') return this.values[e.id].shape;
    throw unsupportedError(`${where}: shape of '${name}' is unknown`);
  }

  /** A value id for a tensor name, turning constants into param/const values on first use. */
  materialize(name: string, where: string): number {
    const e = this.entry(name, where);
    if (e.kind === 'value') return e.id;
    if (e.kind === 'unknown') throw unsupportedError(`${where}: '${name}' is unknown`);
    if (e.id === undefined) {
      const data = e.t.data instanceof Float32Array ? e.t.data : Float32Array.from(e.t.data);
      // Weights (float initializers) are trainable parameters; folded tensors are constants.
      e.id = this.addValue(name, e.init && isFloatType(e.t.dtype) ? 'param' : 'const', e.t.shape, data);
    }
    return e.id;
  }

  /**
   * Adds an IR node, or folds it with the op's reference when every input is constant; its outputs
   * are bound to the ONNX names `outs`. An IR op missing from the registry throws UNSUPPORTED,
   * which the caller records against the ONNX op.
   */
  emit(onnxOp: string, op: string, inputs: (string | null)[], attrs: Attrs, outs: string[], nodeName: string): void {
    if (!hasOp(op)) throw unsupportedError(`${onnxOp} (IR op ${op} is not implemented)`);
    const schema = getOp(op);
    const where = `${onnxOp} node '${nodeName}'`;
    let full: Attrs;
    try {
      full = normalizeAttrs(schema, attrs);
    } catch (e) {
      // An attribute value the IR op cannot take (a mode it lacks, ...) makes this node unsupported.
      if (e instanceof FacestyleError && e.code === 'ERR_FACESTYLE_ARGUMENT') throw unsupportedError(`${onnxOp} (${e.message})`);
      throw e;
    }
    const entries = inputs.map((n) => (n ? this.entry(n, where) : null));
    const count = outputCount(schema, full);
    if (count < outs.length) throw unsupportedError(`${onnxOp} with ${outs.length} outputs`);
    const allConst = entries.every((e) => e === null || e.kind === 'const');
    if (allConst && entries.some((e) => e !== null)) {
      const ins = entries.map((e) => (e && e.kind === 'const' ? new Tensor(e.t.shape, e.t.data instanceof Float32Array ? e.t.data : Float32Array.from(e.t.data)) : null));
      const outShapes = ins.every((t) => !t || t.size <= FOLD_REFERENCE_LIMIT) ? inferNodeShapes(schema, nodeName, ins.map((t) => (t ? t.shape : null)), full) : null;
      // Folded only when the result is small and quick to compute; otherwise the node runs at run time
      // (a 153-byte Resize took 36 s and 6 GB to fold; a constant Conv 20 s).
      const outSize = outShapes ? outShapes.slice(0, outs.length).reduce((n, sh) => n + sh.reduce((a, b) => a * b, 1), 0) : Infinity;
      const macs = HEAVY_FOLD_OPS.has(onnxOp) && ins[1] ? outSize * Math.max(1, ins[1].size / Math.max(1, outShapes?.[0]?.[1] ?? 1)) : outSize;
      if (outSize <= FOLD_REFERENCE_LIMIT && macs <= FOLD_REFERENCE_MACS && this.folded + outSize <= FOLD_TOTAL_LIMIT) {
        this.folded += outSize;
        const res = schema.reference(ins, full);
        outs.forEach((o, i) => this.sym.set(o, { kind: 'const', t: { dtype: DT.FLOAT, shape: [...res[i].shape], data: res[i].data }, init: false }));
        return;
      }
    }
    const ids = inputs.map((n) => (n ? this.materialize(n, where) : -1));
    const shapes = inferNodeShapes(schema, nodeName, ids.map((id) => (id < 0 ? null : this.values[id].shape)), full);
    const name = this.unique(nodeName, this.nodeNames);
    const outIds = shapes.slice(0, count).map((s, i) => this.addValue(outs[i] || `${name}:${i}`, 'intermediate', s));
    this.nodes.push({ id: this.nodes.length, name, op, attrs: full, inputs: ids, outputs: outIds });
    outs.forEach((o, i) => o && this.sym.set(o, { kind: 'value', id: outIds[i] }));
  }
}

/** What a converter sees of one ONNX node. */
interface Ctx {
  node: NodeProto;
  at: AttrReader;
  opset: number;
  where: string;
  name: string;
  /** Input name i, or null when omitted. */
  in(i: number): string | null;
  /** Constant input i (UNSUPPORTED when it is computed at run time); undefined when omitted. */
  const(i: number): ConstTensor | undefined;
  shape(i: number): number[];
  out(i: number): string;
  emit(op: string, inputs: (string | null)[], attrs: Attrs, outs?: string[]): void;
  tmp(): string;
  /** A float constant bound to a fresh name. */
  constant(values: number[], shape: number[]): string;
}

type Converter = (c: Ctx) => void;

const FLT_MAX = 3.4028234663852886e38;
const INT_CLAMP = 2 ** 31 - 1;
const clampInt = (v: number) => Math.max(-INT_CLAMP, Math.min(INT_CLAMP, v));

/** Explicit [top, left, bottom, right] pads from ONNX pads / auto_pad. */
function resolvePads(c: Ctx, inSpatial: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  const autoPad = c.at.string('auto_pad', 'NOTSET');
  const r = kernel.length;
  if (autoPad === 'VALID') return new Array(2 * r).fill(0);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < r; ++i) {
      const out = Math.ceil(inSpatial[i] / strides[i]);
      const total = Math.max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inSpatial[i], 0);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
    return [...begin, ...end];
  }
  if (autoPad !== 'NOTSET') throw formatError(`${c.where}: unknown auto_pad '${autoPad}'`);
  const pads = c.at.ints('pads', new Array(2 * r).fill(0));
  if (pads.length !== 2 * r) throw formatError(`${c.where}: expected ${2 * r} pads but received [${pads}]`);
  return pads;
}

function require2d(c: Ctx, shape: number[]): void {
  if (shape.length !== 4) throw unsupportedError(`${c.node.opType} on rank ${shape.length} (only 2-D spatial NCHW)`);
}

const unary = (op: string): Converter => (c) => c.emit(op, [c.in(0)], {});
const binary = (op: string): Converter => (c) => c.emit(op, [c.in(0), c.in(1)], {});
/** Variadic ONNX op (Sum, Max, Min) as a chain of binary IR ops. */
const chain = (op: string): Converter => (c) => {
  const ins = (c.node.input ?? []).filter((n) => n);
  if (ins.length === 1) return c.emit('Identity', [ins[0]], {});
  let acc = ins[0];
  for (let i = 1; i < ins.length; ++i) {
    const out = i === ins.length - 1 ? c.out(0) : c.tmp();
    c.emit(op, [acc, ins[i]], {}, [out]);
    acc = out;
  }
};

function axesOf(c: Ctx, inputIndex: number, fromInputSince: number, dflt?: number[]): number[] {
  if (c.opset >= fromInputSince) {
    const t = c.const(inputIndex);
    return t ? values(t) : dflt ?? [];
  }
  return c.at.ints('axes', dflt ?? []);
}

function reduce(op: string, axesInputSince: number): Converter {
  return (c) => {
    const axes = axesOf(c, 1, axesInputSince);
    if (axes.length === 0 && c.at.int('noop_with_empty_axes', 0)) return c.emit('Identity', [c.in(0)], {});
    c.emit(op, [c.in(0)], { axes, keepdims: c.at.int('keepdims', 1) });
  };
}

function pool(op: 'MaxPool' | 'AveragePool'): Converter {
  return (c) => {
    if ((c.node.output ?? []).length > 1 && c.node.output![1]) throw unsupportedError(`${op} with an Indices output`);
    const x = c.shape(0);
    require2d(c, x);
    const kernel = c.at.ints('kernel_shape');
    const strides = c.at.ints('strides', [1, 1]);
    const dilations = op === 'MaxPool' ? c.at.ints('dilations', [1, 1]) : [1, 1];
    const pads = resolvePads(c, x.slice(2), kernel, strides, dilations);
    const attrs: Attrs = { kernel_shape: kernel, strides, pads, ceil_mode: c.at.int('ceil_mode', 0) };
    if (op === 'MaxPool') attrs.dilations = dilations;
    else attrs.count_include_pad = c.at.int('count_include_pad', 0);
    c.emit(op, [c.in(0)], attrs);
  };
}

function resize(c: Ctx, kind: 'Resize' | 'Upsample'): void {
  const x = c.shape(0);
  let mode = c.at.string('mode', 'nearest');
  if (mode === 'bilinear') mode = 'linear';
  if (mode !== 'nearest' && mode !== 'linear') throw unsupportedError(`${kind} mode '${mode}'`);
  let ctm = 'asymmetric';
  let nearest = 'floor';
  let scales: number[] = [];
  let sizes: number[] = [];
  if (kind === 'Upsample' || c.opset < 11) {
    // Upsample (opset 9) and Resize-10: X, scales; asymmetric coordinates, nearest rounds down.
    const s = c.const(1);
    if (!s) throw formatError(`${c.where}: ${kind} needs scales`);
    scales = values(s);
  } else {
    ctm = c.at.string('coordinate_transformation_mode', 'half_pixel');
    nearest = c.at.string('nearest_mode', 'round_prefer_floor');
    const s = c.const(2);
    const z = c.const(3);
    if (s && s.data.length) scales = values(s);
    else if (z && z.data.length) sizes = values(z);
    else throw formatError(`${c.where}: Resize needs scales or sizes`);
  }
  if (scales.length && scales.length !== x.length) throw shapeError(`${c.where}: expected ${x.length} scales but received [${scales}]`);
  if (!['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel'].includes(ctm)) throw unsupportedError(`${kind} coordinate_transformation_mode '${ctm}'`);
  c.emit('Resize', [c.in(0)], { mode, coordinate_transformation_mode: ctm, nearest_mode: nearest, scales, sizes });
}

function softmax(c: Ctx): void {
  const x = c.shape(0);
  const rank = x.length;
  if (c.opset >= 13) return c.emit('Softmax', [c.in(0)], { axis: c.at.int('axis', -1) });
  // Before opset 13 Softmax normalises over the flattened dims axis..end (default axis 1).
  const axis = c.at.int('axis', 1);
  const a = axis < 0 ? axis + rank : axis;
  if (a === rank - 1) return c.emit('Softmax', [c.in(0)], { axis: -1 });
  const flat = c.tmp();
  const soft = c.tmp();
  c.emit('Flatten', [c.in(0)], { axis: a }, [flat]);
  c.emit('Softmax', [flat], { axis: -1 }, [soft]);
  c.emit('Reshape', [soft], { shape: x, allowzero: 0 });
}

/** HardSigmoid: clip(alpha * x + beta, 0, 1). */
function hardSigmoid(c: Ctx, x: string, out: string, alpha: number, beta: number): void {
  const ax = c.tmp();
  const axb = c.tmp();
  c.emit('Mul', [x, c.constant([alpha], [])], {}, [ax]);
  c.emit('Add', [ax, c.constant([beta], [])], {}, [axb]);
  c.emit('Clip', [axb], { min: 0, max: 1 }, [out]);
}

/** Gather with constant indices on a run-time tensor: one Slice per index (+ Concat), Squeeze for a scalar index. */
function gather(c: Ctx): void {
  const x = c.shape(0);
  const idx = c.const(1)!;
  const axis = c.at.int('axis', 0);
  const a = axis < 0 ? axis + x.length : axis;
  const list = values(idx).map((i) => (i < 0 ? i + x[a] : i));
  if (list.some((i) => !(i >= 0 && i < x[a]))) throw shapeError(`${c.where}: Gather index out of range for dimension ${x[a]}`);
  if (idx.shape.length > 1 || list.length > 64) throw unsupportedError('Gather with multi-dimensional or more than 64 run-time indices');
  const parts = list.map((i) => {
    const p = c.tmp();
    c.emit('Slice', [c.in(0)], { starts: [i], ends: [i + 1], axes: [a], steps: [] }, [p]);
    return p;
  });
  if (idx.shape.length === 0) return c.emit('Squeeze', [parts[0]], { axes: [a] });
  if (parts.length === 1) return c.emit('Identity', [parts[0]], {});
  c.emit('Concat', parts, { axis: a });
}

export const CONVERTERS: Record<string, Converter> = {
  // Ops outside the IR written as IR chains.
  PRelu: (c) => {
    // max(x, 0) + slope * min(x, 0)
    const zero = c.constant([0], []);
    const pos = c.tmp();
    const neg = c.tmp();
    const scaled = c.tmp();
    c.emit('Max', [c.in(0), zero], {}, [pos]);
    c.emit('Min', [c.in(0), zero], {}, [neg]);
    c.emit('Mul', [neg, c.in(1)], {}, [scaled]);
    c.emit('Add', [pos, scaled], {});
  },
  HardSigmoid: (c) => hardSigmoid(c, c.in(0)!, c.out(0), c.at.float('alpha', 0.2), c.at.float('beta', 0.5)),
  HardSwish: (c) => {
    const gate = c.tmp();
    hardSigmoid(c, c.in(0)!, gate, 1 / 6, 0.5);
    c.emit('Mul', [c.in(0), gate], {});
  },
  Mean: (c) => {
    const ins = (c.node.input ?? []).filter((n) => n);
    let acc = ins[0];
    for (let i = 1; i < ins.length; ++i) {
      const out = c.tmp();
      c.emit('Add', [acc, ins[i]], {}, [out]);
      acc = out;
    }
    c.emit('Mul', [acc, c.constant([1 / ins.length], [])], {});
  },
  Gather: gather,
  Conv: (c) => {
    const x = c.shape(0);
    const w = c.shape(1);
    require2d(c, x);
    if (w.length !== 4) throw unsupportedError('Conv with a non-2-D kernel');
    const strides = c.at.ints('strides', [1, 1]);
    const dilations = c.at.ints('dilations', [1, 1]);
    const pads = resolvePads(c, x.slice(2), c.at.ints('kernel_shape', w.slice(2)), strides, dilations);
    c.emit('Conv2D', [c.in(0), c.in(1), c.in(2)].slice(0, c.in(2) ? 3 : 2), { strides, pads, dilations, group: c.at.int('group', 1) });
  },
  ConvTranspose: (c) => {
    const x = c.shape(0);
    const w = c.shape(1);
    require2d(c, x);
    const strides = c.at.ints('strides', [1, 1]);
    const dilations = c.at.ints('dilations', [1, 1]);
    const outPad = c.at.ints('output_padding', [0, 0]);
    const kernel = c.at.ints('kernel_shape', w.slice(2));
    const autoPad = c.at.string('auto_pad', 'NOTSET');
    let pads = c.at.ints('pads', [0, 0, 0, 0]);
    let outputShape = c.at.has('output_shape') ? c.at.ints('output_shape').slice(-2) : null;
    if (!outputShape && (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER')) outputShape = [x[2] * strides[0], x[3] * strides[1]];
    if (autoPad === 'VALID') pads = [0, 0, 0, 0];
    if (outputShape) {
      const begin: number[] = [];
      const end: number[] = [];
      for (let i = 0; i < 2; ++i) {
        const total = strides[i] * (x[2 + i] - 1) + outPad[i] + (kernel[i] - 1) * dilations[i] + 1 - outputShape[i];
        const half = Math.floor(total / 2);
        begin.push(autoPad === 'SAME_UPPER' ? half : total - half);
        end.push(autoPad === 'SAME_UPPER' ? total - half : half);
      }
      pads = [...begin, ...end];
    }
    c.emit('ConvTranspose2D', [c.in(0), c.in(1), c.in(2)].slice(0, c.in(2) ? 3 : 2), { strides, pads, dilations, group: c.at.int('group', 1), output_padding: outPad });
  },
  MaxPool: pool('MaxPool'),
  AveragePool: pool('AveragePool'),
  GlobalAveragePool: unary('GlobalAveragePool'),
  GlobalMaxPool: unary('GlobalMaxPool'),
  Resize: (c) => resize(c, 'Resize'),
  Upsample: (c) => resize(c, 'Upsample'),
  Pad: (c) => {
    const rank = c.shape(0).length;
    let pads: number[];
    let value = 0;
    if (c.opset < 11) {
      pads = c.at.ints('pads');
      value = c.at.float('value', 0);
    } else {
      pads = values(c.const(1)!);
      const v = c.const(2);
      if (v && v.data.length) value = v.data[0];
      const axesT = c.const(3);
      if (axesT) {
        const axes = values(axesT).map((a) => (a < 0 ? a + rank : a));
        const full = new Array(2 * rank).fill(0);
        axes.forEach((a, i) => {
          full[a] = pads[i];
          full[a + rank] = pads[i + axes.length];
        });
        pads = full;
      }
    }
    const mode = c.at.string('mode', 'constant');
    if (!['constant', 'reflect', 'edge'].includes(mode)) throw unsupportedError(`Pad mode '${mode}'`);
    c.emit('Pad', [c.in(0)], { pads, mode, value });
  },
  BatchNormalization: (c) => {
    if ((c.node.output ?? []).filter((o) => o).length > 1) throw unsupportedError('BatchNormalization in training mode');
    c.emit('BatchNormalization', [0, 1, 2, 3, 4].map((i) => c.in(i)), { epsilon: c.at.float('epsilon', 1e-5) });
  },
  InstanceNormalization: (c) => c.emit('InstanceNormalization', [c.in(0), c.in(1), c.in(2)], { epsilon: c.at.float('epsilon', 1e-5) }),
  LayerNormalization: (c) => {
    if ((c.node.output ?? []).filter((o) => o).length > 1) throw unsupportedError('LayerNormalization with Mean/InvStdDev outputs');
    c.emit('LayerNormalization', [c.in(0), c.in(1), c.in(2)].slice(0, c.in(2) ? 3 : 2), { axis: c.at.int('axis', -1), epsilon: c.at.float('epsilon', 1e-5) });
  },
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Pow: binary('Pow'),
  Max: chain('Max'),
  Min: chain('Min'),
  Sum: chain('Add'),
  Relu: unary('Relu'),
  Tanh: unary('Tanh'),
  Sigmoid: unary('Sigmoid'),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Sqrt: unary('Sqrt'),
  Abs: unary('Abs'),
  Neg: unary('Neg'),
  Identity: unary('Identity'),
  Dropout: unary('Identity'),
  LeakyRelu: (c) => c.emit('LeakyRelu', [c.in(0)], { alpha: c.at.float('alpha', 0.01) }),
  Cast: (c) => {
    const to = c.at.int('to');
    if (!isFloatType(to)) throw unsupportedError(`Cast to ${dataTypeName(to)} of a tensor computed at run time`);
    c.emit('Identity', [c.in(0)], {});
  },
  Clip: (c) => {
    let min = -FLT_MAX;
    let max = FLT_MAX;
    if (c.opset < 11) {
      min = c.at.float('min', min);
      max = c.at.float('max', max);
    } else {
      const lo = c.const(1);
      const hi = c.const(2);
      if (lo && lo.data.length) min = lo.data[0];
      if (hi && hi.data.length) max = hi.data[0];
    }
    c.emit('Clip', [c.in(0)], { min, max });
  },
  Concat: (c) => c.emit('Concat', (c.node.input ?? []).filter((n) => n), { axis: c.at.int('axis') }),
  Slice: (c) => {
    let starts: number[];
    let ends: number[];
    let axes: number[];
    let steps: number[] = [];
    if (c.opset < 10) {
      starts = c.at.ints('starts');
      ends = c.at.ints('ends');
      axes = c.at.ints('axes', []);
    } else {
      starts = values(c.const(1)!);
      ends = values(c.const(2)!);
      const a = c.const(3);
      const s = c.const(4);
      axes = a ? values(a) : [];
      steps = s ? values(s) : [];
    }
    c.emit('Slice', [c.in(0)], { starts: starts.map(clampInt), ends: ends.map(clampInt), axes, steps });
  },
  Split: (c) => {
    const x = c.shape(0);
    const axis = c.at.int('axis', 0);
    const a = axis < 0 ? axis + x.length : axis;
    const n = (c.node.output ?? []).length;
    let split = c.opset >= 13 ? (c.const(1) ? values(c.const(1)!) : []) : c.at.ints('split', []);
    if (split.length === 0) {
      if (x[a] % n !== 0) throw shapeError(`${c.where}: cannot split dimension ${x[a]} into ${n} equal parts`);
      split = new Array(n).fill(x[a] / n);
    }
    c.emit('Split', [c.in(0)], { axis, split }, c.node.output ?? []);
  },
  Transpose: (c) => c.emit('Transpose', [c.in(0)], { perm: c.at.ints('perm', []) }),
  Reshape: (c) => {
    const target = values(c.const(1)!);
    const allowzero = c.at.int('allowzero', 0);
    // Resolve 0 and -1 here so the IR graph carries the concrete shape for this input size.
    // A resolved 0 is a real zero-size dim: keep it literal (allowzero 1).
    const shape = resolveReshape(c.shape(0), target, allowzero, c.where);
    c.emit('Reshape', [c.in(0)], { shape, allowzero: shape.includes(0) ? 1 : 0 });
  },
  Flatten: (c) => c.emit('Flatten', [c.in(0)], { axis: c.at.int('axis', 1) }),
  Squeeze: (c) => c.emit('Squeeze', [c.in(0)], { axes: axesOf(c, 1, 13) }),
  Unsqueeze: (c) => c.emit('Unsqueeze', [c.in(0)], { axes: axesOf(c, 1, 13) }),
  ReduceMean: reduce('ReduceMean', 18),
  ReduceSum: reduce('ReduceSum', 13),
  ReduceMax: reduce('ReduceMax', 18),
  MatMul: binary('MatMul'),
  Gemm: (c) => {
    const ins = [c.in(0), c.in(1), c.in(2)];
    c.emit('Gemm', ins[2] ? ins : ins.slice(0, 2), { alpha: c.at.float('alpha', 1), beta: c.at.float('beta', 1), transA: c.at.int('transA', 0), transB: c.at.int('transB', 0) });
  },
  Softmax: softmax,
};

/** Input dims from the ValueInfo: numbers, or the symbolic name / null for dynamic ones. */
export function declaredDims(vi: { type?: { tensorType?: { shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null }): (number | string)[] {
  return (vi.type?.tensorType?.shape?.dim ?? []).map((d) => {
    const v = d.dimValue !== undefined && d.dimValue !== null ? toNum(d.dimValue) : 0;
    return v > 0 ? v : d.dimParam || '?';
  });
}

/** Resolves one graph input's shape from its declaration and the caller's inputShapes. */
function resolveInputShape(name: string, dims: (number | string)[], given: number[] | undefined): number[] {
  const show = `[${dims.join(',')}]`;
  if (given !== undefined) {
    if (!Array.isArray(given) || given.some((d) => !Number.isInteger(d) || d < 0)) throw is.invalid(`inputShapes['${name}']`, 'an array of non-negative integers', given);
    if (given.length !== dims.length) throw shapeError(`Input '${name}' has rank ${dims.length} ${show} but inputShapes gives [${given.join(',')}]`);
    dims.forEach((d, i) => {
      if (typeof d === 'number' && d !== given[i]) throw shapeError(`Input '${name}' has fixed shape ${show}; it cannot take [${given.join(',')}]`);
    });
    return [...given];
  }
  return dims.map((d, i) => {
    if (typeof d === 'number') return d;
    if (i === 0) return 1; // dynamic batch: one image
    throw shapeError(`Input '${name}' has dynamic shape ${show}; pass its size in inputShapes (CLI: --size), e.g. { '${name}': [${dims.map((x, j) => (typeof x === 'number' ? x : j === 0 ? 1 : 256)).join(', ')}] }`);
  });
}

/**
 * Ops of a decoded model the engine cannot run (domain-qualified outside the default domain), each once,
 * in the order loadOnnx() lists them: a quick check without importing, by the importer's rules (only
 * nodes that reach an output; a foldable op, such as Floor or Where, counts when it reads a tensor
 * computed at run time and has no run-time conversion). loadOnnx() still has the last word: a converter
 * may refuse a node's attributes or sizes.
 */
export function unsupportedOps(model: ModelProto): string[] {
  const graph = model.graph;
  if (!graph) return [];
  const kinds = new Map<string, InputKind>();
  for (const t of graph.initializer ?? []) if (t.name) kinds.set(t.name, 'const');
  const nodes = liveNodes(graph);
  const out = new Set<string>();
  for (const node of graph.node ?? []) {
    if (!nodes.has(node)) continue;
    const op = node.opType ?? '';
    // An input no initializer or earlier node gives is a graph input (or an error loadOnnx reports).
    const ins = (node.input ?? []).map((n): InputKind => (n ? kinds.get(n) ?? 'value' : undefined));
    const custom = !!node.domain && node.domain !== 'ai.onnx';
    const folds = !custom && foldsAtLoad(op, ins);
    if (custom) out.add(`${node.domain}.${op}`);
    else if (!folds && !converterOf(op)) out.add(op);
    const kind: InputKind = folds || ins.every((k) => k !== 'value') ? 'const' : 'value';
    for (const o of node.output ?? []) if (o) kinds.set(o, kind);
  }
  return [...out];
}

/** The nodes that reach a graph output (the only ones imported). */
function liveNodes(graph: NonNullable<ModelProto['graph']>): Set<NodeProto> {
  const live = new Set<string>((graph.output ?? []).map((o) => o.name ?? ''));
  const needed = new Set<NodeProto>();
  for (const node of [...(graph.node ?? [])].reverse()) {
    if (!(node.output ?? []).some((o) => o && live.has(o))) continue;
    needed.add(node);
    for (const i of node.input ?? []) if (i) live.add(i);
  }
  return needed;
}

/** Op histogram of a decoded model (by ONNX op type, domain-qualified outside the default domain). */
export function onnxOpHistogram(model: ModelProto): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of model.graph?.node ?? []) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType ?? '?';
    h[key] = (h[key] ?? 0) + 1;
  }
  return h;
}

/**
 * Loads an ONNX model (path or bytes) as a graph the native runtime runs, for the input sizes in
 * `options.inputShapes` (dynamic dimensions) or the model's fixed sizes.
 * Errors: ERR_FACESTYLE_FORMAT (damaged/not ONNX), ERR_FACESTYLE_SHAPE (sizes), and
 * ERR_FACESTYLE_UNSUPPORTED listing every unsupported op with its count, before anything runs.
 */
export function loadOnnx(source: string | Uint8Array, options: LoadOnnxOptions = {}): Graph {
  return loadOnnxFrom(source, options);
}

/**
 * loadOnnx() for bytes read from `file` (checkParity, modelInfo): its errors name the file instead of
 * 'model buffer'.
 */
export function loadOnnxFrom(source: string | Uint8Array, options: LoadOnnxOptions = {}, file?: string): Graph {
  try {
    return importModel(source, options, file);
  } catch (e) {
    if (e instanceof FacestyleError) throw e;
    // A file that drives the importer into an unexpected state (absurd sizes, inconsistent fields)
    // is a damaged file from the caller's point of view; the cause keeps the details.
    const what = typeof source === 'string' ? `'${source}'` : typeof file === 'string' ? `'${file}'` : 'model buffer';
    throw formatError(`${what} could not be imported: ${(e as Error)?.message ?? e}`, e);
  }
}

function importModel(source: string | Uint8Array, options: LoadOnnxOptions, file?: string): Graph {
  is.knownOptions('loadOnnx', options, is.optionKeys<LoadOnnxOptions>()(['inputShapes']));
  const inputShapes = options.inputShapes ?? {};
  if (!is.object(inputShapes)) throw is.invalid('inputShapes', 'an object of input name -> shape', inputShapes);
  const { model, opset, what } = readOnnxModel(source, file);
  const graph = model.graph!;
  const imp = new Importer(opset);

  const initNames = new Set<string>();
  for (const [i, t] of (graph.initializer ?? []).entries()) {
    const name = t.name || `initializer_${i}`;
    imp.sym.set(name, { kind: 'const', t: readTensor(t, `initializer '${name}'`), init: true });
    initNames.add(name);
  }
  const realInputs = (graph.input ?? []).filter((vi) => !initNames.has(vi.name ?? ''));
  for (const key of Object.keys(inputShapes))
    if (!realInputs.some((vi) => vi.name === key)) throw is.invalid('inputShapes', `shapes for the model's inputs (${realInputs.map((v) => v.name).join(', ')})`, key);
  for (const vi of realInputs) {
    const name = vi.name ?? '';
    if (!name) throw formatError(`${what}: a graph input has no name`);
    const elem = vi.type?.tensorType?.elemType ?? 0;
    if (elem !== DT.FLOAT) throw unsupportedError(`${what}: input '${name}' is ${dataTypeName(elem)}; only float32 inputs are supported`);
    const shape = resolveInputShape(name, declaredDims(vi), (inputShapes as Record<string, number[] | undefined>)[name]);
    const id = imp.addValue(name, 'input', shape);
    imp.inputs.push(id);
    imp.sym.set(name, { kind: 'value', id });
  }

  // A graph with nothing to compute, or a name assigned twice (ONNX graphs are single-assignment; which
  // write would win is undefined, and onnxruntime refuses both), is not a model to run.
  if (!(graph.output ?? []).some((o) => o.name)) throw formatError(`${what}: the graph has no outputs`);
  const given = new Set<string>([...(graph.input ?? []).map((vi) => vi.name ?? ''), ...(graph.initializer ?? []).map((t) => t.name ?? '')].filter((n) => n));
  const written = new Set<string>();
  for (const node of graph.node ?? [])
    for (const o of node.output ?? []) {
      if (!o) continue;
      const by = `a ${node.opType ?? '?'} node${node.name ? ` '${node.name}'` : ''}`;
      if (given.has(o)) throw formatError(`${what}: ${by} writes '${o}', which is a graph input or initializer: an ONNX graph assigns each name once`);
      if (written.has(o)) throw formatError(`${what}: '${o}' is written more than once (again by ${by}): an ONNX graph assigns each name once`);
      written.add(o);
    }

  // Only nodes that reach a graph output are imported: a dead branch (debug outputs, training
  // leftovers) costs no run time and cannot fail the import (beyond the name checks above).
  const needed = liveNodes(graph);

  const note = (op: string) => imp.unsupported.set(op, (imp.unsupported.get(op) ?? 0) + 1);
  for (const [k, node] of (graph.node ?? []).entries()) {
    if (!needed.has(node)) continue;
    const op = node.opType ?? '';
    const name = node.name || `${op}_${k}`;
    const where = `${op} node '${name}'`;
    const outs = node.output ?? [];
    const inNames = node.input ?? [];
    // A node outside the default domain is listed whatever it reads (it is not checked further).
    const custom = !!node.domain && node.domain !== 'ai.onnx';
    const entries = inNames.map((n) => (!n ? undefined : custom ? imp.sym.get(n) : imp.entry(n, where)));
    const kinds = entries.map((e, i): InputKind => (!inNames[i] ? undefined : e && (e.kind === 'const' || (e.kind === 'unknown' && e.constLike)) ? 'const' : 'value'));
    // The outputs of a node the engine cannot run (or that reads such a node's output); the unsupportedOps() rules.
    const markUnknown = (folds = false) => {
      const constLike = folds || kinds.every((k) => k !== 'value');
      outs.forEach((o) => o && imp.sym.set(o, { kind: 'unknown', constLike }));
    };
    if (custom) {
      note(`${node.domain}.${op}`);
      markUnknown();
      continue;
    }
    if (entries.some((e) => e?.kind === 'unknown')) {
      // Downstream of an unsupported op: still list this op if the engine cannot run it either: no
      // converter, and not folded at load time (a Floor or Where of a run-time tensor is listed; a
      // Shape, or a shape subgraph after it, is not).
      const folds = foldsAtLoad(op, kinds);
      if (!folds && !converterOf(op)) note(op);
      markUnknown(folds);
      continue;
    }
    if (foldsAtLoad(op, kinds)) {
      const ins = entries.map((e) =>
        !e ? undefined
        : e.kind === 'const' ? e.t
        : { dtype: DT.FLOAT, shape: imp.values[(e as { id: number }).id].shape, data: new Float32Array(0) },
      );
      const res = foldNode(node, ins, opset, where);
      // Computed constants count against the import's total; a weight passed on as it is or in another
      // layout (Constant, Cast of fp16 storage, Reshape, Transpose, ...) does not: the cap is on what
      // folding makes, not on the model's size (counting those refused models of over 33.5M weights).
      if (!RELAYOUT_FOLD_OPS.has(op)) {
        imp.folded += res.reduce((n, t) => n + t.data.length, 0);
        if (imp.folded > FOLD_TOTAL_LIMIT) throw shapeError(`${where}: the model's computed constants would hold over ${FOLD_TOTAL_LIMIT} elements`);
      }
      // A weight passed through Cast/Identity (fp16 storage + Cast to float) is still a weight.
      const init = (op === 'Cast' || op === 'Identity') && entries[0]?.kind === 'const' && entries[0].init;
      res.forEach((t, i) => outs[i] && imp.sym.set(outs[i], { kind: 'const', t, init }));
      continue;
    }
    const conv = converterOf(op);
    if (!conv) {
      note(op);
      markUnknown();
      continue;
    }
    const ctx: Ctx = {
      node,
      at: attrReader(node, where),
      opset,
      where,
      name,
      in: (i) => inNames[i] || null,
      const: (i) => {
        const n = inNames[i];
        if (!n) return undefined;
        const e = imp.entry(n, where);
        if (e.kind !== 'const') throw unsupportedError(`${op} with input ${i} ('${n}') computed at run time`);
        return e.t;
      },
      shape: (i) => {
        const n = inNames[i];
        if (!n) throw formatError(`${where}: input ${i} is missing`);
        return imp.shapeOf(n, where);
      },
      out: (i) => outs[i] ?? '',
      emit: (irOp, inputs, attrs, o) => imp.emit(op, irOp, inputs, attrs, o ?? [outs[0]], name),
      tmp: () => imp.tmp(name),
      constant: (vals, shape) => {
        const n = imp.tmp(name);
        imp.sym.set(n, { kind: 'const', t: { dtype: DT.FLOAT, shape, data: Float32Array.from(vals) }, init: false });
        return n;
      },
    };
    try {
      conv(ctx);
    } catch (e) {
      if (e instanceof FacestyleError && e.code === 'ERR_FACESTYLE_UNSUPPORTED') {
        note(e.message.startsWith(op) ? e.message : `${op} (${e.message})`);
        markUnknown();
        continue;
      }
      throw e;
    }
  }

  if (imp.unsupported.size) {
    const list = [...imp.unsupported.entries()].map(([op, n]) => `${op} x${n}`);
    throw unsupportedError(`${what} uses ops this engine cannot run: ${list.join(', ')}`);
  }

  // Values by name and the outputs listed so far, kept up to date by identity() (a search of every value
  // and node for each output made 20,000 outputs take 73 s).
  const byName = new Map(imp.values.map((v) => [v.name, v]));
  const listed = new Set<number>();
  for (const vi of graph.output ?? []) {
    const name = vi.name ?? '';
    const e = imp.entry(name, `graph output '${name}'`);
    let id: number;
    if (e.kind === 'const') {
      const c = imp.materialize(name, 'graph output');
      byName.set(imp.values[c].name, imp.values[c]);
      rename(byName, imp.values[c], imp.unique(`${name}/const`));
      id = identity(imp, byName, c, name);
    } else if (e.kind === 'value') {
      const v = imp.values[e.id];
      // An input or an already-listed output cannot double as this output: copy it.
      id = v.kind !== 'intermediate' || listed.has(e.id) || v.name !== name ? identity(imp, byName, e.id, name) : e.id;
    } else throw unsupportedError(`graph output '${name}' is unknown`);
    imp.outputs.push(id);
    listed.add(id);
  }
  return { name: graph.name || 'onnx', values: imp.values, nodes: imp.nodes, inputs: imp.inputs, outputs: imp.outputs };
}

function rename(byName: Map<string, Value>, v: Value, to: string): void {
  if (byName.get(v.name) === v) byName.delete(v.name);
  v.name = to;
  byName.set(to, v);
}

function identity(imp: Importer, byName: Map<string, Value>, src: number, name: string): number {
  const nodeName = imp.unique(`${name}/identity`, imp.nodeNames);
  // The output name must be the ONNX name; free it if an internal value holds it.
  const holder = byName.get(name);
  if (holder && holder.kind === 'input') name = imp.unique(`${name}/output`);
  else if (holder) rename(byName, holder, imp.unique(`${name}/src`));
  const id = imp.values.length;
  const v: Value = { id, name, kind: 'intermediate', shape: [...imp.values[src].shape] };
  imp.values.push(v);
  byName.set(name, v);
  imp.nodes.push({ id: imp.nodes.length, name: nodeName, op: 'Identity', attrs: {}, inputs: [src], outputs: [id] });
  return id;
}
