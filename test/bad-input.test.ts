// Bad input at every edge: the builder, compile(), Session.run(), and the raw native addon with
// hand-made graphs. Each case must be an Error with an ERR_FACESTYLE_* code and a message saying
// what was expected and what was received; nothing may abort the process.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { Tensor } from '../lib/graph/tensor.js';
import { type NativeGraph, loadNative } from '../lib/native.js';
import { compile } from '../lib/runtime/session.js';
import { type Coded, caught } from './helpers/errors.js';


async function rejected(p: Promise<unknown> | (() => Promise<unknown>)): Promise<Coded> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a rejection but the promise resolved');
}

function expectCoded(e: Coded, code: string, ...fragments: (string | RegExp)[]) {
  expect(e).toBeInstanceOf(Error);
  expect(e.code, e.message).toBe(code);
  for (const f of fragments) {
    if (typeof f === 'string') expect(e.message).toContain(f);
    else expect(e.message).toMatch(f);
  }
}

function smallGraph(): Graph {
  const g = new GraphBuilder('small');
  const x = g.input('x', [2, 3]);
  g.output(g.op1('Relu', [x]), 'y');
  return g.build();
}

describe('bad input at build time', () => {
  it('wrong shapes name the node and both shapes', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3]);
    const b = g.input('b', [3, 2]);
    expectCoded(caught(() => g.op1('Mul', [a, b], {}, 'scale')), 'ERR_FACESTYLE_SHAPE', "Mul node 'scale'", '[2,3]', '[3,2]');
    expectCoded(caught(() => g.op1('Transpose', [a], { perm: [0, 0] }, 't')), 'ERR_FACESTYLE_SHAPE', 'permutation of 0..1', '[0,0]');
    expectCoded(caught(() => g.op1('Slice', [a], { starts: [0], ends: [1], steps: [0] }, 's')), 'ERR_FACESTYLE_SHAPE', 'non-zero steps', '[0]');
    expectCoded(caught(() => g.op1('Concat', [a, null], { axis: 0 }, 'cat')), 'ERR_FACESTYLE_SHAPE', "Concat node 'cat'", 'input 1 is missing');
    expectCoded(caught(() => g.op1('Relu', [null], {}, 'r')), 'ERR_FACESTYLE_SHAPE', "Relu node 'r'", 'input 0 is required');
  });

  it('unknown ops list what is known', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2]);
    expectCoded(caught(() => g.op1('Frobnicate', [a])), 'ERR_FACESTYLE_UNSUPPORTED', "Unknown op 'Frobnicate'", 'Known ops:', 'MatMul');
  });

  it('bad attributes: unknown, wrong type, missing required', () => {
    const g = new GraphBuilder();
    const a = g.input('a', [2, 3]);
    expectCoded(caught(() => g.op1('Softmax', [a], { axes: [1] })), 'ERR_FACESTYLE_ARGUMENT', "unknown attribute 'axes'", 'axis');
    expectCoded(caught(() => g.op1('Softmax', [a], { axis: 'last' })), 'ERR_FACESTYLE_ARGUMENT', "expected int for attribute 'axis'", '"last"');
    expectCoded(caught(() => g.op1('Concat', [a, a])), 'ERR_FACESTYLE_ARGUMENT', "attribute 'axis' is required");
    expectCoded(caught(() => g.op1('LeakyRelu', [a], { alpha: Number.NaN })), 'ERR_FACESTYLE_ARGUMENT', "attribute 'alpha'");
  });

  it('negative, fractional and absurd dimensions', () => {
    const g = new GraphBuilder();
    expectCoded(caught(() => g.input('neg', [2, -3])), 'ERR_FACESTYLE_SHAPE', 'non-negative integer dimensions', '[2,-3]');
    expectCoded(caught(() => g.input('frac', [2.5, 4])), 'ERR_FACESTYLE_SHAPE', 'non-negative integer dimensions', '[2.5,4]');
    // 10^6 x 10^6 floats would be 4 TB: refused before any allocation is attempted.
    expectCoded(caught(() => g.input('huge', [1e6, 1e6])), 'ERR_FACESTYLE_SHAPE', '[1000000,1000000]', 'exceeds the limit');
    expectCoded(caught(() => g.param('hugeParam', [1e6, 1e6], 'zeros')), 'ERR_FACESTYLE_SHAPE', 'exceeds the limit');
    expectCoded(caught(() => new Tensor([1e6, 1e6])), 'ERR_FACESTYLE_SHAPE', 'exceeds the limit');
    // An op whose inferred output would be absurd is refused as well.
    const a = g.input('a', [1e5, 1]);
    const b = g.input('b', [1, 1e5]);
    expectCoded(caught(() => g.op1('Add', [a, b], {}, 'outer')), 'ERR_FACESTYLE_SHAPE', 'exceeds the limit');
    expectCoded(caught(() => g.op1('Reshape', [a], { shape: [-1, -1] }, 'r')), 'ERR_FACESTYLE_SHAPE', "Reshape node 'r'", 'at most one -1');
  });

  it('compile() refuses graphs with unknown ops and bad options', async () => {
    const graph = smallGraph();
    const bad: Graph = { ...graph, nodes: graph.nodes.map((n) => ({ ...n, op: 'NotAnOp' })) };
    expectCoded(await rejected(() => compile(bad)), 'ERR_FACESTYLE_UNSUPPORTED', 'NotAnOp');
    expectCoded(await rejected(() => compile(graph, { device: 'tpu' as 'cpu' })), 'ERR_FACESTYLE_ARGUMENT', 'device', "'tpu'");
    expectCoded(await rejected(() => compile(graph, { threads: -2 })), 'ERR_FACESTYLE_ARGUMENT', 'threads', '-2');
    expectCoded(await rejected(() => compile(null as unknown as Graph)), 'ERR_FACESTYLE_ARGUMENT', 'graph', 'null');
  });
});

describe('bad feeds at run time', () => {
  it('missing, unknown, wrongly typed and wrongly shaped feeds', async () => {
    const s = await compile(smallGraph());
    try {
      expectCoded(await rejected(s.run({})), 'ERR_FACESTYLE_ARGUMENT', "Missing feed 'x'", '[2,3]');
      const ok = new Float32Array(6);
      expectCoded(await rejected(s.run({ x: ok, z: ok })), 'ERR_FACESTYLE_ARGUMENT', "Unknown feed 'z'", 'x');
      expectCoded(await rejected(s.run({ x: new Float64Array(6) as unknown as Float32Array })), 'ERR_FACESTYLE_ARGUMENT', 'Tensor or Float32Array', 'Float64Array(6)');
      expectCoded(await rejected(s.run({ x: new Int32Array(6) as unknown as Float32Array })), 'ERR_FACESTYLE_ARGUMENT', 'Tensor or Float32Array', 'Int32Array(6)');
      expectCoded(await rejected(s.run({ x: [1, 2, 3, 4, 5, 6] as unknown as Float32Array })), 'ERR_FACESTYLE_ARGUMENT', 'Tensor or Float32Array', '[1,2,3,4,5,6]');
      expectCoded(await rejected(s.run(null as unknown as Record<string, Tensor>)), 'ERR_FACESTYLE_ARGUMENT', 'feeds', 'null');
      expectCoded(await rejected(s.run({ x: new Float32Array(5) })), 'ERR_FACESTYLE_SHAPE', 'expected 6 values', 'received 5');
      expectCoded(await rejected(s.run({ x: Tensor.zeros([3, 2]) })), 'ERR_FACESTYLE_SHAPE', 'expected shape [2,3]', 'received [3,2]');
      // After all that, a good feed still works.
      const r = await s.run({ x: new Tensor([2, 3], [-1, 2, -3, 4, -5, 6]) });
      expect(Array.from(r.y.data)).toEqual([0, 2, 0, 4, 0, 6]);
    } finally {
      s.dispose();
    }
  });
});

/** A raw native graph: x [2,3] -> op -> y, built by hand (no TS validation in between). */
function rawGraph(over: Partial<NativeGraph> = {}): NativeGraph {
  return {
    values: [
      { name: 'x', kind: 'input', shape: [2, 3] },
      { name: 'y', kind: 'intermediate', shape: [2, 3] },
    ],
    nodes: [{ name: 'n', op: 'Relu', attrs: {}, inputs: [0], outputs: [1] }],
    inputs: [0],
    outputs: [1],
    ...over,
  };
}

describe('the raw native addon with hand-made graphs', () => {
  const native = loadNative();
  const compileRaw = (g: NativeGraph) => rejected(() => native.compile(g, { device: 'cpu' }));

  it('accepts the well-formed baseline (so the failures below are caused by the defect)', async () => {
    const s = await native.compile(rawGraph(), { device: 'cpu' });
    const [y] = await s.run([new Float32Array([-1, 2, -3, 4, -5, 6])]);
    expect(Array.from(y)).toEqual([0, 2, 0, 4, 0, 6]);
    s.dispose();
  });

  it('bad value indices', async () => {
    expectCoded(await compileRaw(rawGraph({ nodes: [{ name: 'n', op: 'Relu', attrs: {}, inputs: [7], outputs: [1] }] })), 'ERR_FACESTYLE_ARGUMENT', "Node 'n'", 'value index 7');
    expectCoded(await compileRaw(rawGraph({ nodes: [{ name: 'n', op: 'Relu', attrs: {}, inputs: [0], outputs: [9] }] })), 'ERR_FACESTYLE_ARGUMENT', "Node 'n'", 'value index 9');
    expectCoded(await compileRaw(rawGraph({ outputs: [5] })), 'ERR_FACESTYLE_ARGUMENT', 'output index 5');
    expectCoded(await compileRaw(rawGraph({ inputs: [1] })), 'ERR_FACESTYLE_ARGUMENT', "Graph input 'y'", 'not declared as an input');
    expectCoded(await compileRaw(rawGraph({ nodes: [{ name: 'n', op: 'Relu', attrs: {}, inputs: [0.5], outputs: [1] }] })), 'ERR_FACESTYLE_ARGUMENT', 'Expected integer');
  });

  it('cycles', async () => {
    const g = rawGraph({
      values: [
        { name: 'x', kind: 'input', shape: [2, 3] },
        { name: 'a', kind: 'intermediate', shape: [2, 3] },
        { name: 'b', kind: 'intermediate', shape: [2, 3] },
      ],
      nodes: [
        { name: 'first', op: 'Add', attrs: {}, inputs: [0, 2], outputs: [1] },
        { name: 'second', op: 'Relu', attrs: {}, inputs: [1], outputs: [2] },
      ],
      outputs: [2],
    });
    expectCoded(await compileRaw(g), 'ERR_FACESTYLE_ARGUMENT', 'cycle');
  });

  it('params with the wrong data length or type', async () => {
    const withParam = (data: unknown): NativeGraph =>
      rawGraph({
        values: [
          { name: 'x', kind: 'input', shape: [2, 3] },
          { name: 'w', kind: 'param', shape: [2, 3], data: data as Float32Array },
          { name: 'y', kind: 'intermediate', shape: [2, 3] },
        ],
        nodes: [{ name: 'n', op: 'Add', attrs: {}, inputs: [0, 1], outputs: [2] }],
        outputs: [2],
      });
    expectCoded(await compileRaw(withParam(new Float32Array(5))), 'ERR_FACESTYLE_SHAPE', "'w'", 'needs 6 floats but received 5');
    expectCoded(await compileRaw(withParam(new Float64Array(6))), 'ERR_FACESTYLE_ARGUMENT', 'Float32Array data', "'w'");
  });

  it('unknown op names, kinds and devices', async () => {
    expectCoded(await compileRaw(rawGraph({ nodes: [{ name: 'n', op: 'Nope', attrs: {}, inputs: [0], outputs: [1] }] })), 'ERR_FACESTYLE_UNSUPPORTED', "Unknown op 'Nope'");
    expectCoded(await compileRaw(rawGraph({ values: [{ name: 'x', kind: 'weird', shape: [2, 3] }, { name: 'y', kind: 'intermediate', shape: [2, 3] }] })), 'ERR_FACESTYLE_ARGUMENT', 'input|param|const|intermediate', "'weird'");
    expectCoded(await rejected(() => native.compile(rawGraph(), { device: 'quantum' })), 'ERR_FACESTYLE_ARGUMENT', "'cpu' or 'cuda'", "'quantum'");
  });

  it('negative and absurd shapes', async () => {
    const shaped = (shape: number[]) => rawGraph({ values: [{ name: 'x', kind: 'input', shape }, { name: 'y', kind: 'intermediate', shape }] });
    expectCoded(await compileRaw(shaped([2, -3])), 'ERR_FACESTYLE_SHAPE', 'non-negative', '[2,-3]');
    expectCoded(await compileRaw(shaped([1e6, 1e6])), 'ERR_FACESTYLE_SHAPE', '[1000000,1000000]', 'exceeds the limit');
    expectCoded(await compileRaw(shaped([2, 1.5])), 'ERR_FACESTYLE_ARGUMENT', 'Expected integer');
  });

  it('bad feeds to a raw session', async () => {
    const s = await native.compile(rawGraph(), { device: 'cpu' });
    try {
      expectCoded(await rejected(s.run([new Float32Array(6), new Float32Array(6)])), 'ERR_FACESTYLE_ARGUMENT', 'Expected 1 feeds but received 2');
      expectCoded(await rejected(s.run([new Float32Array(4)])), 'ERR_FACESTYLE_SHAPE', "Feed 'x'", 'needs 6 floats', 'received 4');
      expectCoded(await rejected(async () => s.run([new Float64Array(6) as unknown as Float32Array])), 'ERR_FACESTYLE_ARGUMENT', 'Expected Float32Array for feed 0');
      // Outputs the caller gives are named too (they were "Output 0" alone).
      expectCoded(await rejected(async () => s.run([new Float32Array(6)], [new Float32Array(5)])), 'ERR_FACESTYLE_SHAPE', "Output 0 ('y') needs 6 floats", 'has 5');
      expectCoded(caught(() => s.runSync([new Float32Array(6)], [new Float64Array(6) as unknown as Float32Array])), 'ERR_FACESTYLE_ARGUMENT', "Expected Float32Array for output 0 ('y')");
    } finally {
      s.dispose();
    }
  });

  // Planned shapes come from the TS side; a hand-made graph can lie. Kernels recompute what they
  // rely on, so a lie is a shape error naming the node at run time, never an out-of-bounds access.
  it('kernels refuse planned shapes that contradict their inputs and attributes', async () => {
    const runRaw = async (values: NativeGraph['values'], node: NativeGraph['nodes'][number], feeds: Float32Array[]) => {
      const ins = values.flatMap((v, i) => (v.kind === 'input' ? [i] : []));
      const s = await native.compile({ values, nodes: [node], inputs: ins, outputs: node.outputs }, { device: 'cpu' });
      try {
        return await rejected(s.run(feeds));
      } finally {
        s.dispose();
      }
    };
    const v = (name: string, kind: string, shape: number[]) => ({ name, kind, shape });
    const f = (n: number) => new Float32Array(n);

    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('b', 'input', [2, 3]), v('y', 'intermediate', [5])], { name: 'plus', op: 'Add', attrs: {}, inputs: [0, 1], outputs: [2] }, [f(6), f(6)]),
      'ERR_FACESTYLE_SHAPE', "Add node 'plus'", 'broadcast of [2,3] and [2,3]', 'it is [5]',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('b', 'input', [4, 5]), v('y', 'intermediate', [2, 5])], { name: 'mm', op: 'MatMul', attrs: {}, inputs: [0, 1], outputs: [2] }, [f(6), f(20)]),
      'ERR_FACESTYLE_SHAPE', "MatMul node 'mm'", '[2,3]', '[4,5]',
    );
    expectCoded(
      await runRaw([v('a', 'input', [4, 4]), v('y', 'intermediate', [4, 4])], { name: 'sl', op: 'Slice', attrs: { starts: [1], ends: [3] }, inputs: [0], outputs: [1] }, [f(16)]),
      'ERR_FACESTYLE_SHAPE', "Slice node 'sl'", 'expected output shape [2,4]', 'received [4,4]',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('y', 'intermediate', [3, 2])], { name: 'tr', op: 'Transpose', attrs: { perm: [1, 1] }, inputs: [0], outputs: [1] }, [f(6)]),
      'ERR_FACESTYLE_SHAPE', "Transpose node 'tr'", 'permutation',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('y', 'intermediate', [2, 1])], { name: 'rs', op: 'ReduceSum', attrs: { axes: [5] }, inputs: [0], outputs: [1] }, [f(6)]),
      'ERR_FACESTYLE_SHAPE', "ReduceSum node 'rs'", 'received 5',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('y', 'intermediate', [7])], { name: 'rh', op: 'Reshape', attrs: { shape: [7] }, inputs: [0], outputs: [1] }, [f(6)]),
      'ERR_FACESTYLE_SHAPE', "Reshape node 'rh'", '6 elements',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('y', 'intermediate', [2, 3])], { name: 'r', op: 'Relu', attrs: {}, inputs: [-1], outputs: [1] }, [f(6)]),
      'ERR_FACESTYLE_SHAPE', "Relu node 'r'", 'input 0 is required',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('y', 'intermediate', [2, 3])], { name: 'two', op: 'Sub', attrs: {}, inputs: [0], outputs: [1] }, [f(6)]),
      'ERR_FACESTYLE_SHAPE', "Sub node 'two'", 'expected 2 inputs but received 1',
    );
    expectCoded(
      await runRaw([v('a', 'input', [2, 3]), v('y', 'intermediate', [2, 3])], { name: 'sm', op: 'Softmax', attrs: { axis: 'last' }, inputs: [0], outputs: [1] }, [f(6)]),
      'ERR_FACESTYLE_ARGUMENT', "'axis'",
    );
  });
});

describe('parameter initialisation', () => {
  it('refuses an init it does not understand instead of silently using He', () => {
    const g = new GraphBuilder('init');
    for (const bad of [new Float64Array(4), new Int32Array(4), [1, 2, 3, 4], 'glorot']) {
      expect(() => g.param('w', [2, 2], bad as never)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    }
    expect([...g.param('ok', [2, 2], new Float32Array([1, 2, 3, 4])).shape]).toEqual([2, 2]);
  });
});

describe('device cuda on a build without CUDA', () => {
  const compiled = loadNative().capabilities().cuda.compiled;
  it.skipIf(compiled)('is ERR_FACESTYLE_UNSUPPORTED saying the build has no CUDA backend (not a list of missing kernels)', async () => {
    const g = new GraphBuilder('c');
    g.output(g.relu(g.input('x', [1, 2])), 'y');
    await expect(compile(g.build(), { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_UNSUPPORTED', message: expect.stringContaining('no CUDA backend') });
  });
});
