// Detection heads as one conv: the small 1x1 convs that read the same tensor (YuNet's class, object,
// box and landmark heads: 1, 1, 4 and 10 output channels over the same 64) become one 1x1 conv over
// their output channels stacked, followed by a Split back into the original outputs. When each of them
// feeds a depthwise conv of its own (YuNet: a 3x3 on every head's channels), those merge too: a
// depthwise conv over stacked channels is the stack of the depthwise convs. Then the Split comes after.
//
// Why: each small conv read the whole input for a few output rows (the 1-row ones ran at ~15 GMAC/s,
// bound by reading 64 channel rows for one), and every head was a node of its own, too small to split
// between threads. YuNet-s at 320, 2 threads: the 24 head convs took 37 us of 604 (per-node profile);
// merged, whole runs (three interleaved rounds, medians of 1000) YuNet-s 320 637-701 -> 597-621 us,
// YuNet-n 320 835-871 -> 805-829 us. The outputs are bit-identical (same sums in the same order).
//
// Only when merging cannot change a result: every sibling has the same attributes (stride 1, no pad,
// group 1, the same fused activation), constant weights and bias, no residual input Z, at most
// kMaxHeadChannels output channels (a large conv gains nothing and its Split copy would cost); the
// depthwise convs merge only when every sibling has one, read only by it, all with the same attributes
// but `group`. Graph outputs stay the same values (the Split writes them).
import type { Graph, Node } from '../ir.js';
import { compact, constData, freshName, rewriteStart } from './util.js';

const CONV = 'Conv2D';
/** Siblings with more output channels than this are left alone. */
export const kMaxHeadChannels = 16;

const attrsKey = (n: Node, skip: readonly string[] = []) =>
  JSON.stringify(Object.entries(n.attrs).filter(([k]) => !skip.includes(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

const ones = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => x === 1));
const zeros = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => x === 0));
const hasZ = (n: Node) => (n.inputs[3] ?? -1) >= 0;

/** A 1x1, stride 1, unpadded, ungrouped conv with constant weights (and bias) and no Z. */
function isHead(g: Graph, n: Node): boolean {
  if (n.op !== CONV || hasZ(n)) return false;
  const w = g.values[n.inputs[1]];
  if (!w || w.shape.length !== 4 || w.shape[2] !== 1 || w.shape[3] !== 1 || w.shape[0] > kMaxHeadChannels || !constData(g, n.inputs[1])) return false;
  if ((n.inputs[2] ?? -1) >= 0 && !constData(g, n.inputs[2])) return false;
  return ones(n.attrs.strides) && zeros(n.attrs.pads) && ones(n.attrs.dilations) && (n.attrs.group ?? 1) === 1;
}

/** A depthwise conv (group = its channels) with constant weights (and bias) and no Z. */
function isDepthwise(g: Graph, n: Node): boolean {
  if (n.op !== CONV || hasZ(n)) return false;
  const w = g.values[n.inputs[1]];
  const m = w?.shape[0];
  if (!w || w.shape.length !== 4 || w.shape[1] !== 1 || n.attrs.group !== m || !constData(g, n.inputs[1])) return false;
  return (n.inputs[2] ?? -1) < 0 || !!constData(g, n.inputs[2]);
}

/** Weights stacked along the output channels, and the biases (zeros for a node without; null when none has one). */
function stack(g: Graph, nodes: readonly Node[]): { w: Float32Array; b: Float32Array | null; shape: number[] } {
  const shapes = nodes.map((n) => g.values[n.inputs[1]].shape);
  const per = shapes[0].slice(1).reduce((a, b) => a * b, 1);
  const m = shapes.reduce((a, s) => a + s[0], 0);
  const w = new Float32Array(m * per);
  const anyBias = nodes.some((n) => (n.inputs[2] ?? -1) >= 0);
  const b = anyBias ? new Float32Array(m) : null;
  let at = 0;
  for (const n of nodes) {
    const mi = g.values[n.inputs[1]].shape[0];
    w.set(constData(g, n.inputs[1]) as Float32Array, at * per);
    if (b && (n.inputs[2] ?? -1) >= 0) b.set(constData(g, n.inputs[2]) as Float32Array, at);
    at += mi;
  }
  return { w, b, shape: [m, ...shapes[0].slice(1)] };
}

function addValue(g: Graph, name: string, kind: 'const' | 'intermediate', shape: number[], data?: Float32Array): number {
  const id = g.values.length;
  g.values.push({ id, name: freshName(g, name), kind, shape, ...(data ? { data } : {}) });
  return id;
}

/**
 * One conv over the stacked output channels of `convs` (reading `input`, with the first one's attributes
 * and `attrs` over them), its weights and bias new constants, its output a new value shaped like theirs.
 */
function mergedConv(g: Graph, convs: readonly Node[], input: number, attrs: Node['attrs']): Node {
  const { w, b, shape } = stack(g, convs);
  const name = `${convs[0].name}_heads`;
  const inputs = [input, addValue(g, `${name}.w`, 'const', shape, w)];
  if (b) inputs.push(addValue(g, `${name}.b`, 'const', [shape[0]], b));
  const o = g.values[convs[0].outputs[0]].shape;
  const out = addValue(g, `${name}.out`, 'intermediate', [o[0], shape[0], o[2], o[3]]);
  return { id: -1, name, op: CONV, attrs: { ...convs[0].attrs, ...attrs }, inputs, outputs: [out] };
}

/** Merges sibling head convs (and the depthwise convs after them) as described at the top of this file. */
export function mergeSiblingHeads(graph: Graph): Graph {
  const { g, consumers, pinned, removed } = rewriteStart(graph);
  const inserted = new Map<Node, Node[]>();  // nodes to put where the first sibling was
  const valueCount = g.values.length;  // (values added below are never siblings' inputs)
  for (let x = 0; x < valueCount; ++x) {
    const readers = consumers[x] ?? [];
    // Siblings: heads reading x as their input, grouped by attributes (same fused activation).
    const groups = new Map<string, Node[]>();
    for (const n of readers)
      if (n.inputs[0] === x && isHead(g, n) && !n.inputs.slice(1).includes(x)) {
        const key = attrsKey(n);
        let group = groups.get(key);
        if (!group) groups.set(key, (group = []));
        group.push(n);
      }
    for (const heads of groups.values()) {
      if (heads.length < 2) continue;
      // The depthwise convs after them: one each, the only reader of a head's output, the same attributes.
      const next = heads.map((h) => (consumers[h.outputs[0]].length === 1 && !pinned.has(h.outputs[0]) ? consumers[h.outputs[0]][0] : undefined));
      const dws =
        next.every((d, i) => d && isDepthwise(g, d) && d.inputs[0] === heads[i].outputs[0]) &&
        new Set(next.map((d) => attrsKey(d as Node, ['group']))).size === 1 &&
        new Set(next.map((d) => g.values[(d as Node).inputs[1]].shape.slice(1).join('x'))).size === 1 &&  // same kernel size
        next.every((d, i) => g.values[(d as Node).inputs[1]].shape[0] === g.values[heads[i].inputs[1]].shape[0])
          ? (next as Node[])
          : null;
      const pw = mergedConv(g, heads, x, {});
      const nodes = [pw];
      if (dws) nodes.push(mergedConv(g, dws, pw.outputs[0], { group: g.values[pw.outputs[0]].shape[1] }));
      const finals = (dws ?? heads).map((n) => n.outputs[0]);
      const split = finals.map((id) => g.values[id].shape[1]);
      nodes.push({ id: -1, name: `${pw.name}_split`, op: 'Split', attrs: { axis: 1, split }, inputs: [nodes[nodes.length - 1].outputs[0]], outputs: finals });
      for (const n of [...heads, ...(dws ?? [])]) removed.add(n);
      inserted.set(heads[0], nodes);
    }
  }
  if (!removed.size) return g;
  // The merged nodes take the first sibling's place: every reader of a merged output came after its own
  // head (and depthwise conv), so after the first head.
  g.nodes = g.nodes.flatMap((n) => [...(inserted.get(n) ?? []), n]);
  return compact(g, removed);
}
