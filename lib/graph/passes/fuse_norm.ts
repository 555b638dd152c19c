// Normalisation + activation fusion: a BatchNormalization (one no conv absorbed), InstanceNormalization,
// LayerNormalization or GroupNormalization whose output only an activation reads takes the activation as
// its `activation` attribute (lib/ops/norm.ts) and takes over the activation's output:
//   InstanceNormalization(x, s, b) -> LeakyRelu(alpha)   =>   InstanceNormalization(x, s, b){ activation: 'LeakyRelu', activation_alpha: alpha }
// The kernels apply it while they write the normalised value, saving a full read and write of the tensor.
import type { Graph, Node } from '../ir.js';
import { FUSABLE_ACTIVATIONS } from './fuse.js';
import { cloneGraph, compact, consumersOf, pinnedValues } from './util.js';

/** Normalisations that accept a fused activation. */
export const FUSABLE_NORMS = ['BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization'] as const;
const NORMS = new Set<string>(FUSABLE_NORMS);

export function fuseNormActivation(graph: Graph): Graph {
  const g = cloneGraph(graph);
  const consumers = consumersOf(g);
  const pinned = pinnedValues(g);
  const producer = new Map<number, Node>();
  for (const n of g.nodes) for (const id of n.outputs) producer.set(id, n);
  const removed = new Set<Node>();
  for (const act of g.nodes) {
    const attrsOf = FUSABLE_ACTIVATIONS[act.op];
    if (!attrsOf || act.inputs.length !== 1) continue;
    const id = act.inputs[0];
    const norm = producer.get(id);
    if (!norm || !NORMS.has(norm.op) || norm.attrs.activation || pinned.has(id) || consumers[id].length !== 1) continue;
    Object.assign(norm.attrs, { activation: act.op, ...attrsOf(act.attrs) });
    norm.outputs = [...act.outputs];
    producer.set(act.outputs[0], norm); // a second activation after it stays: the norm now has one
    removed.add(act);
  }
  return removed.size ? compact(g, removed) : g;
}
