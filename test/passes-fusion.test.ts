// Fusion passes beyond Conv2D: normalisation + activation (fuseNormActivation) and elementwise chains
// (fuseElementwiseChains -> ElementwiseChain). Each rewrite must give the original graph's outputs
// (reference interpreter and native engine), remove exactly the nodes it claims, refuse intermediates
// with a second reader or that are graph outputs, and export back to standard ONNX that
// onnxruntime-node runs to the same numbers.
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { type ChainFusionStats, fuseElementwiseChains, fuseNormActivation, optimizeForInference } from '../lib/graph/passes/index.js';
import { Tensor } from '../lib/graph/tensor.js';
import { generatorConfig, generatorGraph } from '../lib/nn/generator.js';
import { exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { checkParity } from '../lib/onnx/parity.js';
import { expectSameEverywhere, runNative, worstRelative } from './helpers/pass-equivalence.js';
import { describeShared, sharedData } from './helpers/shared.js';

const ops = (g: Graph) => g.nodes.map((n) => n.op).filter((op) => op !== 'Identity');
const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;

const k = (g: GraphBuilder, name: string, shape: number[], seed: number, lo = -1, hi = 1) => g.constant(name, Tensor.random(shape, seed, lo, hi));

describe('fuseNormActivation', () => {
  const x = [2, 4, 6, 5];
  const norms: [string, (g: GraphBuilder, s: Sym) => Sym][] = [
    ['InstanceNormalization', (g, s) => g.op1('InstanceNormalization', [s, k(g, 's', [4], 1, 0.5, 2), k(g, 'b', [4], 2)], {}, 'norm')],
    ['BatchNormalization', (g, s) => g.op1('BatchNormalization', [s, k(g, 's', [4], 1, 0.5, 2), k(g, 'b', [4], 2), k(g, 'm', [4], 3), k(g, 'v', [4], 4, 0.2, 2)], {}, 'norm')],
    ['LayerNormalization', (g, s) => g.op1('LayerNormalization', [s, k(g, 's', [5], 1, 0.5, 2), k(g, 'b', [5], 2)], {}, 'norm')],
    ['GroupNormalization', (g, s) => g.op1('GroupNormalization', [s, k(g, 's', [4], 1, 0.5, 2), k(g, 'b', [4], 2)], { num_groups: 2 }, 'norm')],
  ];
  const acts = [
    ['LeakyRelu', { alpha: 0.2 }],
    ['Relu', {}],
    ['Tanh', {}],
    ['Sigmoid', {}],
    ['Clip', { min: -0.4, max: 0.6 }],
  ] as const;
  for (const [normOp, norm] of norms)
    for (const [act, attrs] of acts) {
      it(`fuses ${normOp} + ${act} into one node with the same outputs`, async () => {
        const g = new GraphBuilder('norm-act');
        const input = g.input('x', x);
        g.output(g.op1(act, [norm(g, input)], attrs, 'act'));
        const before = g.build();
        const after = fuseNormActivation(before);
        expect(ops(after)).toEqual([normOp]);
        expect(after.nodes[0].attrs.activation).toBe(act);
        if (act === 'LeakyRelu') expect(after.nodes[0].attrs.activation_alpha).toBe(0.2);
        if (act === 'Clip') expect([after.nodes[0].attrs.activation_min, after.nodes[0].attrs.activation_max]).toEqual([-0.4, 0.6]);
        expect(ops(before)).toEqual([normOp, act]); // the input graph is untouched
        await expectSameEverywhere(before, after, { x: Tensor.random(x, 5, -2, 3) });
      });
    }

  it('does not fuse when the normalised value has a second reader', () => {
    const g = new GraphBuilder('norm-shared');
    const n = norms[0][1](g, g.input('x', x));
    g.output(g.op1('Relu', [n]), 'a');
    g.output(g.op1('Tanh', [n]), 'tanh'); // ('b' is a parameter's name)
    expect(ops(fuseNormActivation(g.build()))).toEqual(['InstanceNormalization', 'Relu', 'Tanh']);
  });

  it('does not fuse when the normalised value is a graph output', () => {
    const g = new GraphBuilder('norm-output');
    const n = norms[0][1](g, g.input('x', x));
    g.output(n);
    g.output(g.op1('Relu', [n]));
    expect(ops(fuseNormActivation(g.build()))).toEqual(['InstanceNormalization', 'Relu']);
  });

  it('fuses the InstanceNormalization + LeakyRelu pairs of the instance-norm generator (10 of them)', async () => {
    const before = generatorGraph(generatorConfig({ norm: 'instance', channels: [8, 8, 8, 8] }), { height: 32, width: 32 });
    const after = optimizeForInference(before);
    // enc0..enc3, two residual conv0, dec2..dec0, head0; a residual conv1 norm feeds an Add instead
    expect(count(before, 'InstanceNormalization')).toBe(12);
    expect(after.nodes.filter((n) => n.op === 'InstanceNormalization' && n.attrs.activation === 'LeakyRelu').length).toBe(10);
    expect(count(after, 'LeakyRelu')).toBe(0);
    expect(after.nodes.length).toBe(before.nodes.length - 11); // and the output Tanh goes into its conv
    await expectSameEverywhere(before, after, { image: Tensor.random([1, 3, 32, 32], 3) }, 1e-4);
  });
});

describe('fuseElementwiseChains', () => {
  /**
   * Three chains: Add -> LeakyRelu -> Mul(k) -> Add(k) -> Clip (5 ops), x * sigmoid(x) (2), and a tree
   * Mul(Tanh(x), Exp(Neg(y))) (4); 11 elementwise nodes become 3.
   */
  function chains(): Graph {
    const g = new GraphBuilder('chains');
    const x = g.input('x', [1, 4, 6, 5]);
    const y = g.input('y', [1, 4, 6, 5]);
    const z = g.input('z', [2, 3, 7]);
    const a = g.op1('LeakyRelu', [g.op1('Add', [x, y])], { alpha: 0.2 });
    const m = g.op1('Add', [g.op1('Mul', [a, k(g, 'k1', [1, 4, 1, 1], 1)]), k(g, 'k2', [4, 1, 1], 2)]);
    g.output(g.op1('Clip', [m], { min: -0.5, max: 0.8 }), 'scaled');
    g.output(g.op1('Mul', [z, g.op1('Sigmoid', [z])]), 'silu');
    g.output(g.op1('Mul', [g.op1('Tanh', [x]), g.op1('Exp', [g.op1('Neg', [y])])]), 'tree');
    return g.build();
  }
  const feeds = () => ({ x: Tensor.random([1, 4, 6, 5], 1, -2, 2), y: Tensor.random([1, 4, 6, 5], 2, -2, 2), z: Tensor.random([2, 3, 7], 3, -6, 6) });

  it('writes one ElementwiseChain per chain, 8 nodes fewer, with the same outputs', async () => {
    const before = chains();
    const stats: ChainFusionStats = { chains: 0, removed: 0 };
    const after = fuseElementwiseChains(before, stats);
    expect(stats).toEqual({ chains: 3, removed: 8 });
    expect(ops(after)).toEqual(['ElementwiseChain', 'ElementwiseChain', 'ElementwiseChain']);
    expect(after.nodes.length).toBe(before.nodes.length - 8);
    const fused = after.nodes.filter((n) => n.op === 'ElementwiseChain');
    expect(fused.map((n) => n.attrs.program)).toEqual(['Add LeakyRelu Mul Add Clip', 'Sigmoid Mul', 'Tanh Neg Exp Mul']);
    // x * sigmoid(x) reads its input once, as input 0 of both steps
    const silu = fused[1];
    expect(silu.inputs.length).toBe(1);
    expect(silu.attrs.operands).toEqual([0, -1, 0, 1]);
    await expectSameEverywhere(before, after, feeds());
  });

  it('fuses nothing when an intermediate has two readers', () => {
    const g = new GraphBuilder('shared');
    const x = g.input('x', [3, 5]);
    const a = g.op1('Add', [x, x]);
    g.output(g.op1('Relu', [a]), 'r');
    g.output(g.op1('Tanh', [a]), 't');
    const stats: ChainFusionStats = { chains: -1, removed: -1 };
    expect(ops(fuseElementwiseChains(g.build(), stats))).toEqual(['Add', 'Relu', 'Tanh']);
    expect(stats).toEqual({ chains: 0, removed: 0 });
  });

  it('fuses nothing when an intermediate is a graph output', () => {
    const g = new GraphBuilder('pinned');
    const x = g.input('x', [3, 5]);
    const a = g.op1('Add', [x, x]);
    g.output(a);
    g.output(g.op1('Relu', [a]));
    expect(ops(fuseElementwiseChains(g.build()))).toEqual(['Add', 'Relu']);
  });

  it('leaves a group with more inputs than the kernels take (8) unfused, and fuses one with 8', async () => {
    const sum = (n: number) => {
      const g = new GraphBuilder(`sum${n}`);
      const xs = Array.from({ length: n }, (_, i) => g.input(`x${i}`, [2, 3]));
      let acc = g.op1('Add', [xs[0], xs[1]]);
      for (let i = 2; i < n; ++i) acc = g.op1('Add', [acc, xs[i]]);
      g.output(acc);
      return g.build();
    };
    expect(ops(fuseElementwiseChains(sum(9)))).toEqual(new Array(8).fill('Add'));
    const before = sum(8);
    const after = fuseElementwiseChains(before);
    expect(ops(after)).toEqual(['ElementwiseChain']);
    expect(after.nodes[0].inputs.length).toBe(8);
    await expectSameEverywhere(before, after, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x${i}`, Tensor.random([2, 3], 40 + i)])));
  });

  it('does not fuse across a change of shape (a small tensor broadcast into a large one)', async () => {
    // Add(k1, k2) -> Sqrt is [1,4,1,1]; the Mul that broadcasts it over x is [1,4,6,5]: two groups.
    const g = new GraphBuilder('shapes');
    const x = g.input('x', [1, 4, 6, 5]);
    const s = g.op1('Sqrt', [g.op1('Add', [k(g, 'k1', [1, 4, 1, 1], 1, 0.1, 1), k(g, 'k2', [1, 1, 1, 1], 2, 0.1, 1)])]);
    g.output(g.op1('Relu', [g.op1('Mul', [x, s])]), 'out');
    const before = g.build();
    const after = fuseElementwiseChains(before);
    expect(ops(after)).toEqual(['ElementwiseChain', 'ElementwiseChain']);
    expect(after.nodes.filter((n) => n.op === 'ElementwiseChain').map((n) => n.attrs.program)).toEqual(['Add Sqrt', 'Mul Relu']);
    await expectSameEverywhere(before, after, { x: Tensor.random([1, 4, 6, 5], 4) });
  });

  it('runs after the conv and norm fusions in optimizeForInference, and can be turned off', () => {
    const g = new GraphBuilder('order');
    const x = g.input('x', [1, 2, 6, 6]);
    const c = g.conv2d(x, { out: 3, kernel: 3, pad: 1, name: 'conv' });
    const r = g.op1('Relu', [c]); // goes into the conv, not into a chain
    g.output(g.op1('Tanh', [g.op1('Add', [r, g.op1('Sigmoid', [r])])]), 'out');
    const before = g.build();
    expect(ops(optimizeForInference(before))).toEqual(['Conv2D', 'ElementwiseChain']);
    expect(ops(optimizeForInference(before, { fuseElementwise: false }))).toEqual(['Conv2D', 'Sigmoid', 'Add', 'Tanh']);
  });
});

describe('ElementwiseChain validation', () => {
  it('rejects a program that reads a later step, with a shape error naming the step', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('x', [4]);
    expect(() => g.op1('ElementwiseChain', [x], { program: 'Relu Add', operands: [0, -1, 0, 2], params: [0, 0, 0, 0] })).toThrow(
      expect.objectContaining({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringMatching(/step 1 \(Add\)/) }),
    );
  });

  it('rejects an op that is not elementwise and a params list of the wrong length', () => {
    const g = new GraphBuilder('bad2');
    const x = g.input('x', [4]);
    expect(() => g.op1('ElementwiseChain', [x], { program: 'Softmax', operands: [0, -1], params: [0, 0] })).toThrow(/expected an elementwise op/);
    expect(() => g.op1('ElementwiseChain', [x], { program: 'Relu', operands: [0, -1], params: [0] })).toThrow(/expected 2 params/);
  });

  it('rejects an input that would enlarge the output', () => {
    const g = new GraphBuilder('bad3');
    const a = g.input('a', [4]);
    const b = g.input('b', [3, 4]);
    // Relu(a) is the output [4]; b [3,4] is an unused input that does not broadcast to it
    expect(() => g.op1('ElementwiseChain', [a, b], { program: 'Relu', operands: [0, -1], params: [0, 0] })).toThrow(/to broadcast to the output shape/);
  });
});

describe('ONNX export of fused graphs', () => {
  function fusedNet(): Graph {
    const g = new GraphBuilder('fused-net', { seed: 2 });
    const x = g.input('x', [1, 3, 12, 10]);
    const c = g.conv2d(x, { out: 6, kernel: 3, pad: 1, name: 'c1' });
    const n = g.op1('InstanceNormalization', [c, k(g, 's', [6], 1, 0.5, 2), k(g, 'b', [6], 2)], {}, 'in');
    const a = g.op1('LeakyRelu', [n], { alpha: 0.2 });
    const c2 = g.conv2d(a, { out: 6, kernel: 3, pad: 1, name: 'c2' });
    const res = g.op1('Relu', [g.op1('Add', [c2, a])]);
    const t = g.op1('Tanh', [res]);
    g.output(g.op1('Mul', [g.op1('Add', [t, k(g, 'one', [], 3, 1, 1)]), k(g, 'half', [1], 4, 0.5, 0.5)]), 'out');
    return g.build();
  }

  it('writes the fused nodes back as standard ops that onnxruntime-node runs to the native outputs', async () => {
    const before = fusedNet();
    const after = optimizeForInference(before);
    expect(ops(after)).toEqual(['Conv2D', 'InstanceNormalization', 'Conv2D', 'ElementwiseChain']);
    const reimported = loadOnnx(exportOnnxBuffer(after));
    expect(ops(reimported)).toEqual(['Conv2D', 'InstanceNormalization', 'LeakyRelu', 'Conv2D', 'Add', 'Relu', 'Tanh', 'Add', 'Mul']);
    const report = await checkParity(after, { feeds: { x: Tensor.random([1, 3, 12, 10], 6) }, threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    expect(report.outputs[0].maxAbsErr).toBeLessThan(1e-4);
  });

  it('writes a Clip step and a fused Clip with their bounds', async () => {
    const g = new GraphBuilder('clips');
    const x = g.input('x', [1, 2, 4, 4]);
    const n = g.op1('BatchNormalization', [x, k(g, 's', [2], 1), k(g, 'b', [2], 2), k(g, 'm', [2], 3), k(g, 'v', [2], 4, 0.5, 1)]);
    const c = g.op1('Clip', [n], { min: -0.25, max: 0.5 });
    g.output(g.op1('Clip', [g.op1('Mul', [c, c])], { min: 0.01, max: 0.2 }), 'out');
    const after = optimizeForInference(g.build());
    expect(ops(after)).toEqual(['BatchNormalization', 'ElementwiseChain']);
    const report = await checkParity(after, { feeds: { x: Tensor.random([1, 2, 4, 4], 8, -3, 3) }, threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
  });
});

describeShared('fusion on the shipped models', () => {
  // What fuses in each model (after the conv folds), and the optimized graph's native outputs against
  // the graph with every pass but this one.
  const models: [string, Record<string, number[]>, { chains: number; removed: number }][] = [
    // (A conv -> Add(same shape) -> activation goes into the conv first: its Z and fused activation.)
    ['models/detection/version-RFB-320.onnx', {}, { chains: 4, removed: 6 }], // box decoding: Mul Mul Add, Mul Exp Mul, Div Sub, Div Add (the Add+Relu is a conv's Z + Relu)
    ['models/detection/version-slim-320.onnx', {}, { chains: 4, removed: 6 }],
    ['models/stylization/animeganv3_tiny_cute.onnx', { 'AnimeGANv3_input:0': [1, 64, 64, 3] }, { chains: 5, removed: 5 }], // Add+LeakyRelu, 2x Add+Sqrt, Sub+Mul (squared deviation), Div+Mul (2 more Add+LeakyRelu are convs' Z + LeakyRelu)
    ['models/detection/yunet_n_320_320.onnx', {}, { chains: 0, removed: 0 }],
  ];
  for (const [file, inputShapes, expected] of models) {
    it(`${file.split('/').pop()}: ${expected.chains} chains, ${expected.removed} nodes fewer, same outputs`, async () => {
      const g = loadOnnx(sharedData(file), { inputShapes });
      const base = optimizeForInference(g, { fuseElementwise: false });
      const stats: ChainFusionStats = { chains: 0, removed: 0 };
      const fused = fuseElementwiseChains(base, stats);
      expect(stats).toEqual(expected);
      expect(fused.nodes.length).toBe(base.nodes.length - expected.removed);
      const inp = g.values[g.inputs[0]];
      const feeds = { [inp.name]: Tensor.random(inp.shape, 9, -1, 1) };
      expect(worstRelative(await runNative(fused, feeds), await runNative(base, feeds))).toBeLessThan(1e-5);
    });
  }

  it('version-RFB-320 optimized exports to ONNX that onnxruntime-node runs to the native outputs', async () => {
    const after = optimizeForInference(loadOnnx(sharedData('models/detection/version-RFB-320.onnx')));
    expect(count(after, 'ElementwiseChain')).toBe(4);
    expect(after.nodes.filter((n) => n.op === 'Conv2D' && (n.inputs[3] ?? -1) >= 0 && n.attrs.activation === 'Relu').length).toBe(1);
    const report = await checkParity(after, { threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs.map((o) => [o.name, o.maxAbsErr, o.maxRelErr]))).toBe(true);
  });
});
