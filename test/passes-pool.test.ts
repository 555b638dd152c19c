// Max-pool fusion (fusePoolIntoConv): a depthwise 3x3 "same" conv whose output only a 2x2 / stride-2
// MaxPool reads takes the pool as its `pool` attribute. The rewrite must give the original graph's
// outputs (reference interpreter and the CPU engine, whose kernel pools in registers), take only what
// that kernel handles (and leave every other conv / pool pair as it was), export back to standard ONNX
// (Conv + activation + MaxPool) that onnxruntime-node runs to the same numbers, keep modelInfo's MACs,
// and fuse the two pools of YuNet that it can, the optimized graph giving the unfused one's outputs.
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { evaluateReference, fusePoolIntoConv, optimizeForInference } from '../lib/graph/passes/index.js';
import { Tensor } from '../lib/graph/tensor.js';
import { modelInfo } from '../lib/nn/info.js';
import { exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { checkParity } from '../lib/onnx/parity.js';
import { gpuSkipReason } from './helpers/devices.js';
import { expectCudaRefuses, expectSameOnCpu, runNative, worstRelative } from './helpers/pass-equivalence.js';
import { describeShared, sharedData } from './helpers/shared.js';

const ops = (g: Graph) => g.nodes.map((n) => n.op).filter((op) => op !== 'Identity');
const pooled = (g: Graph) => g.nodes.filter((n) => n.op === 'Conv2D' && n.attrs.pool === 'MaxPool2x2');
const k = (g: GraphBuilder, name: string, shape: number[], seed: number) => g.constant(name, Tensor.random(shape, seed, -1, 1));

interface Opts {
  act?: string;
  alpha?: number;
  pads?: number[];
  stride?: number;
  kernel?: number;
  pool?: Record<string, unknown>;
}

/** x -> depthwise conv (+ activation node) -> MaxPool -> output, constants seeded. */
function net(shape: number[], o: Opts = {}): { graph: Graph; x: Sym } {
  const g = new GraphBuilder('dwpool', { seed: 1 });
  const x = g.input('x', shape);
  const c = shape[1], kk = o.kernel ?? 3;
  let y = g.op1('Conv2D', [x, k(g, 'w', [c, 1, kk, kk], 2), k(g, 'b', [c], 3)], {
    strides: [o.stride ?? 1, o.stride ?? 1],
    pads: o.pads ?? [1, 1, 1, 1],
    group: c,
  }, 'dw');
  if (o.act === 'LeakyRelu') y = g.op1('LeakyRelu', [y], { alpha: o.alpha ?? 0.1 });
  else if (o.act === 'Clip') y = g.op1('Clip', [y], { min: -0.3, max: 0.4 });
  else if (o.act) y = g.op1(o.act, [y]);
  g.output(g.op1('MaxPool', [y], { kernel_shape: [2, 2], strides: [2, 2], ...o.pool }, 'pool'), 'y');
  return { graph: g.build(), x };
}

/** The reference interpreter before / after, and the CPU engine before / after, agree. */
const expectSame = (before: Graph, after: Graph, shape: number[], seed: number) => expectSameOnCpu(before, after, { x: Tensor.random(shape, seed) });

describe('fusePoolIntoConv', () => {
  const shapes = [
    [1, 8, 10, 14],
    [2, 5, 9, 11], // odd height and width: the last row and column are dropped
    [1, 3, 40, 70], // rows wider than a vector at every SIMD level
    [1, 2, 2, 2],
  ];
  for (const act of ['', 'Relu', 'LeakyRelu', 'Clip'])
    for (const shape of shapes)
      it(`folds MaxPool 2x2 / 2 into a depthwise 3x3 conv${act ? ` + ${act}` : ''} at ${shape.join('x')}, same outputs`, async () => {
        const before = optimizeForInference(net(shape, { act }).graph, { fusePool: false });
        const after = fusePoolIntoConv(before);
        expect(ops(after)).toEqual(['Conv2D']);
        expect(pooled(after).map((n) => n.name)).toEqual(['dw']);
        expect(after.values[after.outputs[0]].shape).toEqual([shape[0], shape[1], Math.floor(shape[2] / 2), Math.floor(shape[3] / 2)]);
        expect(ops(before)).toEqual(['Conv2D', 'MaxPool']); // the input graph is untouched
        await expectSame(before, after, shape, 7);
      });

  it('a LeakyRelu with a negative slope (not monotone) still gives pool(act(conv)): the kernel activates before it pools', async () => {
    const before = optimizeForInference(net([1, 4, 12, 12], { act: 'LeakyRelu', alpha: -0.5 }).graph, { fusePool: false });
    const after = fusePoolIntoConv(before);
    expect(pooled(after).length).toBe(1);
    await expectSame(before, after, [1, 4, 12, 12], 8);
  });

  it('row pads other than 1 are taken (the kernel handles any row pads); the columns must be "same"', async () => {
    const before = optimizeForInference(net([1, 3, 11, 16], { pads: [0, 1, 2, 1] }).graph, { fusePool: false });
    const after = fusePoolIntoConv(before);
    expect(pooled(after).length).toBe(1);
    await expectSame(before, after, [1, 3, 11, 16], 9);
  });

  const declined: [string, Graph][] = [
    ['Tanh after the conv (applied after the kernel, not in registers)', net([1, 4, 8, 8], { act: 'Tanh' }).graph],
    ['a stride-2 conv', net([1, 4, 16, 16], { stride: 2 }).graph],
    ['a 5x5 conv', net([1, 4, 16, 16], { kernel: 5, pads: [2, 2, 2, 2] }).graph],
    ['column pads of 0 (the output narrower than the input)', net([1, 4, 16, 16], { pads: [1, 0, 1, 0] }).graph],
    ['a 3x3 pool', net([1, 4, 16, 16], { pool: { kernel_shape: [3, 3] } }).graph],
    ['a stride-1 pool', net([1, 4, 16, 16], { pool: { strides: [1, 1] } }).graph],
    ['a padded pool', net([1, 4, 16, 16], { pool: { pads: [1, 1, 1, 1] } }).graph],
    ['ceil_mode 1', net([1, 4, 15, 15], { pool: { ceil_mode: 1 } }).graph],
  ];
  for (const [what, graph] of declined)
    it(`leaves the pool alone after ${what}`, () => {
      const g = optimizeForInference(graph);
      expect(pooled(g)).toEqual([]);
      expect(ops(g)).toContain('MaxPool');
    });

  it('leaves the pool alone when the conv output has a second reader or is a graph output, or the conv is not depthwise', () => {
    const g = new GraphBuilder('readers', { seed: 2 });
    const x = g.input('x', [1, 4, 8, 8]);
    const a = g.op1('Conv2D', [x, k(g, 'wa', [4, 1, 3, 3], 4)], { pads: [1, 1, 1, 1], group: 4 }, 'a');
    g.output(g.op1('MaxPool', [a], { kernel_shape: [2, 2], strides: [2, 2] }), 'pa');
    g.output(g.op1('Relu', [a]), 'second');
    const b = g.op1('Conv2D', [x, k(g, 'wb', [4, 1, 3, 3], 5)], { pads: [1, 1, 1, 1], group: 4 }, 'b');
    g.output(b, 'b');
    g.output(g.op1('MaxPool', [b], { kernel_shape: [2, 2], strides: [2, 2] }), 'pb');
    const c = g.op1('Conv2D', [x, k(g, 'wc', [4, 4, 3, 3], 6)], { pads: [1, 1, 1, 1] }, 'c');
    g.output(g.op1('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2] }), 'pc');
    const after = optimizeForInference(g.build());
    expect(pooled(after)).toEqual([]);
    expect(ops(after).filter((op) => op === 'MaxPool').length).toBe(3);
  });

  it('fusePool: false keeps the MaxPool; modelInfo counts the same MACs either way', () => {
    const { graph } = net([1, 6, 20, 18], { act: 'Relu' });
    const fused = optimizeForInference(graph);
    const plain = optimizeForInference(graph, { fusePool: false });
    expect(ops(fused)).toEqual(['Conv2D']);
    expect(ops(plain)).toEqual(['Conv2D', 'MaxPool']);
    expect(modelInfo(fused).macs).toBe(6 * 20 * 18 * 9);
    expect(modelInfo(fused).macs).toBe(modelInfo(plain).macs);
  });

  it('writes Conv + activation + MaxPool back, and onnxruntime-node runs it to the native outputs', async () => {
    const { graph } = net([1, 5, 13, 18], { act: 'LeakyRelu' });
    const after = optimizeForInference(graph);
    expect(pooled(after).length).toBe(1);
    const reimported = loadOnnx(exportOnnxBuffer(after));
    expect(ops(reimported)).toEqual(['Conv2D', 'LeakyRelu', 'MaxPool']);
    const feeds = { x: Tensor.random([1, 5, 13, 18], 10) };
    expect(worstRelative(evaluateReference(reimported, feeds), evaluateReference(graph, feeds))).toBeLessThan(1e-6);
    const report = await checkParity(after, { feeds, threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    expect(report.outputs[0].maxAbsErr).toBeLessThan(1e-5);
  });

  it('an optimized graph optimized again keeps its outputs: nothing folds or fuses into a conv that carries a pool', async () => {
    const after: [string, (g: GraphBuilder, y: Sym) => Sym][] = [
      ['BatchNormalization with a negative scale', (g, y) => g.op1('BatchNormalization', [y, g.constant('s', new Tensor([4], Float32Array.from([-1.5, 0.5, -0.25, 2]))), k(g, 'bb', [4], 21), k(g, 'mu', [4], 22), g.constant('var', new Tensor([4], Float32Array.from([1, 2, 0.5, 1])))], {})],
      ['Mul by a negative per-channel constant', (g, y) => g.op1('Mul', [y, g.constant('m', new Tensor([1, 4, 1, 1], Float32Array.from([-2, 1, -0.5, 3])))])],
      ['LeakyRelu with a negative slope', (g, y) => g.op1('LeakyRelu', [y], { alpha: -0.5 })],
      ['Add of a pooled-shape input', (g, y) => g.add(y, g.input('r', [1, 4, 4, 4]))],
    ];
    for (const [what, tail] of after) {
      const g = new GraphBuilder('twice', { seed: 5 });
      const x = g.input('x', [1, 4, 8, 8]);
      const c = g.op1('Conv2D', [x, k(g, 'w', [4, 1, 3, 3], 20)], { pads: [1, 1, 1, 1], group: 4 }, 'dw');
      g.output(tail(g, g.op1('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2] })), 'y');
      const original = g.build();
      const once = optimizeForInference(original);
      expect(pooled(once).length, what).toBe(1);
      const twice = optimizeForInference(once);
      expect(ops(twice), what).toEqual(ops(once));
      const feeds: Record<string, Tensor> = { x: Tensor.random([1, 4, 8, 8], 23) };
      if (original.inputs.length > 1) feeds.r = Tensor.random([1, 4, 4, 4], 24);
      const ref = evaluateReference(original, feeds);
      expect(worstRelative(evaluateReference(twice, feeds), ref), what).toBeLessThan(1e-5);
      expect(worstRelative(await runNative(twice, feeds, 'cpu'), ref), what).toBeLessThan(1e-5);
    }
  });

  const noGpu = gpuSkipReason();
  it.skipIf(noGpu !== null)(`a CUDA session refuses a pooled conv with a message naming fusePool: false${noGpu ? ` (skipped: ${noGpu})` : ''}`, async () => {
    await expectCudaRefuses(optimizeForInference(net([1, 4, 8, 8]).graph), { x: Tensor.random([1, 4, 8, 8], 11) }, /fusePool: false/);
  });
});

describeShared('fusePoolIntoConv on YuNet', () => {
  for (const [file, size] of [
    ['models/detection/yunet_n_320_320.onnx', 320],
    ['models/detection/yunet_s_dynamic.onnx', 256],
  ] as const)
    it(`fuses the two max pools of ${file.split('/').pop()} at ${size} whose conv output nothing else reads: the same outputs as unfused, and onnxruntime-node agrees`, async () => {
      const shape = [1, 3, size, size];
      const model = loadOnnx(sharedData(file), { inputShapes: { input: shape } });
      const maxPools = (g: Graph) => ops(g).filter((op) => op === 'MaxPool').length;
      expect(maxPools(model)).toBe(4);
      const after = optimizeForInference(model);
      // The first two (the 16- and 64-channel stages); the last two pool features the detection heads
      // also read before pooling, so they stay. (Each pooled depthwise conv is then fused with the 1x1
      // conv before it: a PointwiseDepthwise node keeps the pool.)
      const pooledPairs = after.nodes.filter((n) => n.op === 'PointwiseDepthwise' && n.attrs.pool === 'MaxPool2x2');
      expect(pooled(after).length + pooledPairs.length).toBe(2);
      expect(pooledPairs.length).toBe(2);
      expect(maxPools(after)).toBe(2);
      const feeds = { input: new Tensor(shape, Float32Array.from({ length: 3 * size * size }, (_, i) => (i * 37) % 255)) };
      const plain = await runNative(optimizeForInference(model, { fusePool: false }), feeds);
      expect(worstRelative(await runNative(after, feeds), plain)).toBeLessThan(1e-6);
      // onnxruntime on the fused graph written back as standard ONNX (Conv + Relu + MaxPool).
      const report = await checkParity(after, { feeds, threads: 2 });
      expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    });
});

describe('autodiff and a fused pool', () => {
  it('refuses to differentiate a Conv2D carrying a fused max pool, naming the node', async () => {
    const { gradients } = await import('../lib/graph/autodiff.js');
    const g = new GraphBuilder('grad', { seed: 3 });
    const x = g.input('x', [1, 4, 8, 8]);
    const w = g.param('w', [4, 1, 3, 3], 'he', 9);
    const y = g.op1('Conv2D', [x, w], { pads: [1, 1, 1, 1], group: 4, pool: 'MaxPool2x2' }, 'dwp');
    const loss = g.op1('ReduceMean', [y], { keepdims: 0 }, 'loss');
    expect(() => gradients(g, loss, [w])).toThrow(/'grad.dwp' carries a fused max pool.*unoptimised graph/);
  });
});
