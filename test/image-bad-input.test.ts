// Bad input to the image helpers of lib/face/image.ts and lib/image/io.ts (from a review): encodeRgbImage /
// writeRgbImage checked nothing (an unknown format, short or long data, a 0x0 image, null and Uint16Array data
// were uncoded errors from sharp or written silently), and readImageRgb, toRgbImage and rgbToTensor dropped
// misspelt options without a word. Each case is ERR_FACESTYLE_ARGUMENT with a message naming what was wrong.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRgbImage, toRgbImage, writeRgbImage } from '../lib/face/image.js';
import { imageToTensor, readImageRgb, rgbToTensor } from '../lib/image/io.js';
import { type Coded, caught, expectCoded, rejected } from './helpers/errors.js';


const root = mkdtempSync(path.join(os.tmpdir(), 'facestyle-image-bad-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const image = (width: number, height: number) => ({ data: new Uint8Array(width * height * 3).fill(90), width, height });
const unknown = (key: string, what: string, hint: string) => new RegExp(`^Unknown option '${key}' for ${what}; did you mean '${hint}'\\?`);

describe('encodeRgbImage / writeRgbImage check the image and the format', () => {
  const bad: [string, unknown, string][] = [
    ['short data', { data: new Uint8Array(2), width: 1, height: 1 }, 'Uint8Array(2)'],
    ['long data', { data: new Uint8Array(30), width: 1, height: 1 }, 'Uint8Array(30)'],
    ['a 0x0 image', { data: new Uint8Array(0), width: 0, height: 0 }, 'width: 0'],
    ['null', null, 'received null'],
    ['Uint16Array data', { data: new Uint16Array(3), width: 1, height: 1 }, 'Uint16Array(3)'],
  ];

  it('an image the format cannot hold (WebP past 16383 px) is ERR_FACESTYLE_FORMAT from encodeRgbImage too (sharp\'s plain Error before)', async () => {
    const wide = { data: new Uint8Array(16400 * 2 * 3), width: 16400, height: 2 };
    expectCoded(await rejected(() => encodeRgbImage(wide, 'webp')), 'ERR_FACESTYLE_FORMAT', 'too large for the WebP format');
    expect((await encodeRgbImage(wide, 'png')).length).toBeGreaterThan(0);
  });

  it.each(bad)('encodeRgbImage(%s): ERR_FACESTYLE_ARGUMENT naming what was received', async (_, img, received) => {
    expectCoded(await rejected(() => encodeRgbImage(img as never, 'png')), 'ERR_FACESTYLE_ARGUMENT', 'Expected an RgbImage', received);
  });

  it.each(bad)('writeRgbImage(%s): ERR_FACESTYLE_ARGUMENT, nothing written', async (_, img, received) => {
    const dir = mkdtempSync(path.join(root, 'w-'));
    expectCoded(await rejected(() => writeRgbImage(img as never, path.join(dir, 'out.png'))), 'ERR_FACESTYLE_ARGUMENT', 'Expected an RgbImage', received);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("an unknown format ('bmp', a sharp-only 'heif') is ERR_FACESTYLE_ARGUMENT listing the formats; 'jpg' is taken for 'jpeg'", async () => {
    for (const format of ['bmp', 'heif', 42])
      expectCoded(await rejected(() => encodeRgbImage(image(2, 2), format as never)), 'ERR_FACESTYLE_ARGUMENT', 'for format', "'png', 'jpeg', 'webp', 'tiff', 'avif', 'gif'");
    expect((await sharp(await encodeRgbImage(image(2, 2), 'jpg' as never)).metadata()).format).toBe('jpeg');
    const png = await sharp(await encodeRgbImage(image(3, 2))).raw().toBuffer({ resolveWithObject: true });
    expect([png.info.width, png.info.height, png.data[0]]).toEqual([3, 2, 90]);
  });

  it('writeRgbImage with a file that is not a path: ERR_FACESTYLE_ARGUMENT (a TypeError from path.extname before)', async () => {
    expectCoded(await rejected(() => writeRgbImage(image(2, 2), null as never)), 'ERR_FACESTYLE_ARGUMENT', 'image file', 'received null');
  });
});

describe('readImageRgb, toRgbImage and rgbToTensor refuse options they do not take', () => {
  const png = () => sharp({ create: { width: 5, height: 3, channels: 4, background: { r: 200, g: 100, b: 50, alpha: 0.5 } } }).png().toBuffer();

  it("readImageRgb(p, { limitInputPixel }): did you mean 'limitInputPixels'", async () => {
    const e = await rejected(async () => readImageRgb(await png(), { limitInputPixel: 5 } as never));
    expectCoded(e, 'ERR_FACESTYLE_ARGUMENT');
    expect(e.message).toMatch(unknown('limitInputPixel', 'readImageRgb', 'limitInputPixels'));
    expect((await readImageRgb(await png(), { limitInputPixels: 15 })).width).toBe(5);
    // imageToTensor hands readImageRgb and rgbToTensor only their own options.
    const t = await imageToTensor(await png(), { size: [4, 2], fit: 'cover', range: 'signed', channels: 'bgr', limitInputPixels: 15 });
    expect(t.shape).toEqual([1, 3, 2, 4]);
    expect(Math.min(...t.data)).toBeLessThan(0);
  });

  it("toRgbImage(p, { keepAlfa }): did you mean 'keepAlpha' (also for an RgbImage input); keepAlpha must be a boolean", async () => {
    for (const input of [await png(), image(2, 2)]) {
      const e = await rejected(() => toRgbImage(input, { keepAlfa: true } as never));
      expectCoded(e, 'ERR_FACESTYLE_ARGUMENT');
      expect(e.message).toMatch(unknown('keepAlfa', 'toRgbImage', 'keepAlpha'));
    }
    expectCoded(await rejected(async () => toRgbImage(await png(), { keepAlpha: 'yes' as never })), 'ERR_FACESTYLE_ARGUMENT', 'true or false for keepAlpha');
    // What it takes still works, readImageRgb given only its own key.
    const withAlpha = await toRgbImage(await png(), { keepAlpha: true, limitInputPixels: 15 });
    expect(withAlpha.alpha?.length).toBe(15);
    expectCoded(await rejected(async () => toRgbImage(await png(), { limitInputPixels: 14 })), 'ERR_FACESTYLE_ARGUMENT', 'pixel limit');
  });

  it("rgbToTensor(..., { rnage }): did you mean 'range'; a bad range, channels or data are coded too", () => {
    const { data } = image(4, 4);
    const e = caught(() => rgbToTensor(data, 4, 4, { rnage: 'signed' } as never));
    expectCoded(e, 'ERR_FACESTYLE_ARGUMENT');
    expect(e.message).toMatch(unknown('rnage', 'rgbToTensor', 'range'));
    // 'abc' became [NaN, NaN]: a tensor of NaN, without a word.
    expectCoded(caught(() => rgbToTensor(data, 4, 4, { range: 'abc' as never })), 'ERR_FACESTYLE_ARGUMENT', 'for range');
    expectCoded(caught(() => rgbToTensor(data, 4, 4, { channels: 'gbr' as never })), 'ERR_FACESTYLE_ARGUMENT', 'for channels');
    expectCoded(caught(() => rgbToTensor(new Uint16Array(48) as never, 4, 4)), 'ERR_FACESTYLE_ARGUMENT', 'for data', 'Uint16Array(48)');
    expectCoded(caught(() => rgbToTensor(data, 4.5, 4)), 'ERR_FACESTYLE_ARGUMENT', 'for width');
    const t = rgbToTensor(data, 4, 4, { range: 'signed', channels: 'bgr' });
    expect(t.shape).toEqual([1, 3, 4, 4]);
    expect(t.data[0]).toBeCloseTo((90 / 255) * 2 - 1, 6);
  });
});

describe('readImageRgb on a corrupt file that exists', () => {
  it("is ERR_FACESTYLE_FORMAT, not 'not found' (libvips's 'missing SOS marker' was taken for a missing file)", async () => {
    const jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 90, b: 40 } } }).jpeg().toBuffer();
    const file = path.join(root, 'cut.jpg');
    writeFileSync(file, jpeg.subarray(0, jpeg.indexOf(Buffer.from([0xff, 0xda])))); // the headers, cut before the scan (SOS)
    await expect(readImageRgb(file)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('cut.jpg') });
    // A file that is really missing is still NOT_FOUND.
    await expect(readImageRgb(path.join(root, 'absent.jpg'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
  });
});
