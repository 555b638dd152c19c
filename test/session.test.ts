// Async behaviour of sessions: concurrent runs on several sessions are correct, runs on one session
// resolve in order, the event loop keeps ticking during a long run, and dispose() is safe at any time;
// runSync() gives run()'s results and keeps the call order; run(feeds, { outputs }) writes into given arrays.
import { describe, expect, it } from 'vitest';
import { FacestyleError } from '../lib/errors.js';
import { loadNative } from '../lib/native.js';
import { GraphBuilder } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { Tensor } from '../lib/graph/tensor.js';
import { type Session, compile } from '../lib/runtime/session.js';
import { referenceRun } from './helpers/graph-reference.js';
import { compareClose } from './helpers/tensors.js';

function mlpGraph(): Graph {
  const g = new GraphBuilder('mlp', { seed: 11 });
  const x = g.input('x', [6, 20]);
  const w1 = g.param('w1', [20, 32], 'xavier');
  const b1 = g.param('b1', [32], 'ones');
  const w2 = g.param('w2', [32, 10], 'xavier');
  const h = g.op1('Relu', [g.op1('Add', [g.op1('MatMul', [x, w1]), b1])]);
  g.output(g.op1('Softmax', [g.op1('MatMul', [h, w2])]), 'y');
  return g.build();
}

function shapeOpsGraph(): Graph {
  const g = new GraphBuilder('shape-ops');
  const x = g.input('x', [2, 3, 8, 5]);
  const t = g.op1('Transpose', [x], { perm: [0, 2, 3, 1] });
  const s = g.op1('Slice', [t], { starts: [1, -1], ends: [7, -6], axes: [1, 2], steps: [2, -1] });
  g.output(g.op1('Sigmoid', [g.op1('ReduceSum', [s], { axes: [-1], keepdims: 0 })]), 'y');
  return g.build();
}

function gemmGraph(): Graph {
  const g = new GraphBuilder('gemm', { seed: 5 });
  const a = g.input('a', [4, 7]);
  const b = g.input('b', [4, 9]);
  const w = g.param('w', [12, 16], 'he');
  const c = g.param('c', [12], 'ones');
  const cat = g.op1('Concat', [a, b], { axis: 1 });
  g.output(g.op1('Clip', [g.op1('Gemm', [cat, w, c], { transB: 1, alpha: 0.5 })], { min: -1, max: 1 }), 'y');
  return g.build();
}

/**
 * A graph heavy enough to take a noticeable time: `layers` x (tanh(h W)) with W 384x384. Values
 * stay bounded by the tanh.
 */
function heavyGraph(layers: number): Graph {
  const g = new GraphBuilder('heavy', { seed: 3 });
  let h = g.input('x', [384, 384]);
  for (let i = 0; i < layers; ++i) h = g.op1('Tanh', [g.op1('MatMul', [h, g.param(`w${i}`, [384, 384], 'xavier')])]);
  g.output(h, 'y');
  return g.build();
}

/** Layers of heavyGraph that take about `ms` here (timed on a second run: the first pays start-up costs). */
async function layersFor(ms: number): Promise<number> {
  const probe = await compile(heavyGraph(4));
  try {
    const x = Tensor.random([384, 384], 1);
    await probe.run({ x });
    const t0 = performance.now();
    await probe.run({ x });
    const perLayer = Math.max((performance.now() - t0) / 4, 0.25);
    return Math.min(400, Math.max(4, Math.ceil(ms / perLayer)));
  } finally {
    probe.dispose();
  }
}

const feedsFor = (graph: Graph, seed: number): Record<string, Tensor> =>
  Object.fromEntries(graph.inputs.map((id, i) => [graph.values[id].name, Tensor.random(graph.values[id].shape, seed * 13 + i)]));

function expectMatches(actual: Record<string, Tensor>, expected: Record<string, Tensor>, what: string) {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const k of Object.keys(expected)) {
    const r = compareClose(actual[k], expected[k], 1e-5, 1e-4);
    expect(r.ok, `${what} ${k}: ${r.message}`).toBe(true);
  }
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: error as Error & { code?: string } }),
  );

describe('sessions', () => {
  it('gives correct results for many concurrent runs on several sessions', async () => {
    const graphs = [mlpGraph(), shapeOpsGraph(), gemmGraph()];
    const sessions = await Promise.all(graphs.map((g) => compile(g, { threads: 1 })));
    try {
      const jobs: { graph: Graph; feeds: Record<string, Tensor>; result: Promise<Record<string, Tensor>> }[] = [];
      for (let i = 0; i < 16; ++i)
        sessions.forEach((s, k) => {
          const feeds = feedsFor(graphs[k], i * 3 + k + 1);
          jobs.push({ graph: graphs[k], feeds, result: s.run(feeds) });
        });
      const results = await Promise.all(jobs.map((j) => j.result));
      results.forEach((r, i) => expectMatches(r, referenceRun(jobs[i].graph, jobs[i].feeds), `${jobs[i].graph.name} job ${i}`));
      // Different feeds gave different outputs (a run did not just return another run's result).
      expect(Array.from(results[0].y.data)).not.toEqual(Array.from(results[3].y.data));
    } finally {
      sessions.forEach((s) => s.dispose());
    }
  });

  it('resolves calls on one session in the order they were made', async () => {
    const graph = mlpGraph();
    const s = await compile(graph);
    try {
      const order: number[] = [];
      const feeds = Array.from({ length: 12 }, (_, i) => feedsFor(graph, 100 + i));
      const runs = feeds.map((f, i) => s.run(f).then((r) => (order.push(i), r)));
      const results = await Promise.all(runs);
      expect(order).toEqual(Array.from({ length: 12 }, (_, i) => i));
      results.forEach((r, i) => expectMatches(r, referenceRun(graph, feeds[i]), `run ${i}`));
    } finally {
      s.dispose();
    }
  });

  it('keeps the event loop ticking during a long run', async () => {
    let layers = await layersFor(300);
    for (let attempt = 0; ; ++attempt) {
      const s = await compile(heavyGraph(layers));
      try {
        let ticks = 0;
        const feeds = { x: Tensor.random([384, 384], 2) };
        const timer = setInterval(() => ++ticks, 2);
        const start = performance.now();
        const pending = s.run(feeds);
        const returnedAfter = performance.now() - start;
        const out = await pending;
        const elapsed = performance.now() - start;
        clearInterval(timer);
        // Too short to mean anything (the calibration was off on a busy machine): make it longer.
        if (elapsed < 150 && attempt < 3) {
          layers *= 4;
          continue;
        }
        expect(elapsed).toBeGreaterThan(100);
        // run() hands the work off and returns at once: a blocking run() would return after all of it.
        // (Relative, not a fixed number of ms: a loaded machine once took 23 ms to return.)
        expect(returnedAfter).toBeLessThan(elapsed / 4);
        // A blocked loop would tick at most once; a free one every ~2 ms (allow a slow, shared machine).
        expect(ticks).toBeGreaterThanOrEqual(Math.max(5, Math.floor(elapsed / 2 / 10)));
        expect(out.y.data.every((v) => Number.isFinite(v) && Math.abs(v) <= 1)).toBe(true);
        return;
      } finally {
        s.dispose();
      }
    }
  });

  it('survives dispose() during a run: the run settles cleanly, queued runs reject with a code', async () => {
    const graph = heavyGraph(await layersFor(200));
    const feeds = { x: Tensor.random([384, 384], 4) };
    const s = await compile(graph);
    const first = settle(s.run(feeds));
    const queued = settle(s.run(feeds));
    await new Promise((r) => setTimeout(r, 20)); // the first run is now executing natively
    s.dispose();
    s.dispose(); // twice is fine
    expect(s.disposed).toBe(true);
    const [a, b] = await Promise.all([first, queued]);
    // The run in flight either finishes (the native session outlives dispose until it ends) or
    // rejects with a code; either way with a sound result.
    if (a.ok) {
      const fresh = await compile(graph);
      const again = await fresh.run(feeds);
      fresh.dispose();
      expect(Array.from(a.value.y.data)).toEqual(Array.from(again.y.data));
    } else {
      expect(a.error.code).toMatch(/^ERR_FACESTYLE_/);
    }
    expect(b.ok).toBe(false);
    if (!b.ok) {
      expect(b.error.code).toBe('ERR_FACESTYLE_DISPOSED');
      expect(b.error.message).toContain('disposed');
    }
    // The process is alive and the runtime still works.
    const t = await compile(mlpGraph());
    const f = feedsFor(mlpGraph(), 9);
    expectMatches(await t.run(f), referenceRun(mlpGraph(), f), 'after dispose');
    t.dispose();
  });

  it('errors the native addon makes are FacestyleErrors for instanceof, plain errors are not', () => {
    const native = loadNative() as unknown as { NativeSession: new () => unknown };
    let e: unknown;
    try {
      new native.NativeSession();
    } catch (x) {
      e = x;
    }
    // Made in C++: a plain Error with a code, caught by instanceof all the same.
    expect(Object.getPrototypeOf(e)).toBe(Error.prototype);
    expect(e).toBeInstanceOf(FacestyleError);
    expect((e as { code?: string }).code).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(new FacestyleError('ERR_FACESTYLE_SHAPE', 'm')).toBeInstanceOf(FacestyleError);
    expect(new Error('x')).not.toBeInstanceOf(FacestyleError);
    expect(Object.assign(new Error('x'), { code: 'ENOENT' })).not.toBeInstanceOf(FacestyleError);
    expect({ code: 'ERR_FACESTYLE_SHAPE', message: 'not an Error' }).not.toBeInstanceOf(FacestyleError);
  });

  it('rejects run() on a disposed session with ERR_FACESTYLE_DISPOSED', async () => {
    const graph = mlpGraph();
    const s: Session = await compile(graph);
    s.dispose();
    const r = await settle(s.run(feedsFor(graph, 1)));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('ERR_FACESTYLE_DISPOSED');
      expect(r.error.message).toMatch(/disposed/);
    }
    expect(() => s.info()).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_DISPOSED' }));
    expect(() => s.readParam('w1')).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_DISPOSED' }));
  });

  // On the CPU the kernels read the feeds in place (no copy into the arena): each run must read its own
  // feeds (not the previous run's), never write to them, and an input that is also an output comes back.
  it('reads each run\'s feeds in place, leaves them unchanged, and returns an input that is also an output', async () => {
    const g = new GraphBuilder('feeds');
    const x = g.input('x', [2, 3, 5, 7]);
    const z = g.input('z', [2, 3, 5, 7]);
    g.output(x, 'xOut');
    g.output(g.op1('Add', [g.op1('Relu', [x]), g.op1('Neg', [z])]), 'y');
    g.output(g.op1('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }), 'pooled');
    const graph = g.build();
    const s = await compile(graph, { threads: 2 });
    for (let round = 0; round < 3; ++round) {
      const xs = new Float32Array(210).map((_, i) => Math.sin(i * 0.7 + round));
      const zs = new Float32Array(210).map((_, i) => Math.cos(i * 0.3 - round));
      const keepX = xs.slice(), keepZ = zs.slice();
      const feeds = { x: new Tensor([2, 3, 5, 7], xs), z: new Tensor([2, 3, 5, 7], zs) };
      const got = await s.run(feeds);
      expect(Array.from(xs)).toEqual(Array.from(keepX));
      expect(Array.from(zs)).toEqual(Array.from(keepZ));
      expect(got.xOut.data).not.toBe(xs);  // a copy the caller owns
      expect(Array.from(got.xOut.data)).toEqual(Array.from(keepX));
      const want = referenceRun(graph, feeds);
      for (const k of ['y', 'pooled']) expect(compareClose(got[k], want[k], 1e-6, 0).message).toBe('ok');
    }
    s.dispose();
  });

  it('runSync() returns what run() does, on the calling thread, and refuses while run() calls are pending', async () => {
    const graphs = [mlpGraph(), shapeOpsGraph(), gemmGraph()];
    for (const graph of graphs) {
      const s = await compile(graph, { threads: 2 });
      try {
        for (let round = 0; round < 2; ++round) {
          const feeds = feedsFor(graph, round + 5);
          const sync = s.runSync(feeds);
          expectMatches(sync, referenceRun(graph, feeds), `${graph.name} runSync`);
          const viaRun = await s.run(feeds);
          for (const k of Object.keys(viaRun)) expect(Array.from(sync[k].data), `${graph.name} ${k}`).toEqual(Array.from(viaRun[k].data));
        }
        // A run() in flight: runSync throws a coded error instead of overtaking it; once it settled, it runs.
        const feeds = feedsFor(graph, 9);
        const pending = s.run(feeds);
        expect(() => s.runSync(feeds)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
        await pending;
        expectMatches(s.runSync(feeds), referenceRun(graph, feeds), `${graph.name} runSync after run`);
        // A rejected run() settles too: it does not leave runSync refused.
        const bad = await settle(s.run({}));
        expect(bad.ok).toBe(false);
        expect(Object.keys(s.runSync(feeds)).length).toBe(graph.outputs.length);
      } finally {
        s.dispose();
      }
    }
  });

  it('runSync() reports bad feeds and a disposed session with codes', async () => {
    const graph = mlpGraph();
    const s = await compile(graph);
    expect(() => s.runSync({ x: Tensor.random([6, 21], 1) })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_SHAPE' }));
    expect(() => s.runSync({})).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    expect(() => s.runSync({ x: Tensor.random([6, 20], 1), extra: Tensor.random([1], 2) })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    s.dispose();
    expect(() => s.runSync(feedsFor(graph, 1))).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_DISPOSED' }));
  });

  // A residual conv block, output = relu(conv(x)) + x: the input is read again by the last node, so writing
  // the output over the input is only right if outputs are written after every node has run.
  function residualGraph(): Graph {
    const g = new GraphBuilder('residual', { seed: 4 });
    const x = g.input('x', [2, 3, 9, 7]);
    g.output(g.op1('Add', [g.relu(g.conv2d(x, { out: 3, kernel: 3, pad: 1 })), x]), 'y');
    return g.build();
  }

  it('run(feeds, { outputs }) and runSync write into the given arrays, return them, and may overwrite the feed', async () => {
    for (const graph of [mlpGraph(), gemmGraph(), residualGraph()]) {
      const s = await compile(graph, { threads: 2 });
      try {
        const feeds = feedsFor(graph, 3);
        const expected = referenceRun(graph, feeds);
        const y = graph.values[graph.outputs[0]];
        const given = new Tensor(y.shape, new Float32Array(y.shape.reduce((a, b) => a * b, 1)).fill(Number.NaN));
        const viaRun = await s.run(feeds, { outputs: { y: given } });
        expect(viaRun.y).toBe(given); // the same tensor back, no new array
        expectMatches(viaRun, expected, `${graph.name} run into a Tensor`);
        const array = new Float32Array(given.size).fill(Number.NaN);
        const viaSync = s.runSync(feeds, { outputs: { y: array } });
        expect(viaSync.y.data).toBe(array);
        expectMatches(viaSync, expected, `${graph.name} runSync into a Float32Array`);
      } finally {
        s.dispose();
      }
    }
    // In place: the residual block's output written over its own input, by run() and by runSync().
    const graph = residualGraph();
    const s = await compile(graph, { threads: 2 });
    try {
      for (const sync of [false, true]) {
        const feeds = feedsFor(graph, sync ? 8 : 7);
        const expected = referenceRun(graph, { x: new Tensor(feeds.x.shape, feeds.x.data.slice()) });
        const out = sync ? s.runSync(feeds, { outputs: { y: feeds.x } }) : await s.run(feeds, { outputs: { y: feeds.x } });
        expect(out.y).toBe(feeds.x);
        expectMatches(out, expected, `residual in place (${sync ? 'runSync' : 'run'})`);
      }
    } finally {
      s.dispose();
    }
  });

  it('bad output arrays are coded errors, before anything runs', async () => {
    const graph = gemmGraph();
    const s = await compile(graph);
    const feeds = feedsFor(graph, 2);
    const cases: [unknown, string][] = [
      [{ y: new Tensor([4, 11]) }, 'ERR_FACESTYLE_SHAPE'],
      [{ y: new Float32Array(47) }, 'ERR_FACESTYLE_SHAPE'],
      [{ y: new Float64Array(48) }, 'ERR_FACESTYLE_ARGUMENT'],
      [{ z: new Float32Array(48) }, 'ERR_FACESTYLE_ARGUMENT'],
      [{}, 'ERR_FACESTYLE_ARGUMENT'],
      ['y', 'ERR_FACESTYLE_ARGUMENT'],
    ];
    for (const [outputs, code] of cases) {
      const options = { outputs } as Parameters<Session['run']>[1];
      await expect(s.run(feeds, options), JSON.stringify(outputs)).rejects.toMatchObject({ code });
      expect(() => s.runSync(feeds, options)).toThrow(expect.objectContaining({ code }));
    }
    // Overlapping output arrays, and an output array over a feed that is itself an output, are refused.
    const pass = new GraphBuilder('pass');
    const px = pass.input('x', [4]);
    pass.output(pass.relu(pass.op1('Neg', [px])), 'y');
    pass.output(px, 'x');
    const ps = await compile(pass.build());
    const x = new Tensor([4], new Float32Array([-1, -2, 3, 4]));
    const shared = new Float32Array(8);
    expect(() => ps.runSync({ x }, { outputs: { y: shared.subarray(0, 4), x: shared.subarray(2, 6) } })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('overlap') }));
    expect(() => ps.runSync({ x }, { outputs: { y: x, x: new Float32Array(4) } })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining("feed 'x'") }));
    const ok = ps.runSync({ x }, { outputs: { y: shared.subarray(0, 4), x: shared.subarray(4, 8) } });
    expect([...ok.y.data, ...ok.x.data]).toEqual([1, 2, 0, 0, -1, -2, 3, 4]);
    // The outputs are taken when run() is called: changing the options object afterwards changes nothing.
    const t1 = new Tensor([4]), t2 = new Tensor([4]), t3 = new Tensor([4]);
    const opts = { outputs: { y: t1, x: t3 } as Record<string, Tensor> };
    const p = ps.run({ x }, opts);
    opts.outputs = { y: t2, x: t3 };
    const r = await p;
    expect(r.y).toBe(t1);
    expect([...t1.data]).toEqual([1, 2, 0, 0]);
    ps.dispose();
    // The session still runs (and into a right-sized array).
    expectMatches(s.runSync(feeds, { outputs: { y: new Float32Array(48) } }), referenceRun(graph, feeds), 'gemm after bad outputs');
    s.dispose();
  });

  it('run() copies its feeds when called: a feed changed or transferred (postMessage) meanwhile changes nothing; a given output transferred mid-run is a coded error, not a crash', async () => {
    const graph = gemmGraph();
    const s = await compile(graph, { threads: 1 });
    try {
      const feeds = feedsFor(graph, 21);
      const expected = referenceRun(graph, feeds);
      const copies = { a: new Tensor([4, 7], Float32Array.from(feeds.a.data)), b: new Tensor([4, 9], Float32Array.from(feeds.b.data)) };
      // Changed right after the call, and the other one transferred away (its buffer detached: the run read
      // it in place, and a transfer followed by GC freed memory under the compute thread).
      const p = s.run(copies);
      copies.a.data.fill(1000);
      structuredClone(copies.b.data.buffer, { transfer: [copies.b.data.buffer] });
      expect(copies.b.data.length).toBe(0);
      expectMatches(await p, expected, 'feeds copied at the call');
      // The same for a run queued behind another one.
      const queued = { a: new Tensor([4, 7], Float32Array.from(feeds.a.data)), b: new Tensor([4, 9], Float32Array.from(feeds.b.data)) };
      const first = s.run(feeds);
      const second = s.run(queued);
      queued.a.data.fill(-5);
      structuredClone(queued.b.data.buffer, { transfer: [queued.b.data.buffer] });
      expectMatches(await first, expected, 'the run ahead');
      expectMatches(await second, expected, 'feeds of a queued run copied at the call');
      // Outputs given by the caller are filled when the run settles; one detached meanwhile is refused.
      const out = new Float32Array(48);
      const q = s.run(feeds, { outputs: { y: out } });
      structuredClone(out.buffer, { transfer: [out.buffer] });
      const r = await settle(q);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('detached') });
      // A given output kept in place is filled, and the session goes on.
      const kept = new Float32Array(48);
      await s.run(feeds, { outputs: { y: kept } });
      expect(Array.from(kept)).toEqual(Array.from((await s.run(feeds)).y.data));
    } finally {
      s.dispose();
    }
  });

  it('readParam, writeParam and profile refuse while run() calls are pending (they ran out of call order and blocked the loop)', async () => {
    // y = x + w: a writeParam right after run() changed what that run added.
    const g = new GraphBuilder('order', { seed: 1 });
    const x = g.input('x', [2]);
    const w = g.param('w', [2], 'ones');
    g.output(g.op1('Add', [x, w]), 'y');
    const s = await compile(g.build(), { profile: true });
    try {
      const p = s.run({ x: new Tensor([2], Float32Array.of(10, 20)) });
      for (const call of [() => s.readParam('w'), () => s.writeParam('w', Float32Array.of(100, 100)), () => s.profile()])
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('pending: await them first') }));
      expect(Array.from((await p).y.data)).toEqual([11, 21]);
      s.writeParam('w', Float32Array.of(100, 100));
      expect(Array.from(s.readParam('w').data)).toEqual([100, 100]);
      expect(Array.from((await s.run({ x: new Tensor([2], Float32Array.of(1, 2)) })).y.data)).toEqual([101, 102]);
      expect(s.profile().length).toBeGreaterThan(0);
    } finally {
      s.dispose();
    }
  });
});
