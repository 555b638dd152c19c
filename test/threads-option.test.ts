// The `threads` option reaches every network the face and video APIs run (generator, detector, landmarks),
// and the video APIs pass the detector's score threshold through to the stylizer they create.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { capabilities } from '../lib/capabilities.js';
import { FaceDetector, LandmarkModel, sharedDetector } from '../lib/face/detect.js';
import { toRgbImage } from '../lib/face/image.js';
import { loadFaceGenerator, mirrorAveraged } from '../lib/face/model.js';
import { createFaceStylizer } from '../lib/face/stylize.js';
import type { RgbImage } from '../lib/face/types.js';
import { readFrameFolder } from '../lib/video/frames.js';
import { stylizeFrames, stylizeVideo } from '../lib/video/pipeline.js';
import { DETECTOR, PFLD, invertingGenerator } from './face-fixtures.js';
import { describeShared, sharedData } from './helpers/shared.js';

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'models', 'comic-light.json');
const BAD_THREADS: unknown[] = [-1, 2.5, '2', 1025, NaN];

describe('threads option: generators', () => {
  it('a native generator runs on the threads asked for; 0 or none means every hardware thread', async () => {
    const hardware = capabilities().threads;
    expect(hardware).toBeGreaterThanOrEqual(1);
    const one = await loadFaceGenerator(invertingGenerator(16), { threads: 1 });
    const all = await loadFaceGenerator(invertingGenerator(16), { threads: 0 });
    const unset = await loadFaceGenerator(invertingGenerator(16));
    try {
      expect(one.threads).toBe(1);
      expect(all.threads).toBe(hardware);
      expect(unset.threads).toBe(hardware);
      // The mirror-averaging wrapper reports the generator it wraps.
      expect(mirrorAveraged(one).threads).toBe(1);
    } finally {
      await Promise.all([one, all, unset].map((g) => g.dispose()));
    }
  });

  it('the shipped model loads on one thread and stylizes exactly as on all threads', async () => {
    const one = await loadFaceGenerator(MODEL, { size: 32, threads: 1 });
    const all = await loadFaceGenerator(MODEL, { size: 32 });
    try {
      expect(one.threads).toBe(1);
      const { Tensor } = await import('../lib/graph/tensor.js');
      const x = new Tensor([1, 3, 32, 32], Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)));
      const a = (await one.run(x)).data, b = (await all.run(x)).data;
      let worst = 0;
      for (let i = 0; i < a.length; ++i) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await Promise.all([one.dispose(), all.dispose()]);
    }
  });

  it('a bad thread count is ERR_FACESTYLE_ARGUMENT naming threads, before anything loads', async () => {
    for (const threads of BAD_THREADS) {
      await expect(loadFaceGenerator('no-such-model.onnx', { threads: threads as number })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for threads') });
      await expect(createFaceStylizer({ model: 'no-such-model.onnx', threads: threads as number })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for threads') });
    }
  });
});

describeShared('threads option: detector, landmarks, stylizer', () => {
  let photo: RgbImage;
  const opened: { dispose(): unknown }[] = [];
  afterAll(async () => {
    for (const o of opened) await o.dispose();
  });

  it('the detector runs on the threads asked for, on either engine, and finds the same faces', async () => {
    photo = await toRgbImage(sharedData('faces/whole/codeformer/00.jpg'));
    for (const engine of ['native', 'onnxruntime'] as const) {
      const one = await FaceDetector.load(DETECTOR, { engine, threads: 1 });
      const two = await FaceDetector.load(DETECTOR, { engine, threads: 2 });
      opened.push(one, two);
      expect([one.threads, two.threads]).toEqual([1, 2]);
      const a = await one.detect(photo), b = await two.detect(photo);
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; ++i) for (let k = 0; k < 4; ++k) expect(Math.abs(a[i].box[k] - b[i].box[k])).toBeLessThan(1e-3);
    }
    await expect(FaceDetector.load(DETECTOR, { threads: -2 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for threads') });
  });

  it('shared detectors are one per thread count', async () => {
    const a = await sharedDetector(DETECTOR, 'native', { threads: 1 });
    const b = await sharedDetector(DETECTOR, 'native', { threads: 1 });
    const c = await sharedDetector(DETECTOR, 'native', { threads: 2 });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect([a.threads, c.threads]).toEqual([1, 2]);
  });

  it('the landmark model loads with its thread count', async () => {
    const lm = await LandmarkModel.load(PFLD, { threads: 1 });
    opened.push(lm);
    expect(lm.threads).toBe(1);
    await expect(LandmarkModel.load(PFLD, { threads: 'all' as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });

  it('a one-thread stylizer gives the same picture as an all-threads one', async () => {
    const one = await createFaceStylizer({ model: MODEL, size: 64, detector: DETECTOR, threads: 1, landmarks68: PFLD });
    const all = await createFaceStylizer({ model: MODEL, size: 64, detector: DETECTOR, landmarks68: PFLD });
    opened.push(one, all);
    expect([one.threads, all.threads]).toEqual([1, 0]);
    const a = await one.stylizeFrame(photo), b = await all.stylizeFrame(photo);
    expect(a.faces.length).toBeGreaterThan(0);
    let differing = 0, worst = 0;
    for (let i = 0; i < a.image.data.length; ++i) {
      const d = Math.abs(a.image.data[i] - b.image.data[i]);
      worst = Math.max(worst, d);
      if (d) ++differing;
    }
    // At most a rounding step apart, in a handful of bytes; and the face was restyled in both.
    expect(worst).toBeLessThanOrEqual(1);
    expect(differing).toBeLessThan(a.image.data.length / 1000);
    let changed = 0;
    for (let i = 0; i < a.image.data.length; ++i) if (a.image.data[i] !== photo.data[i]) ++changed;
    expect(changed).toBeGreaterThan(a.image.data.length / 50);
  });
});

describeShared('video options: threads and scoreThreshold reach the created stylizer', () => {
  const frames = async (): Promise<RgbImage[]> => {
    const out: RgbImage[] = [];
    for await (const f of readFrameFolder(sharedData('frames/vtoonify_908'), { maxFrames: 2 })) out.push(f);
    return out;
  };

  it('faces below the score threshold are not stylized; frames pass through', async () => {
    const input = await frames();
    const run = async (scoreThreshold?: number) => {
      const out: RgbImage[] = [];
      for await (const f of stylizeFrames(input, { model: MODEL, size: 64, detector: DETECTOR, threads: 1, scoreThreshold })) out.push(f);
      return out;
    };
    const normal = await run();
    expect(normal).toHaveLength(2);
    expect(normal.every((f, i) => f !== input[i])).toBe(true); // a face was found and stylized in each
    // No real face scores 0.9999 (cls * obj): with that threshold nothing is found, every frame is the input itself.
    const strict = await run(0.9999);
    expect(strict.every((f, i) => f === input[i])).toBe(true);
  });

  it('bad threads or thresholds are refused before anything is decoded', async () => {
    for (const threads of BAD_THREADS)
      await expect(stylizeVideo(sharedData('video/908.mp4'), path.join('/tmp', 'never-written.mp4'), { threads: threads as number })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for threads') });
    await expect(stylizeVideo(sharedData('video/908.mp4'), path.join('/tmp', 'never-written.mp4'), { scoreThreshold: 1.5 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for scoreThreshold') });
  });
});
