// Residual / skip Add fusion (fuseResidualAdd): a conv's output plus a same-shaped tensor becomes the
// conv's residual input Z. The rewrite must give the original graph's outputs (reference interpreter
// and native engine), leave alone every Add it may not take (second reader, graph output, broadcasting,
// a fused activation before the Add), keep the graph in executable order, export back to standard
// ONNX (Conv + Add + activation) that onnxruntime-node runs to the same numbers, and be refused by
// autodiff like a fused activation.
import { describe, expect, it } from 'vitest';
import { gradients } from '../lib/graph/autodiff.js';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { evaluateReference, fuseResidualAdd, optimizeForInference } from '../lib/graph/passes/index.js';
import { Tensor } from '../lib/graph/tensor.js';
import { generatorConfig, generatorGraph } from '../lib/nn/generator.js';
import { exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { checkParity } from '../lib/onnx/parity.js';
import { expectSameEverywhere, worstRelative } from './helpers/pass-equivalence.js';

const ops = (g: Graph) => g.nodes.map((n) => n.op).filter((op) => op !== 'Identity');
const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;
const withZ = (g: Graph) => g.nodes.filter((n) => (n.inputs[3] ?? -1) >= 0);
const k = (g: GraphBuilder, name: string, shape: number[], seed: number, lo = -1, hi = 1) => g.constant(name, Tensor.random(shape, seed, lo, hi));

const deconv = (g: GraphBuilder, x: Sym, c: number, m: number, seed: number, bias: boolean, name: string) =>
  g.op1('ConvTranspose2D', bias ? [x, k(g, `${name}.w`, [c, m, 2, 2], seed), k(g, `${name}.b`, [m], seed + 1)] : [x, k(g, `${name}.w`, [c, m, 2, 2], seed)], { strides: [2, 2] }, name);

describe('fuseResidualAdd', () => {
  it('folds a residual block Add into its second conv (Z), same outputs', async () => {
    const g = new GraphBuilder('res', { seed: 3 });
    const x = g.input('x', [2, 8, 9, 11]);
    const t = g.op1('LeakyRelu', [g.conv2d(x, { out: 8, kernel: 3, pad: 1, name: 'c0' })], { alpha: 0.2 });
    g.output(g.add(x, g.conv2d(t, { out: 8, kernel: 3, pad: 1, name: 'c1' }), 'add'), 'y');
    const before = g.build();
    const after = fuseResidualAdd(before);
    expect(ops(after)).toEqual(['Conv2D', 'LeakyRelu', 'Conv2D']);
    const fused = withZ(after);
    expect(fused.length).toBe(1);
    expect(fused[0].name).toBe('c1');
    expect(after.values[fused[0].inputs[3]].name).toBe('x');
    expect(ops(before)).toEqual(['Conv2D', 'LeakyRelu', 'Conv2D', 'Add']); // the input graph is untouched
    await expectSameEverywhere(before, after, { x: Tensor.random([2, 8, 9, 11], 5) });
  });

  for (const bias of [false, true])
    it(`folds a skip Add into a 2x2 / 2 ConvTranspose2D (${bias ? 'with' : 'without'} bias), Z on either side of the Add`, async () => {
      const g = new GraphBuilder('skip', { seed: 4 });
      const x = g.input('x', [1, 6, 5, 7]);
      const e = g.input('e', [1, 4, 10, 14]);
      const u1 = deconv(g, x, 6, 4, 1, bias, 'up1');
      const s1 = g.add(e, u1, 'skip1'); // conv output second
      const u2 = deconv(g, x, 6, 4, 3, bias, 'up2');
      g.output(g.add(u2, s1, 'skip2'), 'y'); // conv output first, Z = the first fused node's output
      const before = g.build();
      const after = fuseResidualAdd(before);
      expect(ops(after)).toEqual(['ConvTranspose2D', 'ConvTranspose2D']);
      expect(withZ(after).map((n) => n.name)).toEqual(['up1', 'up2']);
      expect(after.nodes[0].inputs[2] >= 0).toBe(bias);
      await expectSameEverywhere(before, after, { x: Tensor.random([1, 6, 5, 7], 6), e: Tensor.random([1, 4, 10, 14], 7) });
    });

  it('places the fused conv where the Add was, after a Z computed later than the conv', async () => {
    // c1 comes first in the node list, its Z (c2's branch) after it: the fused node must run after both.
    const g = new GraphBuilder('order', { seed: 5 });
    const x = g.input('x', [1, 3, 8, 8]);
    const c1 = g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'c1' });
    const z = g.op1('Tanh', [g.conv2d(x, { out: 4, kernel: 1, name: 'c2' })], {}, 'z');
    g.output(g.add(c1, z, 'add'), 'y');
    const before = g.build();
    const after = fuseResidualAdd(before);
    expect(ops(after)).toEqual(['Conv2D', 'Tanh', 'Conv2D']);
    expect(after.nodes[2].name).toBe('c1');
    await expectSameEverywhere(before, after, { x: Tensor.random([1, 3, 8, 8], 8) });
  });

  it('leaves the Add alone when the conv output has a second reader, is a graph output, broadcasts, or went through an activation', () => {
    const shapes = (build: (g: GraphBuilder, x: Sym, c: Sym) => void) => {
      const g = new GraphBuilder('keep', { seed: 6 });
      const x = g.input('x', [1, 4, 6, 6]);
      build(g, x, g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'c' }));
      return ops(fuseResidualAdd(g.build()));
    };
    // second reader
    expect(shapes((g, x, c) => (g.output(g.add(c, x)), g.output(g.op1('Relu', [c]))))).toEqual(['Conv2D', 'Add', 'Relu']);
    // conv output is a graph output
    expect(shapes((g, x, c) => (g.output(c), g.output(g.add(c, x))))).toEqual(['Conv2D', 'Add']);
    // Z broadcasts (a per-channel tensor that is not a constant, so no bias fold either)
    expect(shapes((g, _x, c) => g.output(g.add(c, g.input('s', [1, 4, 1, 1]))))).toEqual(['Conv2D', 'Add']);
    // the sum is larger than the conv output
    expect(shapes((g, _x, c) => g.output(g.add(c, g.input('big', [2, 4, 6, 6]))))).toEqual(['Conv2D', 'Add']);
    // Add(c, c): the conv output is read twice
    expect(shapes((g, _x, c) => g.output(g.add(c, c)))).toEqual(['Conv2D', 'Add']);
  });

  it('does not fold into a conv that already carries a fused activation (act(conv) + r is not act(conv + r))', () => {
    const g = new GraphBuilder('act-first', { seed: 7 });
    const x = g.input('x', [1, 4, 6, 6]);
    g.output(g.add(g.op1('Relu', [g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'c' })]), x), 'y');
    const after = optimizeForInference(g.build());
    expect(ops(after)).toEqual(['Conv2D', 'Add']);
    expect(after.nodes[0].attrs.activation).toBe('Relu');
    expect(withZ(after).length).toBe(0);
  });

  it('optimizeForInference: Conv -> Add -> LeakyRelu becomes one node (Z, then the activation); fuseResidual: false keeps the Add', async () => {
    const g = new GraphBuilder('res-act', { seed: 8 });
    const x = g.input('x', [1, 5, 7, 6]);
    g.output(g.op1('LeakyRelu', [g.add(g.conv2d(x, { out: 5, kernel: 3, pad: 1, name: 'c' }), x)], { alpha: 0.2 }), 'y');
    const before = g.build();
    const after = optimizeForInference(before);
    expect(ops(after)).toEqual(['Conv2D']);
    expect(after.nodes[0].attrs.activation).toBe('LeakyRelu');
    expect(withZ(after).length).toBe(1);
    expect(ops(optimizeForInference(before, { fuseResidual: false }))).toEqual(['Conv2D', 'ElementwiseChain']);
    await expectSameEverywhere(before, after, { x: Tensor.random([1, 5, 7, 6], 9, -2, 2) });
  });

  it('an optimized graph optimized again keeps its outputs (no bias / scale fold into a conv with Z)', async () => {
    const g = new GraphBuilder('twice', { seed: 9 });
    const x = g.input('x', [1, 4, 6, 6]);
    const s = g.add(g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'c' }), x);
    g.output(g.op1('Mul', [s, k(g, 'scale', [1, 4, 1, 1], 10, 0.5, 2)]), 'y');
    const once = optimizeForInference(g.build());
    expect(ops(once)).toEqual(['Conv2D', 'Mul']);
    const twice = optimizeForInference(once);
    expect(ops(twice)).toEqual(['Conv2D', 'Mul']);
    await expectSameEverywhere(g.build(), twice, { x: Tensor.random([1, 4, 6, 6], 11) });
  });

  it('takes every residual and skip Add of the deconv generator, same outputs', async () => {
    const config = generatorConfig({ channels: [4, 8, 8, 12], resBlocks: 2, upsample: 'deconv' });
    const before = generatorGraph(config, { height: 32, width: 24 });
    expect(count(before, 'Add')).toBe(5); // 2 residual blocks + 3 skips
    const after = optimizeForInference(before);
    expect(count(after, 'Add')).toBe(0);
    expect(withZ(after).map((n) => n.op)).toEqual(['Conv2D', 'Conv2D', 'ConvTranspose2D', 'ConvTranspose2D', 'ConvTranspose2D']);
    expect(after.nodes.length).toBe(optimizeForInference(before, { fuseResidual: false }).nodes.length - 5);
    await expectSameEverywhere(before, after, { image: Tensor.random([1, 3, 32, 24], 12) }, 1e-4);
  });
});

describe('ONNX export and autodiff of convs with Z', () => {
  function net(): Graph {
    const g = new GraphBuilder('z-net', { seed: 13 });
    const x = g.input('x', [1, 3, 8, 6]);
    const e = g.op1('LeakyRelu', [g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'e' })], { alpha: 0.2 });
    const d = g.conv2d(e, { out: 6, kernel: 3, stride: 2, pad: 1, name: 'd' });
    const u = g.add(deconv(g, d, 6, 4, 14, false, 'up'), e, 'skip');
    g.output(g.op1('Relu', [g.add(g.conv2d(u, { out: 4, kernel: 3, pad: 1, name: 'r' }), u, 'res')]), 'y');
    return g.build();
  }

  it('writes Conv / ConvTranspose + Add (+ activation) back, and onnxruntime-node runs it to the native outputs', async () => {
    const after = optimizeForInference(net());
    expect(ops(after)).toEqual(['Conv2D', 'Conv2D', 'ConvTranspose2D', 'Conv2D']);
    expect(withZ(after).length).toBe(2);
    const reimported = loadOnnx(exportOnnxBuffer(after));
    expect(ops(reimported)).toEqual(['Conv2D', 'LeakyRelu', 'Conv2D', 'ConvTranspose2D', 'Add', 'Conv2D', 'Add', 'Relu']);
    const deconvNode = reimported.nodes.find((n) => n.op === 'ConvTranspose2D');
    expect(deconvNode?.inputs.length).toBe(2); // the omitted bias is left out, not written as ''
    const feeds = { x: Tensor.random([1, 3, 8, 6], 15) };
    expect(worstRelative(evaluateReference(reimported, feeds), evaluateReference(net(), feeds))).toBeLessThan(1e-5);
    const report = await checkParity(after, { feeds, threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    expect(report.outputs[0].maxAbsErr).toBeLessThan(1e-4);
  });

  for (const op of ['Conv2D', 'ConvTranspose2D'] as const)
    it(`autodiff refuses a ${op} with a residual input Z, and differentiates the same node without it`, () => {
      const build = (z: boolean) => {
        const b = new GraphBuilder('grad');
        const x = b.input('x', [1, 2, 4, 4]);
        const w = b.input('w', op === 'Conv2D' ? [3, 2, 3, 3] : [2, 3, 2, 2]);
        const attrs = op === 'Conv2D' ? { pads: [1, 1, 1, 1] } : { strides: [2, 2] };
        const zs = b.input('z', op === 'Conv2D' ? [1, 3, 4, 4] : [1, 3, 8, 8]);
        const y = b.op1(op, z ? [x, w, null, zs] : [x, w], attrs, 'conv');
        return { b, x, y, loss: b.op1('ReduceSum', [y], { keepdims: 0 }) };
      };
      const fused = build(true);
      expect(() => gradients(fused.b, fused.loss, [fused.x])).toThrow(
        expect.objectContaining({ code: 'ERR_FACESTYLE_UNSUPPORTED', message: expect.stringMatching(/residual input Z/) }),
      );
      const plain = build(false);
      const grad = gradients(plain.b, plain.loss, [plain.x])[0];
      expect(grad).not.toBeNull();
      plain.b.output(plain.y, 'y');
      plain.b.output(grad as Sym, 'dx');
      const graph = plain.b.build();
      const feeds = { x: Tensor.random([1, 2, 4, 4], 21), w: Tensor.random(op === 'Conv2D' ? [3, 2, 3, 3] : [2, 3, 2, 2], 22), z: Tensor.random(op === 'Conv2D' ? [1, 3, 4, 4] : [1, 3, 8, 8], 23) };
      const analytic = evaluateReference(graph, feeds).dx;
      expect(analytic.shape).toEqual([1, 2, 4, 4]);
      // Central differences of sum(conv(x, w)), summed in float64, on every element of x. The loss is
      // linear in x, so the difference has no truncation error and a large eps is exact; what is left
      // is the float32 rounding of the reference's outputs (values in [-1, 1], x[e] moved to 1.5 at most):
      // Conv2D 48 outputs of at most 18 products, |y| < 19; ConvTranspose2D (stride = kernel) 192 outputs
      // of 2 products, |y| < 3; each rounded to 6e-8 relative: < 6e-5 per sum, < 1.2e-4 on the
      // difference, over 2 eps = 1: well under the 1e-3 bound.
      const sumY = (x: Tensor) => evaluateReference(graph, { ...feeds, x }).y.data.reduce((s, v) => s + v, 0);
      const eps = 0.5;
      for (let e = 0; e < feeds.x.size; ++e) {
        const plus = new Tensor(feeds.x.shape, feeds.x.data.slice());
        const minus = new Tensor(feeds.x.shape, feeds.x.data.slice());
        plus.data[e] += eps;
        minus.data[e] -= eps;
        const numeric = (sumY(plus) - sumY(minus)) / (plus.data[e] - minus.data[e]);
        expect(Math.abs(analytic.data[e] - numeric), `dx[${e}]: analytic ${analytic.data[e]} vs numeric ${numeric}`).toBeLessThanOrEqual(1e-3);
      }
      // Not vacuous: the gradient is not constant (the border elements of x feed fewer outputs).
      expect(new Set(analytic.data).size).toBeGreaterThan(1);
    });

  it('a Z of the wrong shape is a shape error at graph build time', () => {
    const b = new GraphBuilder('bad-z');
    const x = b.input('x', [1, 2, 4, 4]);
    const w = b.input('w', [3, 2, 3, 3]);
    expect(() => b.op1('Conv2D', [x, w, null, b.input('z', [1, 3, 4, 5])], { pads: [1, 1, 1, 1] })).toThrow(
      expect.objectContaining({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringMatching(/residual input Z/) }),
    );
  });
});
