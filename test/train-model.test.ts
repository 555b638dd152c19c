// The shipped model (models/comic-light.*): within the size budget, loadable at any size divisible
// by 8, and its card's validation numbers reproduce on the held-out pairs of ../shared/data.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelInfo } from '../lib/nn/info.js';
import { modelInfo as onnxModelInfo } from '../lib/onnx/info.js';
import { loadGenerator } from '../lib/nn/load.js';
import { exportOnnxBuffer } from '../lib/onnx/index.js';
import { checkParity } from '../lib/onnx/parity.js';
import { compile } from '../lib/runtime/session.js';
import { loadPairs } from '../lib/train/data.js';
import { evaluateGenerator } from '../lib/train/trainer.js';
import { graphGenerator, mirrorAveraged } from '../lib/face/model.js';
import { Tensor } from '../lib/graph/tensor.js';
import { meanAbs, psnr } from '../lib/train/losses.js';
import type { Graph } from '../lib/graph/ir.js';
import { safetensorsElementCount, safetensorsTensors } from './helpers/safetensors-header.js';

const cardFile = path.resolve('models/comic-light.json');
const pairsDir = path.resolve('../shared/data/pairs/comic');
const weightsFile = path.resolve('models/comic-light.safetensors');
const skipShared = process.env.FACESTYLE_SKIP_SHARED === '1';

/**
 * MACs counted without modelInfo or the graph's shape inference: shapes are carried from the input
 * through the nodes here (conv output sizes from the ONNX formulas, elementwise ops keep their shape),
 * each conv costs N * Cout * Hout * Wout * (Cin / group) * kh * kw (ConvTranspose2D: every input
 * element times the Cout / group * kh * kw taps it feeds). The carried shapes must also agree with
 * the graph's. An op this walk does not know fails the test rather than being left out.
 */
function independentConvMacs(graph: Graph): { macs: number; perNode: Map<string, number> } {
  const shapes = new Map<number, number[]>();
  for (const id of graph.inputs) shapes.set(id, [...graph.values[id].shape]);
  graph.values.forEach((v, id) => v.kind === 'param' && shapes.set(id, [...v.shape]));
  const perNode = new Map<string, number>();
  let macs = 0;
  for (const n of graph.nodes) {
    const x = shapes.get(n.inputs[0]);
    if (!x) throw new Error(`${n.name}: input shape unknown`);
    let out: number[];
    if (n.op === 'Conv2D' || n.op === 'ConvTranspose2D') {
      const [N, C, H, W] = x;
      const w = shapes.get(n.inputs[1])!;
      const [s0, s1] = (n.attrs.strides as number[]) ?? [1, 1];
      const [pt, pl, pb, pr] = (n.attrs.pads as number[]) ?? [0, 0, 0, 0];
      const [d0, d1] = (n.attrs.dilations as number[]) ?? [1, 1];
      const g = (n.attrs.group as number) ?? 1;
      const [, , kh, kw] = w;
      if (n.op === 'Conv2D') {
        const M = w[0];
        expect(w[1] * g, `${n.name} weight`).toBe(C);
        out = [N, M, Math.floor((H + pt + pb - d0 * (kh - 1) - 1) / s0) + 1, Math.floor((W + pl + pr - d1 * (kw - 1) - 1) / s1) + 1];
        perNode.set(n.name, N * M * out[2] * out[3] * (C / g) * kh * kw);
      } else {
        const [op0, op1] = (n.attrs.output_padding as number[]) ?? [0, 0];
        expect(w[0], `${n.name} weight`).toBe(C);
        const M = w[1] * g;
        out = [N, M, (H - 1) * s0 - pt - pb + d0 * (kh - 1) + op0 + 1, (W - 1) * s1 - pl - pr + d1 * (kw - 1) + op1 + 1];
        perNode.set(n.name, N * C * H * W * (M / g) * kh * kw);
      }
      macs += perNode.get(n.name)!;
    } else if (['LeakyRelu', 'Relu', 'Tanh', 'Identity', 'Add'].includes(n.op)) {
      for (const i of n.inputs) if (i >= 0) expect(shapes.get(i), `${n.name} operand`).toEqual(x);
      out = x;
    } else throw new Error(`independentConvMacs: op ${n.op} (${n.name}) is not handled`);
    expect(graph.values[n.outputs[0]].shape, `${n.name} output shape`).toEqual(out);
    shapes.set(n.outputs[0], out);
  }
  return { macs, perNode };
}

describe('shipped model comic-light', () => {
  it('is light: <= 2.5 M parameters and <= 2 GMACs at 256, as its card says (counted without modelInfo)', async () => {
    const card = JSON.parse(readFileSync(cardFile, 'utf8'));
    const { graph } = await loadGenerator(cardFile, { size: 256 });
    const info = modelInfo(graph);
    // Parameters: the element counts of the tensors in the weights file, read from its header here.
    const stored = safetensorsTensors(weightsFile);
    const params = safetensorsElementCount(weightsFile);
    expect(params).toBeGreaterThan(0);
    expect(params).toBeLessThanOrEqual(2.5e6);
    expect(info.params).toBe(params);
    expect(card.params).toBe(params);
    // Every graph parameter is a tensor of the file with the same shape (none built out of thin air).
    const graphParams = graph.values.filter((v) => v.kind === 'param');
    expect(graphParams.map((v) => v.name).sort()).toEqual([...stored.keys()].sort());
    for (const v of graphParams) expect(v.shape, v.name).toEqual(stored.get(v.name)!.shape);
    // MACs: shapes carried through the graph by the conv formulas; the first layer by hand:
    // enc0 is a 3x3, stride 1, pad 1 conv from 3 to 16 channels at 256x256: 16 * 3 * 9 * 256 * 256.
    const { macs, perNode } = independentConvMacs(graph);
    expect(perNode.get('g.enc0')).toBe(16 * 3 * 3 * 3 * 256 * 256);
    expect(macs).toBeLessThanOrEqual(2e9);
    expect(info.macs).toBe(macs);
    expect(card.macs['256']).toBe(macs);
    // At 512 every layer has 4x the output pixels (all strides divide 256): exactly 4x the MACs.
    const at512 = await loadGenerator(cardFile, { size: 512 });
    expect(independentConvMacs(at512.graph).macs).toBe(4 * macs);
    expect(modelInfo(at512.graph).macs).toBe(4 * macs);
    expect(card.macs['512']).toBe(4 * macs);
    // A pair is [width, height], as imageToTensor's size and modelInfo's take it.
    const big = await loadGenerator(cardFile, { size: [96, 64] });
    expect(big.graph.values[big.graph.outputs[0]].shape).toEqual([1, 3, 64, 96]);
  });

  it('facestyle info / onnx modelInfo take the card, the weights and a run-style folder, and agree with the exported ONNX file', async () => {
    const card = JSON.parse(readFileSync(cardFile, 'utf8'));
    const fromCard = await onnxModelInfo(cardFile);
    // The ONNX export read back by the ONNX importer: another loader, its own parameter count (initializers).
    const { graph } = await loadGenerator(cardFile, { size: 256 });
    const fromOnnx = await onnxModelInfo(exportOnnxBuffer(graph, { opset: 13 }), { size: 256 });
    expect(fromCard.name).toBe('comic-light');
    expect(fromCard.params).toBe(card.params);
    expect(fromOnnx.params).toBe(card.params);
    expect(fromCard.macs).toBe(card.macs['256']);
    expect(fromOnnx.macs).toBe(card.macs['256']);
    expect(fromCard.inputs).toEqual([{ name: 'image', shape: [1, 3, 256, 256] }]);
    expect(fromCard.peakActivationBytes).toBe(fromOnnx.peakActivationBytes);
    // A size: width x height; MACs follow the area. The weights file alone finds its card beside it.
    const wide = await onnxModelInfo(weightsFile, { size: '512x256' });
    expect(wide.inputs[0].shape).toEqual([1, 3, 256, 512]);
    expect(wide.macs).toBe(2 * card.macs['256']);
    // A run folder: its model.json (here the card) and the weights it names.
    const run = mkdtempSync(path.join(tmpdir(), 'facestyle-info-'));
    try {
      writeFileSync(path.join(run, 'model.json'), JSON.stringify({ ...card, name: undefined, weights: 'generator.safetensors' }));
      copyFileSync(weightsFile, path.join(run, 'generator.safetensors'));
      const fromRun = await onnxModelInfo(run);
      expect(fromRun.name).toBe(path.basename(run));
      expect(fromRun.macs).toBe(card.macs['256']);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
    // A size the generator cannot take is the caller's mistake, named as such; an ONNX model at a size
    // its layers cannot take says which size.
    await expect(onnxModelInfo(cardFile, { size: '63x65' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('63x65') });
    await expect(onnxModelInfo(exportOnnxBuffer(graph, { opset: 13, dynamicSpatial: true }), { size: '64x68' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringContaining('does not run at 64x68') });
  });

  it('exports to ONNX and agrees with onnxruntime-node (checkParity) at 256', async () => {
    const { graph } = await loadGenerator(cardFile, { size: 256 });
    const report = await checkParity(exportOnnxBuffer(graph, { opset: 13 }), { threads: 1 });
    expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
  });

  it.skipIf(skipShared)('reproduces the card\'s validation L1/PSNR on the held-out pairs', async () => {
    if (!existsSync(pairsDir)) throw new Error(`${pairsDir} is missing (set FACESTYLE_SKIP_SHARED=1 to skip)`);
    const card = JSON.parse(readFileSync(cardFile, 'utf8'));
    const files: string[] = card.data.validationFiles;
    expect(files).toHaveLength(8);
    const val = await loadPairs(pairsDir, { size: 256, only: files });
    const { graph } = await loadGenerator(cardFile, { size: 256 });
    const session = await compile(graph);
    const { report } = await evaluateGenerator(session, val);
    session.dispose();
    expect(report.psnr).toBeCloseTo(card.validation.psnr, 2);
    expect(report.l1).toBeCloseTo(card.validation.l1, 4);
    expect(report.identityPsnr).toBeCloseTo(card.validation.identityPsnr, 2);
    expect(report.psnr).toBeGreaterThan(report.identityPsnr);
    // With test-time mirror averaging (the stylizers' mirrorAverage), as the card says: closer to the targets.
    const mirrored = mirrorAveraged(await graphGenerator(graph));
    let p = 0, l1 = 0;
    for (const pair of val.pairs) {
      const y = (await mirrored.run(new Tensor([1, 3, 256, 256], pair.input.slice()))).data;
      p += psnr(y, pair.target);
      l1 += meanAbs(y, pair.target);
    }
    await mirrored.dispose();
    expect(p / files.length).toBeCloseTo(card.validation.mirrorAverage.psnr, 2);
    expect(l1 / files.length).toBeCloseTo(card.validation.mirrorAverage.l1, 4);
    expect(p / files.length).toBeGreaterThan(report.psnr);
  });
});
