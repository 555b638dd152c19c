// Elementwise chain fusion: elementwise ops (unary, and binary with NumPy broadcasting) connected by
// intermediates that exactly one node reads, none a graph output, all of the same shape, become one
// ElementwiseChain node (lib/ops/elementwise_chain.ts) that the kernels evaluate in one pass over
// the output, block by block in cache, instead of one pass (a write and a re-read) per op:
//   Add(a, b) -> LeakyRelu               => ElementwiseChain(a, b){ program: 'Add LeakyRelu' }
//   Mul(x, k1) -> Exp -> Mul(., k2)      => ElementwiseChain(x, k1, k2){ program: 'Mul Exp Mul' }
//   Sigmoid(x) -> Mul(x, .)              => ElementwiseChain(x){ program: 'Sigmoid Mul' }   (x * sigmoid(x))
// A group is a tree of such edges (two chains meeting in one binary op join); it replaces its last
// node, which comes after every other member, so the graph stays in topological order. Operands from
// outside the group (constants, params or tensors computed elsewhere) become the node's inputs.
import { getOp, normalizeAttrs } from '../../ops/index.js';
import { CHAIN_MAX_INPUTS, CHAIN_MAX_STEPS, type ChainStep, encodeChain, isChainableOp } from '../../ops/elementwise_chain.js';
import type { Graph, Node } from '../ir.js';
import { sameShape } from '../tensor.js';
import { cloneGraph, compact, consumersOf, pinnedValues } from './util.js';

/** An elementwise node the chain op can express: its arity (Clip with attribute bounds only), one output. */
function chainable(n: Node): boolean {
  if (!isChainableOp(n.op) || n.outputs.length !== 1 || n.inputs.some((id) => id < 0)) return false;
  return n.inputs.length === (getOp(n.op).inputs.min === 1 ? 1 : 2);
}

export interface ChainFusionStats {
  /** ElementwiseChain nodes written. */
  chains: number;
  /** Nodes removed (each chain of k ops removes k - 1). */
  removed: number;
}

/** Fuses elementwise chains into ElementwiseChain nodes; `stats`, when given, receives what was fused. */
export function fuseElementwiseChains(graph: Graph, stats?: ChainFusionStats): Graph {
  const g = cloneGraph(graph);
  const consumers = consumersOf(g);
  const pinned = pinnedValues(g);
  // next.get(n): the one node that reads n's output, when the edge can be fused.
  const next = new Map<Node, Node>();
  for (const n of g.nodes) {
    if (!chainable(n)) continue;
    const out = n.outputs[0];
    const readers = consumers[out];
    if (pinned.has(out) || readers.length === 0 || readers.some((r) => r !== readers[0])) continue;
    const c = readers[0];
    if (chainable(c) && sameShape(g.values[out].shape, g.values[c.outputs[0]].shape)) next.set(n, c);
  }
  const rootOf = (n: Node): Node => {
    let r = n;
    while (next.has(r)) r = next.get(r) as Node;
    return r;
  };
  // Members in graph order (topological), the root last.
  const groups = new Map<Node, Node[]>();
  for (const n of g.nodes) {
    if (!next.has(n)) continue;
    const root = rootOf(n);
    if (!groups.has(root)) groups.set(root, []);
    (groups.get(root) as Node[]).push(n);
  }
  const removed = new Set<Node>();
  let chains = 0;
  for (const [root, members] of groups) {
    const nodes = [...members, root];
    const produced = new Map<number, number>(); // value id -> step index
    nodes.forEach((n, k) => produced.set(n.outputs[0], k));
    const inputs: number[] = [];
    for (const n of nodes) for (const id of n.inputs) if (!produced.has(id) && !inputs.includes(id)) inputs.push(id);
    if (inputs.length > CHAIN_MAX_INPUTS || nodes.length > CHAIN_MAX_STEPS) continue; // left unfused: rare and still correct
    const steps: ChainStep[] = nodes.map((n) => ({
      op: n.op,
      operands: n.inputs.map((id) => (produced.has(id) ? inputs.length + (produced.get(id) as number) : inputs.indexOf(id))),
      attrs: n.attrs,
    }));
    root.attrs = normalizeAttrs(getOp('ElementwiseChain'), encodeChain(steps));
    root.op = 'ElementwiseChain';
    root.inputs = inputs;
    for (const m of members) removed.add(m);
    chains += 1;
  }
  if (stats) {
    stats.chains = chains;
    stats.removed = removed.size;
  }
  return removed.size ? compact(g, removed) : g;
}
