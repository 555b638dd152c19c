// Conv2D + activation fusion. A Conv2D whose output only an activation reads takes the activation as
// its fused `activation` attribute (lib/ops/conv.ts) and takes over the activation's output:
//   Conv2D(x, W, b) -> LeakyRelu(alpha)   =>   Conv2D(x, W, b){ activation: 'LeakyRelu', activation_alpha: alpha }
// Relu, LeakyRelu and Clip run inside the conv's GEMM epilogue (cpu::sgemmFused) or direct kernel while
// the output tile is in cache; Tanh and Sigmoid in a sweep over the output right after (CPU), or in the
// same kernel (CUDA). Either way one node, one pass less over memory than two nodes.
import type { AttrValue, Graph, Node } from '../ir.js';
import { compact, rewriteStart } from './util.js';

const FLOAT_MAX = 3.4028234663852886e38;

/** Activation ops a Conv2D can absorb, and the Conv2D attributes each becomes. */
export const FUSABLE_ACTIVATIONS: Record<string, (attrs: Node['attrs']) => Record<string, AttrValue>> = {
  Relu: () => ({}),
  Tanh: () => ({}),
  Sigmoid: () => ({}),
  LeakyRelu: (a) => ({ activation_alpha: (a.alpha as number | undefined) ?? 0.01 }),
  Clip: (a) => ({ activation_min: (a.min as number | undefined) ?? -FLOAT_MAX, activation_max: (a.max as number | undefined) ?? FLOAT_MAX }),
};

/**
 * The shared rewrite: a node whose op is in `ops`, that has no fused activation yet and whose output only
 * an activation in FUSABLE_ACTIVATIONS reads, takes that activation as its `activation` attribute and the
 * activation's output. Used for Conv2D (below) and the normalisations (fuse_norm.ts).
 */
export function fuseActivationInto(graph: Graph, ops: ReadonlySet<string>): Graph {
  const { g, consumers, producer, pinned, removed } = rewriteStart(graph);
  for (const act of g.nodes) {
    const attrsOf = FUSABLE_ACTIVATIONS[act.op];
    // Clip with min/max given as inputs (ONNX opset >= 11) is left alone: only attribute bounds fuse.
    if (!attrsOf || act.inputs.length !== 1) continue;
    const id = act.inputs[0];
    const host = producer.get(id);
    // (A conv with a fused max pool already applied its activation before the pool: not after it.)
    if (!host || !ops.has(host.op) || host.attrs.activation || host.attrs.pool || pinned.has(id) || consumers[id].length !== 1) continue;
    Object.assign(host.attrs, { activation: act.op, ...attrsOf(act.attrs) });
    host.outputs = [...act.outputs];
    producer.set(act.outputs[0], host); // (a second activation after it stays: the host now has one)
    removed.add(act);
  }
  return removed.size ? compact(g, removed) : g;
}

const CONV = new Set(['Conv2D']);

export function fuseConvActivation(graph: Graph): Graph {
  return fuseActivationInto(graph, CONV);
}
