// The trained generator exports to ONNX and agrees with onnxruntime-node (checkParity), loaded
// through loadGenerator from a run folder at a size other than the training size.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatorFromAnything } from '../lib/cli/export.js';
import { loadGenerator } from '../lib/nn/load.js';
import { modelInfo } from '../lib/nn/info.js';
import { exportOnnxBuffer } from '../lib/onnx/index.js';
import { checkParity } from '../lib/onnx/parity.js';
import { runTraining } from '../lib/train/run.js';
import { readSafetensors, writeSafetensors } from '../lib/train/safetensors.js';
import { Tensor } from '../lib/graph/tensor.js';
import { safetensorsElementCount, safetensorsTensors } from './helpers/safetensors-header.js';
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';

const root = mkdtempSync(path.join(os.tmpdir(), 'facestyle-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function pairsFolder(): Promise<string> {
  const dir = path.join(root, 'pairs');
  for (const side of ['photo', 'toon']) mkdirSync(path.join(dir, side), { recursive: true });
  for (let k = 0; k < 3; ++k) {
    const raw = Buffer.alloc(32 * 32 * 3).map((_, i) => (i * (k + 3)) % 251);
    await sharp(raw, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(dir, 'photo', `${k}.png`));
    await sharp(raw.map((v) => 255 - v), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(dir, 'toon', `${k}.png`));
  }
  return dir;
}

describe('trained generator export', () => {
  for (const [upsample, pad, norm, block] of [['deconv', 'zeros', 'none', 'residual'], ['bilinear', 'reflect', 'instance', 'residual'], ['deconv', 'zeros', 'none', 'inverted']] as const) {
    const residual = block === 'inverted';
    it(`${upsample}, ${pad} padding, norm ${norm}, ${block} blocks${residual ? ', residual output' : ''}: run dir -> loadGenerator at 48x48 -> ONNX parity with onnxruntime-node`, async () => {
      const out = path.join(root, `run-${upsample}-${block}`);
      const { card } = await runTraining({
        pairs: await pairsFolder(), out, size: 32, holdout: ['2.png'], checkpointEvery: 0,
        config: { crop: 16, batch: 1, steps: 3, threads: 1, generator: { arch: 'light-unet', channels: [4, 4, 8, 8], width: 1, resBlocks: 1, alpha: 0.2, upsample, pad, norm, block, residual } },
      });
      expect(card.training.steps).toBe(3);
      expect(card.validation!.files).toEqual(['2.png']);
      const { graph } = await loadGenerator(out, { size: 48 });
      expect(graph.values[graph.inputs[0]].shape).toEqual([1, 3, 48, 48]);
      // Parameters counted from the exported weights file's own header, not by modelInfo (which wrote
      // card.params): only generator tensors, and their element count is what modelInfo and the card say.
      const weights = path.join(out, 'generator.safetensors');
      expect([...safetensorsTensors(weights).keys()].every((name) => name.startsWith('g.'))).toBe(true);
      const params = safetensorsElementCount(weights);
      expect(params).toBeGreaterThan(0);
      expect(modelInfo(graph).params).toBe(params);
      expect(card.params).toBe(params);
      const report = await checkParity(exportOnnxBuffer(graph, { opset: 13 }), { threads: 1 });
      expect(report.ok, JSON.stringify(report.outputs)).toBe(true);
      // A training checkpoint exports its EMA weights: the same graph values as the run's generator.
      const fromCkpt = await generatorFromAnything(path.join(out, 'checkpoint.safetensors'), 48);
      const p = (g: typeof graph) => g.values.filter((v) => v.kind === 'param').map((v) => Array.from(v.data!.slice(0, 5)));
      expect(p(fromCkpt)).toEqual(p(graph));
      // So does loadGenerator (what --model uses), given the checkpoint or a run folder that a stop left
      // without model.json: the same values as export reads from them.
      const viaLoad = (await loadGenerator(path.join(out, 'checkpoint.safetensors'), { size: 48 })).graph;
      expect(p(viaLoad)).toEqual(p(graph));
      const stoppedRun = path.join(root, `stopped-${upsample}-${block}`);
      mkdirSync(stoppedRun);
      writeFileSync(path.join(stoppedRun, 'checkpoint.safetensors'), readFileSync(path.join(out, 'checkpoint.safetensors')));
      expect(p((await loadGenerator(stoppedRun, { size: 48 })).graph)).toEqual(p(graph));
    });
  }
});

/** The shipped model's weights, metadata and card, and a fresh folder (named `prefix`...) for variants of it. */
async function shippedModel(prefix: string) {
  const { tensors, metadata } = await readSafetensors(path.resolve('models', 'comic-light.safetensors'));
  const card = JSON.parse(readFileSync(path.resolve('models', 'comic-light.json'), 'utf8'));
  return { tensors, metadata, card, dir: mkdtempSync(path.join(root, prefix)) };
}

describe('broken trained weights are coded errors, not black faces', () => {
  it('a damaged card (null, an array, weights not a name, a binary file) is ERR_FACESTYLE_FORMAT naming it, also in a run folder', async () => {
    const { dir } = await shippedModel('cards-');
    for (const [text, why] of [
      ['null', 'is not a JSON object'],
      ['[1]', 'is not a JSON object'],
      ['{"format":"facestyle-generator","weights":5}', 'bad "weights" entry 5'],
      ['{"format":"facestyle-generator","weights":""}', 'bad "weights" entry ""'],
      ['\u0000\u0001JFIF\u0000binary', 'is not JSON (a binary file'],
    ]) {
      const card = path.join(dir, 'card.json');
      writeFileSync(card, text);
      await expect(loadGenerator(card), text).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(`'${card}' ${why.startsWith('bad') ? 'has a ' : ''}${why}`) });
      const run = mkdtempSync(path.join(dir, 'run-'));
      writeFileSync(path.join(run, 'model.json'), text);
      await expect(generatorFromAnything(run, 64), text).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(path.join(run, 'model.json')) });
    }
  });

  it('NaN in a weight: loadGenerator is ERR_FACESTYLE_NUMERIC naming the tensor; bad metadata JSON is ERR_FACESTYLE_FORMAT naming the file', async () => {
    const { tensors, metadata, card, dir } = await shippedModel('broken-');
    // Generator metadata in the file itself (no card beside it), with one NaN in one tensor.
    const meta = { ...metadata, format: 'facestyle-generator', generator: JSON.stringify(card.generator) };
    const good = path.join(dir, 'good.safetensors');
    await writeSafetensors(good, tensors, meta);
    expect((await loadGenerator(good, { size: 64 })).graph.nodes.length).toBeGreaterThan(0);
    const t = tensors.get('g.res1.conv0.weight')!;
    const bad = new Map(tensors);
    const data = t.data.slice();
    data[7] = Number.NaN;
    bad.set('g.res1.conv0.weight', new Tensor(t.shape, data));
    const nan = path.join(dir, 'nan.safetensors');
    await writeSafetensors(nan, bad, meta);
    await expect(loadGenerator(nan, { size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC', message: expect.stringContaining("'g.res1.conv0.weight'") });
    const notJson = path.join(dir, 'meta.safetensors');
    await writeSafetensors(notJson, tensors, { ...meta, generator: '{oops' });
    await expect(loadGenerator(notJson, { size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(notJson) });
    // A slope the card cannot mean (1e999 parses as Infinity): the card's fault, FORMAT naming it and the slope.
    const infCard = path.join(dir, 'inf.json');
    writeFileSync(infCard, JSON.stringify({ ...card, weights: path.resolve('models', 'comic-light.safetensors') }).replace(/"alpha":\s*[-0-9.e]+/, '"alpha":1e999'));
    await expect(loadGenerator(infCard, { size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringMatching(/inf\.json.*LeakyReLU slope \(alpha\) in \[0, 1\) but received Infinity/) });
  });
});

describe('weights that do not fit their card are refused before anything that size is built', () => {
  it('another architecture holding extra tensors, absurd sizes in the metadata, a checkpoint with extra EMA tensors', async () => {
    const { tensors, metadata, card, dir } = await shippedModel('misfit-');
    const withGenerator = async (name: string, generator: unknown) => {
      const file = path.join(dir, name);
      await writeSafetensors(file, tensors, { ...metadata, format: 'facestyle-generator', generator: JSON.stringify(generator) });
      return file;
    };
    // The shipped weights (4 residual blocks, deconv) described as 2 blocks with bilinear upsampling:
    // every tensor that architecture needs is there, so only the left-over ones show the misfit.
    const fewer = await withGenerator('fewer.safetensors', { ...card.generator, resBlocks: 2, upsample: 'bilinear' });
    await expect(loadGenerator(fewer, { size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringMatching(/do not fit the card's architecture: it has no 'g\.(res[23]|dec[012]\.up)\./) });
    await expect(generatorFromAnything(fewer, 64)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    // Sizes no generator comes near: refused by the config check (the file's fault: FORMAT naming it), in
    // well under a second.
    const t0 = performance.now();
    for (const generator of [{ ...card.generator, resBlocks: 100000 }, { ...card.generator, channels: [16, 32, 64, 15000] }, { ...card.generator, width: 1000 }])
      await expect(loadGenerator(await withGenerator('huge.safetensors', generator), { size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('huge.safetensors') });
    expect(performance.now() - t0).toBeLessThan(5000);
    // A training checkpoint whose EMA holds tensors its config lacks.
    const ema = new Map([...tensors].map(([k, v]) => [`ema.${k}`, v]));
    const ckpt = path.join(dir, 'checkpoint.safetensors');
    await writeSafetensors(ckpt, ema, { format: 'facestyle-train-checkpoint', config: JSON.stringify({ generator: { ...card.generator, resBlocks: 3 } }) });
    await expect(generatorFromAnything(ckpt, 64)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining("'ema.g.res3.") });
    // A card without a format field names the card, not a weights file that does not exist.
    const noFormat = path.join(dir, 'noformat.json');
    writeFileSync(noFormat, JSON.stringify({ generator: card.generator }));
    await expect(loadGenerator(noFormat, { size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(`Model card '${noFormat}' has no format field`) });
    // The same checkpoint with its true config exports.
    await writeSafetensors(ckpt, ema, { format: 'facestyle-train-checkpoint', config: JSON.stringify({ generator: card.generator }) });
    const graph = await generatorFromAnything(ckpt, 64);
    const params = graph.values.filter((v) => v.kind === 'param');
    expect(params.length).toBe(tensors.size);
    for (const v of params) expect(Buffer.from(v.data!.buffer, v.data!.byteOffset, v.data!.byteLength).equals(Buffer.from(tensors.get(v.name)!.data.buffer, tensors.get(v.name)!.data.byteOffset, tensors.get(v.name)!.data.byteLength)), v.name).toBe(true);
  });
});
