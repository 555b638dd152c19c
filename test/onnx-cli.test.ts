// `facestyle info` and `facestyle check`, run in-process through commander.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import onnxProto from 'onnx-proto';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { registerCheckCommand } from '../lib/cli/check.js';
import { registerInfoCommand } from '../lib/cli/info.js';
import { GraphBuilder } from '../lib/graph/builder.js';
import { exportOnnx } from '../lib/onnx/export.js';
import { describeShared, sharedData } from './helpers/shared.js';

const { onnx } = onnxProto;

/** A w x h grey PNG. */
const sharpPng = async (w: number, h: number) => (await import('sharp')).default({ create: { width: w, height: h, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();

async function cli(...args: string[]): Promise<{ stdout: string; exitCode: number }> {
  const program = new Command().exitOverride();
  registerInfoCommand(program);
  registerCheckCommand(program);
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'facestyle', ...args]);
  } finally {
    spy.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { stdout, exitCode };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-onnx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  process.exitCode = 0;
});

/** x [1,3,16,16] -> conv 3->8 3x3 pad 1 -> relu -> conv 8->2 1x1; `bias0` overrides the bias of output channel 0. */
function tinyModel(name = 'tiny.onnx', bias0?: number): string {
  const g = new GraphBuilder('tiny', { seed: 4 });
  const x = g.input('x', [1, 3, 16, 16]);
  const y = g.relu(g.conv2d(x, { out: 8, kernel: 3, pad: 1, name: 'c1' }));
  g.output(g.conv2d(y, { out: 2, kernel: 1, name: 'c2' }), 'y');
  const graph = g.build();
  // The exporter refuses NaN / Inf weights, so a non-finite bias is written over a sentinel value in the
  // exported bytes (the way a damaged or diverged model arrives from elsewhere).
  const sentinel = 1234.5677490234375; // exact in float32
  if (bias0 !== undefined) {
    const bias = graph.values.find((v) => v.name === 'c2.bias');
    if (!bias?.data) throw new Error('tiny model: no c2.bias to override');
    bias.data[0] = Number.isFinite(bias0) ? bias0 : sentinel;
  }
  const file = path.join(dir, name);
  exportOnnx(graph, file, { dynamicBatch: false });
  if (bias0 !== undefined && !Number.isFinite(bias0)) {
    const bytes = readFileSync(file);
    const mark = Buffer.alloc(4);
    mark.writeFloatLE(sentinel);
    const at = bytes.indexOf(mark);
    if (at < 0 || bytes.indexOf(mark, at + 1) >= 0) throw new Error('tiny model: the bias sentinel is not in the file exactly once');
    bytes.writeFloatLE(bias0, at);
    writeFileSync(file, bytes);
  }
  return file;
}

describe('facestyle info / check (synthetic model)', () => {
  const file = tinyModel();

  it('info --json: parameters, MACs and the op histogram counted by hand', async () => {
    const { stdout } = await cli('info', file, '--json');
    const info = JSON.parse(stdout);
    expect(info.params).toBe(8 * 3 * 9 + 8 + 2 * 8 + 2);
    expect(info.paramBytes).toBe(info.params * 4);
    expect(info.denormalWeights).toBe(0);
    expect(info.macs).toBe(16 * 16 * 8 * 27 + 16 * 16 * 2 * 8);
    expect(info.ops).toEqual({ Conv: 2, Relu: 1 });
    expect(info.inputs).toEqual([{ name: 'x', shape: [1, 3, 16, 16] }]);
    expect(info.peakActivationBytes).toBeGreaterThanOrEqual(16 * 16 * 8 * 4);
    expect(info.computeClass).toBe('realtime');
  });

  it('info prints a readable summary', async () => {
    const { stdout } = await cli('info', file);
    expect(stdout).toMatch(/parameters:\s+242 /);
    expect(stdout).toMatch(/class:\s+realtime/);
  });

  it('check --json reports ok and per-output errors; exit code 0', async () => {
    const { stdout, exitCode } = await cli('check', file, '--json');
    const r = JSON.parse(stdout);
    expect(r.ok).toBe(true);
    expect(r.outputs.map((o: { name: string }) => o.name)).toEqual(['y']);
    expect(r.outputs[0].maxRelErr).toBeLessThanOrEqual(1e-4);
    expect(exitCode).toBe(0);
    // What the text output shows is in the JSON too: tolerances, inputs, each output's shape and verdict.
    expect(r).toMatchObject({ atol: 1e-5, rtol: 1e-4, inputs: [{ name: 'x', shape: [1, 3, 16, 16] }] });
    expect(r.outputs[0]).toMatchObject({ ok: true, shape: [1, 2, 16, 16] });
    // worstIndex is the flat index (as in checkParity's report), worstAt the same element per dimension.
    const [n, c, y, x] = r.outputs[0].worstAt;
    expect(r.outputs[0].worstIndex).toBe(((n * 2 + c) * 16 + y) * 16 + x);
    expect(r.outputs[0].rms).toBeGreaterThan(0);
    expect(Math.abs(r.outputs[0].native - r.outputs[0].reference)).toBeCloseTo(r.outputs[0].maxAbsErr, 6);
  });

  it('check fails (ok false, exit 1) when outputs differ at zero tolerance', async () => {
    // The two engines sum the convolutions in different orders: with atol = rtol = 0 any fp32
    // rounding difference fails, and most of the 512 outputs differ in the last bits.
    const strict = await cli('check', file, '--json', '--atol', '0', '--rtol', '0');
    const r = JSON.parse(strict.stdout);
    expect(r.ok).toBe(false);
    expect(r.outputs[0].failing).toBeGreaterThan(0);
    expect(r.outputs[0].maxAbsErr).toBeGreaterThan(0);
    expect(strict.exitCode).toBe(1);
  });

  it('check passes (ok true, exit 0) at a loose tolerance', async () => {
    const loose = await cli('check', file, '--json', '--atol', '1e-3');
    const r = JSON.parse(loose.stdout);
    expect(r.ok).toBe(true);
    expect(r.outputs[0].failing).toBe(0);
    expect(loose.exitCode).toBe(0);
  });

  it('check fails (ok false, exit 1) on a model whose output is NaN, whatever the tolerance', async () => {
    const { stdout, exitCode } = await cli('check', tinyModel('tiny-nan.onnx', Number.NaN), '--json', '--atol', '1e-3');
    const r = JSON.parse(stdout);
    expect(r.ok).toBe(false);
    // Bias of output channel 0 is NaN: that whole 16x16 plane is NaN in both engines.
    expect(r.outputs[0].bothNaN).toBe(16 * 16);
    expect(r.outputs[0].failing).toBe(0);
    expect(exitCode).toBe(1);
    const text = await cli('check', tinyModel('tiny-nan.onnx', Number.NaN), '--atol', '1e-3');
    expect(text.stdout).toMatch(/parity: FAILED/);
    expect(text.exitCode).toBe(1);
  });

  it('check names a flag that is not a number with what was typed', async () => {
    await expect(cli('check', file, '--threads', 'abc')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining("'abc'") });
  });
});

describeShared('facestyle check on a real model and photo', () => {
  it("info and check take facestyle's own model card: exported in memory, fed in the card's [-1, 1] range", async () => {
    const card = path.resolve('models/comic-light.json');
    const info = await cli('info', card);
    expect(info.stdout).toMatch(/parameters:\s+846,003 /);
    expect(info.stdout).toMatch(/inputs:\s+image \[1,3,256,256\]/);
    const face = sharedData('faces/aligned/gfpgan');
    const image = path.join(face, readdirSync(face).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort()[0]);
    const { stdout, exitCode } = await cli('check', card, '--json', '--size', '64', '--image', image);
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ ok: true, range: [-1, 1], inputs: [{ name: 'image', shape: [1, 3, 64, 64] }] });
    expect(r.outputs[0]).toMatchObject({ name: 'stylized', ok: true, shape: [1, 3, 64, 64] });
    expect(exitCode).toBe(0);
    // --range still wins; an ONNX model with an image keeps the 0..1 default.
    expect(JSON.parse((await cli('check', card, '--json', '--size', '64', '--image', image, '--range', '0,1')).stdout).range).toEqual([0, 1]);
    expect(JSON.parse((await cli('check', tinyModel('tiny-range.onnx'), '--json', '--image', image)).stdout).range).toEqual([0, 1]);
  });

  it('yunet with --image (BGR, 0..255) agrees with onnxruntime', async () => {
    const { stdout, exitCode } = await cli('check', sharedData('models/detection/yunet_n_320_320.onnx'), '--image', sharedData('faces/whole/codeformer/00.jpg'), '--bgr', '--range', '0,255', '--threads', '2', '--json');
    const r = JSON.parse(stdout);
    expect(r.outputs.length).toBe(12);
    expect(r.ok, stdout).toBe(true);
    expect(exitCode).toBe(0);
  });

  it('check and info refuse a --size a fixed-size model cannot run at (check ran at 320 and said ok)', async () => {
    const model = sharedData('models/detection/yunet_s_320_320.onnx');
    for (const cmd of ['check', 'info'])
      await expect(cli(cmd, model, '--size', '640x640', '--json')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringContaining('fixed size [1,3,320,320]; it cannot run at 640x640') });
    const same = await cli('check', model, '--size', '320x320', '--json');
    expect(JSON.parse(same.stdout).ok).toBe(true);
    expect(same.exitCode).toBe(0);
    // A symbolic batch with fixed H, W (PFLD: [batch_size,3,112,112]): check ran at 112 and said ok.
    for (const cmd of ['check', 'info'])
      await expect(cli(cmd, sharedData('models/landmarks/pfld.onnx'), '--size', '64', '--json')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringMatching(/fixed size \[(batch_size|1),3,112,112\]; it cannot run at 64x64/) });
    // --range: two different numbers (',' was read as 0,0).
    for (const range of [',', '1,1', '0x1,2'])
      await expect(cli('check', model, '--range', range)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(`--range lo,hi (two different numbers) but received '${range}'`) });
  });

  it('(review) an unknown bare model name lists the shipped models; check --image of a folder says so; check takes --limit-input-pixels, as its message says', async () => {
    for (const cmd of ['check', 'info'])
      await expect(cli(cmd, 'comic-lite')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringMatching(/'comic-lite'.*shipped models, usable by name: .*comic-light/) });
    const model = sharedData('models/detection/yunet_s_320_320.onnx');
    await expect(cli('check', model, '--image', os.tmpdir())).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('is a folder') });
    // A 64x64 image under a limit of 1000 pixels: refused with the flag the message names; at 4096 it runs.
    const image = path.join(dir, 'limit.png');
    writeFileSync(image, await sharpPng(64, 64));
    await expect(cli('check', model, '--image', image, '--size', '320x320', '--limit-input-pixels', '1000')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--limit-input-pixels') });
    await expect(cli('check', model, '--image', image, '--limit-input-pixels', '0')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--limit-input-pixels') });
    expect(JSON.parse((await cli('check', model, '--image', image, '--size', '320x320', '--limit-input-pixels', '4096', '--json')).stdout).ok).toBe(true);
  });

  it('info --size on a dynamic model reports the folded graph at that size', async () => {
    const model = sharedData('models/detection/yunet_s_dynamic.onnx');
    const { stdout } = await cli('info', model, '--size', '640x480', '--json');
    const info = JSON.parse(stdout);
    expect(info.inputs[0].shape).toEqual([1, 3, 480, 640]);
    // The stored op histogram, counted here from the file with the official ONNX schema (onnx-proto).
    const stored = onnx.ModelProto.decode(readFileSync(model));
    const expected: Record<string, number> = {};
    for (const n of stored.graph?.node ?? []) expected[n.opType!] = (expected[n.opType!] ?? 0) + 1;
    expect(expected.Shape).toBe(12);
    expect(info.ops).toEqual(expected);
    // ... and the Shape ops are folded away at a fixed size.
    expect(info.graphOps.Shape).toBeUndefined();
  });
});

describe('a shipped model by name (comic-light)', () => {
  it('info, check and loadGenerator take the name as stylize does; a file of that name still wins; an unknown name is NOT_FOUND', async () => {
    const info = JSON.parse((await cli('info', 'comic-light', '--json')).stdout);
    const card = JSON.parse(readFileSync(new URL('../models/comic-light.json', import.meta.url), 'utf8'));
    expect(info.params).toBe(card.params);
    const check = await cli('check', 'comic-light', '--size', '32x32', '--json');
    expect(check.exitCode).toBe(0);
    expect(JSON.parse(check.stdout).ok).toBe(true);
    const { loadGenerator } = await import('../lib/nn/load.js');
    expect((await loadGenerator('comic-light', { size: 32 })).card.params).toBe(card.params);
    await expect(loadGenerator('no-such-model')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    // Something at that path (relative to the working directory) is what is meant: a folder named like the model.
    const cwd = process.cwd();
    const here = mkdtempSync(path.join(dir, 'cwd-'));
    writeFileSync(path.join(here, 'comic-light'), 'not a model');
    process.chdir(here);
    try {
      await expect(loadGenerator('comic-light')).rejects.toMatchObject({ code: expect.stringMatching(/ERR_FACESTYLE_(FORMAT|ARGUMENT)/) });
    } finally {
      process.chdir(cwd);
    }
  });
});
