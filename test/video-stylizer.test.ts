// The real video stylizer (shipped model + YuNet): its align / model / paste steps, which the pipeline
// runs as overlapping stages, give the same frames as lib/face's per-frame stylizeFaces.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaceStylizer, type FaceStylizer } from '../lib/face/index.js';
import { GraphBuilder } from '../lib/graph/builder.js';
import { exportOnnx } from '../lib/onnx/export.js';
import type { RgbImage } from '../lib/face/types.js';
import { checkFrame, cropRgb, readFrameFolder } from '../lib/video/frames.js';
import { interOcularDistance } from '../lib/video/one-euro.js';
import { isOwnedFrame, ownFrames } from '../lib/video/owned-frames.js';
import { createVideoStylizer, type FrameFaces, type FrameStylizer } from '../lib/video/stylizer.js';
import { describeShared, sharedData } from './helpers/shared.js';

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'models', 'comic-light.json');
const shared = (...parts: string[]) => sharedData(path.join(...parts));
const DETECTOR = shared('models', 'detection', 'yunet_s_dynamic.onnx');

// models/comic-light.* ship with the repository: missing is a broken checkout, never a reason to skip.
it('the shipped model (models/comic-light.json + .safetensors) is in the repository', () => {
  for (const file of [MODEL, MODEL.replace(/\.json$/, '.safetensors')]) expect(existsSync(file), `${file} is missing: the repository ships it`).toBe(true);
});

describeShared('createVideoStylizer (shipped model)', () => {
  let video: FrameStylizer;
  let face: FaceStylizer;
  const items: FrameFaces[] = [];
  beforeAll(async () => {
    video = await createVideoStylizer({ model: MODEL, detector: DETECTOR, size: 128 });
    face = await createFaceStylizer({ model: MODEL, detector: DETECTOR, size: 128 });
    for await (const frame of readFrameFolder(shared('frames', 'vtoonify_908'), { maxFrames: 3 })) items.push({ frame, faces: await video.detect(frame) });
  });
  afterAll(async () => {
    await video?.dispose?.();
    await face?.dispose();
  });

  it('stylizes a batch of frames through its steps like lib/face does frame by frame', async () => {
    expect(items.map((it) => it.faces.length)).toEqual([1, 1, 1]);
    expect(video.steps).toBeDefined();
    const copies = items.map((it) => Buffer.from(it.frame.data));
    const steps = video.steps!;
    const viaSteps = await steps.paste(await steps.model(await steps.align(items)));
    const viaStylize = await video.stylize(items);
    expect(viaSteps).toHaveLength(3);
    for (let i = 0; i < 3; ++i) {
      const reference: RgbImage = await face.stylizeFaces(items[i].frame, items[i].faces);
      const a = viaSteps[i].data, b = reference.data, c = viaStylize[i].data;
      // The batch of 3 and the single-face call may sum in another order: at most one level apart.
      let maxDiff = 0;
      let changed = 0;
      for (let k = 0; k < a.length; ++k) {
        maxDiff = Math.max(maxDiff, Math.abs(a[k] - b[k]), Math.abs(a[k] - c[k]));
        if (a[k] !== items[i].frame.data[k]) ++changed;
      }
      expect(maxDiff).toBeLessThanOrEqual(1);
      // The face was actually restyled (a good part of the frame changed), the input left untouched.
      expect(changed).toBeGreaterThan(0.05 * a.length);
      expect(Buffer.compare(Buffer.from(items[i].frame.data), copies[i])).toBe(0);
    }
  });

  it("blends into the pipeline's own decoded frames in place, with the same pixels as into a copy", async () => {
    const steps = video.steps!;
    const viaCopy = await steps.paste(await steps.model(await steps.align(items)));
    // The same frames as stylizeVideo's decoder hands them over: marked as the pipeline's own.
    const own: RgbImage[] = [];
    for await (const f of ownFrames((async function* () {
      for (const it of items) yield { data: new Uint8Array(it.frame.data), width: it.frame.width, height: it.frame.height };
    })())) own.push(f);
    expect(own.every(isOwnedFrame)).toBe(true);
    expect(items.some((it) => isOwnedFrame(it.frame))).toBe(false);
    const ownItems = own.map((frame, i) => ({ frame, faces: items[i].faces }));
    const inPlace = await steps.paste(await steps.model(await steps.align(ownItems)));
    for (let i = 0; i < 3; ++i) {
      expect(inPlace[i].data).toBe(own[i].data); // no new frame
      expect(Buffer.compare(Buffer.from(inPlace[i].data), Buffer.from(viaCopy[i].data))).toBe(0);
      expect(Buffer.compare(Buffer.from(own[i].data), Buffer.from(items[i].frame.data))).not.toBe(0);
    }
  });

  it('a generator that returns NaN stops the batch with ERR_FACESTYLE_NUMERIC (it pasted black patches), both engines', async () => {
    const g = new GraphBuilder('sqrt');
    g.output(g.op1('Sqrt', [g.input('x', [1, 3, 128, 128])]), 'y');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'facestyle-nan-')), 'sqrt.onnx');
    exportOnnx(g.build(), file); // dynamic batch
    for (const engine of ['native', 'onnxruntime'] as const) {
      const nan = await createVideoStylizer({ model: file, detector: DETECTOR, size: 128, engine });
      try {
        // Sqrt of the crops in [-1,1]: NaN wherever a pixel is darker than mid-grey (every real face has some).
        await expect(nan.stylize(items.slice(0, 2))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC', message: expect.stringMatching(/returned NaN \(face 1 of 2\)/) });
      } finally {
        await nan.dispose?.();
      }
    }
  });

  it('mirrorAverage must be a boolean: a coded error before any model loads', async () => {
    await expect(createVideoStylizer({ model: '/nonexistent/model.json', mirrorAverage: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('mirrorAverage') });
  });

  it('re-finds a face in a region around it (detectRegion) close to where a full detection puts it', async () => {
    expect(video.detectRegion).toBeDefined();
    for (const { frame, faces } of items) {
      const [x, y, w, h] = faces[0].box;
      const side = 2.2 * Math.max(w, h);
      const region = cropRgb(frame, x + w / 2 - side / 2, y + h / 2 - side / 2, side, side);
      // A close-up: the region is larger than the 160 px the region pass runs at.
      expect(Math.max(region.image.width, region.image.height)).toBeGreaterThan(160);
      const hits = await video.detectRegion!(region.image);
      expect(hits.length).toBeGreaterThanOrEqual(1);
      const iod = interOcularDistance(faces[0].landmarks);
      const err = hits[0].landmarks.reduce((s, p, k) => s + Math.hypot(p[0] + region.x - faces[0].landmarks[k][0], p[1] + region.y - faces[0].landmarks[k][1]), 0) / 5 / iod;
      expect(err).toBeLessThan(0.08);
    }
  });
});

describeShared('stylizeFrames with the stylizer it creates', () => {
  it('an abort while the model loads ends the run before any frame is read (an endless source ran on: the signal had already fired)', async () => {
    const { stylizeFrames } = await import('../lib/video/pipeline.js');
    let produced = 0;
    async function* endless() {
      for (;;) {
        ++produced;
        yield { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 };
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const ac = new AbortController();
    const reason = new Error('stop while loading');
    const stream = stylizeFrames(endless(), { model: MODEL, detector: DETECTOR, size: 128, signal: ac.signal });
    const first = stream.next(); // starts loading the model
    ac.abort(reason);
    await expect(first).rejects.toBe(reason);
    expect(produced).toBe(0);
  });
});

describe('checkFrame names what it received', () => {
  it('null, a number and an object without pixels: each named (null was called "object")', () => {
    for (const [bad, named] of [[null, 'received null'], [7, 'received 7'], [{ width: 2 }, 'received Object']] as const)
      expect(() => checkFrame(bad, 3)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(`frame 3 to be {data: Uint8Array, width, height} but ${named}`) }));
  });
});
