// Inference-time folding of cheap ops into the Conv2D before or after them. Each pass is a pure
// function Graph -> Graph (the input graph is not modified) and each result runs on today's kernels:
//   foldPadIntoConv        Pad(constant 0, spatial only) -> Conv2D      => Conv2D with larger pads
//   foldBatchNormIntoConv  Conv2D -> BatchNormalization (constant)      => Conv2D, scaled W and bias
//   foldChannelMulIntoConv Conv2D -> Mul(per-channel constant)          => Conv2D, scaled W and bias
//   foldBiasAddIntoConv    Conv2D -> Add(per-channel constant)          => Conv2D with bias
// A conv output is folded only when that one node reads it and it is not a graph output; a weight is
// never edited in place (a new constant is added), so weights shared with other nodes stay intact.
// Inputs that are the target of a parameter update (training graphs) are never folded.
import type { Graph, Node } from '../ir.js';
import { cloneGraph, compact, constData, consumersOf, freshName, pinnedValues } from './util.js';

const CONV = 'Conv2D';

function producers(g: Graph): (Node | undefined)[] {
  const out: (Node | undefined)[] = g.values.map(() => undefined);
  for (const n of g.nodes) for (const id of n.outputs) out[id] = n;
  return out;
}

function addConst(g: Graph, base: string, shape: number[], data: Float32Array): number {
  const id = g.values.length;
  g.values.push({ id, name: freshName(g, base), kind: 'const', shape, data });
  return id;
}

/**
 * Pad nodes (constant mode, value 0, non-negative pads on H and W only) merged into the convs that read
 * them; Pad nodes that pad nothing (every pad 0, any mode: PFLD exports two before its pools) dropped,
 * their readers reading the Pad's input instead.
 */
export function foldPadIntoConv(graph: Graph): Graph {
  const g = cloneGraph(graph);
  const consumers = consumersOf(g);
  const pinned = pinnedValues(g);
  const removed = new Set<Node>();
  for (const p of g.nodes) {
    const zeroPads = p.attrs.pads as number[] | undefined;
    if (p.op === 'Pad' && zeroPads?.every((v) => v === 0) && !pinned.has(p.outputs[0])) {
      for (const c of consumers[p.outputs[0]]) c.inputs = c.inputs.map((id) => (id === p.outputs[0] ? p.inputs[0] : id));
      removed.add(p);
      continue;
    }
    if (p.op !== 'Pad' || (p.attrs.mode ?? 'constant') !== 'constant' || (p.attrs.value ?? 0) !== 0) continue;
    const pads = p.attrs.pads as number[] | undefined;
    const out = p.outputs[0];
    if (!pads || pads.length !== 8 || g.values[p.inputs[0]].shape.length !== 4) continue;
    // [n_begin, c_begin, h_begin, w_begin, n_end, c_end, h_end, w_end]: batch and channel pads cannot fold.
    if (pads[0] || pads[1] || pads[4] || pads[5] || pads.some((v) => v < 0)) continue;
    const readers = consumers[out];
    if (pinned.has(out) || readers.length === 0) continue;
    if (!readers.every((c) => c.op === CONV && c.inputs[0] === out && c.inputs.indexOf(out, 1) < 0)) continue;
    for (const c of readers) {
      const [t, l, b, r] = (c.attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
      c.attrs.pads = [t + pads[2], l + pads[3], b + pads[6], r + pads[7]];
      c.inputs[0] = p.inputs[0];
    }
    removed.add(p);
  }
  return removed.size ? compact(g, removed) : g;
}

/**
 * The conv whose output only `node` reads (as input `slot`), with constant weights; else null.
 * Returns the conv and its weight and bias data (bias null when absent).
 */
function foldableConv(g: Graph, node: Node, slot: number, prods: (Node | undefined)[], consumers: Node[][], pinned: Set<number>) {
  const id = node.inputs[slot];
  const conv = prods[id];
  if (!conv || conv.op !== CONV || pinned.has(id) || consumers[id].length !== 1) return null;
  // A conv that already carries a fused activation, residual input Z or max pool (an optimized graph
  // optimized again) computes pool(act(conv + Z)): scaling its weight and bias would not scale that.
  if (conv.attrs.activation || conv.attrs.pool || (conv.inputs[3] ?? -1) >= 0) return null;
  const w = constData(g, conv.inputs[1]);
  if (!w || pinned.has(conv.inputs[1])) return null;
  const hasBias = conv.inputs.length > 2 && conv.inputs[2] >= 0;
  const b = hasBias ? constData(g, conv.inputs[2]) : null;
  if (hasBias && (!b || pinned.has(conv.inputs[2]))) return null;
  return { conv, w, b, m: g.values[conv.inputs[1]].shape[0] };
}

/** Replaces conv's weight by W[o] * scale[o] and its bias by bias[o] * scale[o] + shift[o]; conv takes over `node`'s output. */
function rewriteConv(g: Graph, conv: Node, node: Node, w: Float32Array, b: Float32Array | null, scale: Float64Array, shift: Float64Array) {
  const m = scale.length;
  const per = w.length / m;
  const nw = new Float32Array(w.length);
  for (let o = 0; o < m; ++o) for (let i = 0; i < per; ++i) nw[o * per + i] = w[o * per + i] * scale[o];
  const nb = new Float32Array(m);
  for (let o = 0; o < m; ++o) nb[o] = (b ? b[o] : 0) * scale[o] + shift[o];
  const wv = g.values[conv.inputs[1]];
  conv.inputs[1] = addConst(g, `${wv.name}.folded`, [...wv.shape], nw);
  const biasId = addConst(g, `${conv.name}.bias.folded`, [m], nb);
  if (conv.inputs.length > 2) conv.inputs[2] = biasId;
  else conv.inputs.push(biasId);
  conv.outputs = [...node.outputs];
}

/** Conv2D -> BatchNormalization with constant statistics, folded into the conv's weight and bias. */
export function foldBatchNormIntoConv(graph: Graph): Graph {
  const g = cloneGraph(graph);
  const prods = producers(g);
  const consumers = consumersOf(g);
  const pinned = pinnedValues(g);
  const removed = new Set<Node>();
  for (const bn of g.nodes) {
    if (bn.op !== 'BatchNormalization') continue;
    const f = foldableConv(g, bn, 0, prods, consumers, pinned);
    if (!f) continue;
    const [scale, beta, mean, variance] = bn.inputs.slice(1, 5).map((id) => (pinned.has(id) ? null : constData(g, id)));
    if (!scale || !beta || !mean || !variance || scale.length !== f.m) continue;
    const eps = (bn.attrs.epsilon as number | undefined) ?? 1e-5;
    // y = (conv - mean) / sqrt(var + eps) * scale + beta = conv * s + (beta - mean * s)
    const s = new Float64Array(f.m);
    const t = new Float64Array(f.m);
    for (let o = 0; o < f.m; ++o) {
      s[o] = scale[o] / Math.sqrt(variance[o] + eps);
      t[o] = beta[o] - mean[o] * s[o];
    }
    rewriteConv(g, f.conv, bn, f.w, f.b, s, t);
    prods[bn.outputs[0]] = f.conv; // so a following Add / Mul can fold too
    removed.add(bn);
  }
  return removed.size ? compact(g, removed) : g;
}

/**
 * The per-output-channel values of a constant that broadcasts against a conv output [N,M,H,W] along
 * the channel axis only: shapes [M,1,1], [1,M,1,1] (or size 1: one value for every channel).
 */
function perChannel(g: Graph, id: number, m: number, outRank: number): Float64Array | null {
  const data = constData(g, id);
  if (!data) return null;
  const shape = g.values[id].shape;
  if (shape.length > outRank) return null;
  if (data.length === 1) return new Float64Array(m).fill(data[0]);
  const padded = [...new Array(outRank - shape.length).fill(1), ...shape];
  if (padded[1] !== m || padded.some((d, i) => i !== 1 && d !== 1)) return null;
  return Float64Array.from(data);
}

function foldElementwise(graph: Graph, op: 'Add' | 'Mul'): Graph {
  const g = cloneGraph(graph);
  const prods = producers(g);
  const consumers = consumersOf(g);
  const pinned = pinnedValues(g);
  const removed = new Set<Node>();
  for (const node of g.nodes) {
    if (node.op !== op || node.inputs.length !== 2) continue;
    for (const slot of [0, 1]) {
      const f = foldableConv(g, node, slot, prods, consumers, pinned);
      if (!f) continue;
      const other = node.inputs[1 - slot];
      if (pinned.has(other)) continue;
      const convOut = g.values[node.inputs[slot]];
      const k = perChannel(g, other, f.m, convOut.shape.length);
      // The result must keep the conv output's shape (no broadcasting to something larger).
      if (!k || g.values[node.outputs[0]].shape.join() !== convOut.shape.join()) continue;
      const ones = new Float64Array(f.m).fill(1);
      if (op === 'Add') rewriteConv(g, f.conv, node, f.w, f.b, ones, k);
      else rewriteConv(g, f.conv, node, f.w, f.b, k, new Float64Array(f.m));
      prods[node.outputs[0]] = f.conv; // chains (conv -> Mul -> Mul) fold in one pass
      removed.add(node);
      break;
    }
  }
  return removed.size ? compact(g, removed) : g;
}

/** Conv2D -> Add(per-channel constant), folded into the conv's bias. */
export const foldBiasAddIntoConv = (graph: Graph): Graph => foldElementwise(graph, 'Add');

/** Conv2D -> Mul(per-channel constant), folded into the conv's weight and bias. */
export const foldChannelMulIntoConv = (graph: Graph): Graph => foldElementwise(graph, 'Mul');
