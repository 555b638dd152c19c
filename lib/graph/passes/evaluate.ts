// A plain interpreter over the ops' TS references: the ground truth the passes are tested against.
// Slow on purpose; tests only.
import { argumentError } from '../../errors.js';
import { getOp } from '../../ops/index.js';
import type { Graph } from '../ir.js';
import { Tensor } from '../tensor.js';

/** Runs `g` on `feeds` (by input name) with the reference implementations; returns outputs by name. */
export function evaluateReference(g: Graph, feeds: Record<string, Tensor>): Record<string, Tensor> {
  const vals: (Tensor | null)[] = g.values.map((v) => (v.data ? new Tensor(v.shape, v.data) : null));
  for (const id of g.inputs) {
    const v = g.values[id];
    const t = feeds[v.name];
    if (!t) throw argumentError(`Missing feed '${v.name}'`);
    vals[id] = t;
  }
  // Nodes are kept in a topological order by the builder, the importer and the passes.
  for (const node of g.nodes) {
    const ins = node.inputs.map((id) => (id < 0 ? null : vals[id]));
    if (ins.some((t, i) => t === null && node.inputs[i] >= 0)) throw argumentError(`Node '${node.name}' reads a value computed later`);
    const outs = getOp(node.op).reference(ins, node.attrs);
    node.outputs.forEach((id, i) => (vals[id] = outs[i]));
  }
  const result: Record<string, Tensor> = {};
  for (const id of g.outputs) result[g.values[id].name] = vals[id] as Tensor;
  return result;
}
