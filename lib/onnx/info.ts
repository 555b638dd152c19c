// Model facts for choosing models by computational load: op histogram, parameters, MACs, peak
// activation memory at an input size, and a mobile compute class.
import path from 'node:path';
import { FacestyleError, argumentError, shapeError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { convOutputShape } from '../ops/conv.js';
import { pointwiseDepthwiseMacs } from '../ops/pointwise_depthwise.js';
import { countDenormals } from '../graph/passes/denormal.js';
import { shapeSize } from '../graph/tensor.js';
import * as is from '../is.js';
import { compile } from '../runtime/session.js';
import { isGeneratorSource } from '../files.js';
import { loadGenerator } from '../nn/load.js';
import { DT, isFloatType, toNum } from './proto.js';
import { declaredDims, loadOnnxFrom, onnxOpHistogram, readOnnxModel } from './import.js';

export interface ModelInfoOptions {
  /** Input image size: a number (square), [width, height], or 'WxH'. Sets the H, W of dynamic image inputs. */
  size?: number | [number, number] | string;
  /** Explicit input shapes (override `size`). */
  inputShapes?: Record<string, number[]>;
}

/**
 * Mobile compute classes by multiply-accumulates per run at the given size. Budget: a mid-range
 * phone (2021-era, e.g. Snapdragon 778G class, 4 big cores, fp32 NEON via ORT mobile / TFLite
 * XNNPACK) sustains about 15-25 GMAC/s on conv nets; real-time video (>= 25 fps, 40 ms) then fits
 * about 0.5 GMAC, interactive use (>= 4 fps, 250 ms) about 4 GMAC. Peak activations above 256 MiB
 * also rule out real-time/interactive (memory pressure and bandwidth dominate).
 */
export const COMPUTE_CLASSES = {
  realtime: { maxMacs: 0.5e9, maxActivationBytes: 64 * 2 ** 20, doc: '>= 25 fps on a mid-range phone' },
  interactive: { maxMacs: 4e9, maxActivationBytes: 256 * 2 ** 20, doc: '>= 4 fps on a mid-range phone' },
  offline: { maxMacs: Infinity, maxActivationBytes: Infinity, doc: 'batch/offline processing' },
} as const;
export type ComputeClass = keyof typeof COMPUTE_CLASSES;

export interface ModelInfo {
  name: string;
  /** ONNX opset (ONNX models only). */
  opset?: number;
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  /** Op histogram of the model as stored (ONNX op types for ONNX files, IR ops for graphs). */
  ops: Record<string, number>;
  /** Op histogram of the runnable graph after folding (IR op names). */
  graphOps: Record<string, number>;
  /** Trainable parameters: elements of float weights. */
  params: number;
  /** Bytes of those weights as stored (fp16 initializers count 2 bytes). */
  paramBytes: number;
  /**
   * Weight elements that are denormal floats (nonzero, below 2^-126 in magnitude). Slow on many x86 cores;
   * optimizeForInference sets them to 0 (lib/graph/passes/denormal.ts), as facestyle's pipelines do at load.
   */
  denormalWeights: number;
  /** Multiply-accumulates per run (Conv2D, ConvTranspose2D, MatMul, Gemm) at this size. */
  macs: number;
  /** Activation arena of the native plan at this size. */
  peakActivationBytes: number;
  computeClass: ComputeClass;
}

/** Parses a size option into [width, height]. */
export function parseSize(size: number | [number, number] | string): [number, number] {
  if (typeof size === 'number') return [is.positiveInteger('size', size), size];
  if (Array.isArray(size) && size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0)) return [size[0], size[1]];
  if (typeof size === 'string') {
    const m = /^(\d+)(?:x(\d+))?$/i.exec(size.trim());
    if (m && Number(m[1]) > 0 && Number(m[2] ?? m[1]) > 0) return [Number(m[1]), Number(m[2] ?? m[1])];
  }
  throw is.invalid('size', "a positive integer, [width, height] or 'WxH'", size);
}

/**
 * A rank-4 image input of fixed size must already be `w`x`h` (NCHW or NHWC): such a graph cannot be
 * resized, so asking for another size is ERR_FACESTYLE_SHAPE, not silently ignored. Dynamic inputs pass.
 */
export function checkInputFitsSize(name: string, dims: readonly (number | string)[], [w, h]: [number, number]): void {
  // The spatial and channel dims fixed is what matters; a symbolic batch (PFLD's 'batch_size') let
  // check --size 64 run at 112 instead.
  if (dims.length !== 4 || !dims.slice(1).every((d) => typeof d === 'number' && d > 0)) return;
  if ((dims[2] === h && dims[3] === w) || (dims[1] === h && dims[2] === w)) return;
  throw shapeError(`Model input '${name}' has fixed size [${dims.join(',')}]; it cannot run at ${w}x${h}`);
}

/**
 * Input shapes for an image size: a rank-4 input whose H or W is dynamic is NCHW when its channel
 * dim (1) is fixed, NHWC when dim 3 is fixed; a dynamic batch is 1. Fixed H and W are kept (the
 * size then must match them, which loadOnnx checks).
 */
export function imageInputShapes(dims: { name: string; dims: (number | string)[] }[], [w, h]: [number, number]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const { name, dims: d } of dims) {
    if (d.length !== 4 || d.every((x) => typeof x === 'number')) continue;
    const fixed = (i: number): number | null => (typeof d[i] === 'number' ? (d[i] as number) : null);
    const batch = fixed(0) ?? 1;
    if (fixed(1) !== null && (fixed(2) === null || fixed(3) === null)) out[name] = [batch, fixed(1)!, h, w];
    else if (fixed(3) !== null && (fixed(1) === null || fixed(2) === null)) out[name] = [batch, h, w, fixed(3)!];
    else if (fixed(1) !== null && fixed(2) !== null && fixed(3) !== null) out[name] = [batch, fixed(1)!, fixed(2)!, fixed(3)!];
  }
  return out;
}

/** Declared input dims of an ONNX model (numbers or symbolic names), initializers excluded. */
export function declaredInputs(source: string | Uint8Array): { name: string; dims: (number | string)[] }[] {
  const { model } = readOnnxModel(source);
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  return (model.graph?.input ?? [])
    .filter((vi) => !inits.has(vi.name ?? ''))
    .map((vi) => ({ name: vi.name ?? '', dims: declaredDims(vi) }));
}

/** MACs of one graph (conv, transposed conv, fused 1x1 + depthwise, matmul, gemm). */
export function countMacs(graph: Graph): number {
  let macs = 0;
  const shape = (id: number) => graph.values[id].shape;
  for (const n of graph.nodes) {
    if (n.op === 'Conv2D') {
      const w = shape(n.inputs[1]);
      macs += shapeSize(convOutputShape(graph, n)) * w[1] * w[2] * w[3];
    } else if (n.op === 'PointwiseDepthwise') {
      macs += pointwiseDepthwiseMacs(shape(n.inputs[0]), shape(n.inputs[1]), (n.inputs[5] ?? -1) >= 0 ? shape(n.inputs[5]) : undefined);
    } else if (n.op === 'ConvTranspose2D') {
      const w = shape(n.inputs[1]);
      macs += shapeSize(shape(n.inputs[0])) * w[1] * w[2] * w[3];
    } else if (n.op === 'MatMul') {
      const a = shape(n.inputs[0]);
      macs += shapeSize(shape(n.outputs[0])) * (a.length ? a[a.length - 1] : 1);
    } else if (n.op === 'Gemm') {
      const a = shape(n.inputs[0]);
      macs += shapeSize(shape(n.outputs[0])) * (n.attrs.transA ? a[0] : a[1]);
    }
  }
  return macs;
}

export function classify(macs: number, peakActivationBytes: number): ComputeClass {
  for (const k of ['realtime', 'interactive'] as const)
    if (macs <= COMPUTE_CLASSES[k].maxMacs && peakActivationBytes <= COMPUTE_CLASSES[k].maxActivationBytes) return k;
  return 'offline';
}

const histogram = (ops: string[]): Record<string, number> => {
  const h: Record<string, number> = {};
  for (const op of ops) h[op] = (h[op] ?? 0) + 1;
  return h;
};

const DT_BYTES: Record<number, number> = { [DT.FLOAT]: 4, [DT.FLOAT16]: 2, [DT.BFLOAT16]: 2, [DT.DOUBLE]: 8 };


const MODEL_INFO_OPTION_KEYS = is.optionKeys<ModelInfoOptions>()(['size', 'inputShapes']);

/**
 * Facts about a model at an input size; compiles it to measure memory. `model`: an ONNX path or bytes, a
 * Graph, or a facestyle generator (model card .json, weights or checkpoint .safetensors, run folder; at
 * 256x256 unless `size` says otherwise).
 */
export async function modelInfo(model: string | Uint8Array | Graph, options: ModelInfoOptions = {}): Promise<ModelInfo> {
  is.knownOptions('modelInfo', options, MODEL_INFO_OPTION_KEYS);
  const size = (options as ModelInfoOptions).size;
  let graph: Graph;
  let ops: Record<string, number>;
  let params = 0;
  let paramBytes = 0;
  let opset: number | undefined;
  if (typeof model === 'string' && isGeneratorSource(model)) {
    // The project's own generator (card, weights, checkpoint or run folder): built at `size` (default
    // 256x256, as its card's MACs) and described as the Graph it is below, so that `facestyle info
    // models/comic-light.json` answers like the exported ONNX file would.
    const [w, h] = size === undefined ? [256, 256] : parseSize(size);
    if (w % 8 !== 0 || h % 8 !== 0) throw argumentError(`Expected size to be a width and height divisible by 8 (the input of the facestyle generator '${model}') but received ${w}x${h}`);
    const loaded = await loadGenerator(model, { size: [w, h] });
    loaded.graph.name = typeof loaded.card.name === 'string' && loaded.card.name ? loaded.card.name : path.basename(model.replace(/[\\/]+$/, ''));
    model = loaded.graph;
  }
  if (typeof model === 'string' || model instanceof Uint8Array) {
    const read = readOnnxModel(model);
    let shapes: Record<string, number[]> = {};
    if (size !== undefined) shapes = imageInputShapes(declaredInputs(read.bytes), parseSize(size));
    if ((options as ModelInfoOptions).inputShapes) shapes = { ...shapes, ...(options as ModelInfoOptions).inputShapes };
    try {
      // The bytes were read here: the importer's errors name the file, as loadOnnx(path) does.
      graph = loadOnnxFrom(read.bytes, { inputShapes: shapes }, typeof model === 'string' ? model : undefined);
    } catch (e) {
      // A size the model's layers cannot take (a U-Net's skip connections need a multiple of its
      // downsampling): say which size, not only the node whose shapes clashed.
      if (size === undefined || !(e instanceof FacestyleError) || e.code !== 'ERR_FACESTYLE_SHAPE') throw e;
      const [w, h] = parseSize(size);
      throw new FacestyleError('ERR_FACESTYLE_SHAPE', `${typeof model === 'string' ? `'${model}'` : 'The model'} does not run at ${w}x${h} (try a multiple of 8 or 32): ${e.message}`, { cause: e });
    }
    ops = onnxOpHistogram(read.model);
    opset = read.opset;
    for (const t of read.model.graph?.initializer ?? []) {
      const dt = t.dataType ?? 0;
      if (!isFloatType(dt)) continue;
      const n = (t.dims ?? []).map(toNum).reduce((a, b) => a * b, 1);
      params += n;
      paramBytes += n * (DT_BYTES[dt] ?? 4);
    }
    // Size given for a fixed-size model: it must match (the graph cannot be resized).
    if (size !== undefined) for (const id of graph.inputs) checkInputFitsSize(graph.values[id].name, graph.values[id].shape, parseSize(size));
  } else if (is.object(model) && Array.isArray((model as Graph).nodes)) {
    graph = model as Graph;
    ops = histogram(graph.nodes.map((n) => n.op));
    for (const v of graph.values) if (v.kind === 'param') params += shapeSize(v.shape);
    paramBytes = params * 4;
  } else throw is.invalid('model', 'an ONNX path, ONNX bytes or a Graph', model);

  const session = await compile(graph, { threads: 1 });
  let peakActivationBytes: number;
  try {
    peakActivationBytes = session.info().peakActivationBytes;
  } finally {
    session.dispose();
  }
  const macs = countMacs(graph);
  let denormalWeights = 0;
  for (const v of graph.values) if ((v.kind === 'param' || v.kind === 'const') && v.data) denormalWeights += countDenormals(v.data);
  return {
    name: graph.name,
    opset,
    inputs: graph.inputs.map((id) => ({ name: graph.values[id].name, shape: [...graph.values[id].shape] })),
    outputs: graph.outputs.map((id) => ({ name: graph.values[id].name, shape: [...graph.values[id].shape] })),
    ops,
    graphOps: histogram(graph.nodes.map((n) => n.op)),
    params,
    paramBytes,
    denormalWeights,
    macs,
    peakActivationBytes,
    computeClass: classify(macs, peakActivationBytes),
  };
}
