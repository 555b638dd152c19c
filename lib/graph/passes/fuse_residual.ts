// Residual / skip Add fusion: an Add of a conv's output and another tensor of exactly the same shape
// becomes the conv's residual input Z (lib/ops/conv.ts; onnxruntime's FusedConv has the same "Z"):
//   Conv2D(x, W, b) -> Add(., r)            =>   Conv2D(x, W, b, r)
//   ConvTranspose2D(x, W) -> Add(e, .)      =>   ConvTranspose2D(x, W, -, e)
// The kernels add Z while the output is in registers (or, on the paths without that, in one sweep
// right after the conv while it is in cache): the Add's separate pass over both tensors and its
// output's memory are gone. Only when nothing else reads the conv's output, it is no graph output,
// the conv has no fused activation yet (act(conv) + r is not act(conv + r)) and no Z, and both
// operands and the result have one and the same shape (no broadcasting). The fused node takes the
// Add's place in the node order, so Z is always computed before it.
// Run before fuseConvActivation: Conv -> Add -> LeakyRelu then ends as one node.
import type { Graph } from '../ir.js';
import { sameShape } from '../tensor.js';
import { compact, rewriteStart } from './util.js';

/** Ops that accept a residual input Z (input 3). */
export const RESIDUAL_HOSTS: readonly string[] = ['Conv2D', 'ConvTranspose2D'];
const HOSTS = new Set(RESIDUAL_HOSTS);

export function fuseResidualAdd(graph: Graph): Graph {
  const { g, consumers, producer, pinned, removed } = rewriteStart(graph);
  for (const add of g.nodes) {
    if (add.op !== 'Add' || add.inputs.length !== 2 || add.outputs.length !== 1 || add.inputs.some((id) => id < 0)) continue;
    const outShape = g.values[add.outputs[0]].shape;
    for (const slot of [0, 1]) {
      const id = add.inputs[slot];
      const z = add.inputs[1 - slot];
      const host = producer.get(id);
      if (!host || removed.has(host) || !HOSTS.has(host.op) || host.attrs.activation || host.attrs.pool) continue;
      if ((host.inputs[3] ?? -1) >= 0 || pinned.has(id) || consumers[id].length !== 1 || z === id) continue;
      if (!sameShape(g.values[id].shape, outShape) || !sameShape(g.values[z].shape, outShape)) continue;
      // The Add node becomes the conv (keeping the conv's name, so profiles still name the layer).
      const bias = host.inputs[2] ?? -1;
      add.op = host.op;
      add.name = host.name;
      add.attrs = host.attrs;
      add.inputs = [host.inputs[0], host.inputs[1], bias, z];
      removed.add(host);
      break;
    }
  }
  return removed.size ? compact(g, removed) : g;
}
