// Helpers shared by the graph passes: who reads a value, and rebuilding a graph without the values and
// nodes a pass made dead (ids are array indices, so removing anything means renumbering).
import type { Graph, Node, Value } from '../ir.js';
import { sameShape } from '../tensor.js';

/** For every value id, the nodes that read it (a node reading a value twice is listed twice). */
export function consumersOf(g: Graph): Node[][] {
  const out: Node[][] = g.values.map(() => []);
  for (const n of g.nodes) for (const id of n.inputs) if (id >= 0) out[id].push(n);
  return out;
}

/** Value ids that must keep their meaning: graph outputs and both ends of parameter updates. */
export function pinnedValues(g: Graph): Set<number> {
  const pinned = new Set<number>(g.outputs);
  for (const u of g.updates ?? []) {
    pinned.add(u.source);
    pinned.add(u.target);
  }
  return pinned;
}

/** For every value id, the node that writes it (graph inputs, params and consts have none). */
export function producersOf(g: Graph): Map<number, Node> {
  const out = new Map<number, Node>();
  for (const n of g.nodes) for (const id of n.outputs) out.set(id, n);
  return out;
}

/**
 * What a fusing rewrite starts from: its own copy of the graph, and for that copy who reads and who
 * writes each value, the values that must keep their meaning, and an empty set of nodes to remove.
 */
export function rewriteStart(graph: Graph): { g: Graph; consumers: Node[][]; producer: Map<number, Node>; pinned: Set<number>; removed: Set<Node> } {
  const g = cloneGraph(graph);
  return { g, consumers: consumersOf(g), producer: producersOf(g), pinned: pinnedValues(g), removed: new Set<Node>() };
}

/** A constant tensor's data: params and consts carry it; anything else (inputs, intermediates) is not constant. */
export function constData(g: Graph, id: number): Float32Array | null {
  if (id < 0) return null;
  const v = g.values[id];
  return (v.kind === 'param' || v.kind === 'const') && v.data ? v.data : null;
}

/** A deep enough copy that a pass can edit nodes, attributes and value data without touching `g`. */
export function cloneGraph(g: Graph): Graph {
  return {
    name: g.name,
    values: g.values.map((v) => ({ ...v, shape: [...v.shape], data: v.data ? v.data.slice() : undefined })),
    nodes: g.nodes.map((n) => ({ ...n, attrs: cloneAttrs(n.attrs), inputs: [...n.inputs], outputs: [...n.outputs] })),
    inputs: [...g.inputs],
    outputs: [...g.outputs],
    ...(g.updates ? { updates: g.updates.map((u) => ({ ...u })) } : {}),
  };
}

function cloneAttrs(a: Node['attrs']): Node['attrs'] {
  const out: Node['attrs'] = {};
  for (const [k, v] of Object.entries(a)) out[k] = Array.isArray(v) ? [...v] : v;
  return out;
}

/**
 * Drops the nodes in `removed` and every value no remaining node, input, output or update refers to,
 * then renumbers values and nodes densely, keeping their order.
 */
export function compact(g: Graph, removed: ReadonlySet<Node>): Graph {
  const nodes = g.nodes.filter((n) => !removed.has(n));
  const used = new Set<number>([...g.inputs, ...g.outputs]);
  for (const u of g.updates ?? []) {
    used.add(u.source);
    used.add(u.target);
  }
  for (const n of nodes) for (const id of [...n.inputs, ...n.outputs]) if (id >= 0) used.add(id);
  const remap = new Map<number, number>();
  const values: Value[] = [];
  for (const v of g.values)
    if (used.has(v.id)) {
      remap.set(v.id, values.length);
      values.push({ ...v, id: values.length });
    }
  const map = (id: number) => (id < 0 ? id : (remap.get(id) as number));
  return {
    name: g.name,
    values,
    nodes: nodes.map((n, i) => ({ ...n, id: i, inputs: n.inputs.map(map), outputs: n.outputs.map(map) })),
    inputs: g.inputs.map(map),
    outputs: g.outputs.map(map),
    ...(g.updates ? { updates: g.updates.map((u) => ({ source: map(u.source), target: map(u.target) })) } : {}),
  };
}

/** A fresh value name not used in `g`. */
export function freshName(g: Graph, base: string): string {
  const taken = new Set(g.values.map((v) => v.name));
  let name = base;
  for (let i = 1; taken.has(name); ++i) name = `${base}_${i}`;
  return name;
}

/** Whether an ints attribute (undefined: `fallback`) equals `want`. */
export function intsAre(value: unknown, want: readonly number[], fallback: readonly number[] = want): boolean {
  const v = value ?? fallback;
  return Array.isArray(v) && sameShape(v, want);
}

/** The fused activations the CPU conv kernels apply in registers (not Tanh / Sigmoid, which take a pass of their own). */
const IN_REGISTERS: ReadonlySet<string> = new Set(['', 'Relu', 'LeakyRelu', 'Clip']);

/**
 * A Conv2D the CPU's depthwise 3x3 strip kernel takes (native/cpu/conv_depthwise_kernels.h): group == C == M,
 * 3x3, stride 1, dilation 1, pad 1 on the left and right (the output as wide as the input), no residual
 * input Z, an activation applied in registers. The pool and 1x1 + depthwise fusions start from it.
 */
export function isDepthwise3x3Strip(g: Graph, n: Node): boolean {
  if (n.op !== 'Conv2D') return false;
  const x = g.values[n.inputs[0]].shape, w = g.values[n.inputs[1]].shape, a = n.attrs;
  const pads = (a.pads as number[] | undefined) ?? [0, 0, 0, 0];
  return (
    x.length === 4 && w.length === 4 && a.group === x[1] && w[0] === x[1] && w[1] === 1 && w[2] === 3 && w[3] === 3 &&
    intsAre(a.strides, [1, 1]) && intsAre(a.dilations, [1, 1]) && pads[1] === 1 && pads[3] === 1 && (n.inputs[3] ?? -1) < 0 &&
    activationInRegisters(n)
  );
}

/** Whether a node's fused activation (attribute `activation`) is one the CPU conv kernels apply in registers. */
export const activationInRegisters = (n: Node): boolean => IN_REGISTERS.has((n.attrs.activation as string | undefined) ?? '');
