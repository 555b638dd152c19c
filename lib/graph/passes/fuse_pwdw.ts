// Pointwise + depthwise fusion: a 1x1 Conv2D whose output only a depthwise 3x3 "same" Conv2D reads
// becomes one PointwiseDepthwise node (lib/ops/pointwise_depthwise.ts):
//   Conv2D(x, W1, B1){act1} -> Conv2D(t, W2, B2){group M, 3x3, pads 1, act2, pool?}
//     =>  PointwiseDepthwise(x, W1, W2, B1, B2){activation: act1, dw_activation: act2, pool}
// The CPU kernel (native/cpu/conv_pwdw_kernels.h) then computes the 1x1 output a band of rows at a time
// into a buffer that stays in cache and runs the depthwise conv on it, so that tensor is never written to
// memory whole and read back. YuNet is made of such pairs (its 1x1 + 3x3 depthwise units), PFLD has one
// in each inverted residual block (expansion + depthwise). Only where the kernel applies: the 1x1 conv
// with stride 1, no pads, one group, no residual input Z and no pool; the depthwise conv 3x3, group == M,
// stride 1, dilation 1, pads [1, 1, 1, 1], no Z (a fused 2x2 max pool is kept: run after
// fusePoolIntoConv); both activations applied in registers (none, Relu, LeakyRelu, Clip; not Tanh /
// Sigmoid). Run after the activation fusion and the head merge.
// Then a 1x1 conv that alone reads such a node's output (no pool there) joins it as its projection, with
// its residual input Z and activation: the whole inverted residual block (PFLD's 1x1 expansion, depthwise,
// 1x1 projection + Add) becomes one node, which the CPU kernel runs a band of rows per thread through all
// three convs (native/cpu/conv_inverted_residual_kernels.h): at 2 threads the separate layers each split
// their work differently and read half of their input from the other core's cache.
// CPU only: a CUDA session refuses the node (optimizeForInference(g, { fusePointwiseDepthwise: false })).
import { getOp, normalizeAttrs } from '../../ops/index.js';
import type { Graph, Node } from '../ir.js';
import { activationInRegisters, compact, intsAre, isDepthwise3x3Strip, rewriteStart } from './util.js';

/** A 1x1 / stride 1 / unpadded / one-group Conv2D with no pool, an activation the kernel applies in registers and (unless `z`) no Z. */
function isFusablePointwise(g: Graph, n: Node, z = false): boolean {
  if (n.op !== 'Conv2D') return false;
  const x = g.values[n.inputs[0]].shape, w = g.values[n.inputs[1]].shape, a = n.attrs;
  return (
    x.length === 4 && w.length === 4 && w[2] === 1 && w[3] === 1 && ((a.group as number | undefined) ?? 1) === 1 &&
    intsAre(a.strides, [1, 1]) && intsAre(a.pads, [0, 0, 0, 0]) && intsAre(a.dilations, [1, 1]) && !a.pool &&
    (z || (n.inputs[3] ?? -1) < 0) && activationInRegisters(n)
  );
}

const ACTIVATION_ATTRS = ['activation', 'activation_alpha', 'activation_min', 'activation_max'];

/** The depthwise strip conv with pad 1 above and below too (the bands read the row above and below each output row). */
const isFusableDepthwise = (g: Graph, n: Node): boolean => isDepthwise3x3Strip(g, n) && intsAre(n.attrs.pads, [1, 1, 1, 1], [0, 0, 0, 0]);

export function fusePointwiseDepthwise(graph: Graph): Graph {
  const { g, consumers, producer, pinned, removed } = rewriteStart(graph);
  for (const dw of g.nodes) {
    if (removed.has(dw) || !isFusableDepthwise(g, dw)) continue;
    const t = dw.inputs[0];
    const pw = producer.get(t);
    if (!pw || removed.has(pw) || pinned.has(t) || consumers[t].length !== 1 || !isFusablePointwise(g, pw)) continue;
    const a1 = pw.attrs, a2 = dw.attrs;
    const attrs: Node['attrs'] = {};
    const copy = (to: string, from: Node['attrs'], key: string) => {
      if (from[key] !== undefined) attrs[to] = from[key];
    };
    for (const k of ACTIVATION_ATTRS) {
      copy(k, a1, k);
      copy(`dw_${k}`, a2, k);
    }
    if (a2.pool) attrs.pool = a2.pool;
    const b1 = pw.inputs[2] ?? -1, b2 = dw.inputs[2] ?? -1;
    // The fused node takes the depthwise conv's place (its outputs' producer, its position after the
    // 1x1 conv's inputs are ready); the 1x1 conv goes.
    dw.op = 'PointwiseDepthwise';
    dw.name = `${pw.name}+${dw.name}`;
    dw.inputs = [pw.inputs[0], pw.inputs[1], dw.inputs[1], b1, ...(b2 >= 0 ? [b2] : [])];
    if (b1 < 0 && b2 < 0) dw.inputs.pop();
    dw.attrs = normalizeAttrs(getOp('PointwiseDepthwise'), attrs);
    removed.add(pw);
  }
  // The projections: the 1x1 conv takes the fused node's place (its output's producer, its position, after
  // its Z is ready); the fused node goes.
  for (const pj of g.nodes) {
    if (removed.has(pj) || !isFusablePointwise(g, pj, true)) continue;
    const d = pj.inputs[0];
    const pwdw = producer.get(d);
    if (!pwdw || removed.has(pwdw) || pwdw.op !== 'PointwiseDepthwise' || pwdw.attrs.pool || pwdw.inputs.length > 5) continue;
    if (pinned.has(d) || consumers[d].length !== 1 || pj.inputs[3] === d) continue;
    const attrs: Node['attrs'] = { ...pwdw.attrs };
    for (const k of ACTIVATION_ATTRS) if (pj.attrs[k] !== undefined) attrs[`project_${k}`] = pj.attrs[k];
    const [x, w1, w2, b1 = -1, b2 = -1] = pwdw.inputs;
    const inputs = [x, w1, w2, b1, b2, pj.inputs[1], pj.inputs[2] ?? -1, pj.inputs[3] ?? -1];
    while (inputs[inputs.length - 1] < 0) inputs.pop();
    pj.op = 'PointwiseDepthwise';
    pj.name = `${pwdw.name}+${pj.name}`;
    pj.inputs = inputs;
    pj.attrs = normalizeAttrs(getOp('PointwiseDepthwise'), attrs);
    removed.add(pwdw);
  }
  return removed.size ? compact(g, removed) : g;
}
