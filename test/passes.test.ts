// Graph passes (lib/graph/passes): every rewrite gives the same outputs as the original graph under the
// reference interpreter, removes the nodes it claims to, leaves its input graph untouched, and refuses
// the cases where folding would change results (shared outputs, non-constant or non-per-channel operands,
// padding it cannot express).
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import {
  evaluateReference,
  foldBatchNormIntoConv,
  foldBiasAddIntoConv,
  foldChannelMulIntoConv,
  foldPadIntoConv,
  fuseConvActivation,
  optimizeForInference,
} from '../lib/graph/passes/index.js';
import { Tensor, mulberry32 } from '../lib/graph/tensor.js';
import { compile } from '../lib/runtime/session.js';
import { devicesPresent } from './helpers/devices.js';

// Op names, without the Identity nodes GraphBuilder.output(sym, name) adds to name an output.
const ops = (g: Graph) => g.nodes.map((n) => n.op).filter((op) => op !== 'Identity');

function randomTensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const rng = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(shape, Float32Array.from({ length: n }, () => lo + (hi - lo) * rng()));
}

function expectSameOutputs(a: Graph, b: Graph, feeds: Record<string, Tensor>, tol = 1e-4) {
  const ra = evaluateReference(a, feeds);
  const rb = evaluateReference(b, feeds);
  expect(Object.keys(rb)).toEqual(Object.keys(ra));
  for (const k of Object.keys(ra)) {
    expect(rb[k].shape).toEqual(ra[k].shape);
    let worst = 0;
    for (let i = 0; i < ra[k].data.length; ++i) worst = Math.max(worst, Math.abs(ra[k].data[i] - rb[k].data[i]) / (1 + Math.abs(ra[k].data[i])));
    expect(worst).toBeLessThan(tol);
  }
}

const param = (g: GraphBuilder, name: string, shape: number[], seed: number, lo = -1, hi = 1) => g.param(name, shape, randomTensor(shape, seed, lo, hi));

/** x [1,cin,h,w] -> conv (3x3) -> BatchNormalization; returns the builder, x and the BN output. */
function convBn(options: { bias?: boolean; group?: number; cin?: number; cout?: number } = {}) {
  const { bias = true, group = 1, cin = 4, cout = 6 } = options;
  const g = new GraphBuilder('conv-bn');
  const x = g.input('x', [1, cin, 7, 5]);
  const w = param(g, 'w', [cout, cin / group, 3, 3], 1);
  const ins: Sym[] = [x, w];
  if (bias) ins.push(param(g, 'b', [cout], 2));
  const y = g.op1('Conv2D', ins, { pads: [1, 1, 1, 1], group }, 'conv');
  const bn = g.op1('BatchNormalization', [y, param(g, 's', [cout], 3, 0.5, 2), param(g, 'beta', [cout], 4), param(g, 'mean', [cout], 5), param(g, 'var', [cout], 6, 0.1, 3)], { epsilon: 1e-3 }, 'bn');
  return { g, x, y, bn };
}

describe('foldBatchNormIntoConv', () => {
  for (const [label, opts] of [
    ['with bias', {}],
    ['without bias', { bias: false }],
    ['grouped', { group: 2 }],
  ] as const) {
    it(`folds conv + BN ${label} and gives the same outputs`, () => {
      const { g, bn } = convBn(opts);
      g.output(bn, 'out');
      const before = g.build();
      const snapshot = JSON.stringify(ops(before)) + before.values.length;
      const after = foldBatchNormIntoConv(before);
      expect(ops(after)).toEqual(['Conv2D']);
      expect(after.nodes[0].inputs.length).toBe(3);
      expect(JSON.stringify(ops(before)) + before.values.length).toBe(snapshot); // input graph untouched
      expectSameOutputs(before, after, { x: randomTensor([1, 4, 7, 5], 9) });
    });
  }

  it('keeps the BN when the conv output is also a graph output', () => {
    const { g, y, bn } = convBn();
    g.output(y, 'convOut');
    g.output(bn, 'out');
    const after = foldBatchNormIntoConv(g.build());
    expect(ops(after)).toContain('BatchNormalization');
  });

  it('does not change a second conv that shares the weight', () => {
    const g = new GraphBuilder('shared');
    const x = g.input('x', [1, 2, 5, 5]);
    const w = param(g, 'w', [3, 2, 3, 3], 1);
    const c = 3;
    const a = g.op1('Conv2D', [x, w], { pads: [1, 1, 1, 1] }, 'a');
    const other = g.op1('Conv2D', [x, w], { pads: [1, 1, 1, 1] }, 'other');
    const bn = g.op1('BatchNormalization', [a, param(g, 's', [c], 3, 0.5, 2), param(g, 'beta', [c], 4), param(g, 'mean', [c], 5), param(g, 'var', [c], 6, 0.1, 3)], {}, 'bn');
    g.output(bn, 'out');
    g.output(other, 'other_out');
    const before = g.build();
    const after = foldBatchNormIntoConv(before);
    expect(ops(after)).toEqual(['Conv2D', 'Conv2D']);
    expectSameOutputs(before, after, { x: randomTensor([1, 2, 5, 5], 3) });
  });

  it('leaves a BN whose statistics are graph inputs', () => {
    const g = new GraphBuilder('live-stats');
    const x = g.input('x', [1, 2, 4, 4]);
    const mean = g.input('mean', [2]);
    const y = g.op1('Conv2D', [x, param(g, 'w', [2, 2, 1, 1], 1)], {}, 'conv');
    g.output(g.op1('BatchNormalization', [y, param(g, 's', [2], 2), param(g, 'b', [2], 3), mean, param(g, 'v', [2], 4, 0.5, 1)]), 'out');
    expect(ops(foldBatchNormIntoConv(g.build()))).toContain('BatchNormalization');
  });
});

describe('foldPadIntoConv', () => {
  function padConv(padAttrs: { pads: readonly number[] } & Record<string, unknown>, extraReader = false) {
    const g = new GraphBuilder('pad-conv');
    const x = g.input('x', [1, 3, 6, 7]);
    const p = g.op1('Pad', [x], { ...padAttrs, pads: [...padAttrs.pads] }, 'pad');
    const cin = 3 + padAttrs.pads[1] + padAttrs.pads[5];
    g.output(g.op1('Conv2D', [p, param(g, 'w', [2, cin, 3, 3], 1), param(g, 'b', [2], 2)], { pads: [1, 0, 0, 1], strides: [2, 1] }, 'conv'), 'out');
    if (extraReader) g.output(g.op1('Relu', [p]), 'side');
    return g.build();
  }
  const feeds = { x: randomTensor([1, 3, 6, 7], 4) };

  it('merges zero spatial padding into the conv pads', () => {
    const before = padConv({ pads: [0, 0, 1, 2, 0, 0, 2, 0] });
    const after = foldPadIntoConv(before);
    expect(ops(after)).toEqual(['Conv2D']);
    // conv pads [top, left, bottom, right] = [1,0,0,1] + Pad [h_begin 1, w_begin 2, h_end 2, w_end 0]
    expect(after.nodes[0].attrs.pads).toEqual([2, 2, 2, 1]);
    expectSameOutputs(before, after, feeds);
  });

  it('drops a Pad that pads nothing, whatever reads it', () => {
    for (const mode of ['constant', 'reflect']) {
      const before = padConv({ pads: [0, 0, 0, 0, 0, 0, 0, 0], mode }, true);
      const after = foldPadIntoConv(before);
      expect(ops(after)).toEqual(['Conv2D', 'Relu']);
      expect(after.nodes.find((n) => n.op === 'Relu')!.inputs[0]).toBe(after.inputs[0]);
      expectSameOutputs(before, after, feeds);
    }
  });

  it('keeps a Pad that pads nothing when its output is a graph output', () => {
    const g = new GraphBuilder('pad-out');
    const x = g.input('x', [1, 3, 6, 7]);
    g.output(g.op1('Pad', [x], { pads: [0, 0, 0, 0, 0, 0, 0, 0] }, 'pad'));
    const before = g.build();
    const after = foldPadIntoConv(before);
    expect(after.nodes.map((n) => n.op)).toContain('Pad');
    expectSameOutputs(before, after, feeds);
  });

  for (const [label, attrs, extra] of [
    ['reflect padding', { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect' }, false],
    ['a non-zero pad value', { pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0.5 }, false],
    ['channel padding', { pads: [0, 1, 0, 0, 0, 0, 0, 0] }, false],
    ['a cropping (negative) pad', { pads: [0, 0, -1, 0, 0, 0, 0, 0] }, false],
    ['a padded value another node reads', { pads: [0, 0, 1, 1, 0, 0, 1, 1] }, true],
  ] as const) {
    it(`keeps the Pad for ${label}`, () => {
      const before = padConv(attrs, extra);
      const after = foldPadIntoConv(before);
      expect(ops(after)).toContain('Pad');
      expectSameOutputs(before, after, feeds);
    });
  }
});

describe('foldBiasAddIntoConv and foldChannelMulIntoConv', () => {
  function convThen(op: 'Add' | 'Mul', constShape: number[], constFirst = false, convBias = false) {
    const g = new GraphBuilder('conv-elementwise');
    const x = g.input('x', [2, 3, 5, 4]);
    const ins: Sym[] = [x, param(g, 'w', [4, 3, 3, 3], 1)];
    if (convBias) ins.push(param(g, 'b', [4], 7));
    const y = g.op1('Conv2D', ins, { pads: [1, 1, 1, 1] }, 'conv');
    const k = g.constant('k', randomTensor(constShape, 5, 0.5, 1.5));
    g.output(g.op1(op, constFirst ? [k, y] : [y, k], {}, 'ew'), 'out');
    return g.build();
  }
  const feeds = { x: randomTensor([2, 3, 5, 4], 8) };

  for (const shape of [[1, 4, 1, 1], [4, 1, 1], [1]]) {
    it(`folds Add of a [${shape}] constant into the bias`, () => {
      const before = convThen('Add', shape);
      const after = foldBiasAddIntoConv(before);
      expect(ops(after)).toEqual(['Conv2D']);
      expectSameOutputs(before, after, feeds);
    });
  }

  it('folds Add with the constant first and an existing bias', () => {
    const before = convThen('Add', [1, 4, 1, 1], true, true);
    const after = foldBiasAddIntoConv(before);
    expect(ops(after)).toEqual(['Conv2D']);
    expectSameOutputs(before, after, feeds);
  });

  it('folds a per-channel Mul into weight and bias', () => {
    const before = convThen('Mul', [1, 4, 1, 1], false, true);
    const after = foldChannelMulIntoConv(before);
    expect(ops(after)).toEqual(['Conv2D']);
    expectSameOutputs(before, after, feeds);
  });

  it('keeps an Add whose constant varies along the width, not the channels', () => {
    const before = convThen('Add', [4]); // broadcasts along W (= 4), not per channel
    const after = foldBiasAddIntoConv(before);
    expect(ops(after)).toEqual(['Conv2D', 'Add']);
    expectSameOutputs(before, after, feeds);
  });
});

describe('fuseConvActivation', () => {
  for (const [op, attrs] of [
    ['Relu', {}],
    ['LeakyRelu', { alpha: 0.2 }],
    ['Clip', { min: -0.3, max: 0.4 }],
    ['Sigmoid', {}],
    ['Tanh', {}],
  ] as const) {
    it(`fuses Conv2D + ${op} with the same results`, () => {
      const g = new GraphBuilder('conv-act');
      const x = g.input('x', [1, 2, 6, 6]);
      const y = g.op1('Conv2D', [x, param(g, 'w', [3, 2, 3, 3], 1), param(g, 'b', [3], 2)], { pads: [1, 1, 1, 1] }, 'conv');
      g.output(g.op1(op, [y], attrs, 'act'), 'out');
      const before = g.build();
      const after = fuseConvActivation(before);
      expect(ops(after)).toEqual(['Conv2D']);
      expect(after.nodes[0].attrs.activation).toBe(op);
      expectSameOutputs(before, after, { x: randomTensor([1, 2, 6, 6], 3) });
    });
  }

  it('fuses only the first of two activations in a row', () => {
    const g = new GraphBuilder('conv-two-acts');
    const x = g.input('x', [1, 2, 4, 4]);
    const y = g.op1('Conv2D', [x, param(g, 'w', [2, 2, 1, 1], 1)], {}, 'conv');
    g.output(g.op1('Tanh', [g.op1('LeakyRelu', [y], { alpha: 0.3 })]), 'out');
    const before = g.build();
    const after = fuseConvActivation(before);
    expect(ops(after)).toEqual(['Conv2D', 'Tanh']);
    expect(after.nodes[0].attrs.activation).toBe('LeakyRelu');
    expect(after.nodes[0].attrs.activation_alpha).toBe(0.3);
    expectSameOutputs(before, after, { x: randomTensor([1, 2, 4, 4], 2) });
  });

  it('does not fuse when the conv output has a second reader', () => {
    const g = new GraphBuilder('conv-act-shared');
    const x = g.input('x', [1, 2, 4, 4]);
    const y = g.op1('Conv2D', [x, param(g, 'w', [2, 2, 1, 1], 1)], {}, 'conv');
    g.output(g.op1('Relu', [y]), 'a');
    g.output(g.op1('Tanh', [y]), 'b');
    expect(ops(fuseConvActivation(g.build()))).toEqual(['Conv2D', 'Relu', 'Tanh']);
  });
});

describe('optimizeForInference', () => {
  it('folds Pad -> conv -> BN -> Mul -> Add, fuses LeakyRelu on request, and keeps the outputs', () => {
    const g = new GraphBuilder('chain');
    const x = g.input('x', [1, 3, 8, 8]);
    const p = g.op1('Pad', [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1] });
    const c = g.op1('Conv2D', [p, param(g, 'w', [5, 3, 3, 3], 1)], { strides: [2, 2] }, 'conv');
    const bn = g.op1('BatchNormalization', [c, param(g, 's', [5], 2, 0.5, 2), param(g, 'beta', [5], 3), param(g, 'mean', [5], 4), param(g, 'var', [5], 5, 0.2, 2)]);
    const m = g.op1('Mul', [bn, g.constant('k', randomTensor([1, 5, 1, 1], 6))]);
    const a = g.op1('Add', [m, g.constant('t', randomTensor([5, 1, 1], 7))]);
    g.output(g.op1('LeakyRelu', [a], { alpha: 0.1 }), 'out');
    const before = g.build();
    const feeds = { x: randomTensor([1, 3, 8, 8], 8) };
    const folded = optimizeForInference(before, { fuseActivations: false });
    expect(ops(folded)).toEqual(['Conv2D', 'LeakyRelu']);
    expectSameOutputs(before, folded, feeds);
    const fused = optimizeForInference(before);
    expect(ops(fused)).toEqual(['Conv2D']);
    expectSameOutputs(before, fused, feeds);
  });
});

describe('optimized graphs on the native engine', () => {
  // Pad -> conv -> BN -> LeakyRelu -> conv(stride 2) -> Relu: every fold and a fused activation, then the
  // result compiled and run on each device against the unoptimized graph compiled the same way.
  function network(): Graph {
    const g = new GraphBuilder('net', { seed: 3 });
    const x = g.input('x', [1, 3, 20, 18]);
    const p = g.op1('Pad', [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1] });
    const c1 = g.op1('Conv2D', [p, param(g, 'w1', [8, 3, 3, 3], 1)], {}, 'c1');
    const bn = g.op1('BatchNormalization', [c1, param(g, 's', [8], 2, 0.5, 2), param(g, 'beta', [8], 3), param(g, 'mean', [8], 4), param(g, 'var', [8], 5, 0.2, 2)]);
    const a1 = g.op1('LeakyRelu', [bn], { alpha: 0.2 });
    const c2 = g.op1('Conv2D', [a1, param(g, 'w2', [5, 8, 3, 3], 6), param(g, 'b2', [5], 7)], { strides: [2, 2], pads: [1, 1, 1, 1] }, 'c2');
    g.output(g.op1('Relu', [c2]), 'out');
    return g.build();
  }

  for (const device of devicesPresent()) {
    it(`gives the unoptimized graph's outputs on ${device}`, async () => {
      const before = network();
      const after = optimizeForInference(before);
      expect(ops(after)).toEqual(['Conv2D', 'Conv2D']);
      const feeds = { x: randomTensor([1, 3, 20, 18], 11) };
      const s0 = await compile(before, { device, threads: 2 });
      const s1 = await compile(after, { device, threads: 2 });
      try {
        const [r0, r1] = [await s0.run(feeds), await s1.run(feeds)];
        expect(r1.out.shape).toEqual(r0.out.shape);
        let worst = 0;
        for (let i = 0; i < r0.out.data.length; ++i) worst = Math.max(worst, Math.abs(r0.out.data[i] - r1.out.data[i]) / (1 + Math.abs(r0.out.data[i])));
        expect(worst).toBeLessThan(1e-4);
        // and both match the reference interpreter
        const ref = evaluateReference(before, feeds).out;
        for (let i = 0; i < ref.data.length; ++i) worst = Math.max(worst, Math.abs(ref.data[i] - r1.out.data[i]) / (1 + Math.abs(ref.data[i])));
        expect(worst).toBeLessThan(1e-4);
      } finally {
        s0.dispose();
        s1.dispose();
      }
    });
  }
});
