// Image helpers on sharp: file/Buffer -> Float32 NCHW tensor (size, RGB/BGR, range) and back.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../lib/graph/tensor.js';
import { imageToTensor, saveTensorImage, tensorToImage, tensorToRgb } from '../lib/image/io.js';
import { describeShared, sharedData } from './helpers/shared.js';

// A 4x2 image with known pixels, made here (no shared data needed).
const W = 4;
const H = 2;
const pixels = Buffer.from([
  255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30,
  0, 0, 0, 255, 255, 255, 128, 64, 32, 1, 2, 3,
]);
const png = () => sharp(pixels, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();

describe('imageToTensor', () => {
  it('gives NCHW RGB in [0,1] by default', async () => {
    const t = await imageToTensor(await png());
    expect(t.shape).toEqual([1, 3, H, W]);
    // pixel (x=0,y=0) is pure red
    expect(t.data[0]).toBeCloseTo(1, 6);
    expect(t.data[W * H]).toBeCloseTo(0, 6);
    // pixel (x=2,y=1) = (128,64,32): planes R, G, B
    const i = 1 * W + 2;
    expect(t.data[i]).toBeCloseTo(128 / 255, 6);
    expect(t.data[W * H + i]).toBeCloseTo(64 / 255, 6);
    expect(t.data[2 * W * H + i]).toBeCloseTo(32 / 255, 6);
  });

  it('honours BGR order and a [-1,1] range', async () => {
    const t = await imageToTensor(await png(), { channels: 'bgr', range: [-1, 1] });
    const i = 3; // (x=3,y=0) = (10,20,30)
    expect(t.data[i]).toBeCloseTo((30 / 255) * 2 - 1, 6); // B first
    expect(t.data[2 * W * H + i]).toBeCloseTo((10 / 255) * 2 - 1, 6);
  });

  it("takes the named ranges 'unit' ([0,1]) and 'signed' ([-1,1]) as align and paste do", async () => {
    const signed = await imageToTensor(await png(), { range: 'signed' });
    const pair = await imageToTensor(await png(), { range: [-1, 1] });
    expect(Array.from(signed.data)).toEqual(Array.from(pair.data));
    expect(Math.min(...signed.data)).toBeLessThan(0); // really [-1,1], not the default
    const unit = await imageToTensor(await png(), { range: 'unit' });
    expect(Array.from(unit.data)).toEqual(Array.from((await imageToTensor(await png())).data));
    expect(Buffer.compare(tensorToRgb(signed, { range: 'signed' }).data, pixels)).toBe(0);
    await expect(imageToTensor(await png(), { range: 'half' as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining("'unit', 'signed' or [low, high]") });
  });

  it('resizes to the requested size', async () => {
    const t = await imageToTensor(await png(), { size: [8, 6] });
    expect(t.shape).toEqual([1, 3, 6, 8]);
  });

  it('round-trips pixels exactly through tensorToImage (PNG)', async () => {
    const t = await imageToTensor(await png(), { range: [-1, 1] });
    const back = await sharp(await tensorToImage(t, { range: [-1, 1] })).raw().toBuffer();
    expect(Buffer.compare(back, pixels)).toBe(0);
  });

  it('expands grey and flattens alpha to 3 channels', async () => {
    const grey = await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
    const g = await imageToTensor(grey);
    expect(g.shape).toEqual([1, 3, 2, 2]);
    expect(g.data[1]).toBeCloseTo(g.data[4 + 1], 6); // R == G for grey
    const rgba = await sharp(Buffer.from([255, 0, 0, 255, 0, 255, 0, 0]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    const a = await imageToTensor(rgba);
    expect(a.shape).toEqual([1, 3, 1, 2]);
    expect(a.data[0]).toBeCloseTo(1, 6);
    expect(a.data[2 + 1]).toBeCloseTo(0, 6); // transparent green pixel flattened on black
  });

  it('refuses bad input with codes', async () => {
    await expect(imageToTensor(Buffer.from('not an image at all'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    const jpeg = await sharp(pixels, { raw: { width: W, height: H, channels: 3 } }).jpeg().toBuffer();
    await expect(imageToTensor(jpeg.subarray(0, 20))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    await expect(imageToTensor('/nonexistent/face.jpg')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    await expect(imageToTensor(await png(), { limitInputPixels: 4 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(imageToTensor(42 as unknown as Buffer)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(imageToTensor(await png(), { size: -3 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });

  it('clamps out-of-range values when converting back', () => {
    const t = new Tensor([1, 3, 1, 1], [2, -5, Number.POSITIVE_INFINITY]);
    expect([...tensorToRgb(t).data]).toEqual([255, 0, 255]);
  });

  it('refuses NaN when converting back (ERR_FACESTYLE_NUMERIC, naming where), and writes no image file', async () => {
    const t = new Tensor([1, 3, 2, 2], [0, 0, 0, 0, 0, 0, 0, Number.NaN, 0, 0, 0, 0]);
    expect(() => tensorToRgb(t)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_NUMERIC', message: expect.stringContaining('channel 1, pixel (1, 1)') }));
    const dir = mkdtempSync(path.join(tmpdir(), 'facestyle-nan-'));
    try {
      await expect(saveTensorImage(t, path.join(dir, 'nan.png'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC' });
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeShared('imageToTensor on a real photo', () => {
  it('reads a real JPEG face photo', async () => {
    const dir = sharedData('faces/aligned/facialcartoonization_256');
    const name = readdirSync(dir).find((f) => f.endsWith('.jpg'));
    expect(name, `no .jpg in ${dir}`).toBeDefined();
    const buf = readFileSync(path.join(dir, name!));
    const t = await imageToTensor(buf, { size: 64 });
    expect(t.shape).toEqual([1, 3, 64, 64]);
    let mean = 0;
    for (const v of t.data) mean += v;
    mean /= t.size;
    expect(mean).toBeGreaterThan(0.1);
    expect(mean).toBeLessThan(0.9);
  });
});
