// Runs a whole graph through the plain-TS op references (the ground truth for graph and session
// tests): nodes in a topological order, each value computed once.
import type { Graph } from '../../lib/graph/ir.js';
import { Tensor } from '../../lib/graph/tensor.js';
import { getOp } from '../../lib/ops/index.js';

export function referenceRun(graph: Graph, feeds: Record<string, Tensor>): Record<string, Tensor> {
  const values = new Map<number, Tensor>();
  for (const v of graph.values) if (v.data) values.set(v.id, new Tensor(v.shape, v.data));
  for (const id of graph.inputs) values.set(id, feeds[graph.values[id].name]);
  const pending = [...graph.nodes];
  while (pending.length) {
    const i = pending.findIndex((n) => n.inputs.every((id) => id < 0 || values.has(id)));
    if (i < 0) throw new Error('graph has a cycle or an undefined value');
    const [node] = pending.splice(i, 1);
    const outs = getOp(node.op).reference(node.inputs.map((id) => (id < 0 ? null : (values.get(id) as Tensor))), node.attrs);
    node.outputs.forEach((id, k) => values.set(id, outs[k]));
  }
  const result: Record<string, Tensor> = {};
  for (const id of graph.outputs) result[graph.values[id].name] = values.get(id) as Tensor;
  return result;
}
