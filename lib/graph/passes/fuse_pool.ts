// Max-pool fusion: a depthwise 3x3 "same" conv whose output only a 2x2 / stride-2 MaxPool reads takes the
// pool as its `pool` attribute (lib/ops/conv.ts) and the pool's output:
//   Conv2D(x, W, b){act} -> MaxPool(2x2, stride 2)   =>   Conv2D(x, W, b){act, pool: 'MaxPool2x2'}
// The CPU kernel (native/cpu/conv_depthwise_kernels.h) then pools each pair of output rows in registers:
// the full-size output is never written and read back, and the pool's own pass is gone. YuNet has two such
// pairs (16 channels at 320x320 and 64 at 160x160 for a 640 input). Only where that kernel applies: group
// == C == M, 3x3, stride 1, dilation 1, pads [p, 1, p', 1] (the output as wide as the input), an
// activation applied in registers (none, Relu, LeakyRelu, Clip; not Tanh / Sigmoid), no residual input Z,
// an output of at least 2x2; the MaxPool 2x2, stride 2, no pads, dilation 1, ceil_mode 0. Run after the
// activation fusion (the conv's activation must be known) and after mergeSiblingHeads.
// CPU only: a CUDA session refuses a Conv2D with a fused pool (optimizeForInference(g, { fusePool: false })).
import type { Graph, Node } from '../ir.js';
import { compact, intsAre, isDepthwise3x3Strip, rewriteStart } from './util.js';

/** Whether `conv` is a depthwise 3x3 "same" conv the pooled CPU kernel takes (see the file comment). */
function pooledKernelTakes(g: Graph, conv: Node): boolean {
  const y = g.values[conv.outputs[0]].shape;
  return isDepthwise3x3Strip(g, conv) && !conv.attrs.pool && y.length === 4 && y[2] >= 2 && y[3] >= 2;
}

/** A MaxPool with a 2x2 window, stride 2, no padding, no dilation, ceil_mode 0. */
function isMaxPool2x2(n: Node): boolean {
  const a = n.attrs;
  return (
    n.op === 'MaxPool' && n.inputs.length === 1 && n.outputs.length === 1 && intsAre(a.kernel_shape, [2, 2], []) && intsAre(a.strides, [2, 2], [1, 1]) &&
    intsAre(a.pads, [0, 0, 0, 0]) && intsAre(a.dilations, [1, 1]) && ((a.ceil_mode as number | undefined) ?? 0) === 0
  );
}

export function fusePoolIntoConv(graph: Graph): Graph {
  const { g, consumers, producer, pinned, removed } = rewriteStart(graph);
  for (const pool of g.nodes) {
    if (!isMaxPool2x2(pool)) continue;
    const id = pool.inputs[0];
    const conv = producer.get(id);
    if (!conv || removed.has(conv) || pinned.has(id) || consumers[id].length !== 1 || !pooledKernelTakes(g, conv)) continue;
    conv.attrs.pool = 'MaxPool2x2';
    conv.outputs = [...pool.outputs];
    producer.set(pool.outputs[0], conv);
    removed.add(pool);
  }
  return removed.size ? compact(g, removed) : g;
}
