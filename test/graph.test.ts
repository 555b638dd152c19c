// Graph tests: buffer reuse never changes results, the planner's memory numbers behave as a memory
// plan must, the planner orders nodes itself, and builder shape errors name the node.
import { describe, expect, it } from 'vitest';
import { isFacestyleError } from '../lib/errors.js';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { Tensor } from '../lib/graph/tensor.js';
import { compile } from '../lib/runtime/session.js';
import { referenceRun } from './helpers/graph-reference.js';
import { compareClose } from './helpers/tensors.js';

/**
 * A deep residual MLP: 24 blocks of tanh(h W + b), a skip connection every 3 blocks (so early values
 * stay live while later ones come and go), a Concat/Split detour, and two outputs.
 */
function deepSkipGraph(): Graph {
  const g = new GraphBuilder('deep-skip', { seed: 7 });
  const width = 48;
  const x = g.input('x', [5, width]);
  let h: Sym = x;
  let skip: Sym = x;
  for (let i = 0; i < 24; ++i) {
    const w = g.param(`w${i}`, [width, width], 'xavier');
    const b = g.param(`b${i}`, [width], (n) => Float32Array.from({ length: n }, (_, k) => 0.01 * ((k % 7) - 3)));
    h = g.op1('Tanh', [g.op1('Add', [g.op1('MatMul', [h, w]), b])]);
    if (i % 3 === 2) {
      h = g.op1('Add', [h, skip], {}, `skip${i}`);
      skip = h;
    }
    if (i === 11) {
      const [left, right] = g.op('Split', [h], { axis: 1, split: [16, 32] });
      h = g.op1('Concat', [g.op1('Neg', [right]), left], { axis: -1 });
    }
  }
  g.output(g.op1('Softmax', [h], { axis: -1 }), 'probs');
  g.output(g.op1('ReduceMean', [skip], { axes: [0] }), 'mean');
  return g.build();
}

/** x -> Relu -> Relu -> ... (n nodes), every value `elems` floats. */
function chainGraph(n: number, elems: number): Graph {
  const g = new GraphBuilder('chain');
  let h = g.input('x', [elems]);
  for (let i = 0; i < n; ++i) h = g.op1(i % 2 ? 'Relu' : 'Neg', [h]);
  g.output(h);
  return g.build();
}

async function runOnce(graph: Graph, feeds: Record<string, Tensor>, reuseBuffers: boolean) {
  const s = await compile(graph, { reuseBuffers });
  try {
    return { out: await s.run(feeds), info: s.info() };
  } finally {
    s.dispose();
  }
}

describe('buffer reuse', () => {
  it('gives bit-identical results to no reuse on a deep graph with skip connections, and matches the reference', async () => {
    const graph = deepSkipGraph();
    const feeds = { x: Tensor.random([5, 48], 3) };
    const reused = await runOnce(graph, feeds, true);
    const separate = await runOnce(graph, feeds, false);
    for (const name of ['probs', 'mean']) {
      expect(reused.out[name].shape).toEqual(separate.out[name].shape);
      expect(Array.from(reused.out[name].data)).toEqual(Array.from(separate.out[name].data));
    }
    // Identical but wrong would pass the check above: compare with the TS references too.
    const ref = referenceRun(graph, feeds);
    for (const name of ['probs', 'mean']) {
      const r = compareClose(reused.out[name], ref[name], 1e-5, 1e-3);
      expect(r.ok, `${name}: ${r.message}`).toBe(true);
    }
    // Reuse must actually have happened for the comparison to mean anything.
    expect(reused.info.peakActivationBytes).toBeLessThan(separate.info.peakActivationBytes / 4);
  });

  it('keeps a chain to about two live buffers, the lower bound, and far below one buffer per value', async () => {
    const elems = 1000;
    const graph = chainGraph(12, elems);
    const feeds = { x: Tensor.random([elems], 5) };
    const reused = await runOnce(graph, feeds, true);
    const separate = await runOnce(graph, feeds, false);
    const bytes = elems * 4;
    // Without reuse every one of the 13 values has its own memory, except the input: on the CPU it is
    // read where the caller has it, so it takes no arena space.
    expect(separate.info.peakActivationBytes).toBeGreaterThanOrEqual(12 * bytes);
    expect(separate.info.peakActivationBytes).toBeLessThan(13 * bytes);
    // With reuse only a node's input and output are live at once.
    expect(reused.info.peakActivationBytes).toBeLessThan(separate.info.peakActivationBytes);
    expect(reused.info.largestLiveSetBytes).toBeGreaterThanOrEqual(2 * bytes);
    expect(reused.info.largestLiveSetBytes).toBeLessThan(3 * bytes);
    expect(reused.info.peakActivationBytes).toBe(reused.info.largestLiveSetBytes);
    expect(Array.from(reused.out[graph.values[graph.outputs[0]].name].data)).toEqual(
      Array.from(separate.out[graph.values[graph.outputs[0]].name].data),
    );
  });

  it('plans a graph with skip connections close to its largest live set', async () => {
    const { info } = await runOnce(deepSkipGraph(), { x: Tensor.random([5, 48], 1) }, true);
    expect(info.peakActivationBytes).toBeGreaterThanOrEqual(info.largestLiveSetBytes);
    expect(info.peakActivationBytes).toBeLessThanOrEqual(1.5 * info.largestLiveSetBytes);
  });
});

describe('planning order', () => {
  it('runs a graph whose nodes are listed out of order (the planner sorts them)', async () => {
    const g = new GraphBuilder('ordered');
    const x = g.input('x', [3, 4]);
    const a = g.op1('Exp', [x]);
    const b = g.op1('Mul', [a, x]);
    const c = g.op1('Sub', [b, a]);
    g.output(c);
    g.output(a);
    const graph = g.build();
    const shuffled: Graph = { ...graph, nodes: [...graph.nodes].reverse() };
    const feeds = { x: Tensor.random([3, 4], 2) };
    const { out } = await runOnce(shuffled, feeds, true);
    const xs = feeds.x.data;
    // c = e^x * x - e^x, computed here by hand; a (also read by b and c) is an output too.
    out[c.name].data.forEach((v, i) => expect(v).toBeCloseTo(Math.exp(xs[i]) * xs[i] - Math.exp(xs[i]), 5));
    out[a.name].data.forEach((v, i) => expect(v).toBeCloseTo(Math.exp(xs[i]), 5));
  });
});

describe('builder shape errors name the node', () => {
  const expectShapeError = (fn: () => unknown, ...fragments: string[]) => {
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect(isFacestyleError(caught), `expected a coded error, got ${String(caught)}`).toBe(true);
    const e = caught as Error & { code: string };
    expect(e.code).toBe('ERR_FACESTYLE_SHAPE');
    for (const f of fragments) expect(e.message).toContain(f);
  };

  it('binary op with shapes that do not broadcast', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3]);
    const b = g.input('b', [4, 5]);
    expectShapeError(() => g.op1('Add', [a, b], {}, 'sum1'), "Add node 'sum1'", '[2,3]', '[4,5]');
  });

  it('MatMul with mismatched inner dimensions', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3]);
    const b = g.input('b', [4, 5]);
    expectShapeError(() => g.op1('MatMul', [a, b], {}, 'proj'), "MatMul node 'proj'", '[2,3]', '[4,5]');
  });

  it('Concat with a mismatched dimension, default node name', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3, 4]);
    const b = g.input('b', [2, 5, 5]);
    expectShapeError(() => g.op1('Concat', [a, b], { axis: 1 }), "Concat node 'concat'", 'input 1', '[2,5,5]');
  });

  it('Reshape to a different element count', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3]);
    expectShapeError(() => g.op1('Reshape', [a], { shape: [4, 2] }, 'flat'), "Reshape node 'flat'", '6 elements', 'holds 8');
  });

  it('axis out of range', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3]);
    expectShapeError(() => g.op1('Softmax', [a], { axis: 2 }, 'sm'), "Softmax node 'sm'", '[-2, 1]', 'received 2');
    expectShapeError(() => g.op1('ReduceSum', [a], { axes: [-3] }, 'rs'), "ReduceSum node 'rs'", 'received -3');
  });

  it('Gemm with a C that does not broadcast, Split sizes that do not add up, Squeeze of a non-1 axis', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [4, 5]);
    const b = g.input('b', [5, 3]);
    const c = g.input('c', [4, 2]);
    expectShapeError(() => g.op1('Gemm', [a, b, c], {}, 'fc'), "Gemm node 'fc'", 'broadcast to [4,3]', '[4,2]');
    expectShapeError(() => g.op('Split', [a], { axis: 1, split: [2, 2] }, 'halves'), "Split node 'halves'", 'sum to 4', '(5)');
    expectShapeError(() => g.op1('Squeeze', [a], { axes: [0] }, 'sq'), "Squeeze node 'sq'", 'size 1', 'received 4');
  });

  it('wrong input count', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2]);
    expectShapeError(() => g.op1('Sub', [a], {}, 'minus'), "Sub node 'minus'", 'expected 2 inputs but received 1');
  });
});
