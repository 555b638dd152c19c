// Real models from ../shared/data/models, each fed a real face photo prepared as the model expects
// (../shared/data/README.md), through onnxruntime-node and the native engine: fp32 parity within
// 1e-4 relative. A model the engine cannot run yet fails with the list of unsupported ops.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { expect, it } from 'vitest';
import { Tensor } from '../lib/graph/tensor.js';
import { rgbToTensor } from '../lib/image/io.js';
import { modelInfo } from '../lib/onnx/info.js';
import { checkParity, type ParityReport } from '../lib/onnx/parity.js';
import { describeShared, sharedData } from './helpers/shared.js';
import { gpuSkipReason } from './helpers/devices.js';

// The official onnx.proto schema (onnx-proto), used directly: an op count that does not go through
// lib/onnx (readOnnxModel, onnxOpHistogram) or the importer.
const { onnx } = createRequire(import.meta.url)('onnx-proto') as typeof import('onnx-proto');

/** Nodes of the default domain with this op type, in the graph and in any subgraph attribute. */
function countOnnxOps(file: string, opType: string): number {
  type G = { node?: { opType?: string | null; domain?: string | null; attribute?: { g?: G | null; graphs?: G[] | null }[] | null }[] | null };
  const count = (g: G | null | undefined): number =>
    (g?.node ?? []).reduce((acc, n) => acc + (n.opType === opType && !n.domain ? 1 : 0) + (n.attribute ?? []).reduce((a, at) => a + count(at.g) + (at.graphs ?? []).reduce((b, sg) => b + count(sg), 0), 0), 0);
  return count(onnx.ModelProto.decode(readFileSync(file)).graph as G);
}

const FACE = 'faces/whole/codeformer/00.jpg';
const ALIGNED = 'faces/aligned/facialcartoonization_256';

/** YuNet: BGR, raw 0..255, letterboxed at the top-left into w x h. */
async function yunetInput(file: string, w: number, h: number): Promise<Tensor> {
  const img = sharp(sharedData(file)).rotate().removeAlpha();
  const { width = w, height = h } = await img.metadata();
  const scale = Math.min(w / width, h / height);
  const rw = Math.max(1, Math.floor(width * scale));
  const rh = Math.max(1, Math.floor(height * scale));
  const data = await img
    .resize(rw, rh, { fit: 'fill' })
    .extend({ right: w - rw, bottom: h - rh, background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer();
  return rgbToTensor(data, w, h, { channels: 'bgr', range: [0, 255] });
}

/** Plain resize to w x h, RGB, mapped to `range`. */
async function rgbInput(file: string, w: number, h: number, range: [number, number]): Promise<Tensor> {
  const data = await sharp(sharedData(file)).rotate().removeAlpha().resize(w, h, { fit: 'fill' }).raw().toBuffer();
  return rgbToTensor(data, w, h, { range });
}

const toNhwc = (t: Tensor): Tensor => {
  const [, c, h, w] = t.shape;
  const out = new Float32Array(t.size);
  for (let i = 0; i < h * w; ++i) for (let k = 0; k < c; ++k) out[i * c + k] = t.data[k * h * w + i];
  return new Tensor([1, h, w, c], out);
};

function expectParity(report: ParityReport): void {
  const lines = report.outputs.map((o) => `${o.name} [${o.shape}] maxAbsErr ${o.maxAbsErr.toExponential(2)} maxRelErr ${o.maxRelErr.toExponential(2)} failing ${o.failing} worst [${o.worstAt}] ${o.native} vs ${o.reference}`);
  expect(report.ok, lines.join('\n')).toBe(true);
}

describeShared('real ONNX models: parity with onnxruntime-node on real faces', () => {
  const yunets = ['yunet_n', 'yunet_s'];
  for (const y of yunets) {
    for (const size of [320, 640]) {
      it(`${y}_${size}_${size} (fixed)`, async () => {
        const model = sharedData(`models/detection/${y}_${size}_${size}.onnx`);
        const input = await yunetInput(FACE, size, size);
        const report = await checkParity(model, { feeds: { input }, threads: 2 });
        expectParity(report);
        expect(report.outputs.map((o) => o.name)).toEqual(['cls_8', 'cls_16', 'cls_32', 'obj_8', 'obj_16', 'obj_32', 'bbox_8', 'bbox_16', 'bbox_32', 'kps_8', 'kps_16', 'kps_32']);
      });
    }
    for (const [w, h] of [
      [640, 480],
      [320, 256],
    ]) {
      it(`${y}_dynamic at ${w}x${h}`, async () => {
        const input = await yunetInput(FACE, w, h);
        const report = await checkParity(sharedData(`models/detection/${y}_dynamic.onnx`), { feeds: { input }, threads: 2 });
        expectParity(report);
        const bbox8 = report.outputs.find((o) => o.name === 'bbox_8')!;
        expect(bbox8.shape).toEqual([1, (w / 8) * (h / 8), 4]);
      });
    }
  }

  for (const m of ['version-RFB-320', 'version-slim-320']) {
    it(`UltraFace ${m}`, async () => {
      // RGB, (x - 127) / 128: 0 -> -127/128, 255 -> 1.
      const input = await rgbInput(FACE, 320, 240, [-127 / 128, 1]);
      const report = await checkParity(sharedData(`models/detection/${m}.onnx`), { feeds: { input }, threads: 2 });
      expectParity(report);
      expect(report.outputs.find((o) => o.name === 'scores')!.shape).toEqual([1, 4420, 2]);
    });
  }

  it('PFLD 68 landmarks', async () => {
    const input = await rgbInput(`${ALIGNED}/00049.jpg`, 112, 112, [0, 1]);
    const report = await checkParity(sharedData('models/landmarks/pfld.onnx'), { feeds: { input }, threads: 2 });
    expectParity(report);
    expect(report.outputs[0].shape).toEqual([1, 136]);
  });

  for (const [w, h] of [
    [256, 256],
    [320, 240],
  ]) {
    it(`AnimeGANv3 tiny (NHWC) at ${w}x${h}`, async () => {
      const input = toNhwc(await rgbInput(`${ALIGNED}/00050.jpg`, w, h, [-1, 1]));
      const report = await checkParity(sharedData('models/stylization/animeganv3_tiny_cute.onnx'), { feeds: { 'AnimeGANv3_input:0': input }, threads: 2 });
      expectParity(report);
      expect(report.outputs[0].shape).toEqual([1, h, w, 3]);
    });
  }

  const gpuSkip = gpuSkipReason();
  it.skipIf(gpuSkip !== null)(`CUDA engine vs onnxruntime: yunet_n_dynamic 640x480 and AnimeGANv3 256${gpuSkip ? ` (skipped: ${gpuSkip})` : ''}`, async () => {
    const yunet = await checkParity(sharedData('models/detection/yunet_n_dynamic.onnx'), { feeds: { input: await yunetInput(FACE, 640, 480) }, device: 'cuda' });
    expectParity(yunet);
    const anime = toNhwc(await rgbInput(`${ALIGNED}/00050.jpg`, 256, 256, [-1, 1]));
    expectParity(await checkParity(sharedData('models/stylization/animeganv3_tiny_cute.onnx'), { feeds: { 'AnimeGANv3_input:0': anime }, device: 'cuda' }));
  });

  it('modelInfo: MACs scale with the input area of a dynamic model; class and memory are reported', async () => {
    const model = sharedData('models/detection/yunet_n_dynamic.onnx');
    const small = await modelInfo(model, { size: 320 });
    const large = await modelInfo(model, { size: '640x640' });
    // Every conv output of YuNet scales with H*W (strides divide 320), so MACs grow exactly 4x.
    expect(large.macs).toBe(small.macs * 4);
    // The Conv count of the model as stored, counted from the file with the ONNX schema alone.
    const convs = countOnnxOps(model, 'Conv');
    expect(convs).toBeGreaterThan(0);
    expect(small.ops.Conv).toBe(convs);
    expect(large.ops.Conv).toBe(convs);
    expect(small.graphOps.Shape).toBeUndefined(); // the shape subgraph was folded away
    expect(large.peakActivationBytes).toBeGreaterThan(small.peakActivationBytes * 3);
    expect(small.computeClass).toBe('realtime');
    const fixed = await modelInfo(sharedData('models/detection/yunet_n_320_320.onnx'));
    expect(fixed.macs).toBe(small.macs);
    expect(fixed.params).toBe(small.params);
  });

  it('modelInfo: AnimeGANv3 tiny is interactive at 256 and offline at 512 (NHWC size mapping)', async () => {
    const model = sharedData('models/stylization/animeganv3_tiny_cute.onnx');
    const at256 = await modelInfo(model, { size: 256 });
    const at512 = await modelInfo(model, { size: [512, 512] });
    expect(at256.inputs[0].shape).toEqual([1, 256, 256, 3]);
    expect(at512.macs).toBe(at256.macs * 4);
    expect(at256.macs).toBeGreaterThan(0.5e9);
    expect(at256.macs).toBeLessThan(4e9);
    expect(at256.computeClass).toBe('interactive');
    expect(at512.computeClass).toBe('offline');
  });
});
