// Pointwise + depthwise fusion (fusePointwiseDepthwise): a 1x1 conv whose output only a depthwise 3x3
// "same" conv reads becomes one PointwiseDepthwise node. The rewrite must give the original graph's outputs
// (reference interpreter and the CPU engine, whose kernel never writes the 1x1 output whole), take only
// what that kernel handles (and leave every other pair as it was), keep the depthwise conv's fused pool,
// export back to standard ONNX (two Convs + activations + MaxPool) that onnxruntime-node runs to the same
// numbers, keep modelInfo's MACs, be stable when optimized again, and fuse YuNet's and PFLD's pairs with
// the optimized graph giving the unfused one's outputs.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { evaluateReference, fusePointwiseDepthwise, optimizeForInference } from '../lib/graph/passes/index.js';
import { Tensor } from '../lib/graph/tensor.js';
import { modelInfo } from '../lib/nn/info.js';
import { exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { checkParity } from '../lib/onnx/parity.js';
import { gpuSkipReason } from './helpers/devices.js';
import { expectCudaRefuses, expectSameOnCpu, runNative, worstRelative } from './helpers/pass-equivalence.js';
import { describeShared, sharedData } from './helpers/shared.js';

const ops = (g: Graph) => g.nodes.map((n) => n.op).filter((op) => op !== 'Identity');
const fused = (g: Graph) => g.nodes.filter((n) => n.op === 'PointwiseDepthwise');
const k = (g: GraphBuilder, name: string, shape: number[], seed: number) => g.constant(name, Tensor.random(shape, seed, -1, 1));

interface Opts {
  m?: number;
  act1?: string;
  act2?: string;
  pool?: boolean;
  biases?: [boolean, boolean];
  pw?: Record<string, unknown>;
  dw?: Record<string, unknown>;
  dwKernel?: number;
  /** The 1x1 output also read by something else / also a graph output / an Add into the 1x1 conv. */
  tap?: 'reader' | 'output' | 'residual';
  /** An Add of a same-shaped input after the depthwise conv (fused into it as Z). */
  dwResidual?: boolean;
  /** A 1x1 projection after the pair (+ an Add of the block input x, + its activation): an inverted residual block. */
  project?: { k?: number; residual?: boolean; act?: string; conv?: Record<string, unknown>; kernel?: number; bias?: boolean; tap?: 'reader' | 'output' };
}

function activation(g: GraphBuilder, y: Sym, act: string | undefined): Sym {
  if (act === 'LeakyRelu') return g.op1('LeakyRelu', [y], { alpha: 0.15 });
  if (act === 'Clip') return g.op1('Clip', [y], { min: -0.4, max: 0.5 });
  return act ? g.op1(act, [y]) : y;
}

/** x -> 1x1 conv (+ activation) -> depthwise 3x3 conv (+ activation) (+ 2x2 max pool) -> output, constants seeded. */
function net(shape: number[], o: Opts = {}): { graph: Graph; inputs: Record<string, number[]> } {
  const g = new GraphBuilder('pwdw', { seed: 1 });
  const x = g.input('x', shape);
  const c = shape[1], m = o.m ?? 12, kk = o.dwKernel ?? 3, groups = (o.pw?.group as number | undefined) ?? 1;
  const [b1, b2] = o.biases ?? [true, true];
  const inputs: Record<string, number[]> = { x: shape };
  let t = g.op1('Conv2D', [x, k(g, 'w1', [m, c / groups, 1, 1], 2), ...(b1 ? [k(g, 'b1', [m], 3)] : [])], { ...o.pw }, 'pw');
  if (o.tap === 'residual') {
    const r = g.input('r', [shape[0], m, shape[2], shape[3]]);
    inputs.r = r.shape;
    t = g.add(t, r);
  }
  t = activation(g, t, o.act1);
  let y = g.op1('Conv2D', [t, k(g, 'w2', [m, 1, kk, kk], 4), ...(b2 ? [k(g, 'b2', [m], 5)] : [])], { group: m, pads: [1, 1, 1, 1], ...o.dw }, 'dw');
  if (o.dwResidual) {
    const r = g.input('z', y.shape);
    inputs.z = r.shape;
    y = g.add(y, r);
  }
  y = activation(g, y, o.act2);
  if (o.pool) y = g.op1('MaxPool', [y], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool');
  const p = o.project;
  if (p) {
    const d = y;
    const kk = p.kernel ?? 1;
    const kOut = p.k ?? c;
    y = g.op1('Conv2D', [d, k(g, 'w3', [kOut, m, kk, kk], 6), ...(p.bias === false ? [] : [k(g, 'b3', [kOut], 7)])], { pads: Array(4).fill((kk - 1) / 2), ...p.conv }, 'project');
    if (p.residual) y = g.add(y, x);
    y = activation(g, y, p.act);
    if (p.tap === 'reader') g.output(g.op1('ReduceMean', [d], { keepdims: 0 }), 'mean');
    if (p.tap === 'output') g.output(d, 'd');
  }
  g.output(y, 'y');
  if (o.tap === 'reader') g.output(g.op1('ReduceMean', [t], { keepdims: 0 }), 'mean');
  if (o.tap === 'output') g.output(t, 't');
  return { graph: g.build(), inputs };
}

const feedsFor = (inputs: Record<string, number[]>, seed: number) => Object.fromEntries(Object.entries(inputs).map(([name, s], i) => [name, Tensor.random(s, seed + i)]));

/** The reference interpreter before / after, and the CPU engine before / after, agree. */
const expectSame = (before: Graph, after: Graph, inputs: Record<string, number[]>, seed: number) => expectSameOnCpu(before, after, feedsFor(inputs, seed));

describe('fusePointwiseDepthwise', () => {
  // [shape, 1x1 output channels]: at 2 threads split by bands of rows, by channels (rows not whole cache
  // lines), and small enough for one thread (a batch, odd sizes).
  const shapes: [number[], number][] = [
    [[1, 8, 64, 64], 12],
    [[1, 64, 14, 14], 128],
    [[2, 5, 9, 23], 12],
    // 64 input channels on 32x32: with AVX2 the fused kernel copies each X panel dense first
    // (densePanelPays in native/cpu/conv_pointwise_kernels.h).
    [[1, 64, 32, 32], 24],
  ];
  const acts: [string, string][] = [['', ''], ['Relu', 'Relu'], ['LeakyRelu', 'Clip'], ['Clip', 'LeakyRelu']];
  for (const [act1, act2] of acts)
    for (const [shape, m] of shapes)
      for (const pool of [false, true])
        it(`fuses 1x1 (${act1 || 'none'}) + depthwise (${act2 || 'none'})${pool ? ' + pool' : ''} on [${shape}] -> ${m} channels`, async () => {
          const { graph, inputs } = net(shape, { m, act1, act2, pool });
          const plain = optimizeForInference(graph, { fusePointwiseDepthwise: false });
          const after = optimizeForInference(graph);
          expect(ops(after)).toEqual(['PointwiseDepthwise']);
          expect(fused(after)[0].attrs.pool ?? '').toBe(pool ? 'MaxPool2x2' : '');
          await expectSame(plain, after, inputs, 7);
        });

  it('a 64-channel pair on 32x32 and one on 16 channels, in a process forced to AVX2 (FACESTYLE_SIMD): fused node and plain layers agree', () => {
    // Covers the AVX2 kernel's dense panel copies on machines whose own level is AVX-512 (on one without AVX2 the level cannot
    // be raised: the fused kernel at the lower level is then what is compared). Loads the package from dist/.
    const dist = new URL('../dist/', import.meta.url).href;
    const script = `
      const { GraphBuilder } = await import('${dist}graph/builder.js');
      const { Tensor } = await import('${dist}graph/tensor.js');
      const { optimizeForInference } = await import('${dist}graph/passes/index.js');
      const { compile } = await import('${dist}runtime/session.js');
      const { capabilities } = await import('${dist}capabilities.js');
      const worst = [];
      for (const [c, m, size] of [[64, 24, 32], [16, 24, 64]]) {
        const g = new GraphBuilder('pair', { seed: 1 });
        const x = g.input('x', [1, c, size, size]);
        const t = g.op1('Relu', [g.op1('Conv2D', [x, g.constant('w1', Tensor.random([m, c, 1, 1], 2, -1, 1)), g.constant('b1', Tensor.random([m], 3, -1, 1))])]);
        g.output(g.op1('Conv2D', [t, g.constant('w2', Tensor.random([m, 1, 3, 3], 4, -1, 1)), g.constant('b2', Tensor.random([m], 5, -1, 1))], { group: m, pads: [1, 1, 1, 1] }), 'y');
        const graph = g.build();
        const feeds = { x: Tensor.random([1, c, size, size], 7, -1, 1) };
        const fusedGraph = optimizeForInference(graph);
        if (!fusedGraph.nodes.some((n) => n.op === 'PointwiseDepthwise')) throw new Error('not fused');
        const a = (await (await compile(fusedGraph, { threads: 2 })).run(feeds)).y.data;
        const b = (await (await compile(optimizeForInference(graph, { fusePointwiseDepthwise: false }), { threads: 2 })).run(feeds)).y.data;
        let w = 0;
        for (let i = 0; i < a.length; ++i) w = Math.max(w, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
        worst.push(w);
      }
      console.log(JSON.stringify({ simd: capabilities().simd, worst }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, FACESTYLE_SIMD: 'avx2' }, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(['avx2', 'scalar']).toContain(out.simd);
    for (const w of out.worst) expect(w).toBeLessThan(1e-4);
  });

  it('keeps omitted biases omitted (either or both)', async () => {
    for (const biases of [[false, true], [true, false], [false, false]] as [boolean, boolean][]) {
      const { graph, inputs } = net([1, 6, 10, 16], { act1: 'Relu', biases });
      const after = optimizeForInference(graph);
      expect(ops(after)).toEqual(['PointwiseDepthwise']);
      const n = fused(after)[0];
      expect(n.inputs.length, `${biases}`).toBe(biases[1] ? 5 : biases[0] ? 4 : 3);
      if (biases[1]) expect(n.inputs[3] >= 0).toBe(biases[0]);
      await expectSame(graph, after, inputs, 9);
    }
  });

  // Each of these leaves the two convs apart (what the fused kernel does not take).
  const declined: [string, Opts][] = [
    ['a strided 1x1 conv', { pw: { strides: [2, 2] } }],
    ['a padded 1x1 conv', { pw: { pads: [1, 1, 1, 1] } }],
    ['a grouped 1x1 conv', { pw: { group: 2 } }],
    ['a residual Add into the 1x1 conv', { tap: 'residual' }],
    ['a 1x1 output that something else reads', { tap: 'reader' }],
    ['a 1x1 output that is a graph output', { tap: 'output' }],
    ['a 5x5 depthwise conv', { dwKernel: 5, dw: { pads: [2, 2, 2, 2] } }],
    ['a stride-2 depthwise conv', { dw: { strides: [2, 2] } }],
    ['a depthwise conv without pads', { dw: { pads: [0, 0, 0, 0] } }],
    ['a depthwise conv with a residual Add', { dwResidual: true }],
    ['Tanh after the 1x1 conv', { act1: 'Tanh' }],
    ['Sigmoid after the depthwise conv', { act2: 'Sigmoid' }],
  ];
  for (const [what, o] of declined)
    it(`declines ${what}`, async () => {
      const { graph, inputs } = net([1, 4, 12, 12], o);
      const after = optimizeForInference(graph);
      expect(fused(after)).toEqual([]);
      expect(ops(after)).toEqual(ops(optimizeForInference(graph, { fusePointwiseDepthwise: false })));
      await expectSame(graph, after, inputs, 11);
    });

  it('fusePointwiseDepthwise: false keeps the two convs; modelInfo counts the same MACs either way', () => {
    const { graph } = net([1, 6, 20, 18], { m: 10, act1: 'Relu', pool: true });
    const after = optimizeForInference(graph);
    const plain = optimizeForInference(graph, { fusePointwiseDepthwise: false });
    expect(ops(after)).toEqual(['PointwiseDepthwise']);
    expect(ops(plain)).toEqual(['Conv2D', 'Conv2D']);
    expect(modelInfo(after).macs).toBe(10 * 20 * 18 * (6 + 9));
    expect(modelInfo(after).macs).toBe(modelInfo(plain).macs);
  });

  it('is stable when optimized again, and fusePointwiseDepthwise alone does the same rewrite', async () => {
    const { graph, inputs } = net([1, 8, 16, 16], { act1: 'LeakyRelu', act2: 'Relu', pool: true });
    const once = optimizeForInference(graph);
    const twice = optimizeForInference(once);
    expect(ops(twice)).toEqual(ops(once));
    expect(twice.nodes[0].attrs).toEqual(once.nodes[0].attrs);
    await expectSame(graph, twice, inputs, 13);
    const alone = fusePointwiseDepthwise(optimizeForInference(graph, { fusePointwiseDepthwise: false }));
    expect(ops(alone)).toEqual(['PointwiseDepthwise']);
  });

  it('writes Conv + LeakyRelu + Conv + Clip + MaxPool back, and onnxruntime-node runs it to the native outputs', async () => {
    const { graph, inputs } = net([1, 5, 13, 18], { act1: 'LeakyRelu', act2: 'Clip', pool: true });
    const after = optimizeForInference(graph);
    expect(ops(after)).toEqual(['PointwiseDepthwise']);
    const reimported = loadOnnx(exportOnnxBuffer(after));
    expect(ops(reimported)).toEqual(['Conv2D', 'LeakyRelu', 'Conv2D', 'Clip', 'MaxPool']);
    const feeds = feedsFor(inputs, 10);
    expect(worstRelative(evaluateReference(reimported, feeds), evaluateReference(graph, feeds))).toBeLessThan(1e-6);
    const report = await checkParity(after, { feeds, threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    expect(report.outputs[0].maxAbsErr).toBeLessThan(1e-5);
  });

  // The inverted residual block: the pair's output read only by a 1x1 projection (+ the block input added, +
  // an activation) becomes one node whose kernel takes a band of rows per thread through all three convs.
  const blocks: [number[], number, Opts['project'], string, string][] = [
    [[1, 16, 14, 14], 32, { residual: true }, 'Relu', 'Relu'],
    [[1, 8, 64, 64], 12, { residual: true, act: 'LeakyRelu' }, 'Clip', ''],
    [[2, 5, 9, 23], 12, { k: 7, act: 'Clip', bias: false }, 'LeakyRelu', 'Relu'],
    [[1, 40, 10, 12], 136, { residual: true }, '', 'Relu'],
  ];
  for (const [shape, m, project, act1, act2] of blocks)
    it(`fuses a whole inverted residual block on [${shape}] -> ${m} -> ${project?.k ?? shape[1]} channels${project?.residual ? ' + the block input' : ''}`, async () => {
      const { graph, inputs } = net(shape, { m, act1, act2, project });
      const plain = optimizeForInference(graph, { fusePointwiseDepthwise: false });
      const after = optimizeForInference(graph);
      expect(ops(plain)).toEqual(['Conv2D', 'Conv2D', 'Conv2D']);
      expect(ops(after)).toEqual(['PointwiseDepthwise']);
      const n = fused(after)[0];
      expect(n.inputs.length).toBe(project?.residual ? 8 : project?.bias === false ? 6 : 7);
      expect(n.attrs.project_activation).toBe(project?.act ?? '');
      await expectSame(plain, after, inputs, 15);
      expect(modelInfo(after).macs).toBe(modelInfo(plain).macs);
    });

  // Each of these keeps the projection a Conv2D of its own (the pair is still fused).
  const projectionDeclined: [string, Opts][] = [
    ['after a pooled pair', { pool: true, project: {} }],
    ['that is a 3x3 conv', { project: { kernel: 3, residual: true } }],
    ['that is strided', { project: { conv: { strides: [2, 2] } } }],
    ['when something else reads the pair output', { project: { tap: 'reader', residual: true } }],
    ['when the pair output is a graph output', { project: { tap: 'output' } }],
    ['with Tanh after it', { project: { act: 'Tanh', residual: true } }],
  ];
  for (const [what, o] of projectionDeclined)
    it(`leaves a projection ${what} apart`, async () => {
      const { graph, inputs } = net([1, 4, 12, 12], { m: 8, ...o });
      const after = optimizeForInference(graph);
      expect(fused(after).map((n) => n.inputs.length <= 5)).toEqual([true]);
      expect(after.nodes.filter((n) => n.op === 'Conv2D').length).toBe(1);
      await expectSame(graph, after, inputs, 17);
    });

  it('writes a block back as Conv + Relu + Conv + Relu + Conv + Add, and onnxruntime-node runs it to the native outputs', async () => {
    const { graph, inputs } = net([1, 16, 14, 14], { m: 32, act1: 'Relu', act2: 'Relu', project: { residual: true } });
    const after = optimizeForInference(graph);
    expect(ops(after)).toEqual(['PointwiseDepthwise']);
    const reimported = loadOnnx(exportOnnxBuffer(after));
    expect(ops(reimported)).toEqual(['Conv2D', 'Relu', 'Conv2D', 'Relu', 'Conv2D', 'Add']);
    const feeds = feedsFor(inputs, 19);
    expect(worstRelative(evaluateReference(reimported, feeds), evaluateReference(graph, feeds))).toBeLessThan(1e-6);
    const report = await checkParity(after, { feeds, threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    expect(report.outputs[0].maxAbsErr).toBeLessThan(1e-5);
  });

  it('refuses to differentiate the fused node (inference only), naming it', async () => {
    const { gradients } = await import('../lib/graph/autodiff.js');
    const g = new GraphBuilder('grad', { seed: 3 });
    const x = g.input('x', [1, 4, 8, 8]);
    const w1 = g.param('w1', [6, 4, 1, 1], 'he', 4);
    const y = g.op1('PointwiseDepthwise', [x, w1, g.param('w2', [6, 1, 3, 3], 'he', 9)], {}, 'pwdw');
    const loss = g.op1('ReduceMean', [y], { keepdims: 0 }, 'loss');
    expect(() => gradients(g, loss, [w1])).toThrow(/No gradient for op 'PointwiseDepthwise' \(node '[^']*pwdw'\)/);
  });

  const noGpu = gpuSkipReason();
  it.skipIf(noGpu !== null)(`a CUDA session refuses the fused node with a message naming fusePointwiseDepthwise: false${noGpu ? ` (skipped: ${noGpu})` : ''}`, async () => {
    const after = optimizeForInference(net([1, 4, 8, 8]).graph, { fusePool: false });
    await expectCudaRefuses(after, { x: Tensor.random([1, 4, 8, 8], 11) }, /fusePointwiseDepthwise: false/);
  });
});

describeShared('fusePointwiseDepthwise on YuNet and PFLD', () => {
  for (const [file, size, pairs, blocks] of [
    // YuNet: every 1x1 + depthwise unit of the backbone and neck (17 in n, 14 in s), and the three merged heads;
    // no projections (the next unit's 1x1 conv is fused with its own depthwise conv).
    ['models/detection/yunet_n_320_320.onnx', 320, 20, 0],
    ['models/detection/yunet_s_dynamic.onnx', 256, 17, 0],
    // PFLD: the expansion + depthwise of each stride-1 inverted residual block, each with its projection.
    ['models/landmarks/pfld.onnx', 112, 11, 11],
  ] as const)
    it(`fuses the ${pairs} pairs of ${file.split('/').pop()} at ${size} (${blocks} with their projection): the same outputs as unfused, and onnxruntime-node agrees`, async () => {
      const shape = [1, 3, size, size];
      const model = loadOnnx(sharedData(file), { inputShapes: { input: shape } });
      const after = optimizeForInference(model);
      expect(fused(after).length).toBe(pairs);
      expect(fused(after).filter((n) => n.inputs.length > 5).length).toBe(blocks);
      const feeds = { input: new Tensor(shape, Float32Array.from({ length: 3 * size * size }, (_, i) => ((i * 37) % 255) / (size === 112 ? 255 : 1))) };
      const plain = await runNative(optimizeForInference(model, { fusePointwiseDepthwise: false }), feeds);
      expect(worstRelative(await runNative(after, feeds), plain)).toBeLessThan(1e-5);
      const report = await checkParity(after, { feeds, threads: 2 });
      expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
    });
});
