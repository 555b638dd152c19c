// The graph IR: values (with shapes) and nodes (op name, attributes, inputs, outputs). The builder
// (lib/graph/builder.ts) and the ONNX importer write graphs; the runtime, exporter and passes read them.
import { FacestyleError } from '../errors.js';
import type { Shape } from './tensor.js';

export type AttrValue = number | string | boolean | number[];
export type Attrs = Record<string, AttrValue>;
export type ValueKind = 'input' | 'param' | 'const' | 'intermediate';

export interface Value {
  id: number;
  name: string;
  kind: ValueKind;
  shape: number[];
  /** Contents of a param or const. */
  data?: Float32Array;
}

export interface Node {
  id: number;
  name: string;
  op: string;
  attrs: Attrs;
  /** Value ids; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
}

export interface Graph {
  name: string;
  values: Value[];
  nodes: Node[];
  /** Value ids of the graph inputs, in feed order. */
  inputs: number[];
  /** Value ids of the graph outputs, in result order. */
  outputs: number[];
  /**
   * In-place parameter updates committed after every run: param `target` <- value `source`
   * (how a training step graph writes its new weights and optimizer state).
   */
  updates?: { source: number; target: number }[];
}

export const valueByName = (g: Graph, name: string): Value | undefined => g.values.find((v) => v.name === name);
export const inputValues = (g: Graph): Value[] => g.inputs.map((i) => g.values[i]);
export const outputValues = (g: Graph): Value[] => g.outputs.map((i) => g.values[i]);
export const paramValues = (g: Graph): Value[] => g.values.filter((v) => v.kind === 'param');

/** Shape of a value id, or null for an omitted optional input. */
export const shapeOfId = (g: Graph, id: number): Shape | null => (id < 0 ? null : g.values[id].shape);

/**
 * Throws ERR_FACESTYLE_ARGUMENT unless `graph` is a well-formed Graph: values and nodes arrays, each
 * value an object with a shape array, each node an object with an op name and input / output arrays of
 * value ids in range (-1, an omitted optional input, for inputs only), graph inputs and outputs valid
 * ids. What the ops themselves accept (shapes, attributes) is checked where the graph is compiled; this
 * keeps a hand-built or damaged graph from reaching that code as a TypeError.
 */
export function checkGraph(graph: unknown, what = 'a Graph (from GraphBuilder.build() or loadOnnx())'): asserts graph is Graph {
  const g = graph as Graph | null;
  if (typeof g !== 'object' || g === null || !Array.isArray(g.nodes) || !Array.isArray(g.values))
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected graph to be ${what} but received ${graph === null ? 'null' : typeof graph}`);
  const bad = (why: string) => new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Malformed graph: ${why}`);
  const n = g.values.length;
  const isId = (id: unknown, optional: boolean): boolean => Number.isInteger(id) && (id as number) < n && ((id as number) >= 0 || (optional && id === -1));
  g.values.forEach((v, i) => {
    if (typeof v !== 'object' || v === null || !Array.isArray(v.shape)) throw bad(`values[${i}] is not a value with a shape`);
  });
  g.nodes.forEach((node, i) => {
    if (typeof node !== 'object' || node === null || typeof node.op !== 'string') throw bad(`nodes[${i}] is not a node with an op name`);
    const label = `node ${i} (${node.op}${typeof node.name === 'string' && node.name ? ` '${node.name}'` : ''})`;
    if (!Array.isArray(node.inputs) || !Array.isArray(node.outputs)) throw bad(`${label} has no inputs / outputs arrays`);
    node.inputs.forEach((id, k) => {
      if (!isId(id, true)) throw bad(`${label} input ${k} is ${JSON.stringify(id)}, not a value id in [0, ${n})`);
    });
    node.outputs.forEach((id, k) => {
      if (!isId(id, false)) throw bad(`${label} output ${k} is ${JSON.stringify(id)}, not a value id in [0, ${n})`);
    });
  });
  for (const key of ['inputs', 'outputs'] as const) {
    const ids = g[key];
    if (!Array.isArray(ids)) throw bad(`graph.${key} is not an array of value ids`);
    ids.forEach((id, k) => {
      if (!isId(id, false)) throw bad(`graph.${key}[${k}] is ${JSON.stringify(id)}, not a value id in [0, ${n})`);
    });
  }
}
