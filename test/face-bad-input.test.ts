// Bad input to the face pipeline: coded errors or correct handling, never a crash.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, expect, it } from 'vitest';
import { alignFaces } from '../lib/face/align.js';
import { detectFaces, FaceDetector } from '../lib/face/detect.js';
import { loadFaceGenerator } from '../lib/face/model.js';
import { createFaceStylizer, stylize } from '../lib/face/stylize.js';
import type { Landmarks5, RgbImage } from '../lib/face/types.js';
import { Tensor } from '../lib/graph/tensor.js';
import { ANIME, DETECTOR, PFLD, WHOLE, invertingGenerator } from './face-fixtures.js';
import { describeShared } from './helpers/shared.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'facestyle-bad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; ++k) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG that declares its size but holds only a few bytes of pixel data: the header is what a limit check reads. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(100))), chunk('IEND', Buffer.alloc(0))]);
}

describeShared('face pipeline: bad input', () => {
  const obama = path.join(WHOLE, 'face_recognition/obama.jpg');
  const opts = { detector: DETECTOR };

  it('non-image files and truncated JPEGs are format errors', async () => {
    await expect(detectFaces(path.join(WHOLE, 'dlib_faces/testing.xml'), opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    const jpeg = readFileSync(obama);
    for (const frac of [0.02, 0.5]) await expect(detectFaces(jpeg.subarray(0, Math.floor(jpeg.length * frac)), opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    // The decoder's complaint once, on one line (libvips repeats it a line per attempt).
    const e = await detectFaces(jpeg.subarray(0, 3000), opts).catch((x) => x);
    expect(e).toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    expect(e.message).not.toContain('\n');
    expect(e.message.split('premature end of JPEG image').length - 1).toBe(1);
    await expect(stylize(Buffer.from('not an image at all'), { ...opts, model: invertingGenerator(32) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    await expect(detectFaces(path.join(tmp, 'missing.jpg'), opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
  });

  it('refuses a 30000x30000 image by the pixel limit, and honours a configured limit', async () => {
    const huge = pngHeaderOnly(30000, 30000);
    await expect(detectFaces(huge, opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringMatching(/pixel limit/i) });
    await expect(stylize(huge, { ...opts, model: invertingGenerator(32) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    // A file is named in the message (a folder run says which photo was too large).
    await expect(detectFaces(obama, { ...opts, limitInputPixels: 10_000 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(`Image '${obama}' exceeds the pixel limit of 10000`) });
  });

  it('a 1x1 image has no face and comes back unchanged', async () => {
    const one = await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    expect(await detectFaces(one, opts)).toEqual([]);
    const r = await stylize(one, { ...opts, model: invertingGenerator(32) });
    expect([...r.image.data]).toEqual([1, 2, 3]);
    expect(r.warnings).toHaveLength(1);
  });

  it('a 1,000,000 x 1 strip (and a 1 x 700,000 one) has no face: not an argument error about a scale the caller never passed', async () => {
    for (const [width, height] of [[1_000_000, 1], [1, 700_000]]) {
      const strip: RgbImage = { data: new Uint8Array(width * height * 3).fill(90), width, height };
      expect(await detectFaces(strip, opts), `${width}x${height}`).toEqual([]);
    }
  });

  it('grayscale, RGBA, 16-bit and CMYK inputs are converted to RGB and their faces found', async () => {
    const grey = await sharp(obama).greyscale().toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const rgba = await sharp(obama).ensureAlpha(0.8).png().toBuffer();
    expect((await sharp(rgba).metadata()).channels).toBe(4);
    const deep = await sharp(obama).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(deep).metadata()).depth).toBe('ushort');
    const cmyk = await sharp(obama).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    for (const buf of [grey, rgba, deep, cmyk]) {
      const r = await stylize(buf, { ...opts, model: invertingGenerator(64) });
      expect(r.faces.length).toBe(1);
      expect(r.image.data.length).toBe(r.image.width * r.image.height * 3);
    }
  });

  it('a file that is not a detector is a coded error', async () => {
    await expect(FaceDetector.load(PFLD)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringMatching(/not a YuNet/) });
    const junk = path.join(tmp, 'junk.onnx');
    writeFileSync(junk, Buffer.from('this is not protobuf'));
    await expect(detectFaces(obama, { detector: junk })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    // On either engine the error names the file (the native importer reads bytes, not the path).
    for (const engine of ['onnxruntime', 'native'] as const)
      await expect(FaceDetector.load(junk, { engine })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(junk) });
    await expect(detectFaces(obama, { detector: path.join(tmp, 'none.onnx') })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
  });

  it('a landmark model that is missing, not PFLD or not a model, and bad landmarks, are coded errors', async () => {
    await expect(detectFaces(obama, { ...opts, landmarks68: 42 as unknown as string })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(detectFaces(obama, { ...opts, landmarks68: path.join(tmp, 'none.onnx') })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    // YuNet has 12 outputs; AnimeGAN has one output but not [b,136] (it also refuses 112x112 NCHW).
    await expect(detectFaces(obama, { ...opts, landmarks68: DETECTOR })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    await expect(detectFaces(obama, { ...opts, landmarks68: ANIME })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    const junk = path.join(tmp, 'junk68.onnx');
    writeFileSync(junk, Buffer.from('not a model'));
    await expect(detectFaces(obama, { ...opts, landmarks68: junk })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    const img = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64 };
    const ten = Array.from({ length: 10 }, (_, i) => [i, i]);
    await expect(alignFaces(img, [ten as unknown as Landmarks5])).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    const nan = Array.from({ length: 68 }, (_, i) => [i, i === 40 ? NaN : i]);
    await expect(alignFaces(img, [nan as unknown as Landmarks5])).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(alignFaces(img, [{ box: [0, 0, 1, 1], score: 1, landmarks: ten } as unknown as Landmarks5])).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(alignFaces(img, [ten.slice(0, 5) as Landmarks5], { template: 'dlib' as 'ffhq' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });

  it('bad RgbImages, options and models are argument/shape/not-found errors', async () => {
    const bad: RgbImage = { data: new Uint8Array(10), width: 4, height: 4 };
    await expect(detectFaces(bad, opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('received { data: Uint8Array(10), width: 4, height: 4 }') });
    // Another typed array is named as such (it was 'received Object').
    const wide = { data: new Uint16Array(48), width: 4, height: 4 } as unknown as RgbImage;
    await expect(detectFaces(wide, opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('received { data: Uint16Array(48), width: 4, height: 4 }') });
    // The frame API's limitInputPixels refuses larger frames (it was accepted and ignored); a frame at the limit runs.
    const limited = await createFaceStylizer({ ...opts, model: invertingGenerator(32), limitInputPixels: 48 * 48 });
    const frame = (side: number): RgbImage => ({ data: new Uint8Array(side * side * 3).fill(120), width: side, height: side });
    await expect(limited.stylizeFrame(frame(49))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('more than limitInputPixels (2304)') });
    await expect(limited.detect(frame(64))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(limited.stylizeAligned(frame(64))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect((await limited.stylizeFrame(frame(48))).image.width).toBe(48);
    await limited.dispose();
    await expect(createFaceStylizer({ ...opts, model: invertingGenerator(32), limitInputPixels: -5 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(stylize(obama, { ...opts, model: invertingGenerator(32), strength: 2 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(stylize(obama, { ...opts, model: invertingGenerator(32), faces: 'some' as 'all' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(stylize(obama, { ...opts, model: invertingGenerator(32), size: 64 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('32') });
    await expect(loadFaceGenerator(path.join(tmp, 'nope.onnx'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    // A shipped model by name (models/comic-light.json); an unknown name lists the shipped ones.
    const byName = await loadFaceGenerator('comic-light');
    expect(byName.size).toBe(256); // (the card's training size)
    await byName.dispose?.();
    await expect(loadFaceGenerator('anime')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('usable by name: comic-light') });
    await expect(loadFaceGenerator(42 as unknown as string)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    // A detector that is not a path is an argument error, not 'not found: 5'.
    await expect(detectFaces(obama, { detector: 5 as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for detector but received 5') });
    // A photo given as the model: named as the wrong kind of file, with the kinds a model can be.
    await expect(loadFaceGenerator(obama)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringMatching(/an \.onnx model, a model card \.json.*but received '.*obama\.jpg'/) });
    const junk = path.join(tmp, 'junk2.onnx');
    writeFileSync(junk, Buffer.from([1, 2, 3, 4, 5]));
    await expect(loadFaceGenerator(junk, { engine: 'onnxruntime' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    // A generator that returns the wrong shape is caught before paste-back.
    const wrong = { name: 'wrong', size: 32, run: async (x: Tensor) => new Tensor([x.shape[0], 3, 16, 16]), dispose: () => undefined };
    const s = await createFaceStylizer({ ...opts, model: wrong });
    await expect(s.stylizeFrame({ data: new Uint8Array((await sharp(obama).raw().toBuffer())), ...(await sharp(obama).metadata().then((m) => ({ width: m.width!, height: m.height! }))) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE' });
    await s.dispose();
  });
});
