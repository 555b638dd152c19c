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

/** Throws ERR_FACESTYLE_ARGUMENT unless `graph` looks like a Graph (values and nodes arrays). */
export function checkGraph(graph: unknown, what = 'a Graph (from GraphBuilder.build() or loadOnnx())'): asserts graph is Graph {
  const g = graph as Graph | null;
  if (typeof g !== 'object' || g === null || !Array.isArray(g.nodes) || !Array.isArray(g.values))
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected graph to be ${what} but received ${graph === null ? 'null' : typeof graph}`);
}
