// compile(graph) -> Session: the graph is planned once natively and run many times. run() returns a
// Promise and never blocks the event loop; runSync() runs on the calling thread; calls on one session
// run in order; dispose() is safe at any time, including during a run, and twice.
import { FacestyleError, argumentError, shapeError } from '../errors.js';
import { type Graph, checkGraph } from '../graph/ir.js';
import { Tensor, sameShape, shapeSize, shapeToString } from '../graph/tensor.js';
import * as is from '../is.js';
import { type NativeGraph, type NativeSessionHandle, loadNative } from '../native.js';
import { hasOp } from '../ops/index.js';

export type DeviceName = 'cpu' | 'cuda';

export interface CompileOptions {
  /** Where to run: 'cpu' (default) or 'cuda'. */
  device?: DeviceName;
  /**
   * CPU threads; 0 (default) uses every hardware thread. More than the machine has only slows runs down
   * (1000 on 2 cores: ~22x slower on PFLD), and worker threads, once started, stay for the process (pools).
   */
  threads?: number;
  /** Share memory between values whose lifetimes do not overlap (default true). */
  reuseBuffers?: boolean;
  /** Time every node of every run (see Session.profile()); adds a device sync per node. Default false. */
  profile?: boolean;
}

export interface NodeProfile {
  name: string;
  op: string;
  /** Mean milliseconds per run. */
  ms: number;
  /** Share of the total, 0..1. */
  share: number;
}

export type Feeds = Record<string, Tensor | Float32Array>;

/** Caller-given outputs after checking: the arrays in graph output order, and the Tensors given (returned as is). */
interface GivenOutputs {
  arrays: Float32Array[];
  tensors: (Tensor | undefined)[];
}

export interface RunOptions {
  /**
   * Arrays to write the outputs into instead of new ones, keyed by output name: a Tensor of the output's
   * shape or a Float32Array of its size, for every output of the graph. The run returns these same
   * tensors (a Float32Array is wrapped in a Tensor over it), so a loop can reuse one set and allocate
   * nothing per run. Outputs are written after every node has run, so an output may be a feed's own
   * array (the model's input overwritten by its output); outputs must not overlap one another.
   */
  outputs?: Record<string, Tensor | Float32Array>;
}

export interface SessionInfo {
  device: DeviceName;
  threads: number;
  /** Bytes of the activation arena: the peak activation memory of this plan. */
  peakActivationBytes: number;
  /** Lower bound for any plan: the most bytes live at one step. */
  largestLiveSetBytes: number;
  paramBytes: number;
}

export class Session {
  private handle: NativeSessionHandle | null;
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0; // run() calls not yet settled

  /** @internal use compile() */
  constructor(readonly graph: Graph, handle: NativeSessionHandle, readonly device: DeviceName) {
    this.handle = handle;
  }

  get disposed(): boolean {
    return this.handle === null;
  }

  private live(): NativeSessionHandle {
    if (!this.handle) throw new FacestyleError('ERR_FACESTYLE_DISPOSED', 'The session was disposed; compile the graph again');
    return this.handle;
  }

  /**
   * Runs the graph. Feeds are keyed by input name; results are keyed by output name. The feeds are copied
   * when the call is made (a buffer transferred to a worker or changed before the run starts does not
   * matter), and outputs given in `options.outputs` are filled when the promise settles.
   */
  run(feeds: Feeds, options: RunOptions = {}): Promise<Record<string, Tensor>> {
    let arrays: Float32Array[];
    let outs: GivenOutputs | undefined;
    try {
      this.live();
      arrays = this.checkFeeds(feeds);
      outs = this.checkOutputs(options, arrays); // taken now: later changes to options do not count
    } catch (e) {
      return Promise.reject(e);
    }
    // The feeds are taken now, whatever the caller does with them after this call returns (changes them,
    // transfers their buffers to a worker): on an idle session the native call, which copies them, is made
    // now; behind other runs a copy is made here and the native call waits its turn.
    let started: Promise<Float32Array[]> | null = null;
    if (this.pending === 0) {
      try {
        started = this.live().run(arrays, outs?.arrays);
      } catch (e) {
        return Promise.reject(e);
      }
    } else arrays = arrays.map((a) => a.slice());
    ++this.pending;
    const result = this.tail.then(async () => {
      try {
        return this.named(await (started ?? this.live().run(arrays, outs?.arrays)), outs);
      } finally {
        --this.pending; // before the caller's await resumes
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs the graph on the calling thread and returns its outputs: no Promise, and the event loop is
   * blocked until they are back (onnxruntime-node's run() does the same inside its Promise). For small
   * models run back to back (a detector per frame) it saves run()'s two thread hand-offs, tens of
   * microseconds a run. Throws while run() calls of this session are pending (await them first), so
   * that runs stay in call order. On the CPU the feeds are read in place, as with run().
   */
  runSync(feeds: Feeds, options: RunOptions = {}): Record<string, Tensor> {
    const handle = this.live();
    const arrays = this.checkFeeds(feeds);
    const outs = this.checkOutputs(options, arrays);
    if (this.pending > 0) throw argumentError('runSync() while run() calls of this session are pending: await them first');
    return this.named(handle.runSync(arrays, outs?.arrays), outs);
  }

  private named(outs: Float32Array[], given?: GivenOutputs): Record<string, Tensor> {
    const named: Record<string, Tensor> = {};
    this.graph.outputs.forEach((id, i) => {
      const v = this.graph.values[id];
      named[v.name] = given?.tensors[i] ?? new Tensor(v.shape, outs[i]);
    });
    return named;
  }

  /**
   * RunOptions.outputs as the native side takes them (undefined: allocate new outputs), with the Tensors
   * given, returned as they are. Outputs are copied out one after another, so arrays that overlap one another,
   * or overlap a feed that is itself an output (passed through), would get the wrong values: refused.
   */
  private checkOutputs(options: RunOptions, feeds: Float32Array[]): GivenOutputs | undefined {
    if (!is.object(options)) throw is.invalid('run options', 'an object', options);
    const given = (options as RunOptions).outputs;
    if (given === undefined) return undefined;
    const arrays = this.arraysFor(given, this.graph.outputs, 'output', 'outputs', ': give one for every output');
    const names = this.graph.outputs.map((id) => this.graph.values[id].name);
    const overlap = (a: Float32Array, b: Float32Array) => a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
    for (let i = 0; i < arrays.length; ++i) {
      for (let j = i + 1; j < arrays.length; ++j)
        if (overlap(arrays[i], arrays[j])) throw argumentError(`Output arrays '${names[i]}' and '${names[j]}' overlap; give each output its own memory`);
      this.graph.inputs.forEach((id, k) => {
        if (this.graph.outputs.includes(id) && overlap(arrays[i], feeds[k]))
          throw argumentError(`Output array '${names[i]}' overlaps feed '${this.graph.values[id].name}', which is also an output of the graph; give it other memory`);
      });
    }
    const tensors = this.graph.outputs.map((id) => {
      const g = given[this.graph.values[id].name];
      return g instanceof Tensor ? g : undefined;
    });
    return { arrays, tensors };
  }

  private checkFeeds(feeds: Feeds): Float32Array[] {
    return this.arraysFor(feeds, this.graph.inputs, 'feed', 'inputs', '');
  }

  /**
   * Feeds or caller-given outputs as the native side takes them: one Float32Array per value of `ids`, in
   * order, from an object keyed by value name (a Tensor of the value's shape or a Float32Array of its size).
   */
  private arraysFor(given: Record<string, Tensor | Float32Array>, ids: readonly number[], what: 'feed' | 'output', plural: string, missingHint: string): Float32Array[] {
    const What = what[0].toUpperCase() + what.slice(1);
    if (!is.object(given)) throw is.invalid(`${what}s`, `an object of ${what === 'feed' ? 'input' : 'output'} name -> Tensor or Float32Array`, given);
    const names = ids.map((id) => this.graph.values[id].name);
    for (const key of Object.keys(given)) if (!names.includes(key)) throw argumentError(`Unknown ${what} '${key}'; the graph's ${plural} are ${names.join(', ')}`);
    return ids.map((id) => {
      const v = this.graph.values[id];
      const a = given[v.name];
      if (a === undefined) throw argumentError(`Missing ${what} '${v.name}' (shape ${shapeToString(v.shape)})${missingHint}`);
      if (a instanceof Tensor) {
        if (!sameShape(a.shape, v.shape)) throw shapeError(`${What} '${v.name}': expected shape ${shapeToString(v.shape)} but received ${shapeToString(a.shape)}`);
        return a.data;
      }
      if (!(a instanceof Float32Array)) throw is.invalid(`${what} '${v.name}'`, 'Tensor or Float32Array', a);
      if (a.length !== shapeSize(v.shape)) throw shapeError(`${What} '${v.name}': expected ${shapeSize(v.shape)} values for shape ${shapeToString(v.shape)} but received ${a.length}`);
      return a;
    });
  }

  /**
   * run() calls are queued, these are not: while runs are pending they would read or write the values
   * out of call order (a writeParam right after run() changed that run's parameters) and block the event
   * loop until the run in progress ended. Refused instead, as runSync() is.
   */
  private idle(what: string): void {
    if (this.pending > 0) throw argumentError(`${what} while run() calls of this session are pending: await them first`);
  }

  /** Reads a parameter or constant as it is now on the device (after the runs awaited so far; not while run() calls are pending). */
  readParam(name: string): Tensor {
    const v = this.graph.values.find((x) => x.name === name && (x.kind === 'param' || x.kind === 'const'));
    if (!v) throw argumentError(`No parameter named '${name}'`);
    this.idle('readParam()');
    return new Tensor(v.shape, this.live().readValue(name));
  }

  /** Overwrites a parameter or constant on the device (not while run() calls are pending). */
  writeParam(name: string, value: Tensor | Float32Array): void {
    const v = this.graph.values.find((x) => x.name === name && (x.kind === 'param' || x.kind === 'const'));
    if (!v) throw argumentError(`No parameter named '${name}'`);
    const data = value instanceof Tensor ? value.data : value;
    if (!(data instanceof Float32Array) || data.length !== shapeSize(v.shape)) throw shapeError(`Parameter '${name}' expects ${shapeSize(v.shape)} values for shape ${shapeToString(v.shape)}`);
    this.idle('writeParam()');
    this.live().writeValue(name, data);
  }

  info(): SessionInfo {
    const i = this.live().info();
    return { device: i.device as DeviceName, threads: i.threads, peakActivationBytes: i.arenaBytes, largestLiveSetBytes: i.largestLiveSetBytes, paramBytes: i.paramBytes };
  }

  /** Mean time per node over the runs so far, slowest first (needs `profile: true` at compile; not while run() calls are pending). */
  profile(): NodeProfile[] {
    this.idle('profile()');
    const p = this.live().profile();
    if (p.runs === 0) return [];
    const total = p.steps.reduce((a, s) => a + s.seconds, 0) || 1;
    return p.steps
      .map((s) => ({ name: this.graph.nodes[s.node].name, op: this.graph.nodes[s.node].op, ms: (s.seconds / p.runs) * 1000, share: s.seconds / total }))
      .sort((a, b) => b.ms - a.ms);
  }

  /**
   * Frees native memory now. Safe during a run (the run in progress finishes first; runs still queued
   * behind it reject with ERR_FACESTYLE_DISPOSED) and safe twice.
   */
  dispose(): void {
    if (!this.handle) return;
    this.handle.dispose();
    this.handle = null;
  }
}

/** The graph as the addon receives it. */
export function toNativeGraph(graph: Graph): NativeGraph {
  return {
    values: graph.values.map((v) => ({ name: v.name, kind: v.kind, shape: v.shape, data: v.data })),
    nodes: graph.nodes.map((n) => ({ name: n.name, op: n.op, attrs: n.attrs, inputs: n.inputs, outputs: n.outputs })),
    inputs: graph.inputs,
    outputs: graph.outputs,
    updates: (graph.updates ?? []).map((u) => [u.source, u.target] as [number, number]),
  };
}

const COMPILE_OPTION_KEYS = is.optionKeys<CompileOptions>()(['device', 'threads', 'reuseBuffers', 'profile']);

/** Plans the graph natively once; the returned session runs it many times. */
export async function compile(graph: Graph, options: CompileOptions = {}): Promise<Session> {
  checkGraph(graph);
  if (typeof options !== 'object' || options === null) throw is.invalid('compile options', 'an object ({ device, threads, ... })', options);
  is.knownOptions('compile', options, COMPILE_OPTION_KEYS);
  const device = is.oneOf('device', options.device ?? 'cpu', ['cpu', 'cuda'] as const);
  const threads = is.threadCount(options.threads);
  const unknown = [...new Set(graph.nodes.map((n) => n.op).filter((op) => !hasOp(op)))];
  if (unknown.length) throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `Unknown ops: ${unknown.join(', ')}`);
  const native = loadNative();
  if (device === 'cuda' && !native.capabilities().cuda.compiled)
    throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', "This build of the addon has no CUDA backend (it was built without nvcc, or with FACESTYLE_CUDA=OFF): rebuild with nvcc installed (FACESTYLE_CUDA=ON to require it), or use device 'cpu'");
  // Booleans must be booleans: 'no' is truthy and would have meant yes.
  for (const k of ['reuseBuffers', 'profile'] as const) if (options[k] !== undefined) is.trueOrFalse(k, options[k]);
  const handle = await native.compile(toNativeGraph(graph), { device, threads, reuseBuffers: options.reuseBuffers ?? true, profile: options.profile ?? false });
  return new Session(graph, handle, device);
}
