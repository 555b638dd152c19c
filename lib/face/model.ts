// The stylization model behind one small interface: a generator taking [N,3,S,S] RGB in [-1,1] and
// returning the same. Sources: a Graph (run natively), an .onnx file (loadOnnx from lib/onnx and
// the native runtime, or onnxruntime-node with engine 'onnxruntime'), a model card / safetensors
// file or the shipped default (loadGenerator from lib/nn). NHWC models are transposed around the
// call, so the rest of the pipeline only sees NCHW.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { FacestyleError, argumentError, isFacestyleError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { optimizeForInference } from '../graph/passes/index.js';
import { Tensor } from '../graph/tensor.js';
import { isGeneratorSource } from '../files.js';
import * as is from '../is.js';
import { shippedModelNames, shippedModelPath } from '../models.js';
import { packageRoot } from '../native.js';
import { createOrtSession, loadOrt } from './detector-engine.js';
import { type DeviceName, type Session, compile } from '../runtime/session.js';

/** A face generator: [N,3,size,size] RGB in [-1,1] -> [N,3,size,size] RGB in [-1,1]. */
export interface FaceGenerator {
  readonly name: string;
  /** The crop size it runs at. */
  readonly size: number;
  /**
   * Stylizes a batch. With `inPlace: true` the generator may write its output over `batch` (and return
   * it) instead of allocating a new tensor: for callers that no longer need the input (the face and video
   * pipelines). A generator may ignore it and return a new tensor.
   */
  run(batch: Tensor, options?: GeneratorRunOptions): Promise<Tensor>;
  dispose(): void | Promise<void>;
  /**
   * CPU threads a run uses, where the engine tells: the native runtime's count (ModelOptions.threads, 0
   * resolved to the hardware threads), the count asked of onnxruntime; undefined for its default or a
   * generator of your own that does not say.
   */
  readonly threads?: number;
}

export interface GeneratorRunOptions {
  /** The output may overwrite the input batch (default false). */
  inPlace?: boolean;
}

export type ModelSource = string | Graph | FaceGenerator;
export type ModelEngine = 'native' | 'onnxruntime';

export interface ModelOptions {
  /** Crop size for models with dynamic spatial sizes (default 512); must match a fixed-size model. */
  size?: number;
  device?: DeviceName;
  /** How .onnx files run: 'native' (default: lib/onnx importer + native runtime) or 'onnxruntime'. */
  engine?: ModelEngine;
  /** CPU threads for the native runtime (0: all). */
  threads?: number;
}

const MODEL_OPTION_KEYS = is.optionKeys<ModelOptions>()(['size', 'device', 'engine', 'threads']);

type Layout = 'nchw' | 'nhwc';

const isGraph = (v: unknown): v is Graph => is.object(v) && Array.isArray(v.nodes) && Array.isArray(v.values) && Array.isArray(v.inputs);
const isGenerator = (v: unknown): v is FaceGenerator => is.object(v) && typeof v.run === 'function' && is.integer(v.size);

/** Layout and spatial size from a declared [b,3,h,w] or [b,h,w,3] input shape (strings/<=0 are dynamic). */
function layoutOf(dims: readonly (number | string)[], what: string): { layout: Layout; h: number | null; w: number | null; batch: number | null } {
  const num = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : null);
  if (dims.length !== 4) throw new FacestyleError('ERR_FACESTYLE_SHAPE', `${what}: expected an image input of rank 4 ([N,3,H,W] or [N,H,W,3]) but received [${dims.join(',')}]`);
  const layout: Layout = num(dims[1]) === 3 ? 'nchw' : num(dims[3]) === 3 ? 'nhwc' : 'nchw';
  if (layout === 'nchw' && num(dims[1]) !== 3 && num(dims[1]) !== null)
    throw new FacestyleError('ERR_FACESTYLE_SHAPE', `${what}: expected 3 colour channels but the input is [${dims.join(',')}]`);
  return layout === 'nchw' ? { layout, h: num(dims[2]), w: num(dims[3]), batch: num(dims[0]) } : { layout, h: num(dims[1]), w: num(dims[2]), batch: num(dims[0]) };
}

function chooseSize(h: number | null, w: number | null, requested: number | undefined, what: string): number {
  if (h !== null || w !== null) {
    if (h !== w) throw new FacestyleError('ERR_FACESTYLE_SHAPE', `${what}: expected a square input but it is ${h}x${w}`);
    if (requested !== undefined && requested !== h) throw argumentError(`${what} runs at ${h}x${h}; expected size ${h} but received ${requested}`);
    return h as number;
  }
  return requested ?? 512;
}

/** NCHW <-> NHWC for a batch of images. */
export function toNhwc(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const out = new Float32Array(x.size);
  for (let b = 0; b < n; ++b)
    for (let ch = 0; ch < c; ++ch)
      for (let i = 0; i < h * w; ++i) out[(b * h * w + i) * c + ch] = x.data[(b * c + ch) * h * w + i];
  return new Tensor([n, h, w, c], out);
}

export function toNchw(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape;
  const out = new Float32Array(x.size);
  for (let b = 0; b < n; ++b)
    for (let ch = 0; ch < c; ++ch)
      for (let i = 0; i < h * w; ++i) out[(b * c + ch) * h * w + i] = x.data[(b * h * w + i) * c + ch];
  return new Tensor([n, c, h, w], out);
}

/** A batch [N,C,H,W] mirrored left-right (a new tensor). */
export function mirrorImages(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const out = new Float32Array(x.size);
  const src = x.data;
  for (let row = 0; row < n * c * h; ++row) {
    const o = row * w;
    for (let i = 0; i < w; ++i) out[o + i] = src[o + w - 1 - i];
  }
  return new Tensor([n, c, h, w], out);
}

/**
 * Test-time mirror averaging: each face is stylized as it is and mirrored, and the two results (the
 * second mirrored back) are averaged. The output then behaves exactly mirror-symmetrically (a mirrored
 * face gives the mirrored result) and comes a little closer to the targets: on the shipped model's 8
 * held-out pairs, 18.16 -> 18.32 dB mean PSNR. Twice the model time. Disposing it disposes `generator`.
 */
export function mirrorAveraged(generator: FaceGenerator): FaceGenerator {
  return {
    name: `${generator.name} (mirror-averaged)`,
    size: generator.size,
    threads: generator.threads,
    async run(x: Tensor, options: GeneratorRunOptions = {}): Promise<Tensor> {
      if (x.shape[0] === 0) return x;
      const mirrored = mirrorImages(x);
      const first = await generator.run(x, options);
      if (first.shape.join(',') !== x.shape.join(',')) throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Generator '${generator.name}' returned [${first.shape.join(',')}] for input [${x.shape.join(',')}]`);
      // The first result is held in a tensor of ours (x itself when the caller allows it) before the second
      // run: a generator may hand back its input or a buffer it reuses.
      const out = options.inPlace ? x : new Tensor(x.shape);
      if (first.data !== out.data) out.data.set(first.data);
      const back = (await generator.run(mirrored, { inPlace: true })).data;
      if (back.length !== x.size) throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Generator '${generator.name}' returned ${back.length} values for input [${x.shape.join(',')}]`);
      const [n, c, h, w] = x.shape;
      const o = out.data;
      for (let row = 0; row < n * c * h; ++row) {
        const r = row * w;
        for (let i = 0; i < w; ++i) o[r + i] = 0.5 * (o[r + i] + back[r + w - 1 - i]);
      }
      return out;
    },
    dispose: () => generator.dispose(),
  };
}

/**
 * Runs `fn` on chunks of exactly `batch` images (the last one zero-padded) and concatenates. When `fn`
 * takes a destination (`into`, the chunk's place in the output) it writes there and its result is not
 * copied; `out` is the output tensor (default: a new one; may be x itself when the run may overwrite it).
 */
async function inChunks(x: Tensor, batch: number, fn: (chunk: Tensor, into?: Float32Array) => Promise<Tensor>, options: { writesInto?: boolean; out?: Tensor } = {}): Promise<Tensor> {
  const [n, c, h, w] = x.shape;
  const per = c * h * w;
  if (n === batch && !options.writesInto) return fn(x);
  const result = options.out ?? new Tensor([n, c, h, w]);
  const out = result.data;
  for (let start = 0; start < n; start += batch) {
    // Whole chunks are views into x (the runtime reads them in place); only a last partial chunk is
    // copied into a zero-padded buffer.
    let chunk: Float32Array;
    if (start + batch <= n) chunk = x.data.subarray(start * per, (start + batch) * per);
    else {
      chunk = new Float32Array(batch * per);
      chunk.set(x.data.subarray(start * per, n * per));
    }
    const whole = start + batch <= n;
    if (options.writesInto && whole) {
      await fn(new Tensor([batch, c, h, w], chunk), out.subarray(start * per, (start + batch) * per));
      continue;
    }
    const y = await fn(new Tensor([batch, c, h, w], chunk));
    out.set(y.data.subarray(0, (Math.min(n, start + batch) - start) * per), start * per);
  }
  return result;
}

function checkBatch(x: Tensor, size: number, name: string): void {
  if (!(x instanceof Tensor) || x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== size || x.shape[3] !== size)
    throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Generator '${name}' expects [N,3,${size},${size}] but received ${x instanceof Tensor ? `[${x.shape.join(',')}]` : is.describe(x)}`);
}

/** A generator graph run by the native runtime (batch of the graph's first input; NHWC handled). */
export async function graphGenerator(graph: Graph, options: ModelOptions = {}): Promise<FaceGenerator> {
  if (graph.inputs.length !== 1 || graph.outputs.length < 1)
    throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Generator graph '${graph.name}' must have one image input and an image output; it has ${graph.inputs.length} inputs and ${graph.outputs.length} outputs`);
  const input = graph.values[graph.inputs[0]];
  const output = graph.values[graph.outputs[0]];
  const what = `Generator graph '${graph.name}'`;
  const { layout, h, w } = layoutOf(input.shape, what);
  const size = chooseSize(h, w, options.size, what);
  if (output.shape.join(',') !== input.shape.join(','))
    throw new FacestyleError('ERR_FACESTYLE_SHAPE', `${what}: expected the output shape to equal the input [${input.shape.join(',')}] but it is [${output.shape.join(',')}]`);
  const batch = input.shape[0];
  // Inference only: pads, norms and activations fold into the convolutions (same outputs, fewer passes);
  // a max pool after a depthwise conv only on the CPU (the CUDA kernels refuse a conv with a fused pool).
  const device = options.device ?? 'cpu';
  const session: Session = await compile(optimizeForInference(graph, { fusePool: device === 'cpu', fusePointwiseDepthwise: device === 'cpu' }), { device, threads: options.threads ?? 0 });
  return {
    name: graph.name,
    size,
    threads: session.info().threads,
    async run(x: Tensor, runOptions: GeneratorRunOptions = {}): Promise<Tensor> {
      checkBatch(x, size, graph.name);
      if (x.shape[0] === 0) return x;
      if (layout === 'nhwc') return inChunks(x, batch, async (chunk) => toNchw((await session.run({ [input.name]: toNhwc(chunk) }))[output.name]));
      // NCHW: each chunk's output goes straight to its place in the result (the session writes it after
      // its last node, so over the chunk's own input when the caller allows it): no output allocated per
      // chunk and nothing copied (the shipped generator runs one face at a time).
      return inChunks(
        x,
        batch,
        async (chunk, into) => (await session.run({ [input.name]: chunk }, into ? { outputs: { [output.name]: into } } : {}))[output.name],
        // Writing into the result needs an array for every output of the graph: with extra outputs (an
        // imported model's auxiliary ones) the chunks' outputs are copied as before.
        { writesInto: graph.outputs.length === 1, out: runOptions.inPlace && graph.outputs.length === 1 ? x : undefined },
      );
    },
    dispose: () => session.dispose(),
  };
}

/** How onnxruntime and libvips say an allocation failed. */
const OUT_OF_MEMORY = /bad_alloc|out of memory|failed to allocate|allocation failed/i;

/**
 * An onnxruntime run failure as a coded error: a failed allocation is ERR_FACESTYLE_OUT_OF_MEMORY, a shape
 * mismatch inside the model (a size the model's down- and upsampling cannot take) ERR_FACESTYLE_SHAPE
 * with a hint, anything else ERR_FACESTYLE_FORMAT.
 */
export function ortRunError(name: string, shape: readonly number[], e: unknown): FacestyleError {
  const message = (e as Error)?.message ?? String(e);
  if (OUT_OF_MEMORY.test(message)) return new FacestyleError('ERR_FACESTYLE_OUT_OF_MEMORY', `Stylization model '${name}' ran out of memory in onnxruntime on input [${shape.join(',')}] (try a smaller size or batch): ${message.split('\n')[0]}`, { cause: e });
  const shapeLike = /dimension|broadcast|shape|incompatible|by \d+/i.test(message);
  return new FacestyleError(
    shapeLike ? 'ERR_FACESTYLE_SHAPE' : 'ERR_FACESTYLE_FORMAT',
    `Stylization model '${name}' failed in onnxruntime on input [${shape.join(',')}]${shapeLike ? ' (it does not run at this size: try a size divisible by 32, e.g. 256)' : ''}: ${message.split('\n')[0]}`,
    { cause: e },
  );
}

/** An .onnx generator run by onnxruntime-node on CPU (batch 1 or the model's batch). */
export async function onnxRuntimeGenerator(file: string, options: ModelOptions = {}): Promise<FaceGenerator> {
  const ort = await loadOrt();
  // Errors only (a model's harmless warnings would flood the terminal); run failures come back as coded errors.
  const threads = is.threadCount(options.threads);
  const session = await createOrtSession(file, 'Stylization model', { executionProviders: ['cpu'], logSeverityLevel: 3, intraOpNumThreads: threads });
  const meta = (session.inputMetadata as unknown as { shape?: readonly (number | string)[] }[])[0];
  const what = `Stylization model '${path.basename(file)}'`;
  const { layout, h, w, batch } = layoutOf(meta?.shape ?? [], what);
  const size = chooseSize(h, w, options.size, what);
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const name = path.basename(file);
  let released = false;
  const disposedError = (during: boolean, cause?: unknown) =>
    new FacestyleError('ERR_FACESTYLE_DISPOSED', `Stylization model '${name}' was disposed${during ? ' during the run' : ''}`, cause === undefined ? undefined : { cause });
  return {
    name,
    size,
    threads: threads > 0 ? threads : undefined,
    async run(x: Tensor): Promise<Tensor> {
      if (released) throw disposedError(false);
      checkBatch(x, size, name);
      if (x.shape[0] === 0) return x;
      return inChunks(x, batch ?? x.shape[0], async (chunk) => {
        const feed = layout === 'nhwc' ? toNhwc(chunk) : chunk;
        let r: Ort.InferenceSession.ReturnType;
        try {
          // Run-level logging off: the failure is reported once, as the coded error below.
          r = await session.run({ [inName]: new ort.Tensor('float32', feed.data, feed.shape) }, { logSeverityLevel: 4 });
        } catch (e) {
          // Released while this run was on its way (onnxruntime: 'Session already disposed'): not the model's fault.
          throw released ? disposedError(true, e) : ortRunError(name, feed.shape, e);
        }
        const out = r[outName];
        const y = new Tensor(out.dims as number[], await ortOutputFloats(out, name));
        return layout === 'nhwc' ? toNchw(y) : y;
      });
    },
    dispose: async () => {
      if (released) return;
      released = true;
      await session.release();
    },
  };
}

/**
 * A generator output as float32: float16 outputs converted (their raw half bits were read as numbers: an
 * all-white face), other types refused as the model's fault (ERR_FACESTYLE_FORMAT, not ARGUMENT).
 */
async function ortOutputFloats(out: Ort.Tensor, model: string): Promise<Float32Array> {
  if (out.type === 'float32') return out.data as Float32Array;
  if (out.type === 'float16') {
    // onnxruntime-common hands float16 as raw bits in a Uint16Array, or as a Float16Array of numbers where
    // the runtime has one (Node 24 on): decoding those as bits again gave zeros.
    if (!(out.data instanceof Uint16Array)) return Float32Array.from(out.data as ArrayLike<number>);
    const { halfToFloat } = await import('../onnx/proto.js');
    return Float32Array.from(out.data, (h) => halfToFloat(h));
  }
  throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Stylization model '${model}' outputs ${out.type}; expected float32 or float16 image values`);
}

/** An .onnx generator imported by lib/onnx and run natively. */
async function nativeOnnxGenerator(file: string, options: ModelOptions): Promise<FaceGenerator> {
  let onnx: typeof import('../onnx/import.js');
  try {
    onnx = await import('../onnx/import.js');
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `The ONNX importer (lib/onnx) is not available in this build (${(e as Error).message}); use engine 'onnxruntime' (CLI: --engine onnxruntime)`, { cause: e });
  }
  const { model } = onnx.readOnnxModel(file);
  const g = model.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const vi = (g.input ?? []).find((v) => !inits.has(v.name ?? ''));
  if (!vi) throw new FacestyleError('ERR_FACESTYLE_FORMAT', `'${file}' has no image input`);
  const dims = (vi.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(String(d.dimValue)) > 0 ? Number(String(d.dimValue)) : d.dimParam || '?'));
  const what = `Stylization model '${path.basename(file)}'`;
  const { layout, h, w } = layoutOf(dims, what);
  const size = chooseSize(h, w, options.size, what);
  const shape = layout === 'nhwc' ? [1, size, size, 3] : [1, 3, size, size];
  let graph: Graph;
  try {
    graph = onnx.loadOnnx(file, { inputShapes: { [vi.name ?? '']: shape } });
  } catch (e) {
    // A dynamic-size model whose down- and up-sampling do not line up at this size fails in shape
    // inference deep inside (an Add that does not broadcast): say what to change.
    if (isFacestyleError(e) && e.code === 'ERR_FACESTYLE_SHAPE' && (h === null || w === null))
      throw new FacestyleError('ERR_FACESTYLE_SHAPE', `${what} does not run at ${size}x${size}: its layers do not line up at that size (${e.message}); try a size divisible by 32 (e.g. ${Math.max(32, Math.round(size / 32) * 32)})`, { cause: e });
    throw e;
  }
  graph.name ||= path.basename(file);
  return graphGenerator(graph, { ...options, size });
}

/** A model card / safetensors / the shipped default through lib/nn's loadGenerator. */
async function nnGenerator(file: string, options: ModelOptions): Promise<FaceGenerator> {
  // lib/nn lands with the training issue; a variable specifier keeps this file compiling without it.
  const spec = '../nn/index.js';
  let loadGenerator: ((file: string, options?: { size?: number }) => unknown) | undefined;
  try {
    loadGenerator = ((await import(spec)) as { loadGenerator?: typeof loadGenerator }).loadGenerator;
  } catch {
    loadGenerator = undefined;
  }
  if (typeof loadGenerator !== 'function')
    throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `Loading '${file}' needs loadGenerator from lib/nn, which is not available in this build; pass an .onnx model or a generator Graph instead`);
  const loaded = (await loadGenerator(file, options.size !== undefined ? { size: options.size } : {})) as Graph | { graph: Graph } | FaceGenerator;
  if (isGenerator(loaded)) return loaded;
  const graph = isGraph(loaded) ? loaded : (loaded as { graph?: Graph }).graph;
  if (!isGraph(graph)) throw new FacestyleError('ERR_FACESTYLE_INTERNAL', `loadGenerator('${file}') did not return a graph`);
  return graphGenerator(graph, options);
}

/** The shipped model: the first model card (.json) in the package's models/ folder. */
export function defaultModelPath(): string {
  const dir = path.join(packageRoot, 'models');
  const names = shippedModelNames();
  if (!names.length)
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `No stylization model given and none shipped in ${dir}; pass a model (an .onnx file, a model card .json or .safetensors, or a generator Graph)`);
  return path.join(dir, `${names[0]}.json`);
}

/** Resolves any model source to a FaceGenerator. */
export async function loadFaceGenerator(source: ModelSource | undefined, options: ModelOptions = {}): Promise<FaceGenerator> {
  is.knownOptions('loadFaceGenerator', options, MODEL_OPTION_KEYS);
  if (options.size !== undefined) is.integerInRange('size', options.size, 16, 4096);
  is.threadCount(options.threads);
  const engine = is.oneOf('engine', options.engine ?? 'native', ['native', 'onnxruntime'] as const);
  if (isGenerator(source)) {
    // A generator of the caller's own: its size is checked now (0 or 100000 failed at the first frame,
    // naming a size option the caller never set).
    if (!(source.size >= 16 && source.size <= 4096 && source.size % 8 === 0))
      throw argumentError(`The generator's size must be 16..4096 and divisible by 8, but it is ${source.size}`);
    if (options.size !== undefined && options.size !== source.size) throw argumentError(`The generator runs at ${source.size}; expected size ${source.size} but received ${options.size}`);
    return source;
  }
  if (isGraph(source)) return graphGenerator(source, options);
  if (source === undefined) return nnGenerator(defaultModelPath(), options);
  if (!is.string(source)) throw is.invalid('model', 'a path (.onnx, .json, .safetensors), a Graph or a FaceGenerator', source);
  if (!existsSync(source)) {
    // A shipped model by name ('comic-light': models/comic-light.json in the package), unless a file of
    // that name is where the path points.
    const shipped = shippedModelPath(source);
    if (shipped) return nnGenerator(shipped, options);
    const names = shippedModelNames();
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Stylization model not found: '${source}'${names.length ? ` (shipped models, usable by name: ${names.join(', ')})` : ''}`);
  }
  if (source.toLowerCase().endsWith('.onnx')) return engine === 'onnxruntime' ? onnxRuntimeGenerator(source, options) : nativeOnnxGenerator(source, options);
  // Anything else is read as a card, weights or a run folder: another kind of file (a photo given as the
  // model) is named as such instead of failing as a card that is not JSON.
  if (!isGeneratorSource(source))
    throw argumentError(`Expected the model to be an .onnx model, a model card .json, generator weights or a checkpoint .safetensors, or a training run folder, but received '${source}'`);
  return nnGenerator(source, options);
}
