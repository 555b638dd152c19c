// The shipped model (models/comic-light.*): within the size budget, loadable at any size divisible
// by 8, and its card's validation numbers reproduce on the held-out pairs of ../shared/data.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelInfo } from '../lib/nn/info.js';
import { loadGenerator } from '../lib/nn/load.js';
import { exportOnnxBuffer } from '../lib/onnx/index.js';
import { checkParity } from '../lib/onnx/parity.js';
import { compile } from '../lib/runtime/session.js';
import { loadPairs } from '../lib/train/data.js';
import { evaluateGenerator } from '../lib/train/trainer.js';
import { graphGenerator, mirrorAveraged } from '../lib/face/model.js';
import { Tensor } from '../lib/graph/tensor.js';
import { meanAbs, psnr } from '../lib/train/losses.js';

const cardFile = path.resolve('models/comic-light.json');
const pairsDir = path.resolve('../shared/data/pairs/comic');
const skipShared = process.env.FACESTYLE_SKIP_SHARED === '1';

describe('shipped model comic-light', () => {
  it('is light: <= 2.5 M parameters and <= 2 GMACs at 256, as its card says', async () => {
    const card = JSON.parse(readFileSync(cardFile, 'utf8'));
    const { graph } = await loadGenerator(cardFile, { size: 256 });
    const info = modelInfo(graph);
    expect(info.params).toBe(card.params);
    expect(info.params).toBeLessThanOrEqual(2.5e6);
    expect(info.macs).toBe(card.macs['256']);
    expect(info.macs).toBeLessThanOrEqual(2e9);
    const big = await loadGenerator(cardFile, { size: [64, 96] });
    expect(big.graph.values[big.graph.outputs[0]].shape).toEqual([1, 3, 64, 96]);
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
