// Sibling head merging (mergeSiblingHeads): small 1x1 convs reading one tensor become one conv and a
// Split, with the depthwise convs after them merged too. The rewrite must keep every output (reference
// interpreter and native engine), leave alone what it may not merge (other attributes, a big conv, a
// non-constant weight, a depthwise conv whose input has a second reader), keep graph outputs, and export
// to ONNX that onnxruntime-node runs to the same numbers.
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { kMaxHeadChannels, mergeSiblingHeads, optimizeForInference } from '../lib/graph/passes/index.js';
import { Tensor } from '../lib/graph/tensor.js';
import { checkParity } from '../lib/onnx/parity.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { expectSameEverywhere } from './helpers/pass-equivalence.js';
import { describeShared, sharedData } from './helpers/shared.js';

const ops = (g: Graph) => g.nodes.map((n) => n.op).filter((op) => op !== 'Identity');
const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;
const k = (g: GraphBuilder, name: string, shape: number[], seed: number) => g.constant(name, Tensor.random(shape, seed, -1, 1));

// A YuNet-like head: a 1x1 conv from `c` to `m` channels (bias or not), then a 3x3 depthwise conv on those.
function head(g: GraphBuilder, x: Sym, c: number, m: number, seed: number, opts: { bias?: boolean; dw?: boolean; attrs?: Record<string, unknown> } = {}): Sym {
  const ins = [x, k(g, `h${seed}.w`, [m, c, 1, 1], seed)];
  if (opts.bias ?? true) ins.push(k(g, `h${seed}.b`, [m], seed + 100));
  const pw = g.op1('Conv2D', ins, { ...(opts.attrs ?? {}) }, `head${seed}`);
  if (!(opts.dw ?? true)) return pw;
  return g.op1('Conv2D', [pw, k(g, `d${seed}.w`, [m, 1, 3, 3], seed + 200), k(g, `d${seed}.b`, [m], seed + 300)], { pads: [1, 1, 1, 1], group: m }, `dw${seed}`);
}

const feedsFor = (shape: number[]) => ({ x: Tensor.random(shape, 9, -1, 1) });

describe('mergeSiblingHeads', () => {
  it('merges YuNet-like heads (1, 4, 1, 10 channels, with and without bias) and their depthwise convs', async () => {
    const g = new GraphBuilder('heads');
    const x = g.input('x', [1, 8, 6, 7]);
    const outs = [head(g, x, 8, 1, 1), head(g, x, 8, 4, 2, { bias: false }), head(g, x, 8, 1, 3), head(g, x, 8, 10, 4)];
    outs.forEach((o, i) => g.output(g.op1('Sigmoid', [o]), `o${i}`));
    const before = g.build();
    const after = mergeSiblingHeads(before);
    expect(count(before, 'Conv2D')).toBe(8);
    expect(count(after, 'Conv2D')).toBe(2);
    const [pw, dw] = after.nodes.filter((n) => n.op === 'Conv2D');
    expect(after.values[pw.inputs[1]].shape).toEqual([16, 8, 1, 1]);
    expect(dw.attrs.group).toBe(16);
    expect(after.nodes.find((n) => n.op === 'Split')!.attrs.split).toEqual([1, 4, 1, 10]);
    // The Split comes after the two convs and before every reader of its outputs.
    const at = (op: string) => ops(after).indexOf(op);
    expect(at('Split')).toBeGreaterThan(ops(after).lastIndexOf('Conv2D'));
    expect(at('Sigmoid')).toBeGreaterThan(at('Split'));
    await expectSameEverywhere(before, after, feedsFor([1, 8, 6, 7]));
  });

  it('merges heads without depthwise convs into one conv and a Split; graph outputs keep their names', async () => {
    const g = new GraphBuilder('heads-only');
    const x = g.input('x', [2, 6, 5, 5]);
    g.output(head(g, x, 6, 3, 1, { dw: false }), 'a');
    g.output(head(g, x, 6, 5, 2, { dw: false }), 'b');
    const before = g.build();
    const after = mergeSiblingHeads(before);
    expect(count(after, 'Conv2D')).toBe(1);
    expect(count(after, 'Split')).toBe(1);
    expect(after.outputs.map((o) => after.values[o].name)).toEqual(before.outputs.map((o) => before.values[o].name));
    await expectSameEverywhere(before, after, feedsFor([2, 6, 5, 5]));
  });

  // Two heads (2 and 3 channels) on x, each followed by its own depthwise conv (the second with kernel
  // kb), optionally with a second reader of the first head's output.
  function headsThenDepthwise(name: string, shape: number[], kb: number, sideReader: boolean): Graph {
    const g = new GraphBuilder(name);
    const x = g.input('x', shape);
    const a = head(g, x, shape[1], 2, 1, { dw: false });
    const b = head(g, x, shape[1], 3, 2, { dw: false });
    g.output(g.op1('Conv2D', [a, k(g, 'da.w', [2, 1, 3, 3], 5)], { pads: [1, 1, 1, 1], group: 2 }, 'dwa'), 'a');
    g.output(g.op1('Conv2D', [b, k(g, 'db.w', [3, 1, kb, kb], 6)], { pads: [1, 1, 1, 1], group: 3 }, 'dwb'), 'b');
    if (sideReader) g.output(g.op1('Relu', [a]), 'side');
    return g.build();
  }

  it('merges the heads but not the depthwise convs when a head output has a second reader', async () => {
    const before = headsThenDepthwise('second-reader', [1, 4, 5, 6], 3, true);
    const after = mergeSiblingHeads(before);
    expect(count(after, 'Conv2D')).toBe(3);  // one merged 1x1, the two depthwise convs
    await expectSameEverywhere(before, after, feedsFor([1, 4, 5, 6]));
  });

  it('does not merge depthwise convs of different kernel sizes (the heads still merge)', async () => {
    const before = headsThenDepthwise('kernel-sizes', [1, 4, 7, 7], 5, false);
    const after = mergeSiblingHeads(before);
    expect(count(after, 'Conv2D')).toBe(3);
    await expectSameEverywhere(before, after, feedsFor([1, 4, 7, 7]));
  });

  it('leaves alone what it may not merge', () => {
    const build = (variant: string) => {
      const g = new GraphBuilder(variant);
      const x = g.input('x', [1, 4, 5, 5]);
      g.output(head(g, x, 4, 2, 1, { dw: false }), 'a');
      if (variant === 'activation') g.output(head(g, x, 4, 2, 2, { dw: false, attrs: { activation: 'Relu' } }), 'b');
      else if (variant === 'big') g.output(head(g, x, 4, kMaxHeadChannels + 1, 2, { dw: false }), 'b');
      else if (variant === '3x3') g.output(g.op1('Conv2D', [x, k(g, 'w3', [2, 4, 3, 3], 3)], { pads: [1, 1, 1, 1] }, 'c3'), 'b');
      else if (variant === 'stride') g.output(head(g, x, 4, 2, 2, { dw: false, attrs: { strides: [2, 2] } }), 'b');
      else if (variant === 'weight input') {
        const w = g.input('w', [2, 4, 1, 1]);
        g.output(g.op1('Conv2D', [x, w], {}, 'cw'), 'b');
      }
      return g.build();
    };
    for (const variant of ['activation', 'big', '3x3', 'stride', 'weight input']) {
      const before = build(variant);
      expect(ops(mergeSiblingHeads(before)), variant).toEqual(ops(before));
    }
  });

  it('is part of optimizeForInference (option mergeHeads), and the result exports to ONNX that onnxruntime-node matches', async () => {
    const g = new GraphBuilder('export');
    const x = g.input('x', [1, 8, 6, 6]);
    [1, 4, 10].forEach((m, i) => g.output(head(g, x, 8, m, i + 1), `o${i}`));
    const before = g.build();
    expect(count(optimizeForInference(before), 'Split')).toBe(1);
    expect(count(optimizeForInference(before, { mergeHeads: false }), 'Split')).toBe(0);
    const after = optimizeForInference(before);
    const report = await checkParity(after, { feeds: feedsFor([1, 8, 6, 6]), threads: 2 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
  });

});

describeShared('mergeSiblingHeads on YuNet', () => {
  it('the 12 head convs of each scale become one 1x1 and one depthwise conv, outputs unchanged', async () => {
    const file = sharedData('models/detection/yunet_s_320_320.onnx');
    const raw = await loadOnnx(file);
    // (The 1x1 + depthwise pairs kept apart, so that the conv counts show the merge alone.)
    const merged = optimizeForInference(raw, { fusePointwiseDepthwise: false });
    const plain = optimizeForInference(raw, { mergeHeads: false, fusePointwiseDepthwise: false });
    expect(count(merged, 'Split')).toBe(3);
    expect(count(plain, 'Conv2D') - count(merged, 'Conv2D')).toBe(3 * 8 - 3 * 2);
    const inp = raw.values[raw.inputs[0]];
    const feeds = { [inp.name]: Tensor.random(inp.shape, 4, 0, 255) };
    await expectSameEverywhere(plain, merged, feeds, 1e-5);
  });
});
