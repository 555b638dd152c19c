// The graph builder, for people and for lib/nn: `g.conv2d(x, { out: 64, kernel: 3, pad: 1 })`.
// Every node's shapes are inferred as it is added, so a shape error is reported at build time,
// naming the node.
import { FacestyleError, argumentError } from '../errors.js';
import * as is from '../is.js';
import { getOp, inferNodeShapes, normalizeAttrs, outputCount } from '../ops/index.js';
import type { Attrs, Graph, Node, Value, ValueKind } from './ir.js';
import { type Shape, Tensor, mulberry32, shapeSize } from './tensor.js';

/** A value being built: its id in the graph and its inferred shape. */
export interface Sym {
  readonly id: number;
  readonly name: string;
  readonly shape: readonly number[];
}

export type ParamInit = 'zeros' | 'ones' | 'he' | 'xavier' | Float32Array | Tensor | ((size: number) => Float32Array);

export interface Conv2dOptions {
  /** Output channels. */
  out: number;
  kernel: number | [number, number];
  stride?: number | [number, number];
  /** Symmetric padding, [top, left, bottom, right], or 'same' (stride 1, odd kernels). */
  pad?: number | [number, number, number, number] | 'same';
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
  name?: string;
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

const CONV2D_OPTION_KEYS = is.optionKeys<Conv2dOptions>()(['out', 'kernel', 'stride', 'pad', 'dilation', 'groups', 'bias', 'name']);

export class GraphBuilder {
  private readonly values: Value[] = [];
  private readonly nodes: Node[] = [];
  private readonly inputs: number[] = [];
  private readonly outputs: number[] = [];
  private readonly updates: { source: number; target: number }[] = [];
  private readonly names = new Set<string>(); // value names
  private readonly nodeNames = new Set<string>();
  private readonly rng: () => number;
  private readonly initParams: boolean;

  /**
   * `seed` makes parameter initialisation reproducible. `initParams: false` records each parameter's
   * name and shape only, with no values (a graph whose weights come from a file, checked against them
   * before anything that size is allocated).
   */
  constructor(readonly name = 'graph', options: { seed?: number; initParams?: boolean } = {}) {
    if (!is.object(options as unknown)) throw is.invalid('options', 'an object', options);
    is.knownOptions('GraphBuilder', options, is.optionKeys<{ seed?: number; initParams?: boolean }>()(['seed', 'initParams']));
    if (options.initParams !== undefined) is.trueOrFalse('initParams', options.initParams);
    // A seed that is not a whole number became 0 in mulberry32 ('x' gave the same weights as 2^40).
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw is.invalid('seed', 'a whole number', options.seed);
    this.rng = mulberry32(options.seed ?? 1);
    this.initParams = options.initParams ?? true;
  }

  private uniqueName(base: string, taken: Set<string> = this.names): string {
    let name = base;
    for (let i = 1; taken.has(name); ++i) name = `${base}_${i}`;
    taken.add(name);
    return name;
  }

  private addValue(name: string, kind: ValueKind, shape: Shape, data?: Float32Array): Sym {
    shapeSize(shape, name);
    const v: Value = { id: this.values.length, name: this.uniqueName(name), kind, shape: [...shape], data };
    this.values.push(v);
    return { id: v.id, name: v.name, shape: v.shape };
  }

  /** A graph input (fed at run time). */
  input(name: string, shape: Shape): Sym {
    if (!is.string(name)) throw is.invalid('input name', 'non-empty string', name);
    if (this.names.has(name)) throw argumentError(`Value name '${name}' is already used`);
    const s = this.addValue(name, 'input', shape);
    this.inputs.push(s.id);
    return s;
  }

  /** A trainable parameter, initialised now (shape only when the builder was made with initParams: false). */
  param(name: string, shape: Shape, init: ParamInit = 'he', fanIn?: number): Sym {
    const n = shapeSize(shape, name);
    if (!this.initParams) return this.addValue(name, 'param', shape);
    let data: Float32Array;
    try {
      data = this.initialValues(name, shape, n, init, fanIn);
    } catch (e) {
      // A typed array too large for this process: the model is too big, not the caller's mistake in form.
      if (e instanceof RangeError && /allocation failed|invalid (typed )?array length/i.test(e.message)) throw new FacestyleError('ERR_FACESTYLE_OUT_OF_MEMORY', `Parameter '${name}' [${shape.join(',')}] (${n} values) could not be allocated: ${e.message}`, { cause: e });
      throw e;
    }
    if (data.length !== n) throw argumentError(`Parameter '${name}' needs ${n} values but received ${data.length}`);
    return this.addValue(name, 'param', shape, data);
  }

  private initialValues(name: string, shape: Shape, n: number, init: ParamInit, fanIn?: number): Float32Array {
    let data: Float32Array;
    if (init instanceof Tensor) data = init.data.slice();
    else if (init instanceof Float32Array) data = init.slice();
    else if (typeof init === 'function') data = init(n);
    else if (init === 'zeros') data = new Float32Array(n);
    else if (init === 'ones') data = new Float32Array(n).fill(1);
    else if (init !== 'he' && init !== 'xavier') throw is.invalid(`init of parameter '${name}'`, "Float32Array, Tensor, function or 'zeros'|'ones'|'he'|'xavier'", init);
    else {
      // Kaiming/He uniform (gain sqrt(2)) or Xavier/Glorot uniform, from the fan-in.
      const fan = fanIn ?? (shape.length > 1 ? n / shape[0] : n);
      const bound = init === 'he' ? Math.sqrt(6 / fan) : Math.sqrt(3 / fan);
      data = new Float32Array(n);
      for (let i = 0; i < n; ++i) data[i] = (2 * this.rng() - 1) * bound;
    }
    return data;
  }

  /** A constant tensor (not trained). */
  constant(name: string, tensor: Tensor): Sym {
    return this.addValue(name, 'const', tensor.shape, tensor.data.slice());
  }

  /** Throws ERR_FACESTYLE_ARGUMENT unless `x` is a value of this builder (`what` names it in the message). */
  private checkSym(x: unknown, what: string): asserts x is Sym {
    const id = (x as Sym | null)?.id;
    if (typeof x !== 'object' || x === null || typeof id !== 'number' || !Number.isInteger(id) || !this.values[id])
      throw is.invalid(what, 'a value of this GraphBuilder (from input(), param() or an op)', x);
  }

  /** Adds a node of any registered op; returns its outputs. Shapes are inferred now. */
  op(opName: string, inputs: readonly (Sym | null)[], attrs: Attrs = {}, name?: string): Sym[] {
    if (!Array.isArray(inputs)) throw is.invalid(`inputs of ${opName}`, 'an array of values (null for an omitted optional input)', inputs);
    inputs.forEach((s, i) => {
      if (s !== null) this.checkSym(s, `input ${i} of ${opName}`);
    });
    if (!is.object(attrs)) throw is.invalid(`attributes of ${opName}`, 'an object', attrs);
    const schema = getOp(opName);
    let nodeName = this.uniqueName(name ?? opName.toLowerCase(), this.nodeNames);
    // A single-output node's value takes the node's name, so keep both free.
    while (this.names.has(nodeName)) nodeName = this.uniqueName(`${nodeName}_`, this.nodeNames);
    const full = normalizeAttrs(schema, attrs);
    const shapes = inferNodeShapes(schema, nodeName, inputs.map((s) => (s ? s.shape : null)), full);
    const count = outputCount(schema, full);
    const outs = shapes.slice(0, count).map((shape, i) => this.addValue(count === 1 ? nodeName : `${nodeName}:${i}`, 'intermediate', shape));
    this.nodes.push({ id: this.nodes.length, name: nodeName, op: opName, attrs: full, inputs: inputs.map((s) => (s ? s.id : -1)), outputs: outs.map((o) => o.id) });
    return outs;
  }

  /** Single-output op. */
  op1(opName: string, inputs: readonly (Sym | null)[], attrs: Attrs = {}, name?: string): Sym {
    return this.op(opName, inputs, attrs, name)[0];
  }

  /** Marks a value as a graph output. */
  output(sym: Sym, name?: string): Sym {
    this.checkSym(sym, 'the output');
    if (name && name !== sym.name) {
      // Output names are the keys of run()'s results: one already taken would have come back renamed ('x_').
      if (this.names.has(name)) throw argumentError(`Output name '${name}' is already the name of another value of the graph; choose another`);
      const id = this.op1('Identity', [sym], {}, name);
      this.outputs.push(id.id);
      return id;
    }
    this.outputs.push(sym.id);
    return sym;
  }

  build(): Graph {
    if (this.outputs.length === 0) throw argumentError(`Graph '${this.name}' has no outputs; call output() first`);
    return {
      name: this.name,
      values: this.values.map((v) => ({ ...v, shape: [...v.shape] })),
      nodes: this.nodes.map((n) => ({ ...n, attrs: { ...n.attrs }, inputs: [...n.inputs], outputs: [...n.outputs] })),
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      ...(this.updates.length ? { updates: this.updates.map((u) => ({ ...u })) } : {}),
    };
  }

  // ---- access for autodiff and step graphs ----

  /** The nodes added so far, in topological order (autodiff walks them backwards). */
  get nodeList(): readonly Node[] {
    return this.nodes;
  }

  /** The Sym of a value id. */
  sym(id: number): Sym {
    const v = this.values[id];
    if (!v) throw argumentError(`No value with id ${id}`);
    return { id: v.id, name: v.name, shape: v.shape };
  }

  /** A value by name (undefined when absent). */
  find(name: string): Sym | undefined {
    const v = this.values.find((x) => x.name === name);
    return v && { id: v.id, name: v.name, shape: v.shape };
  }

  /** Kind of a value (input, param, const, intermediate). */
  kindOf(sym: Sym): ValueKind {
    return this.values[sym.id].kind;
  }

  /** Current initial data of a param or const. */
  dataOf(sym: Sym): Float32Array | undefined {
    return this.values[sym.id].data;
  }

  /** After every run, param `target` takes the computed value `source` (optimizer steps). */
  update(source: Sym, target: Sym): void {
    if (this.values[target.id]?.kind !== 'param') throw argumentError(`Update target '${target.name}' is not a parameter`);
    this.updates.push({ source: source.id, target: target.id });
  }

  // ---- layers ----

  /** 2-D convolution with a new weight (He-initialised) and optional bias. */
  conv2d(x: Sym, o: Conv2dOptions): Sym {
    this.checkSym(x, 'the input of conv2d');
    if (typeof o !== 'object' || o === null) throw is.invalid('conv2d options', 'an object ({ out, kernel, ... })', o);
    is.knownOptions('conv2d', o, CONV2D_OPTION_KEYS);
    if (o.bias !== undefined) is.trueOrFalse('bias', o.bias);
    if (x.shape.length !== 4) throw argumentError(`conv2d expects NCHW input but received [${x.shape.join(',')}]`);
    const [kh, kw] = pair(o.kernel);
    const groups = o.groups ?? 1;
    const cin = x.shape[1];
    is.positiveInteger('out', o.out);
    const [dh, dw] = pair(o.dilation ?? 1);
    let pads: number[];
    // 'same' pads symmetrically: an even (dilated) kernel or a stride would not keep the size.
    if (o.pad === 'same' && (((kh - 1) * dh) % 2 !== 0 || ((kw - 1) * dw) % 2 !== 0 || pair(o.stride ?? 1).some((v) => v !== 1)))
      throw argumentError(`conv2d pad 'same' needs stride 1 and an odd kernel (after dilation), but received kernel ${kh}x${kw}, dilation ${dh}x${dw}, stride ${pair(o.stride ?? 1).join('x')}: give the pads`);
    if (o.pad === 'same') pads = [((kh - 1) * dh) >> 1, ((kw - 1) * dw) >> 1, ((kh - 1) * dh) >> 1, ((kw - 1) * dw) >> 1];
    else if (Array.isArray(o.pad)) pads = [...o.pad];
    else pads = [o.pad ?? 0, o.pad ?? 0, o.pad ?? 0, o.pad ?? 0];
    const base = o.name ?? 'conv';
    const w = this.param(`${base}.weight`, [o.out, cin / groups, kh, kw], 'he', (cin / groups) * kh * kw);
    const b = o.bias === false ? null : this.param(`${base}.bias`, [o.out], 'zeros');
    return this.op1('Conv2D', b ? [x, w, b] : [x, w], { strides: pair(o.stride ?? 1), pads, dilations: [dh, dw], group: groups }, base);
  }

  add(a: Sym, b: Sym, name?: string): Sym {
    return this.op1('Add', [a, b], {}, name);
  }
  relu(x: Sym, name?: string): Sym {
    return this.op1('Relu', [x], {}, name);
  }
}
