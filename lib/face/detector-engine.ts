// Where the YuNet detector runs: onnxruntime-node (the default for photos), the native engine (lib/onnx
// imports the model, one compiled session per input shape; the video stylizer's default), or both
// ('auto'). FaceDetector (detect.ts) sees only DetectorBackend: feed a float NCHW input, get the named
// outputs back.
//
// Why native: the same kernels that run the stylizer run YuNet in 0.70-0.84x of onnxruntime-node's
// time (bench/REPORT.md, 2 threads), and a photo of many faces or a video spends a large share of its
// time detecting. Why not native everywhere: each new input shape costs an import and a compile, which
// a folder of photos of many sizes pays on every photo; a video's shapes repeat. A model the importer
// cannot take (an op it lacks) runs on onnxruntime-node.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { checkOrtSafe } from '../onnx/ort-guard.js';
import type * as Ort from 'onnxruntime-node';
import { FacestyleError, isFacestyleError } from '../errors.js';
import { optimizeForInference } from '../graph/passes/index.js';
import { ortModelSource } from '../onnx/denormal.js';
import { Tensor } from '../graph/tensor.js';
import * as is from '../is.js';
import { type Session, compile } from '../runtime/session.js';

/**
 * 'auto': onnxruntime-node for an input shape's first runs, the native engine once it has come back
 * often (AUTO_NATIVE_AFTER). Not a default: the engines round differently, so a detection can move by a
 * fraction of a pixel when its shape switches, and the same photo would not always give the same bytes.
 */
export const DETECTOR_ENGINES = ['auto', 'native', 'onnxruntime'] as const;
export type DetectorEngine = (typeof DETECTOR_ENGINES)[number];

/**
 * The photo detector's default engine: onnxruntime-node on the main thread, the native engine in a
 * worker_thread. onnxruntime-node's binding (1.30) aborts the whole process when a worker is terminated in
 * the middle of one of its runs (it rethrows out of its callback: std::terminate); the native engine's
 * runs survive it (test/workers.test.ts). The engines' detections differ by a fraction of a pixel at most.
 */
export function defaultPhotoDetectorEngine(): DetectorEngine {
  return isMainThread ? 'onnxruntime' : 'native';
}

/** The engine to use: `option` when given, else FACESTYLE_DETECTOR_ENGINE, else `fallback`; checked (ERR_FACESTYLE_ARGUMENT). */
export function chooseDetectorEngine(option: DetectorEngine | undefined, fallback: DetectorEngine): DetectorEngine {
  if (option === undefined && process.env.FACESTYLE_DETECTOR_ENGINE) return is.oneOf('FACESTYLE_DETECTOR_ENGINE', process.env.FACESTYLE_DETECTOR_ENGINE, DETECTOR_ENGINES);
  return is.oneOf('detectorEngine', option ?? fallback, DETECTOR_ENGINES);
}

/** Network outputs by name (onnxruntime's tensors or the native engine's, both { data, dims }). */
export type NetOutputs = Record<string, { data: unknown; dims: readonly number[] }>;

export interface DetectorBackend {
  readonly engine: DetectorEngine;
  /** Runs so far on each engine. */
  readonly runs: { native: number; onnxruntime: number };
  /** The network's outputs (all of them, not only those asked for). */
  readonly outputNames: readonly string[];
  /** Fixed network input [height, width], or null for a model with a dynamic size. */
  readonly fixedSize: [number, number] | null;
  /** CPU threads each run may use, as asked for (0: all). */
  readonly threads: number;
  /** One run on a float NCHW input of shape `dims`. */
  infer(input: Float32Array, dims: number[]): Promise<NetOutputs>;
  dispose(): Promise<void>;
}

let ortModule: Promise<typeof Ort> | undefined;
export function loadOrt(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node').catch((e: unknown) => {
    ortModule = undefined;
    // The same code as checkParity's loader (lib/onnx/parity.ts): a package that will not load is a native failure.
    throw new FacestyleError('ERR_FACESTYLE_NATIVE', `onnxruntime-node could not be loaded (npm install onnxruntime-node): ${(e as Error).message}`, { cause: e });
  });
  return ortModule;
}

/** The detectors' and landmarks' onnxruntime options: idle threads do not spin (they share the cores with the stylizer). */
const DETECTOR_SESSION: Ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  // Errors only: a model's warnings (e.g. 244 'initializer appears in graph inputs' lines) would flood the terminal.
  logSeverityLevel: 3,
  intraOpNumThreads: 0,
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/** DETECTOR_SESSION with `threads` intra-op threads (0: onnxruntime's default, one per core). */
export function detectorSessionOptions(threads: number): Ort.InferenceSession.SessionOptions {
  return { ...DETECTOR_SESSION, intraOpNumThreads: threads };
}

/**
 * An onnxruntime-node session of the model in `file` with its denormal weights zeroed
 * (lib/onnx/denormal.ts); a file onnxruntime cannot load is ERR_FACESTYLE_FORMAT naming `what`.
 */
export async function createOrtSession(file: string, what: string, options: Ort.InferenceSession.SessionOptions = DETECTOR_SESSION): Promise<Ort.InferenceSession> {
  const ort = await loadOrt();
  const { source, bytes } = await ortModelSource(file);
  if (bytes) checkOrtSafe(bytes, `${what} '${file}'`); // (an unreadable file: onnxruntime reports it below)
  try {
    return await (typeof source === 'string' ? ort.InferenceSession.create(source, options) : ort.InferenceSession.create(source, options));
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_FORMAT', `${what} '${file}' is not a loadable ONNX model: ${(e as Error).message}`, { cause: e });
  }
}

/** Which network a backend runs, for its errors: its name ('Face detector ...') and what a wrong file is not. */
export interface NetKind {
  name: string;
  is: string;
}
export const YUNET_NET: NetKind = { name: 'Face detector', is: 'a YuNet face detector' };
export const PFLD_NET: NetKind = { name: 'Landmark model', is: 'a PFLD landmark model' };

function notNet(file: string, kind: NetKind, outputs: readonly string[], inputs: readonly string[], expected: readonly string[]): FacestyleError {
  return new FacestyleError(
    'ERR_FACESTYLE_FORMAT',
    `'${file}' is not ${kind.is}: expected one input${expected.length ? ` and outputs ${expected.join(', ')}` : ''}; it has inputs ${inputs.join(', ')} and outputs ${outputs.join(', ')}`,
  );
}

function fixedOf(dims: readonly unknown[] | undefined): [number, number] | null {
  return dims && typeof dims[2] === 'number' && typeof dims[3] === 'number' && dims[2] > 0 && dims[3] > 0 ? [dims[2], dims[3]] : null;
}

async function ortBackend(file: string, outputNames: readonly string[], threads: number, kind: NetKind): Promise<DetectorBackend> {
  const session = await createOrtSession(file, kind.name, detectorSessionOptions(threads));
  const missing = outputNames.filter((o) => !session.outputNames.includes(o));
  if (session.inputNames.length !== 1 || missing.length) {
    await session.release().catch(() => undefined);
    throw notNet(file, kind, session.outputNames, session.inputNames, outputNames);
  }
  const meta = (session.inputMetadata as unknown as { shape?: readonly unknown[] }[] | undefined)?.[0];
  const input = session.inputNames[0];
  const runs = { native: 0, onnxruntime: 0 };
  return {
    engine: 'onnxruntime',
    runs,
    outputNames: session.outputNames,
    fixedSize: fixedOf(meta?.shape),
    threads,
    async infer(data, dims) {
      const ort = await loadOrt();
      ++runs.onnxruntime;
      return (await session.run({ [input]: new ort.Tensor('float32', data, dims) })) as unknown as NetOutputs;
    },
    dispose: () => session.release(),
  };
}

/**
 * Compiled sessions kept per input shape: a video uses one frame size, tile batches of 1-32 (powers of
 * two) and, around small faces, crops of a few sizes (short_hamilton_clip: 14 shapes in 120 frames;
 * with 6 kept, 17 compiles of 5-20 ms each). At most a few MB of arena each.
 */
const MAX_SHAPES = 16;

async function nativeBackend(file: string, outputNames: readonly string[], threads: number, kind: NetKind): Promise<DetectorBackend & { compiled(dims: number[]): boolean }> {
  const onnx = await import('../onnx/import.js');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `${kind.name} not readable: '${file}': ${(e as Error).message}`, { cause: e });
  }
  let model: ReturnType<typeof onnx.readOnnxModel>['model'];
  try {
    ({ model } = onnx.readOnnxModel(bytes));
  } catch (e) {
    // The importer only saw bytes ('model buffer'): name the file.
    throw new FacestyleError(isFacestyleError(e) ? e.code : 'ERR_FACESTYLE_FORMAT', `${kind.name} '${file}': ${(e as Error).message.replace(/^model buffer/, 'it')}`, { cause: e });
  }
  const g = model.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const inputs = (g.input ?? []).filter((v) => !inits.has(v.name ?? ''));
  const outputs = (g.output ?? []).map((v) => v.name ?? '');
  if (inputs.length !== 1 || outputNames.some((o) => !outputs.includes(o)))
    throw notNet(file, kind, outputs, inputs.map((v) => v.name ?? ''), outputNames);
  const inputName = inputs[0].name ?? '';
  const fixedSize = fixedOf(onnx.declaredDims(inputs[0]));
  // Ops the importer has no converter for: decided now (fall back to onnxruntime-node), without
  // importing a graph, which happens per input shape below (5-20 ms each, on first use).
  const unknown = onnx.unsupportedOps(model);
  if (unknown.length) throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `${kind.name} '${file}' uses ops the native importer lacks: ${unknown.join(', ')}`);
  // Import + compile once per input shape.
  const sessions = new Map<string, Promise<Session>>();
  const sessionFor = (dims: number[]): Promise<Session> => {
    const key = dims.join('x');
    let s = sessions.get(key);
    if (s) {
      sessions.delete(key); // most recently used last
      sessions.set(key, s);
      return s;
    }
    s = (async () => {
      const graph = onnx.loadOnnx(bytes, { inputShapes: { [inputName]: dims } });
      graph.name ||= path.basename(file);
      return compile(optimizeForInference(graph), { device: 'cpu', threads });
    })();
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
    while (sessions.size > MAX_SHAPES) {
      const [oldKey, old] = sessions.entries().next().value as [string, Promise<Session>];
      sessions.delete(oldKey);
      void old.then((x) => x.dispose()).catch(() => undefined);
    }
    return s;
  };
  const runs = { native: 0, onnxruntime: 0 };
  return {
    engine: 'native',
    runs,
    outputNames: outputs,
    fixedSize,
    threads,
    compiled: (dims) => sessions.has(dims.join('x')),
    async infer(data, dims) {
      const session = await sessionFor(dims);
      ++runs.native;
      // On the calling thread, like onnxruntime-node's run(): a detection is a few milliseconds, and the
      // compute thread may be busy with the stylizer's batch (a video's stages overlap).
      const out = session.runSync({ [inputName]: new Tensor(dims, data) });
      const r: NetOutputs = {};
      for (const [name, t] of Object.entries(out)) r[name] = { data: t.data, dims: t.shape };
      return r;
    },
    async dispose() {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map((s) => s.then((x) => x.dispose()).catch(() => undefined)));
    },
  };
}

/**
 * 'auto' compiles a shape natively at its AUTO_NATIVE_AFTER-th run. A compile costs about 8 ms warm
 * (import 2.6, optimize 3.4, compile 2.1; 20+ ms the first time in a process) and saves 0.3-1 ms a
 * run, so only a shape that keeps coming back pays for it. Measured on a folder of 22 photos of as
 * many sizes (CLI, --json totals): detect 540-580 ms all native, 460-504 ms compiling at the second
 * use, 366-418 ms on onnxruntime-node alone.
 */
const AUTO_NATIVE_AFTER = 8;

/**
 * Both engines: a shape's first runs go to onnxruntime-node, which takes any shape as it comes; a
 * shape that keeps coming back (a video's frame size and tile batches, an app's camera frames) is
 * compiled natively and runs there from then on.
 */
async function autoBackend(file: string, outputNames: readonly string[], threads: number, kind: NetKind): Promise<DetectorBackend> {
  // Native first: a model it cannot take throws ERR_FACESTYLE_UNSUPPORTED before onnxruntime-node
  // loads anything, and createDetectorBackend then uses onnxruntime-node alone.
  const native = await nativeBackend(file, outputNames, threads, kind);
  let ort: DetectorBackend;
  try {
    ort = await ortBackend(file, outputNames, threads, kind);
  } catch (e) {
    await native.dispose();
    throw e;
  }
  const seen = new Map<string, number>();
  const runs = { native: 0, onnxruntime: 0 };
  return {
    engine: 'auto',
    runs,
    outputNames: ort.outputNames,
    fixedSize: ort.fixedSize,
    threads,
    async infer(data, dims) {
      const key = dims.join('x');
      const uses = (seen.get(key) ?? 0) + 1;
      if (native.compiled(dims) || uses >= AUTO_NATIVE_AFTER) {
        ++runs.native;
        return native.infer(data, dims);
      }
      if (seen.size >= 1024) seen.clear();
      seen.set(key, uses);
      ++runs.onnxruntime;
      return ort.infer(data, dims);
    },
    async dispose() {
      await Promise.all([ort.dispose(), native.dispose()]);
    },
  };
}

/**
 * A YuNet backend for `file` (another single-input network with `kind`, e.g. PFLD_NET): 'onnxruntime' (the
 * default), 'native' or 'auto' (see autoBackend).
 * 'native' and 'auto' use onnxruntime-node alone when the importer does not support the model
 * (ERR_FACESTYLE_UNSUPPORTED); a model that is not a YuNet detector or not ONNX at all is
 * ERR_FACESTYLE_FORMAT either way. `threads`: CPU threads per run on either engine (0, the default: all).
 */
export async function createDetectorBackend(file: string, outputNames: readonly string[], engine: DetectorEngine = 'onnxruntime', threads = 0, kind: NetKind = YUNET_NET): Promise<DetectorBackend> {
  if (engine === 'onnxruntime') return ortBackend(file, outputNames, threads, kind);
  try {
    return engine === 'auto' ? await autoBackend(file, outputNames, threads, kind) : await nativeBackend(file, outputNames, threads, kind);
  } catch (e) {
    if (e instanceof FacestyleError && e.code === 'ERR_FACESTYLE_UNSUPPORTED') return ortBackend(file, outputNames, threads, kind);
    if (e instanceof FacestyleError) throw e;
    throw new FacestyleError('ERR_FACESTYLE_FORMAT', `${kind.name} '${file}' is not a loadable ONNX model: ${(e as Error).message}`, { cause: e });
  }
}
