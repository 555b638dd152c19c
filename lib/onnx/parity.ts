// Parity: the same inputs through onnxruntime-node (the reference) and the native engine; per
// output the largest absolute and relative error and where it happened.
import { createRequire } from 'node:module';
import { FacestyleError, shapeError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { Tensor, sameShape, shapeToString, stridesOf } from '../graph/tensor.js';
import * as is from '../is.js';
import { type DeviceName, compile } from '../runtime/session.js';
import { exportOnnxBuffer } from './export.js';
import { loadOnnxFrom, readOnnxModel } from './import.js';
import { checkOrtSafe } from './ort-guard.js';
import { declaredInputs } from './info.js';

export interface ParityOptions {
  /** Inputs by name; random uniform values in [-1, 1) (seeded) for any input not given. */
  feeds?: Record<string, Tensor>;
  /** Shapes of dynamic inputs when no feed gives them (see loadOnnx). */
  inputShapes?: Record<string, number[]>;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /**
   * Relative tolerance (default 1e-4). An element passes when
   * |native - ort| <= atol + rtol * max(|ort|, rms), rms being the root mean square of that output:
   * fp32 rounding noise scales with the magnitudes flowing through the network, so an element near
   * zero in an output of magnitude ~1 is judged at the output's scale, not at 1e-5 absolute.
   */
  rtol?: number;
  /** CPU threads for both engines (default 0: each engine's default, all cores). */
  threads?: number;
  /** Seed of the random feeds (default 1). */
  seed?: number;
  /** Device of the native engine (default 'cpu'); onnxruntime-node always runs on CPU as the reference. */
  device?: DeviceName;
}

export interface OutputParity {
  name: string;
  shape: number[];
  maxAbsErr: number;
  /** max |native - ort| / max(|ort|, 1e-5). */
  maxRelErr: number;
  /** Flat index and multi-index of the element furthest beyond (or closest to) its tolerance. */
  worstIndex: number;
  worstAt: number[];
  native: number;
  reference: number;
  /** Root mean square of the onnxruntime output (the scale near-zero elements are judged at). */
  rms: number;
  /** Elements outside atol + rtol * max(|ort|, rms). */
  failing: number;
  /**
   * Elements that are NaN in both engines' outputs. They agree, but a model whose output is NaN is
   * broken (NaN weights, an overflow), so any such element makes `ok` false.
   */
  bothNaN: number;
  ok: boolean;
}

export interface ParityReport {
  ok: boolean;
  atol: number;
  rtol: number;
  inputs: { name: string; shape: number[] }[];
  outputs: OutputParity[];
}

/** Floor of the relative error's denominator. */
export const REL_FLOOR = 1e-5;

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | undefined;
/** onnxruntime-node, loaded on first use (it is large). */
export function loadOrt(): Ort {
  if (!ortModule) {
    try {
      ortModule = createRequire(import.meta.url)('onnxruntime-node') as Ort;
    } catch (e) {
      throw new FacestyleError('ERR_FACESTYLE_NATIVE', `onnxruntime-node could not be loaded: ${(e as Error).message}`, { cause: e });
    }
  }
  return ortModule;
}

/** Compares one output; `ref` is the onnxruntime result. */
export function compareOutput(name: string, native: Tensor, ref: Tensor, atol: number, rtol: number): OutputParity {
  if (!sameShape(native.shape, ref.shape)) throw shapeError(`Output '${name}': native shape ${shapeToString(native.shape)} differs from onnxruntime's ${shapeToString(ref.shape)}`);
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  let failing = 0;
  let bothNaN = 0;
  let sq = 0;
  let finite = 0;
  for (let i = 0; i < ref.size; ++i)
    if (Number.isFinite(ref.data[i])) {
      sq += ref.data[i] * ref.data[i];
      ++finite;
    }
  const rms = finite ? Math.sqrt(sq / finite) : 0;
  for (let i = 0; i < ref.size; ++i) {
    const a = native.data[i];
    const r = ref.data[i];
    if (Number.isNaN(a) && Number.isNaN(r)) {
      ++bothNaN;
      continue;
    }
    const d = a === r ? 0 : Math.abs(a - r); // equal infinities agree
    const tol = atol + rtol * Math.max(Math.abs(r), rms);
    const bad = !(d <= tol); // NaN on one side fails
    const excess = Number.isNaN(d) ? Infinity : d - tol;
    if (bad) ++failing;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
    const dd = Number.isNaN(d) ? Infinity : d;
    if (dd > maxAbs) maxAbs = dd;
    const rel = dd / Math.max(Math.abs(r), REL_FLOOR);
    if (rel > maxRel) maxRel = rel;
  }
  const strides = stridesOf(ref.shape);
  const worstAt = worst < 0 ? [] : strides.map((s, k) => Math.floor(worst / s) % ref.shape[k]);
  return { name, shape: [...ref.shape], rms, maxAbsErr: maxAbs, maxRelErr: maxRel, worstIndex: worst, worstAt, native: worst < 0 ? NaN : native.data[worst], reference: worst < 0 ? NaN : ref.data[worst], failing, bothNaN, ok: failing === 0 && bothNaN === 0 };
}

const PARITY_OPTION_KEYS = is.optionKeys<ParityOptions>()(['feeds', 'inputShapes', 'atol', 'rtol', 'threads', 'seed', 'device']);

/**
 * Runs `model` (ONNX path or bytes, or a Graph, which is exported first) through onnxruntime-node
 * and the native engine on the same inputs and compares every output.
 */
export async function checkParity(model: string | Uint8Array | Graph, options: ParityOptions = {}): Promise<ParityReport> {
  is.knownOptions('checkParity', options, PARITY_OPTION_KEYS);
  const atol = is.numberInRange('atol', options.atol ?? 1e-5, 0, Infinity);
  const rtol = is.numberInRange('rtol', options.rtol ?? 1e-4, 0, Infinity);
  const threads = is.threadCount(options.threads);
  const device = is.oneOf('device', options.device ?? 'cpu', ['cpu', 'cuda'] as const);
  const seed = (options as ParityOptions).seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw is.invalid('seed', 'a whole number', seed);
  const given = (options.feeds ?? {}) as Record<string, Tensor>;
  if (!is.object(given)) throw is.invalid('feeds', 'an object of input name -> Tensor', given);

  let graph: Graph;
  let bytes: Uint8Array;
  if (typeof model === 'string' || model instanceof Uint8Array) {
    bytes = readOnnxModel(model).bytes;
    // A feed for an input the model lacks is named as a feed (it surfaced as a bad inputShapes key).
    const inputNames = declaredInputs(bytes).map((d) => d.name);
    for (const k of Object.keys(given)) if (!inputNames.includes(k)) throw is.invalid('feeds', `feeds for the model's inputs (${inputNames.join(', ')})`, k);
    const shapes: Record<string, number[]> = { ...(options.inputShapes ?? {}) };
    for (const [k, t] of Object.entries(given)) {
      if (!(t instanceof Tensor)) throw is.invalid(`feeds['${k}']`, 'Tensor', t);
      shapes[k] = t.shape;
    }
    // The bytes were read here: the importer's errors name the file, as loadOnnx(path) does.
    graph = loadOnnxFrom(bytes, { inputShapes: shapes }, typeof model === 'string' ? model : undefined);
  } else if (is.object(model) && Array.isArray((model as Graph).nodes)) {
    graph = model as Graph;
    bytes = exportOnnxBuffer(graph, { dynamicBatch: false });
  } else throw is.invalid('model', 'an ONNX path, ONNX bytes or a Graph', model);

  const feeds: Record<string, Tensor> = {};
  graph.inputs.forEach((id, i) => {
    const v = graph.values[id];
    feeds[v.name] = given[v.name] ?? Tensor.random(v.shape, seed + i * 7919, -1, 1);
  });

  const session = await compile(graph, { threads, device });
  let nativeOut: Record<string, Tensor>;
  try {
    nativeOut = await session.run(feeds);
  } finally {
    session.dispose();
  }

  const ort = loadOrt();
  checkOrtSafe(bytes, typeof model === 'string' ? `ONNX model '${model}'` : 'The model');
  let ortSession: Awaited<ReturnType<Ort['InferenceSession']['create']>>;
  try {
    ortSession = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'], logSeverityLevel: 3 });
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_FORMAT', `onnxruntime-node rejected the model: ${(e as Error).message}`, { cause: e });
  }
  try {
    const ortFeeds: Record<string, InstanceType<Ort['Tensor']>> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor('float32', t.data, t.shape);
    let res: Awaited<ReturnType<typeof ortSession.run>>;
    try {
      res = await ortSession.run(ortFeeds);
    } catch (e) {
      // A model onnxruntime loads but cannot run (a kernel_shape that disagrees with the weights, a zero
      // dimension): rejected with a plain Error before.
      throw new FacestyleError('ERR_FACESTYLE_FORMAT', `onnxruntime-node could not run the model: ${(e as Error).message}`, { cause: e });
    }
    const outputs = graph.outputs.map((id, i) => {
      const name = graph.values[id].name;
      const o = res[ortSession.outputNames[i]];
      const ref = new Tensor(o.dims as number[], Float32Array.from(o.data as Float32Array));
      return compareOutput(name, nativeOut[name], ref, atol, rtol);
    });
    return { ok: outputs.every((o) => o.ok), atol, rtol, inputs: graph.inputs.map((id) => ({ name: graph.values[id].name, shape: [...graph.values[id].shape] })), outputs };
  } finally {
    await ortSession.release();
  }
}
