// flushDenormalWeights: constant and parameter values whose magnitude is below the smallest normal
// float32 (2^-126, about 1.18e-38) set to 0.
//
// Why: many x86 cores (Intel Xeons among them; AMD Zen does not) take a slow microcode assist for every
// FMA whose input is denormal. A model whose weights hold denormals then runs many times slower: PFLD
// (shared/data/models/landmarks/pfld.onnx) keeps 60% of its weights as denormal leftovers of pruned
// channels, and on a 2-core Intel Xeon took 19 ms a run instead of 1.8 ms (onnxruntime-node, which keeps
// them, 26 ms). A denormal weight adds at most |x| * 1.2e-38 to a sum, so zeroing it changes no result
// anyone can see. Activations are not touched (the engine does not switch the CPU to flush-to-zero:
// runSync runs on Node's own thread, whose float rules JavaScript relies on).
import type { Graph, Value } from '../ir.js';
import { pinnedValues } from './util.js';

/** The smallest positive normal float32; anything nonzero below it in magnitude is denormal. */
export const FLOAT32_MIN_NORMAL = 2 ** -126;

/** Whether x is denormal: nonzero and smaller than FLOAT32_MIN_NORMAL in magnitude. */
export const isDenormal = (x: number): boolean => x !== 0 && Math.abs(x) < FLOAT32_MIN_NORMAL;

/** How many elements of `data` are denormal. */
export function countDenormals(data: Float32Array): number {
  let n = 0;
  for (let i = 0; i < data.length; ++i) if (isDenormal(data[i])) ++n;
  return n;
}

/**
 * The graph with every denormal weight element (params and consts) set to +0. Values without denormals
 * keep their data arrays (shared with the input graph, which is never modified); values that are the
 * target of a parameter update (a training graph's weights) are left alone.
 */
export function flushDenormalWeights(graph: Graph): Graph {
  const pinned = pinnedValues(graph);
  const values = graph.values.map((v): Value => {
    if (!v.data || (v.kind !== 'param' && v.kind !== 'const') || pinned.has(v.id) || countDenormals(v.data) === 0) return v;
    const data = v.data.slice();
    for (let i = 0; i < data.length; ++i) if (isDenormal(data[i])) data[i] = 0;
    return { ...v, shape: [...v.shape], data };
  });
  return { ...graph, values, nodes: graph.nodes, inputs: [...graph.inputs], outputs: [...graph.outputs] };
}
