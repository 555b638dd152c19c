// The whole pipeline: detect, align, stylize (one batch), paste back; the frame-level API; the seam.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { alignFaces } from '../lib/face/align.js';
import { detectFaces } from '../lib/face/detect.js';
import { toRgbImage } from '../lib/face/image.js';
import { GraphBuilder } from '../lib/graph/builder.js';
import { graphGenerator, loadFaceGenerator, mirrorAveraged, mirrorImages, onnxRuntimeGenerator } from '../lib/face/model.js';
import { cropRegion, featherMask, pasteFaces } from '../lib/face/paste.js';
import { createFaceStylizer, stylize, stylizeFile } from '../lib/face/stylize.js';
import type { RgbImage } from '../lib/face/types.js';
import { Tensor } from '../lib/graph/tensor.js';
import { ANIME, DETECTOR, PFLD, WHOLE, invertingGenerator, meanGradient } from './face-fixtures.js';
import { describeShared } from './helpers/shared.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'facestyle-faces-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('feathered mask', () => {
  it('is 0 on the crop border, 1 over the face region, monotone in between', () => {
    const s = 256;
    const m = featherMask(s);
    const at = (x: number, y: number) => m[y * s + x];
    expect(at(0, 0)).toBe(0);
    expect(at(s - 1, s / 2)).toBe(0);
    expect(at(s / 2, s / 2)).toBeCloseTo(1, 6);
    // The FFHQ face (eyes to mouth, 0.37..0.73 of the crop) is fully inside.
    expect(at(Math.round(0.37 * s), Math.round(0.73 * s))).toBeCloseTo(1, 6);
    for (let x = 1; x < s / 2; ++x) expect(at(x, s / 2)).toBeGreaterThanOrEqual(at(x - 1, s / 2));
  });

  it("rounded (the default) keeps the original in the crop's corners and fades over a wider band than the square mask", () => {
    const s = 256;
    const rounded = featherMask(s);
    const square = featherMask(s, { shape: 'square' });
    const at = (m: Float32Array, x: number, y: number) => m[y * s + x];
    // Beside the head, near a corner (background in an FFHQ crop): the square mask pastes it, the rounded one not.
    const c = Math.round(0.1 * s);
    expect(at(square, c, c)).toBeGreaterThan(0.8);
    expect(at(rounded, c, c)).toBeLessThan(0.1);
    expect(at(rounded, Math.round(0.06 * s), Math.round(0.06 * s))).toBe(0);
    // Eyes, mouth corners and the chin stay fully stylized.
    for (const [x, y] of [[0.37, 0.47], [0.62, 0.47], [0.39, 0.73], [0.61, 0.73], [0.5, 0.84]]) expect(at(rounded, Math.round(x * s), Math.round(y * s)), `${x},${y}`).toBeCloseTo(1, 6);
    // The transition band (0 < m < 1) along the middle row is wider: a colour change fades instead of ending at an edge.
    const band = (m: Float32Array) => Array.from({ length: s }, (_, x) => at(m, x, s / 2)).filter((v) => v > 0.01 && v < 0.99).length;
    expect(band(rounded)).toBeGreaterThanOrEqual(1.4 * band(square));
    // Symmetric: the same on both sides and under transposition.
    for (let i = 0; i < s; i += 7) {
      expect(at(rounded, i, 100)).toBeCloseTo(at(rounded, s - 1 - i, 100), 6);
      expect(at(rounded, i, 100)).toBeCloseTo(at(rounded, 100, i), 6);
    }
    expect(() => featherMask(s, { shape: 'oval' as never })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
  });

  it('cropRegion covers the crop footprint and clips to the image', () => {
    // Crop = image scaled by 2 around the origin: a 100 px crop covers 50 image pixels.
    const r = cropRegion([2, 0, 0, 0, 2, 0], 100, 1000, 1000)!;
    expect(r.x0).toBe(0);
    expect(r.w).toBeGreaterThanOrEqual(50);
    expect(r.w).toBeLessThanOrEqual(52);
    expect(cropRegion([1, 0, 5000, 0, 1, 5000], 100, 1000, 1000)).toBeNull();
  });
});

describeShared('stylize pipeline', () => {
  const obama = path.join(WHOLE, 'face_recognition/obama.jpg');
  const pair = path.join(WHOLE, 'face_recognition/kit_with_rose.jpg');

  it('inverts the colours of each face through a generator Graph and leaves the rest untouched', async () => {
    const img = await toRgbImage(pair);
    const r = await stylize(img, { detector: DETECTOR, model: invertingGenerator(128, 2), size: 128 });
    expect(r.faces).toHaveLength(2);
    expect(r.warnings).toEqual([]);
    expect([r.image.width, r.image.height]).toEqual([img.width, img.height]);
    for (const k of ['detect', 'align', 'stylize', 'paste'] as const) expect(r.timings[k]).toBeGreaterThan(0);
    const { width: w } = img;
    for (const f of r.faces) {
      // Around the nose (inside the fully-pasted region): result ~ 255 - original on average.
      const [nx, ny] = f.landmarks[2].map(Math.round);
      let sumOrig = 0, sumOut = 0, n = 0;
      for (let y = ny - 3; y <= ny + 3; ++y)
        for (let x = nx - 3; x <= nx + 3; ++x)
          for (let c = 0; c < 3; ++c) {
            sumOrig += img.data[(y * w + x) * 3 + c];
            sumOut += r.image.data[(y * w + x) * 3 + c];
            ++n;
          }
      expect(Math.abs(sumOut / n - (255 - sumOrig / n))).toBeLessThan(6);
    }
    // Far from every face the pixels are the original bytes.
    expect(r.image.data.subarray(0, w * 3)).toEqual(img.data.subarray(0, w * 3));
  });

  it('strength 0 returns the original; 0.5 lies halfway; faces: largest stylizes one face', async () => {
    const img = await toRgbImage(pair);
    const model = invertingGenerator(64);
    const none = await stylize(img, { detector: DETECTOR, model, strength: 0 });
    expect(Buffer.compare(Buffer.from(none.image.data), Buffer.from(img.data))).toBe(0);
    const full = await stylize(img, { detector: DETECTOR, model, faces: 'largest' });
    const half = await stylize(img, { detector: DETECTOR, model, faces: 'largest', strength: 0.5 });
    expect(full.faces).toHaveLength(1);
    const [nx, ny] = full.faces[0].landmarks[2].map(Math.round);
    const p = (ny * img.width + nx) * 3;
    expect(Math.abs(half.image.data[p] - (img.data[p] + full.image.data[p]) / 2)).toBeLessThanOrEqual(1.5);
    // The second (smaller) face is untouched with faces: 'largest'.
    const all = await detectFaces(img, { detector: DETECTOR });
    const [sx, sy] = all[1].landmarks[2].map(Math.round);
    const q = (sy * img.width + sx) * 3;
    expect(full.image.data[q]).toBe(img.data[q]);
    // A count works as on video: 1 is 'largest' (the same picture), 2 (or 0, 'all') takes the second face too.
    const one = await stylize(img, { detector: DETECTOR, model, faces: 1 });
    expect(Buffer.compare(Buffer.from(one.image.data), Buffer.from(full.image.data))).toBe(0);
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const faces of [2, 0] as const) {
      const two = await stylize(img, { detector: DETECTOR, model, faces });
      expect(two.faces).toHaveLength(faces === 2 ? 2 : all.length);
      expect(two.image.data[q]).not.toBe(img.data[q]);
    }
  });

  it('no face: the image comes back unchanged with a warning', async () => {
    const flat = await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 90, g: 120, b: 200 } } }).png().toBuffer();
    const r = await stylize(flat, { detector: DETECTOR, model: invertingGenerator(64) });
    expect(r.faces).toEqual([]);
    expect(r.warnings.join(' ')).toMatch(/no face/i);
    expect(r.image.data.every((v, i) => v === [90, 120, 200][i % 3])).toBe(true);
  });

  it('an animated GIF or WebP: its first frame is stylized, with a warning that says so (none for a still image)', async () => {
    const [w, h] = [200, 250];
    const frames = await Promise.all(['#f00', '#0f0', '#00f'].map((c) => sharp(obama).resize(w, h).tint(c).raw().toBuffer()));
    const raw = { width: w, height: h * 3, channels: 3 as const, pageHeight: h };
    for (const encoded of [await sharp(Buffer.concat(frames), { raw }).gif().toBuffer(), await sharp(Buffer.concat(frames), { raw }).webp().toBuffer()]) {
      expect((await sharp(encoded).metadata()).pages).toBe(3);
      const r = await stylize(encoded, { detector: DETECTOR, model: invertingGenerator(64) });
      expect([r.image.width, r.image.height]).toEqual([w, h]);
      expect(r.warnings).toEqual(['The image is animated (3 frames): only its first frame is stylized and written']);
    }
    const still = await stylize(await sharp(obama).resize(w, h).gif().toBuffer(), { detector: DETECTOR, model: invertingGenerator(64) });
    expect(still.warnings).toEqual([]);
  });

  it('respects EXIF orientation and writes the format of the output extension', async () => {
    const rotated = path.join(tmp, 'rotated.jpg');
    // Stored 300x200 with orientation 6: displayed as 200x300.
    await sharp(obama).resize(300, 200, { fit: 'fill' }).withMetadata({ orientation: 6 }).jpeg().toFile(rotated);
    for (const ext of ['png', 'webp', 'jpg', 'gif']) {
      const out = path.join(tmp, `out.${ext}`);
      await stylizeFile(rotated, out, { detector: DETECTOR, model: invertingGenerator(64) });
      const meta = await sharp(out).metadata();
      expect([meta.width, meta.height]).toEqual([200, 300]);
      expect(meta.format).toBe(ext === 'jpg' ? 'jpeg' : ext);
    }
    await expect(stylizeFile(obama, path.join(tmp, 'out.xyz'), { detector: DETECTOR, model: invertingGenerator(64) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });

  it('writes through a hidden temp file: refuses its own input, a missing folder, a folder as output; leaves nothing else behind', async () => {
    const dir = mkdtempSync(path.join(tmp, 'write-'));
    const input = path.join(dir, 'in.jpg');
    await sharp(obama).jpeg().toFile(input);
    const original = await sharp(input).raw().toBuffer();
    const opts = { detector: DETECTOR, model: invertingGenerator(64) };
    await expect(stylizeFile(input, input, opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('is the input file') });
    expect(Buffer.compare(await sharp(input).raw().toBuffer(), original)).toBe(0);
    await expect(stylizeFile(input, path.join(dir, 'missing', 'out.png'), opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('missing') });
    mkdirSync(path.join(dir, 'adir.png'));
    await expect(stylizeFile(input, path.join(dir, 'adir.png'), opts)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('folder') });
    await stylizeFile(input, path.join(dir, 'out.png'), opts);
    expect(readdirSync(dir).sort()).toEqual(['adir.png', 'in.jpg', 'out.png']);
  });

  it('keeps transparency: an RGBA PNG comes back with the same alpha (PNG, WebP), flattened for JPEG', async () => {
    // Obama with a transparent left third and a half-transparent band under it.
    const { data, info } = await sharp(obama).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    for (let y = 0; y < info.height; ++y)
      for (let x = 0; x < info.width / 3; ++x) data[(y * info.width + x) * 4 + 3] = y < info.height / 2 ? 0 : 128;
    // And a nearly transparent band out of the paste's reach (bottom of the right third): alpha 1..8.
    const faint = (x: number, y: number) => x >= (2 * info.width) / 3 && y >= 0.8 * info.height;
    for (let y = 0; y < info.height; ++y) for (let x = 0; x < info.width; ++x) if (faint(x, y)) data[(y * info.width + x) * 4 + 3] = 1 + (x % 8);
    const rgba = await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toBuffer();
    const model = invertingGenerator(64);
    for (const ext of ['png', 'webp']) {
      const out = path.join(tmp, `alpha.${ext}`);
      const r = await stylizeFile(rgba, out, { detector: DETECTOR, model, ...(ext === 'webp' ? { quality: 100 } : {}) });
      expect(r.faces).toHaveLength(1);
      const back = await sharp(out).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      expect(back.info.channels).toBe(4);
      let alphaDiff = 0, colourDiff = 0, n = 0;
      for (let p = 0; p < info.width * info.height; ++p) {
        alphaDiff = Math.max(alphaDiff, Math.abs(back.data[p * 4 + 3] - data[p * 4 + 3]));
        // Half-transparent pixels keep their colour (not darkened by the black flattening).
        if (data[p * 4 + 3] === 128 && ext === 'png') {
          colourDiff += Math.abs(back.data[p * 4] - data[p * 4]);
          ++n;
        }
      }
      expect(alphaDiff, ext).toBeLessThanOrEqual(ext === 'png' ? 0 : 2);
      if (ext === 'png') expect(colourDiff / n).toBeLessThan(1.5);
      if (ext === 'png') {
        // Pixels the paste did not touch keep their exact colours, however transparent (flattened onto
        // black and divided back, alpha 2 left only 0, 127 or 255 of each channel).
        let changed = 0, faintCount = 0;
        for (let y = 0; y < info.height; ++y)
          for (let x = 0; x < info.width; ++x)
            if (faint(x, y)) {
              ++faintCount;
              const p = (y * info.width + x) * 4;
              if (back.data[p] !== data[p] || back.data[p + 1] !== data[p + 1] || back.data[p + 2] !== data[p + 2]) ++changed;
            }
        expect(faintCount).toBeGreaterThan(1000);
        expect(changed).toBe(0);
      }
    }
    const jpg = path.join(tmp, 'alpha.jpg');
    await stylizeFile(rgba, jpg, { detector: DETECTOR, model });
    expect((await sharp(jpg).metadata()).channels).toBe(3);
  });

  it('concurrent first frames load the 68-point model once, and dispose() releases it (each loaded its own, one was released)', async () => {
    const img = await toRgbImage(obama);
    const { LandmarkModel } = await import('../lib/face/detect.js');
    const load = LandmarkModel.load;
    let loads = 0, disposes = 0;
    LandmarkModel.load = async (...args: Parameters<typeof load>) => {
      ++loads;
      const m = await load.apply(LandmarkModel, args);
      const dispose = m.dispose.bind(m);
      m.dispose = async () => {
        ++disposes;
        return dispose();
      };
      return m;
    };
    try {
      const s = await createFaceStylizer({ detector: DETECTOR, model: invertingGenerator(64), landmarks68: PFLD });
      const results = await Promise.all([1, 2, 3, 4].map(() => s.stylizeFrame(img)));
      expect(results.every((r) => r.faces[0]?.landmarks68?.length === 68)).toBe(true);
      expect(loads).toBe(1);
      await s.dispose();
      expect(disposes).toBe(1);
      // A call in flight at dispose() names the stylizer, not an inner session ("compile the graph again").
      const s3 = await createFaceStylizer({ detector: DETECTOR, model: invertingGenerator(64) });
      const crops = s3.stylizeCrops(new Tensor([4, 3, 64, 64], new Float32Array(4 * 3 * 64 * 64).fill(0.5)));
      await s3.dispose();
      await crops.then(
        (y) => expect(y.shape).toEqual([4, 3, 64, 64]), // (finished before the dispose took effect)
        (e) => expect(e).toMatchObject({ code: 'ERR_FACESTYLE_DISPOSED', message: expect.stringContaining('This FaceStylizer was disposed') }),
      );
      // Disposed while its first frame loads the model: the frame says DISPOSED, the model is released.
      const s2 = await createFaceStylizer({ detector: DETECTOR, model: invertingGenerator(64), landmarks68: PFLD });
      const frame = s2.stylizeFrame(img);
      await s2.dispose();
      await expect(frame).rejects.toMatchObject({ code: 'ERR_FACESTYLE_DISPOSED' });
      await new Promise((r) => setTimeout(r, 300));
      expect([loads, disposes]).toEqual([2, 2]);
    } finally {
      LandmarkModel.load = load;
    }
  });

  it('uses 68 PFLD points for the FFHQ alignment when a model is found (auto), not when turned off', async () => {
    const img = await toRgbImage(obama);
    const model = invertingGenerator(64);
    const before = process.env.FACESTYLE_LANDMARKS;
    try {
      delete process.env.FACESTYLE_LANDMARKS;
      expect((await stylize(img, { detector: DETECTOR, model })).faces[0].landmarks68).toBeUndefined();
      process.env.FACESTYLE_LANDMARKS = PFLD;
      const auto = await stylize(img, { detector: DETECTOR, model });
      expect(auto.faces[0].landmarks68).toHaveLength(68);
      expect((await stylize(img, { detector: DETECTOR, model, landmarks68: false })).faces[0].landmarks68).toBeUndefined();
      // The template fits read 5 points, so 'auto' does not load PFLD for them.
      expect((await stylize(img, { detector: DETECTOR, model, template: 'arcface' })).faces[0].landmarks68).toBeUndefined();
      // A FACESTYLE_LANDMARKS naming no file is an error, not silently ignored.
      process.env.FACESTYLE_LANDMARKS = path.join(tmp, 'no-pfld.onnx');
      await expect(stylize(img, { detector: DETECTOR, model })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining("no-pfld.onnx' (from FACESTYLE_LANDMARKS)") });
      process.env.FACESTYLE_LANDMARKS = PFLD;
      // And the crop follows the 68 points: the same face without them pastes differently.
      const stylizer = await createFaceStylizer({ detector: DETECTOR, model, landmarks68: PFLD });
      try {
        const [face] = await stylizer.detect(img);
        const with68 = await stylizer.stylizeFaces(img, [face]);
        const without = await stylizer.stylizeFaces(img, [{ ...face, landmarks68: undefined }]);
        expect(Buffer.compare(Buffer.from(with68.data), Buffer.from(without.data))).not.toBe(0);
        expect(Buffer.compare(Buffer.from(with68.data), Buffer.from(auto.image.data))).toBe(0);
      } finally {
        await stylizer.dispose();
      }
    } finally {
      if (before === undefined) delete process.env.FACESTYLE_LANDMARKS;
      else process.env.FACESTYLE_LANDMARKS = before;
    }
  });

  it('frame API: detect, stylizeFaces with given faces, stylizeFrame, timings', async () => {
    const frame = await toRgbImage(pair);
    const stylizer = await createFaceStylizer({ detector: DETECTOR, model: invertingGenerator(96, 2) });
    try {
      expect(stylizer.size).toBe(96);
      const faces = await stylizer.detect(frame);
      expect(faces).toHaveLength(2);
      expect(stylizer.lastTimings.detect).toBeGreaterThan(0);
      const one = await stylizer.stylizeFaces(frame, faces.slice(1));
      const both = await stylizer.stylizeFrame(frame);
      expect(both.faces).toHaveLength(2);
      expect(stylizer.lastTimings.paste).toBeGreaterThan(0);
      // Only the second face changed in `one`: the largest face's nose pixel is original there.
      const [lx, ly] = faces[0].landmarks[2].map(Math.round);
      const p = (ly * frame.width + lx) * 3;
      expect(one.data[p]).toBe(frame.data[p]);
      expect(both.image.data[p]).not.toBe(frame.data[p]);
      const empty = await stylizer.stylizeFaces(frame, []);
      expect(Buffer.compare(Buffer.from(empty.data), Buffer.from(frame.data))).toBe(0);
      expect(empty.data === frame.data).toBe(false);
      // Frames stylized: two by stylizeFaces (given faces) and one by stylizeFrame; detect() alone counts none.
      expect(stylizer.totalTimings.frames).toBe(3);
    } finally {
      await stylizer.dispose();
    }
  });

  it('no visible seam: mean gradient on the mask boundary <= 1.5x max(stylized interior, surrounding original) with AnimeGANv3', async () => {
    const generator = await onnxRuntimeGenerator(ANIME, { size: 256 });
    try {
      for (const file of [obama, pair, path.join(WHOLE, 'vtoonify/pexels-andrea-piacquadio-733872.jpg')]) {
        const img = await toRgbImage(file);
        const faces = await detectFaces(img, { detector: DETECTOR });
        const { crops, matrices } = await alignFaces(img, faces.map((f) => f.landmarks), { size: 256 });
        const y = await generator.run(new Tensor(crops.shape, crops.data.map((v) => v * 2 - 1)));
        const alpha = new Float32Array(img.width * img.height);
        const out = await pasteFaces(img, new Tensor(y.shape, y.data.map((v) => (v + 1) / 2)), matrices, { alphaOut: alpha });
        // Near the faces only: pixels inside some pasted region's bounding box.
        const near = new Uint8Array(alpha.length);
        for (const m of matrices) {
          const r = cropRegion(m, 256, img.width, img.height)!;
          for (let yy = r.y0; yy < r.y0 + r.h; ++yy) near.fill(1, yy * img.width + r.x0, yy * img.width + r.x0 + r.w);
        }
        const boundary = meanGradient(out, (p) => alpha[p] > 0.2 && alpha[p] < 0.8);
        const interior = meanGradient(out, (p) => alpha[p] >= 0.999);
        const surround = meanGradient(out, (p) => near[p] === 1 && alpha[p] === 0);
        expect(boundary.count).toBeGreaterThan(100);
        expect(boundary.mean, `${path.basename(file)}: boundary ${boundary.mean.toFixed(2)} interior ${interior.mean.toFixed(2)} surround ${surround.mean.toFixed(2)}`).toBeLessThanOrEqual(1.5 * Math.max(interior.mean, surround.mean));
        // The stylized face really differs from the photo (the check above is not vacuous).
        let changed = 0;
        for (let p = 0; p < alpha.length; ++p) if (alpha[p] >= 0.999) changed += Math.abs(out.data[p * 3] - img.data[p * 3]);
        expect(changed / alpha.filter((a) => a >= 0.999).length).toBeGreaterThan(3);
      }
    } finally {
      await generator.dispose();
    }
  });

  it('a generator that returns NaN is ERR_FACESTYLE_NUMERIC, not a face pasted as black', async () => {
    // Sqrt of the [-1,1] input: NaN wherever the crop is darker than mid-grey (it pasted black patches).
    const g = new GraphBuilder('sqrt');
    g.output(g.op1('Sqrt', [g.input('x', [1, 3, 64, 64])]), 'y');
    const sqrt = g.build();
    const dark = { data: new Uint8Array(64 * 64 * 3).fill(20), width: 64, height: 64 };
    await expect(stylize(dark, { aligned: true, model: sqrt, size: 64, detector: '/nonexistent.onnx' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC', message: expect.stringContaining('NaN (face 1 of 1)') });
    const light = { data: new Uint8Array(64 * 64 * 3).fill(230), width: 64, height: 64 };
    const r = await stylize(light, { aligned: true, model: sqrt, size: 64, detector: '/nonexistent.onnx' });
    expect(r.image.data[0]).toBeGreaterThan(230); // sqrt(0.8) = 0.89 in [-1,1]: brighter
  });

  it('stylizes an aligned crop whole (no detection)', async () => {
    const crop = path.join(path.dirname(WHOLE), 'aligned/gfpgan/Adele_crop.png');
    const r = await stylize(crop, { aligned: true, model: invertingGenerator(128), detector: '/nonexistent.onnx' });
    expect([r.image.width, r.image.height]).toEqual([512, 512]);
    const img = await toRgbImage(crop);
    const mean = (im: RgbImage) => im.data.reduce((s, v) => s + v, 0) / im.data.length;
    expect(Math.abs(mean(r.image) - (255 - mean(img)))).toBeLessThan(3);
    // On a stylizer, an aligned crop counts in its timings like a frame (the CLI's --json totals).
    const stylizer = await createFaceStylizer({ model: invertingGenerator(128), detector: '/nonexistent.onnx' });
    try {
      const a = await stylizer.stylizeAligned(img);
      const b = await stylizer.stylizeAligned(img);
      expect(a.faces).toHaveLength(1);
      expect(b.timings.detect).toBe(0);
      expect(b.timings.stylize).toBeGreaterThan(0);
      expect(stylizer.lastTimings).toEqual(b.timings);
      const total = stylizer.totalTimings;
      expect(total.frames).toBe(2);
      expect(total.stylize).toBeCloseTo(a.timings.stylize + b.timings.stylize, 6);
      expect(total.total).toBeCloseTo(a.timings.total + b.timings.total, 6);
      expect(a.warnings).toEqual([]);
      // A crop that is not square is stretched for the model: said in a warning (a whole photo given as aligned).
      const wide = await stylizer.stylizeAligned({ data: new Uint8Array(96 * 64 * 3).fill(100), width: 96, height: 64 });
      expect([wide.image.width, wide.image.height]).toEqual([96, 64]);
      expect(wide.warnings).toEqual([expect.stringContaining('96x64, not square')]);
      // A crop's transparency comes through (stylizeFrame kept it; stylizeAligned dropped it).
      const alpha = Uint8Array.from({ length: 96 * 64 }, (_, i) => i % 256);
      const seeThrough = await stylizer.stylizeAligned({ data: new Uint8Array(96 * 64 * 3).fill(100), width: 96, height: 64, alpha });
      expect(seeThrough.image.alpha).toBe(alpha);
      // detect() then stylizeFaces() counts as one frame (it counted none).
      const before = stylizer.totalTimings.frames;
      await stylizer.stylizeFaces(img, []);
      expect(stylizer.totalTimings.frames).toBe(before + 1);
    } finally {
      await stylizer.dispose();
    }
  });

  it('a FaceGenerator object and graphGenerator batching give the same crops', async () => {
    const x = Tensor.random([3, 3, 32, 32], 2);
    const g1 = await graphGenerator(invertingGenerator(32, 1));
    const g2 = await graphGenerator(invertingGenerator(32, 2));
    const [a, b] = [await g1.run(x), await g2.run(x)];
    expect([...a.data]).toEqual([...b.data]);
    expect(a.data[5]).toBeCloseTo(-x.data[5], 6);
    g1.dispose();
    g2.dispose();
  });

  it('graphGenerator.run with inPlace writes the output over the batch and returns it, with the same values', async () => {
    // 3x3 convs and a skip from the input: an output written over the input before the last node ran
    // would change the result.
    const blur = (batch: number) => {
      const g = new GraphBuilder('blur-skip', { seed: 6 });
      const x = g.input('x', [batch, 3, 16, 16]);
      const h = g.relu(g.conv2d(x, { out: 4, kernel: 3, pad: 1 }));
      g.output(g.op1('Add', [g.conv2d(h, { out: 3, kernel: 3, pad: 1 }), x]), 'y');
      return g.build();
    };
    for (const batch of [1, 2]) {
      const gen = await graphGenerator(blur(batch));
      try {
        const x = Tensor.random([3, 3, 16, 16], 4); // with batch 2 the last chunk is a padded copy
        const expected = await gen.run(x);
        expect(expected).not.toBe(x);
        const copy = new Tensor(x.shape, x.data.slice());
        const y = await gen.run(copy, { inPlace: true });
        expect(y).toBe(copy);
        expect([...y.data]).toEqual([...expected.data]);
        expect([...x.data]).not.toEqual([...expected.data]);
      } finally {
        await gen.dispose();
      }
    }
  });

  it('mirrorAveraged: the mean of the model and its mirrored run, mirror-equivariant, in place only when allowed', async () => {
    const g = new GraphBuilder('lopsided', { seed: 12 });
    g.output(g.conv2d(g.relu(g.conv2d(g.input('x', [1, 3, 16, 16]), { out: 4, kernel: 3, pad: 1 })), { out: 3, kernel: 3, pad: 1 }), 'y');
    const plain = await graphGenerator(g.build());
    const averaged = mirrorAveraged(await graphGenerator(g.build()));
    try {
      const x = Tensor.random([2, 3, 16, 16], 13);
      const keep = x.data.slice();
      const a = (await plain.run(x)).data;
      const b = mirrorImages(await plain.run(mirrorImages(x))).data;
      const m = await averaged.run(x);
      expect([...x.data]).toEqual([...keep]); // not in place unless asked
      let maxDiff = 0;
      for (let i = 0; i < m.size; ++i) maxDiff = Math.max(maxDiff, Math.abs(m.data[i] - 0.5 * (a[i] + b[i])));
      expect(maxDiff).toBeLessThan(1e-6);
      // Equivariance: a mirrored input gives the mirrored output; the plain model is far from it.
      const diff = (p: Float32Array, q: Float32Array) => p.reduce((s, v, i) => Math.max(s, Math.abs(v - q[i])), 0);
      expect(diff((await averaged.run(mirrorImages(x))).data, mirrorImages(m).data)).toBeLessThan(1e-5);
      expect(diff((await plain.run(mirrorImages(x))).data, mirrorImages(await plain.run(x)).data)).toBeGreaterThan(1e-2);
      // In place when allowed: the batch itself comes back, same values.
      const copy = new Tensor(x.shape, keep.slice());
      const inPlace = await averaged.run(copy, { inPlace: true });
      expect(inPlace).toBe(copy);
      expect(diff(inPlace.data, m.data)).toBe(0);
      // A generator that returns its input (identity) leaves the caller's batch untouched.
      const identity = mirrorAveraged({ name: 'id', size: 16, run: async (t) => t, dispose: () => {} });
      const z = Tensor.random([1, 3, 16, 16], 14);
      const zKeep = z.data.slice();
      const zOut = await identity.run(z);
      expect([...z.data]).toEqual([...zKeep]);
      expect(diff(zOut.data, z.data)).toBeLessThan(1e-7);
    } finally {
      await plain.dispose();
      await averaged.dispose();
    }
  });

  it('graphGenerator on a graph with an extra output uses the first one (with or without inPlace)', async () => {
    const g = new GraphBuilder('two-outputs', { seed: 8 });
    const x = g.input('x', [1, 3, 16, 16]);
    const y = g.conv2d(x, { out: 3, kernel: 3, pad: 1 });
    g.output(y, 'y');
    g.output(g.relu(y), 'aux');
    const gen = await graphGenerator(g.build());
    try {
      const input = Tensor.random([2, 3, 16, 16], 9);
      const a = await gen.run(input);
      const b = await gen.run(new Tensor(input.shape, input.data.slice()), { inPlace: true });
      expect(a.shape).toEqual([2, 3, 16, 16]);
      expect([...b.data]).toEqual([...a.data]);
      expect(a.data.some((v) => v < 0)).toBe(true); // the first output (no relu), not 'aux'
    } finally {
      await gen.dispose();
    }
  });

  it('a dynamic-size model at a size its layers do not fit is a SHAPE error that suggests one', async () => {
    await expect(loadFaceGenerator(ANIME, { size: 264, engine: 'native' })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringMatching(/does not run at 264x264.*divisible by 32/) });
    // onnxruntime finds out only when it runs: the same mistake is a coded error there too, not onnxruntime's raw status.
    const ort = await onnxRuntimeGenerator(ANIME, { size: 264 });
    try {
      await expect(ort.run(new Tensor([1, 3, 264, 264], new Float32Array(3 * 264 * 264)))).rejects.toMatchObject({
        code: 'ERR_FACESTYLE_SHAPE',
        message: expect.stringMatching(/animeganv3_tiny_cute\.onnx' failed in onnxruntime on input \[1,264,264,3\].*divisible by 32/),
      });
    } finally {
      await ort.dispose();
    }
  });

  it('an onnxruntime generator disposed while (or before) it runs says ERR_FACESTYLE_DISPOSED, not that the model is broken', async () => {
    const ort = await onnxRuntimeGenerator(ANIME, { size: 64 });
    const x = new Tensor([1, 3, 64, 64], new Float32Array(3 * 64 * 64));
    expect((await ort.run(x)).shape).toEqual([1, 3, 64, 64]);
    const running = ort.run(x);
    await ort.dispose();
    const settled = await running.then(() => null, (e) => e);
    if (settled) expect(settled).toMatchObject({ code: 'ERR_FACESTYLE_DISPOSED' });
    await expect(ort.run(x)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_DISPOSED', message: expect.stringContaining('animeganv3_tiny_cute.onnx') });
    await ort.dispose(); // twice is harmless
  });

  it('AnimeGANv3 (NHWC, dynamic size) gives the same faces natively (lib/onnx) and through onnxruntime', async () => {
    const img = await toRgbImage(obama);
    const faces = await detectFaces(img, { detector: DETECTOR });
    const { crops } = await alignFaces(img, faces.map((f) => f.landmarks), { size: 128 });
    const x = new Tensor(crops.shape, crops.data.map((v) => v * 2 - 1));
    const ort = await onnxRuntimeGenerator(ANIME, { size: 128 });
    const native = await loadFaceGenerator(ANIME, { size: 128, engine: 'native' });
    try {
      const [a, b] = [await ort.run(x), await native.run(x)];
      expect(b.shape).toEqual([1, 3, 128, 128]);
      let maxDiff = 0;
      for (let i = 0; i < a.size; ++i) maxDiff = Math.max(maxDiff, Math.abs(a.data[i] - b.data[i]));
      expect(maxDiff).toBeLessThan(1e-3);
      // And the model changes the face (it is not an identity).
      let change = 0;
      for (let i = 0; i < a.size; ++i) change += Math.abs(a.data[i] - x.data[i]);
      expect(change / a.size).toBeGreaterThan(0.02);
    } finally {
      await ort.dispose();
      await native.dispose();
    }
  });
});
