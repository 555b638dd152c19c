// Pairs loading, augmentation and checkpoints: bad input gets coded errors naming the file.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../lib/graph/tensor.js';
import { BatchQueue, loadPairs, makeBatch } from '../lib/train/data.js';
import { decodeSafetensors, encodeSafetensors, readSafetensors, readSafetensorsMetadata } from '../lib/train/safetensors.js';
import { Trainer, trainConfig } from '../lib/train/trainer.js';
import { runTraining } from '../lib/train/run.js';

let root: string;
const png = (w: number, h: number, r: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r, g: 100, b: 50 } } }).png().toBuffer();

async function folder(name: string, files: Record<string, Buffer | string>): Promise<string> {
  const dir = path.join(root, name);
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'facestyle-data-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loadPairs', () => {
  it('loads folder pairs resized to the size, values in [-1, 1]', async () => {
    const dir = await folder('ok', { 'photo/a.png': await png(40, 40, 255), 'toon/a.png': await png(40, 40, 0) });
    const ds = await loadPairs(dir, { size: 16 });
    expect(ds.pairs).toHaveLength(1);
    expect(ds.pairs[0].input).toHaveLength(3 * 16 * 16);
    expect(ds.pairs[0].input[0]).toBeCloseTo(1, 5); // red 255 -> 1
    expect(ds.pairs[0].target[0]).toBeCloseTo(-1, 5); // red 0 -> -1
  });

  it('follows symbolic links to image files (a set assembled from links); a dangling link is not a pair', async () => {
    const src = await folder('link-src', { 'a.png': await png(20, 20, 255), 'b.png': await png(20, 20, 0) });
    const dir = await folder('links', { 'photo/c.png': await png(20, 20, 128), 'toon/c.png': await png(20, 20, 128) });
    symlinkSync(path.join(src, 'a.png'), path.join(dir, 'photo', 'a.png'));
    symlinkSync(path.join(src, 'b.png'), path.join(dir, 'toon', 'a.png'));
    symlinkSync(path.join(src, 'gone.png'), path.join(dir, 'photo', 'z.png'));
    symlinkSync(path.join(src, 'gone.png'), path.join(dir, 'toon', 'z.png'));
    const ds = await loadPairs(dir, { size: 8 });
    expect(ds.pairs.map((p) => p.name)).toEqual(['a.png', 'c.png']);
    expect(ds.pairs[0].input[0]).toBeCloseTo(1, 5); // a.png's photo: the linked red 255
    expect(ds.pairs[0].target[0]).toBeCloseTo(-1, 5); // its toon: the linked red 0
  });

  it('splits side-by-side images into input (left) and target (right)', async () => {
    const left = await png(20, 20, 255);
    const img = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 0, g: 0, b: 0 } } }).composite([{ input: left, left: 0, top: 0 }]).png().toBuffer();
    const ds = await loadPairs(await folder('sbs', { 'x.png': img }), { size: 8 });
    expect(ds.layout).toBe('side-by-side');
    expect(ds.pairs[0].input[0]).toBeCloseTo(1, 5);
    expect(ds.pairs[0].target[0]).toBeCloseTo(-1, 5);
  });

  it('missing partner: ERR_FACESTYLE_FORMAT naming the file', async () => {
    const dir = await folder('missing', { 'photo/a.png': await png(8, 8, 1), 'photo/b.png': await png(8, 8, 1), 'toon/a.png': await png(8, 8, 1) });
    await expect(loadPairs(dir)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(path.join(dir, 'photo', 'b.png')) });
  });

  it('loadPairs with an impossible size or a non-path: ERR_FACESTYLE_ARGUMENT before anything is decoded (1e6 was a decode error)', async () => {
    const dir = await folder('sized', { 'photo/a.png': await png(8, 8, 1), 'toon/a.png': await png(8, 8, 1) });
    for (const size of [1e6, 0, 7.5, Number.NaN]) await expect(loadPairs(dir, { size })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('size') });
    await expect(loadPairs(42 as never)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect((await loadPairs(dir, { size: 8 })).pairs).toHaveLength(1);
  });

  it('unreadable image: ERR_FACESTYLE_FORMAT naming the file', async () => {
    const dir = await folder('broken', { 'photo/a.jpg': 'not a jpeg', 'toon/a.jpg': await png(8, 8, 1) });
    await expect(loadPairs(dir)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(path.join(dir, 'photo', 'a.jpg')) });
  });

  it('mismatched sizes: ERR_FACESTYLE_SHAPE naming both files', async () => {
    const dir = await folder('sizes', { 'photo/a.png': await png(8, 8, 1), 'toon/a.png': await png(9, 8, 1) });
    await expect(loadPairs(dir)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringContaining(path.join(dir, 'toon', 'a.png')) });
  });

  it('empty folder: ERR_FACESTYLE_ARGUMENT naming the folder', async () => {
    const dir = await folder('empty', {});
    await expect(loadPairs(dir)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(dir) });
  });

  it('a held-out or kept name that is not in the set: ERR_FACESTYLE_NOT_FOUND naming it (folders and side-by-side)', async () => {
    const dir = await folder('split', { 'photo/a.png': await png(8, 8, 1), 'photo/b.png': await png(8, 8, 2), 'toon/a.png': await png(8, 8, 1), 'toon/b.png': await png(8, 8, 2) });
    expect((await loadPairs(dir, { size: 8, exclude: ['b.png'] })).pairs.map((p) => p.name)).toEqual(['a.png']);
    expect((await loadPairs(dir, { size: 8, only: ['b.png'] })).pairs.map((p) => p.name)).toEqual(['b.png']);
    await expect(loadPairs(dir, { size: 8, exclude: ['b.jpg'] })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining("'b.jpg'") });
    await expect(loadPairs(dir, { size: 8, only: ['a.png', 'c.png'] })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining("'c.png'") });
    const sbs = await folder('split-sbs', { 'x.png': await png(16, 8, 1) });
    await expect(loadPairs(sbs, { size: 8, exclude: ['y.png'] })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining("'y.png'") });
  });

  it('side-by-side image of the wrong aspect: ERR_FACESTYLE_SHAPE naming it', async () => {
    const dir = await folder('aspect', { 'x.png': await png(30, 20, 1) });
    await expect(loadPairs(dir)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringContaining('x.png') });
  });
});

describe('augmentation and batches', () => {
  const size = 32;
  const img = new Float32Array(3 * size * size).map((_, i) => Math.sin(i * 0.37));
  const ds = { size, layout: 'folders' as const, source: 'mem', pairs: [0, 1, 2].map((k) => ({ name: `${k}`, input: img.map((v) => v * (k + 1) * 0.3), target: img.map((v) => v * (k + 1) * 0.3) })) };

  it('applies the same geometry to both sides (input == target stays equal) and changes the image', () => {
    const b = makeBatch(ds, 3, 9, 0, { crop: 16, flip: 0.5, minScale: 0.5, rotate: 10, jitter: 0.1 });
    expect(b.input.shape).toEqual([3, 3, 16, 16]);
    expect(Array.from(b.input.data)).toEqual(Array.from(b.target.data));
    const b2 = makeBatch(ds, 3, 9, 1, { crop: 16, flip: 0.5, minScale: 0.5, rotate: 10, jitter: 0.1 });
    expect(Array.from(b2.input.data)).not.toEqual(Array.from(b.input.data));
  });

  it('is a pure function of (seed, step): the same batch twice, another for another seed', () => {
    const a = makeBatch(ds, 2, 4, 7, { crop: 16 });
    expect(Array.from(makeBatch(ds, 2, 4, 7, { crop: 16 }).input.data)).toEqual(Array.from(a.input.data));
    expect(Array.from(makeBatch(ds, 2, 5, 7, { crop: 16 }).input.data)).not.toEqual(Array.from(a.input.data));
  });

  it('CutMix replaces one rectangle of 20-50% of the area, the same on both sides, with another pair', () => {
    // Pairs whose input and target differ (target = -input), each pair its own constant level, so the
    // pasted pixels show which pair they came from.
    const flat = { size: 16, layout: 'folders' as const, source: 'mem', pairs: [0.1, 0.4, 0.7].map((v, k) => ({ name: `${k}`, input: new Float32Array(768).fill(v), target: new Float32Array(768).fill(-v) })) };
    const aug = { crop: 16, flip: 0.5, minScale: 1 };
    const plain = makeBatch(flat, 6, 3, 2, aug);
    const mixed = makeBatch(flat, 6, 3, 2, { ...aug, cutmix: 1 });
    for (let k = 0; k < 6; ++k) {
      const own = plain.input.data[k * 768];
      let x0 = 16, x1 = -1, y0 = 16, y1 = -1, changed = 0;
      for (let c = 0; c < 3; ++c)
        for (let y = 0; y < 16; ++y)
          for (let x = 0; x < 16; ++x) {
            const i = k * 768 + (c * 16 + y) * 16 + x;
            expect(mixed.target.data[i]).toBeCloseTo(-mixed.input.data[i], 6); // both sides alike
            if (Math.abs(mixed.input.data[i] - own) > 1e-6) {
              expect([0.1, 0.4, 0.7].some((v) => Math.abs(mixed.input.data[i] - v) < 1e-6)).toBe(true); // another pair's value
              ++changed;
              if (c === 0) (x0 = Math.min(x0, x)), (x1 = Math.max(x1, x)), (y0 = Math.min(y0, y)), (y1 = Math.max(y1, y));
            }
          }
      const area = (x1 - x0 + 1) * (y1 - y0 + 1);
      expect(changed).toBe(3 * area); // exactly a rectangle, in every channel
      expect(area / 256).toBeGreaterThanOrEqual(0.15);
      expect(area / 256).toBeLessThanOrEqual(0.55);
    }
    // cutmix 0 (the default) leaves batches as they were.
    expect(Array.from(makeBatch(flat, 6, 3, 2, { ...aug, cutmix: 0 }).input.data)).toEqual(Array.from(plain.input.data));
  });

  it('saturation jitter: the same on both sides, grey pixels and each pixel\'s luma kept, colours spread or pulled in; 0 keeps the batches', () => {
    // Pairs with target = input, and a colourful image: channels out of phase.
    const col = new Float32Array(3 * size * size).map((_, i) => 0.6 * Math.sin(i * 0.37 + Math.floor(i / (size * size)) * 2.1));
    const grey = new Float32Array(3 * size * size).map((_, i) => 0.5 * Math.sin((i % (size * size)) * 0.37));
    const mem = (img: Float32Array) => ({ size, layout: 'folders' as const, source: 'mem', pairs: [{ name: 'a', input: img, target: img.slice() }] });
    const aug = { crop: 16, flip: 0.5, minScale: 0.8, rotate: 5, jitter: 0.1 };
    const plain = makeBatch(mem(col), 8, 5, 3, aug);
    const sat = makeBatch(mem(col), 8, 5, 3, { ...aug, saturation: 0.5 });
    expect(Array.from(sat.input.data)).toEqual(Array.from(sat.target.data)); // both sides alike
    expect(Array.from(makeBatch(mem(col), 8, 5, 3, { ...aug, saturation: 0 }).input.data)).toEqual(Array.from(plain.input.data));
    // Same geometry and brightness as without it (its draw comes after the others): per pixel the luma is
    // kept (away from clamping) and the distance from grey scales by one factor per sample in [0.5, 1.5].
    const P = 256;
    let compared = 0;
    for (let k = 0; k < 8; ++k) {
      const factors: number[] = [];
      for (let p = 0; p < P; ++p) {
        const at = (b: Float32Array, c: number) => b[k * 3 * P + c * P + p];
        const a = [0, 1, 2].map((c) => at(plain.input.data, c)), b = [0, 1, 2].map((c) => at(sat.input.data, c));
        if ([...a, ...b].some((v) => Math.abs(v) > 0.99)) continue;
        const la = 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2], lb = 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2];
        expect(lb).toBeCloseTo(la, 5);
        if (Math.abs(a[0] - la) > 0.05) factors.push((b[0] - lb) / (a[0] - la));
        ++compared;
      }
      expect(factors.length).toBeGreaterThan(10);
      for (const f of factors) expect(f).toBeCloseTo(factors[0], 3);
      expect(factors[0]).toBeGreaterThanOrEqual(0.5);
      expect(factors[0]).toBeLessThanOrEqual(1.5);
    }
    expect(compared).toBeGreaterThan(1000);
    // A grey image stays as it was.
    const g0 = makeBatch(mem(grey), 4, 5, 3, aug).input.data, g1 = makeBatch(mem(grey), 4, 5, 3, { ...aug, saturation: 0.9 }).input.data;
    expect(Math.max(...g1.map((v, i) => Math.abs(v - g0[i])))).toBeLessThan(1e-6);
  });

  it('augmentation options out of range: ERR_FACESTYLE_ARGUMENT naming the option', () => {
    expect(() => makeBatch(ds, 1, 1, 0, { crop: 16, cutmix: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('cutmix') }));
    expect(() => makeBatch(ds, 1, 1, 0, { crop: 16, flip: -0.1 })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('flip') }));
    expect(() => makeBatch(ds, 1, 1, 0, { crop: 16, minScale: 0 })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('minScale') }));
    expect(() => trainConfig({ augment: { jitter: Number.NaN } })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('jitter') }));
    expect(() => trainConfig({ augment: { saturation: 1.5 } })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('saturation') }));
  });

  it('the batch queue holds at most depth + 1 batches and returns them in step order', async () => {
    const made: number[] = [];
    const q = new BatchQueue((s) => (made.push(s), { step: s, input: new Tensor([1]), target: new Tensor([1]) }), 2);
    expect((await q.take(0)).step).toBe(0);
    expect(q.pending).toBeLessThanOrEqual(2);
    expect((await q.take(1)).step).toBe(1);
    expect(q.pending).toBeLessThanOrEqual(2);
    expect(made.slice(0, 2)).toEqual([0, 1]);
  });
});

describe('checkpoints', () => {
  const cfg = (channels: [number, number, number, number]) =>
    trainConfig({ crop: 16, batch: 1, steps: 2, threads: 1, losses: { l1: 1, color: 0, edge: 0 }, generator: { arch: 'light-unet', channels, width: 1, resBlocks: 0, alpha: 0.2, upsample: 'deconv' } });
  const data = { size: 16, layout: 'folders' as const, source: 'mem', pairs: [{ name: 'a', input: new Float32Array(768).fill(0.1), target: new Float32Array(768).fill(-0.1) }] };

  it('safetensors round-trips names, shapes, values and metadata', () => {
    const t = new Map([['a.b', new Tensor([2, 3], [1, 2, 3, 4, 5, -6.5])], ['c', new Tensor([], [7])]]);
    const back = decodeSafetensors(encodeSafetensors(t, { step: '3' }));
    expect(back.metadata.step).toBe('3');
    expect(back.tensors.get('a.b')!.shape).toEqual([2, 3]);
    expect(Array.from(back.tensors.get('a.b')!.data)).toEqual([1, 2, 3, 4, 5, -6.5]);
    expect(Array.from(back.tensors.get('c')!.data)).toEqual([7]);
  });

  it('a header of the wrong shape is ERR_FACESTYLE_FORMAT naming the file and entry, not a TypeError', async () => {
    const withHeader = (header: string, tail = Buffer.alloc(0)) => {
      const h = Buffer.from(header);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      return Buffer.concat([len, h, tail]);
    };
    const cases: [string, RegExp][] = [
      ['null', /header is null/],
      ['[1,2]', /header is an array/],
      ['{"w":null}', /tensor 'w' is null/],
      ['{"w":{"dtype":"F32","data_offsets":[0,4]}}', /tensor 'w' has a bad shape/],
      ['{"w":{"dtype":"F32","shape":"2x2","data_offsets":[0,16]}}', /tensor 'w' has a bad shape/],
      ['{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', /tensor 'w' has a bad shape/],
      ['{"w":{"shape":[1],"data_offsets":[0,4]}}', /tensor 'w' has no dtype/],
      ['{"w":{"dtype":"F32","shape":[1],"data_offsets":4}}', /tensor 'w' has bad data_offsets/],
      ['{"__metadata__":null}', /__metadata__ is not an object of strings/],
      ['{"__metadata__":{"step":3}}', /__metadata__ is not an object of strings/],
    ];
    for (const [header, why] of cases) {
      const bytes = withHeader(header, Buffer.alloc(16));
      expect(() => decodeSafetensors(bytes, 'x.safetensors'), header).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringMatching(why) }));
      const file = path.join(root, 'bad-header.safetensors');
      writeFileSync(file, bytes);
      await expect(readSafetensorsMetadata(file), header).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(file) });
    }
    // The well-formed version of the same entry still decodes.
    expect(decodeSafetensors(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', Buffer.alloc(4))).tensors.get('w')!.shape).toEqual([1]);
  });

  it('a checkpoint of another architecture and a truncated one: ERR_FACESTYLE_FORMAT naming the file', async () => {
    const dir = path.join(root, 'ckpt');
    const small = new Trainer(cfg([4, 4, 4, 4]), data, dir);
    await small.train();
    const file = await small.saveCheckpoint();
    small.dispose();
    const other = new Trainer(cfg([8, 8, 8, 8]), data, path.join(root, 'ckpt2'));
    await expect(other.loadCheckpoint(file)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringMatching(/another architecture/) });
    await expect(other.loadCheckpoint(file)).rejects.toMatchObject({ message: expect.stringContaining(file) });
    const truncated = path.join(root, 'truncated.safetensors');
    const bytes = readFileSync(file);
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
    await expect(other.loadCheckpoint(truncated)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(truncated) });
    writeFileSync(truncated, bytes.subarray(0, 5));
    await expect(other.loadCheckpoint(truncated)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('truncated') });
    other.dispose();
  });

  it('readSafetensorsMetadata reads the header alone: the same metadata, the same coded errors', async () => {
    const file = path.join(root, 'meta.safetensors');
    writeFileSync(file, encodeSafetensors(new Map([['w', Tensor.random([64, 64], 3)]]), { format: 'x', step: '12' }));
    expect(await readSafetensorsMetadata(file)).toEqual((await readSafetensors(file)).metadata);
    expect(await readSafetensorsMetadata(file)).toEqual({ format: 'x', step: '12' });
    // The tensors may be cut short: only the header is read. A cut header, a folder, a missing file are coded.
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
    expect((await readSafetensorsMetadata(file)).step).toBe('12');
    writeFileSync(file, bytes.subarray(0, 20));
    await expect(readSafetensorsMetadata(file)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('truncated') });
    await expect(readSafetensorsMetadata(root)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('folder') });
    await expect(readSafetensorsMetadata(path.join(root, 'none.safetensors'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
  });
});

describe('training options are checked before any data is read', () => {
  const tiny = { crop: 16, batch: 1, steps: 1, threads: 1, generator: { arch: 'light-unet' as const, channels: [4, 4, 8, 8] as [number, number, number, number], width: 1, resBlocks: 0, alpha: 0.2 } };
  it('out-of-range settings are ERR_FACESTYLE_ARGUMENT naming the setting', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ lrMin: -1 }, 'lrMin'],
      [{ lr: 1e-5, lrMin: 1e-4 }, 'lrMin'],
      [{ clipNorm: -1 }, 'clipNorm'],
      [{ losses: { l1: -1 } }, 'l1'],
      [{ losses: { adv: Number.NaN } }, 'adv'],
      [{ threads: 1000000 }, 'threads'],
      [{ warmupSteps: 1.5 }, 'warmupSteps'],
      [{ generator: { ...tiny.generator, resBlocks: 1000 } }, 'residual blocks'],
      // Numbers as strings (they compared like numbers and stayed strings), a misspelt option (dropped
      // silently), and augment.crop (overwritten by crop without a word).
      [{ lr: '0.01' }, "a number for lr but received '0.01'"],
      [{ emaDecay: '0.5' }, 'emaDecay'],
      [{ threads: '2' }, "received '2'"],
      [{ losses: { l1: '1' } }, 'losses.l1'],
      [{ warmup: 5 }, "Unknown training option 'warmup'"],
      [{ augment: { crop: 64 } }, 'augment.crop'],
    ];
    // Defaults that would contradict a value the caller chose follow it: the schedule's floor under a low lr.
    expect(trainConfig({ ...tiny, lr: 5e-5 }).lrMin).toBe(5e-5);
    for (const [extra, named] of cases)
      expect(() => trainConfig({ ...tiny, ...extra } as never), JSON.stringify(extra)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(named) }));
    expect(trainConfig({ ...tiny, lrMin: 0, clipNorm: 0 }).lrMin).toBe(0);
  });

  it('a run folder that holds a run is refused unless resume or overwrite; resume with nothing to resume is NOT_FOUND', async () => {
    const pairs = await folder('run-pairs', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const out = path.join(root, 'run-out');
    const base = { pairs, out, size: 16, checkpointEvery: 0, sampleEvery: 0, config: tiny };
    await expect(runTraining({ ...base, resume: true })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('Nothing to resume') });
    // One holdout name as a string (it was read as its characters: "no 'a', '.', 'p', ..."), before any folder is made.
    await expect(runTraining({ ...base, holdout: 'a.png' as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: "Expected an array of pair file names for holdout but received 'a.png'" });
    expect(existsSync(out)).toBe(false);
    await runTraining(base);
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const first = readFileSync(ckpt);
    await expect(runTraining(base)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--overwrite') });
    expect(Buffer.compare(readFileSync(ckpt), first)).toBe(0);
    // Starting over removes the old run's files first: a diverging new run then says it has no checkpoint
    // (the old one is gone), and a later resume cannot pick up the old run's weights.
    await expect(runTraining({ ...base, overwrite: true, config: { ...tiny, steps: 4, lr: 1e30, clipNorm: 0 } })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC', message: expect.stringContaining('no checkpoint of this run') });
    expect(existsSync(ckpt)).toBe(false);
    await runTraining({ ...base, overwrite: true });
    // Resume continues exactly only with the run's settings: more steps are fine, another batch is refused
    // (naming it, with the run's value) and the run's config.json is left as it was.
    const configBefore = readFileSync(path.join(out, 'config.json'), 'utf8');
    await expect(runTraining({ ...base, resume: true, config: { ...tiny, steps: 2, batch: 2 } })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('batch: the run has 1, now 2') });
    await expect(runTraining({ ...base, resume: true, size: 24, config: { ...tiny, steps: 2 } })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('size: the run has 16, now 24') });
    expect(readFileSync(path.join(out, 'config.json'), 'utf8')).toBe(configBefore);
    await runTraining({ ...base, resume: true, config: { ...tiny, steps: 2 } });
    // A deadline that has passed stops the run where it is and says so (a --time-limit run ended early).
    const lines: string[] = [];
    const early = await runTraining({ ...base, out: path.join(root, 'run-deadline'), deadline: Date.now() - 1, onLog: (l: string) => lines.push(l), config: { ...tiny, steps: 3 } });
    expect(early.card.training.steps).toBe(0);
    expect(lines.join('\n')).toMatch(/time limit reached: stopped at step 0 of 3/);
    expect(lines.join('\n')).toMatch(/1 training pair, 0 validation pairs/);
    // A file as the run folder, a crop larger than the size, a bad size: refused up front.
    await expect(runTraining({ ...base, out: path.join(pairs, 'photo', 'a.png') })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('is a file') });
    await expect(runTraining({ ...base, out: path.join(root, 'o2'), size: 8 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('crop') });
    await expect(runTraining({ ...base, out: path.join(root, 'o3'), size: 0 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('size') });
    await expect(runTraining({ ...base, out: path.join(root, 'o4'), sampleEvery: -1 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('sampleEvery') });
  });
});

describe('more bad input', () => {
  it('resume refuses a damaged run up front: config.json missing, not JSON or null; NaN in the checkpoint', async () => {
    const tiny = { crop: 16, batch: 1, steps: 1, threads: 1, generator: { arch: 'light-unet' as const, channels: [4, 4, 8, 8] as [number, number, number, number], width: 1, resBlocks: 0, alpha: 0.2 } };
    const pairs = await folder('resume-pairs', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const out = path.join(root, 'resume-damaged');
    const base = { pairs, out, size: 16, checkpointEvery: 0, sampleEvery: 0, config: tiny };
    await runTraining(base);
    const resume = { ...base, resume: true, config: { ...tiny, steps: 2 } };
    const configFile = path.join(out, 'config.json');
    const good = readFileSync(configFile);
    for (const [text, code, why] of [
      ['null', 'ERR_FACESTYLE_FORMAT', 'not an object of settings'],
      ['{oops', 'ERR_FACESTYLE_FORMAT', 'not JSON'],
    ] as const) {
      writeFileSync(configFile, text);
      await expect(runTraining(resume), text).rejects.toMatchObject({ code, message: expect.stringMatching(new RegExp(`${configFile.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}.*${why}`)) });
    }
    rmSync(configFile);
    await expect(runTraining(resume)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('config.json') });
    writeFileSync(configFile, good);
    // One NaN in the checkpoint's EMA weights: refused before any step, naming the tensor and the file.
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const { tensors, metadata } = await readSafetensors(ckpt);
    const name = [...tensors.keys()].find((n) => n.startsWith('ema.'))!;
    tensors.get(name)!.data[0] = Number.NaN;
    writeFileSync(ckpt, encodeSafetensors(tensors, metadata));
    const before = readFileSync(ckpt);
    await expect(runTraining(resume)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC', message: expect.stringMatching(new RegExp(`Checkpoint '.*checkpoint.safetensors': tensor '${name.replace(/\./g, '\\.')}' holds NaN`)) });
    expect(Buffer.compare(readFileSync(ckpt), before)).toBe(0);
  });

  it("a 'photo' folder without its 'toon' partner is NOT_FOUND naming the missing one, unless side-by-side images are there", async () => {
    const dir = await folder('half', { 'photo/a.png': await png(8, 8, 1) });
    await expect(loadPairs(dir)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining("no 'toon'") });
    const sbs = await folder('half-sbs', { 'A/a.png': await png(8, 8, 1), 'x.png': await png(16, 8, 2) });
    expect((await loadPairs(sbs, { size: 8 })).layout).toBe('side-by-side');
  });

  it('psnr of images of different sizes is a SHAPE error, not NaN', async () => {
    const { psnr } = await import('../lib/train/losses.js');
    expect(psnr(new Float32Array([0, 0.5]), new Float32Array([0, 0.5]))).toBe(Infinity);
    expect(psnr(new Float32Array([0, 0]), new Float32Array([1, 1]))).toBeCloseTo(10 * Math.log10(4), 6);
    expect(() => psnr(new Float32Array(3), new Float32Array(4))).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_SHAPE' }));
  });
});

describe('runs, resumes and their files (review findings, 2026-11-25)', () => {
  const tiny = { crop: 16, batch: 1, steps: 2, threads: 1, generator: { arch: 'light-unet' as const, channels: [4, 4, 8, 8] as [number, number, number, number], width: 1, resBlocks: 0, alpha: 0.2 } };

  it('resume refuses another pairs folder (naming both), takes the same one through a link', async () => {
    const pairs = await folder('rp-a', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const other = await folder('rp-b', { 'photo/a.png': await png(16, 16, 90), 'toon/a.png': await png(16, 16, 20) });
    const out = path.join(root, 'rp-run');
    const base = { pairs, out, size: 16, checkpointEvery: 0, sampleEvery: 0, config: tiny };
    await runTraining(base);
    const configBefore = readFileSync(path.join(out, 'config.json'), 'utf8');
    await expect(runTraining({ ...base, pairs: other, resume: true, config: { ...tiny, steps: 3 } })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_ARGUMENT',
      message: expect.stringContaining(`pairs: the run has ${JSON.stringify(pairs)}, now ${JSON.stringify(other)}`),
    });
    expect(readFileSync(path.join(out, 'config.json'), 'utf8')).toBe(configBefore);
    const link = path.join(root, 'rp-link');
    symlinkSync(pairs, link);
    expect((await runTraining({ ...base, pairs: link, resume: true, config: { ...tiny, steps: 3 } })).card.training.steps).toBe(3);
  });

  it("a resumed run stopped before its end leaves no card of the earlier end: the folder's model is its checkpoint", async () => {

    const pairs = await folder('st-pairs', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const out = path.join(root, 'st-run');
    const base = { pairs, out, size: 16, checkpointEvery: 1, sampleEvery: 0, config: tiny };
    await runTraining(base);
    expect(existsSync(path.join(out, 'model.json'))).toBe(true);
    const stop = new AbortController();
    await expect(runTraining({ ...base, resume: true, config: { ...tiny, steps: 50 }, signal: stop.signal, onStep: (r: { step: number }) => void (r.step >= 4 && stop.abort()) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ABORTED' });
    // The step-2 card and weights are gone; what loads from the folder is the checkpoint (step 4 or later).
    expect(existsSync(path.join(out, 'model.json'))).toBe(false);
    expect(existsSync(path.join(out, 'generator.safetensors'))).toBe(false);
    expect(Number((await readSafetensorsMetadata(path.join(out, 'checkpoint.safetensors'))).step)).toBeGreaterThanOrEqual(4);

  });

  it('an onLog that throws on a sample fails runTraining with its error', async () => {
    // (Before, the sample chain's rejection could go unhandled and end the process, depending on timing:
    // with a larger model the checkpoint write outlasted it. Here it only checks the error comes back.)
    const pairs = await folder('log-pairs', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const boom = new Error('log sink broke');
    const onLog = (line: string) => {
      if (line.startsWith('sample')) throw boom; // the sample's line, then its 'sample failed' line
    };
    // One sample, at the last step: its chain rejects while the run writes its checkpoint, before
    // anything awaits the chain.
    await expect(runTraining({ pairs, out: path.join(root, 'log-run'), size: 16, checkpointEvery: 0, sampleEvery: 2, config: tiny, onLog })).rejects.toBe(boom);
  });

  it('initFrom a training checkpoint starts from its EMA weights, as export and --model use them', async () => {
    const pairs = await folder('if-pairs', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const first = path.join(root, 'if-first');
    await runTraining({ pairs, out: first, size: 16, checkpointEvery: 0, sampleEvery: 0, config: { ...tiny, steps: 3, emaDecay: 0.5 } });
    const { tensors: ckpt } = await readSafetensors(path.join(first, 'checkpoint.safetensors'));
    // Stopped at step 0 (a deadline already past): the exported weights are those it started from.
    const second = path.join(root, 'if-second');
    const lines: string[] = [];
    await runTraining({ pairs, out: second, size: 16, checkpointEvery: 0, sampleEvery: 0, config: tiny, initFrom: path.join(first, 'checkpoint.safetensors'), deadline: Date.now() - 1, onLog: (l: string) => lines.push(l) });
    expect(lines.join('\n')).toContain('(its EMA weights)');
    const { tensors: started } = await readSafetensors(path.join(second, 'generator.safetensors'));
    let differsFromRaw = false;
    for (const [name, t] of started) {
      expect([...t.data], name).toEqual([...ckpt.get(`ema.${name}`)!.data]);
      if ([...t.data].some((v, i) => v !== ckpt.get(name)!.data[i])) differsFromRaw = true;
    }
    expect(differsFromRaw).toBe(true);
  });

  it('pairs are compared as displayed: a photo stored sideways with an EXIF rotation pairs with an upright target', async () => {
    // Stored 24x16 with orientation 6 (displayed 16x24) beside a 16x24 target; and an unrotated 24x16 photo is still refused.
    const sideways = await sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 10, g: 100, b: 50 } } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const dir = await folder('exif-pairs', { 'photo/a.jpg': sideways, 'toon/a.jpg': await sharp(await png(16, 24, 200)).jpeg().toBuffer() });
    expect((await loadPairs(dir, { size: 16 })).pairs).toHaveLength(1);
    const flat = await folder('exif-flat', { 'photo/a.png': await png(24, 16, 10), 'toon/a.png': await png(16, 24, 200) });
    await expect(loadPairs(flat, { size: 16 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE' });
  });

  it('the loss curve keeps negative losses (hinge GAN) on a linear scale, and labels the last step done', async () => {
    const { lossCurveSvg } = await import('../lib/train/report.js');
    const points: [number, number][] = Array.from({ length: 40 }, (_, i) => [i + 1, 5 - i * 0.5]);
    const svg = lossCurveSvg(points);
    expect(svg).toContain('loss (linear scale): 5.00 .. -14.5');
    expect(svg).toContain('step 40');
    expect(svg.match(/points="([^"]*)"/)![1].split(' ')).toHaveLength(40);
    expect(lossCurveSvg(points.map(([s, l]) => [s, Math.abs(l) + 1]))).toContain('log scale');
  });
});

describe('training API (a review of it, 2026-11-25)', () => {
  const tiny = { crop: 16, batch: 1, steps: 2, threads: 1, generator: { arch: 'light-unet' as const, channels: [4, 4, 8, 8] as [number, number, number, number], width: 1, resBlocks: 0, alpha: 0.2 } };

  it('refuses unknown keys inside losses / augment / generator / discriminator, non-objects there, inherited names and an infinite lr', () => {
    // generator.resblocks trained with the default resBlocks and went into config.json.
    for (const [extra, named] of [
      [{ generator: { ...tiny.generator, resblocks: 4 } }, "Unknown option 'resblocks' for training option generator"],
      [{ discriminator: { spectral: true } }, "Unknown option 'spectral' for training option discriminator"],
      [{ augment: { flipp: 1 } }, "Unknown option 'flipp' for training option augment"],
      [{ losses: { perceptual: 1 } }, "Unknown option 'perceptual' for training option losses"],
      [{ augment: 'flip' }, 'for augment'],
      [{ generator: 'big' }, 'for generator'],
      [{ toString: 1 }, "Unknown training option 'toString'"],
      [{ lr: Number.POSITIVE_INFINITY }, 'positive, finite lr'],
    ] as const)
      expect(() => trainConfig({ ...tiny, ...extra } as never), JSON.stringify(extra)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(named) }));
    // Every key the groups do take still passes.
    const c = trainConfig({ ...tiny, augment: { flip: 0.5, minScale: 1, rotate: 3, jitter: 0.1, saturation: 0.2, cutmix: 0.5 }, discriminator: { channels: 8, downLayers: 2, scales: 1, spectralNorm: true }, losses: { l1: 1, mse: 1, color: 0, edge: 0, adv: 0, fm: 0, tv: 0, style: 0 } });
    expect(c.augment.cutmix).toBe(0.5);
  });

  it("gradients(): a loss target that depends on a parameter is UNSUPPORTED (its gradient was null in silence)", async () => {
    const { gradients } = await import('../lib/graph/autodiff.js');
    const g = new (await import('../lib/graph/builder.js')).GraphBuilder('t', { seed: 1 });
    const x = g.input('x', [1, 3, 4, 4]);
    const w = g.param('w', [1, 3, 4, 4], 'ones');
    const loss = g.op1('L1Loss', [x, g.op1('Mul', [x, w])]);
    expect(() => gradients(g, loss, [w])).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_UNSUPPORTED', message: expect.stringContaining('second input (the target) depends on a parameter') }));
  });

  it('Trainer.loadCheckpoint refuses a checkpoint of another architecture even when every tensor has the same shape', async () => {
    const pairs = await folder('arch-pairs', { 'photo/a.png': await png(16, 16, 10), 'toon/a.png': await png(16, 16, 200) });
    const out = path.join(root, 'arch-run');
    await runTraining({ pairs, out, size: 16, checkpointEvery: 0, sampleEvery: 0, config: { ...tiny, generator: { ...tiny.generator, alpha: 0.5 } } });
    const data = await loadPairs(pairs, { size: 16 });
    const trainer = new Trainer(trainConfig(tiny), data, path.join(root, 'arch-other'));
    try {
      await expect(trainer.loadCheckpoint(path.join(out, 'checkpoint.safetensors'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('was made for another architecture: generator') });
    } finally {
      trainer.dispose();
    }
  });

  it("safetensors: a tensor named '__proto__' survives, and a non-ASCII name keeps the data 8-byte aligned", () => {
    const t = new Tensor([1], Float32Array.of(9));
    const back = decodeSafetensors(encodeSafetensors(new Map([['__proto__', t]])), 'mem');
    expect([...back.tensors.keys()]).toEqual(['__proto__']);
    const bytes = encodeSafetensors(new Map([['é', t]]));
    const headerBytes = Number(bytes.readBigUInt64LE(0));
    expect((8 + headerBytes) % 8).toBe(0);
  });
});
