// Unit tests of the video building blocks: bounded queue, One-Euro filter, face tracker, frame helpers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Face } from '../lib/face/types.js';
import { cropRgb, frameFileName, listFrameFiles, readFrameFolder, writeFrameFile } from '../lib/video/frames.js';
import { FaceSmoother, OneEuroFilter, interOcularDistance, smoothingFactor } from '../lib/video/one-euro.js';
import { BoundedQueue } from '../lib/video/queue.js';
import { DEFAULT_EVERY, FaceTracker, boxIoU } from '../lib/video/tracker.js';
import { ffmpegThreads } from '../lib/video/ffmpeg.js';
import { rateOf } from '../lib/video/pipeline.js';
import { boxLandmarks, detectSquare, squareFrame } from './video-helpers.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('BoundedQueue', () => {
  it('makes the producer wait while full and resumes it when an item is taken', async () => {
    const q = new BoundedQueue<number>(2);
    await q.push(1);
    await q.push(2);
    let third = false;
    const p = q.push(3).then(() => (third = true));
    await tick();
    expect(third).toBe(false);
    expect(q.size).toBe(2);
    expect((await q.shift()).value).toBe(1);
    await p;
    expect(third).toBe(true);
    q.close();
    const rest: number[] = [];
    for await (const v of q) rest.push(v);
    expect(rest).toEqual([2, 3]);
  });

  it('fail() rejects a waiting producer and a waiting consumer with the error', async () => {
    const full = new BoundedQueue<number>(1);
    await full.push(1);
    const blockedPush = full.push(2);
    const empty = new BoundedQueue<number>(1);
    const blockedShift = empty.shift();
    const boom = new Error('boom');
    full.fail(boom);
    empty.fail(boom);
    await expect(blockedPush).rejects.toBe(boom);
    await expect(blockedShift).rejects.toBe(boom);
  });
});

describe('One-Euro filter', () => {
  it('has the exponential smoothing factor 2*pi*fc*dt / (1 + 2*pi*fc*dt)', () => {
    // fc = 1 Hz at 30 fps: 2*pi/30 = 0.20944 -> 0.20944/1.20944
    expect(smoothingFactor(1, 1 / 30)).toBeCloseTo(0.173172, 5);
    expect(smoothingFactor(1e9, 1 / 30)).toBeCloseTo(1, 6);
  });

  it('refuses cutoffs that would make every output NaN', () => {
    for (const o of [{ minCutoff: Number.NaN }, { minCutoff: 0 }, { beta: -1 }, { dCutoff: -2 }]) expect(() => new OneEuroFilter(o), JSON.stringify(o)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
  });

  it('passes the first sample and a constant signal through unchanged', () => {
    const f = new OneEuroFilter();
    expect(f.filter(7.5, 0)).toBe(7.5);
    for (let i = 1; i < 20; ++i) expect(f.filter(7.5, i / 30)).toBeCloseTo(7.5, 12);
  });

  it('cuts frame-to-frame jitter of a still point by more than half', () => {
    const f = new OneEuroFilter({ minCutoff: 1, beta: 0.5 });
    // Deterministic +-1 jitter around 100.
    const raw = Array.from({ length: 120 }, (_, i) => 100 + (((i * 7919) % 13) / 6 - 1));
    const out = raw.map((v, i) => f.filter(v, i / 30));
    const motion = (xs: number[]) => xs.slice(1).reduce((s, v, i) => s + Math.abs(v - xs[i]), 0);
    expect(motion(out)).toBeLessThan(0.5 * motion(raw));
  });

  it('follows fast motion with less lag when beta is higher', () => {
    const lagWith = (beta: number) => {
      const f = new OneEuroFilter({ minCutoff: 1, beta });
      let y = 0;
      for (let i = 0; i <= 60; ++i) y = f.filter(i * 5, i / 30); // 150 units/s ramp
      return 300 - y;
    };
    const still = lagWith(0);
    const quick = lagWith(1);
    expect(still).toBeGreaterThan(10);
    expect(quick).toBeLessThan(still / 3);
  });

  it('FaceSmoother smooths landmarks and box of a face, scale-free', () => {
    const s = new FaceSmoother({ minCutoff: 1, beta: 0 });
    const face = (dx: number): Face => ({ box: [100 + dx, 50, 80, 80], score: 0.9, landmarks: boxLandmarks(100 + dx, 50, 80, 80) });
    const first = s.smooth(face(0), 0);
    expect(first.landmarks).toEqual(face(0).landmarks);
    const second = s.smooth(face(10), 1 / 30);
    // Moves toward the new position by the smoothing factor (beta 0: fixed cutoff).
    const alpha = smoothingFactor(1, 1 / 30);
    expect(second.box[0]).toBeCloseTo(100 + 10 * alpha, 6);
    expect(second.landmarks[2][0]).toBeCloseTo(face(0).landmarks[2][0] + 10 * alpha, 6);
    expect(second.score).toBe(0.9);
    expect(interOcularDistance(face(0).landmarks)).toBeCloseTo(0.4 * 80, 9);
  });
});

describe('FaceTracker', () => {
  const face = (x: number, y: number, s: number): Face => ({ box: [x, y, s, s], score: 1, landmarks: boxLandmarks(x, y, s, s) });

  it('computes box IoU', () => {
    expect(boxIoU([0, 0, 2, 2], [0, 0, 2, 2])).toBe(1);
    expect(boxIoU([0, 0, 2, 2], [5, 5, 2, 2])).toBe(0);
    expect(boxIoU([0, 0, 2, 2], [1, 0, 2, 2])).toBeCloseTo(1 / 3, 12);
  });

  it('keeps track ids across frames and gives a new face a new id', () => {
    const t = new FaceTracker({ smoothing: false });
    const a0 = t.update([face(10, 10, 50), face(200, 10, 50)], 0);
    expect(a0.map((f) => f.trackId)).toEqual([1, 2]);
    // Same faces moved a little, listed in the other order, plus a third one.
    const a1 = t.update([face(205, 12, 50), face(300, 100, 40), face(13, 11, 50)], 1 / 30);
    expect(a1.map((f) => f.trackId)).toEqual([2, 3, 1]);
    // Without smoothing the raw detection comes out.
    expect(a1[0].landmarks).toEqual(face(205, 12, 50).landmarks);
  });

  it('detects the full frame every N frames and re-finds faces in a small region in between', async () => {
    const t = new FaceTracker({ every: 3 });
    const sizes: number[][] = [];
    const detect = async (img: { width: number; height: number; data: Uint8Array }) => {
      sizes.push([img.width, img.height]);
      return detectSquare(img);
    };
    for (let i = 0; i < 7; ++i) {
      const faces = await t.track(squareFrame(320, 240, 100 + 2 * i, 80, 40), i, i / 30, detect);
      expect(faces).toHaveLength(1);
      expect(faces[0].trackId).toBe(1);
    }
    expect(t.fullDetections).toBe(3); // frames 0, 3, 6
    expect(t.regionDetections).toBe(4);
    const regions = sizes.filter(([w, h]) => w !== 320 || h !== 240);
    expect(regions).toHaveLength(4);
    // Region = 2.2 x the 40 px box, far smaller than the frame.
    for (const [w, h] of regions) expect(w * h).toBeLessThan(100 * 100);
  });

  it('by default detects the full frame every 5th frame', async () => {
    const t = new FaceTracker();
    expect(t.every).toBe(DEFAULT_EVERY);
    expect(DEFAULT_EVERY).toBe(5);
    for (let i = 0; i < 11; ++i) await t.track(squareFrame(320, 240, 100 + i, 80, 40), i, i / 30, async (f) => detectSquare(f));
    expect(t.fullDetections).toBe(3); // frames 0, 5, 10
    expect(t.regionDetections).toBe(8);
  });

  it('uses the region detector, when given, for the regions only', async () => {
    const t = new FaceTracker({ every: 4 });
    const calls: string[] = [];
    const full = async (f: { width: number; height: number; data: Uint8Array }) => (calls.push(`full:${f.width}`), detectSquare(f));
    const region = async (f: { width: number; height: number; data: Uint8Array }) => (calls.push(`region:${f.width}`), detectSquare(f));
    for (let i = 0; i < 5; ++i) expect(await t.track(squareFrame(320, 240, 100 + i, 80, 40), i, i / 30, full, region)).toHaveLength(1);
    expect(calls.map((c) => c.split(':')[0])).toEqual(['full', 'region', 'region', 'region', 'full']);
    expect(calls.filter((c) => c.startsWith('full')).every((c) => c === 'full:320')).toBe(true);
  });

  it('falls back to a full detection on the same frame when a face leaves its region', async () => {
    const t = new FaceTracker({ every: 100 });
    await t.track(squareFrame(320, 240, 20, 20, 30), 0, 0, async (f) => detectSquare(f));
    // The square jumps across the frame: not in its old region.
    const faces = await t.track(squareFrame(320, 240, 250, 180, 30), 1, 1 / 30, async (f) => detectSquare(f));
    expect(t.fullDetections).toBe(2);
    expect(faces).toHaveLength(1);
    expect(faces[0].box[0]).toBeCloseTo(250, 6);
    expect(faces[0].trackId).toBe(2); // no overlap with the old box: a new track
  });
});

describe('frame helpers', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-frames-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('crops a rectangle, clipped to the frame', () => {
    const f = squareFrame(10, 8, 2, 3, 2);
    const { image, x, y } = cropRgb(f, -3, 2, 7, 100);
    expect([x, y, image.width, image.height]).toEqual([0, 2, 4, 6]);
    // Row 1 of the crop is frame row 3: columns 2,3 are the bright square.
    expect(Array.from(image.data.subarray(1 * 4 * 3, 2 * 4 * 3))).toEqual([40, 40, 40, 40, 40, 40, 250, 250, 250, 250, 250, 250]);
  });

  it('writes PNG frames and reads them back byte-identical in natural order', async () => {
    const frames = [0, 1, 2, 10].map((i) => squareFrame(16, 12, i, 2, 4, 10 + i));
    // Written out of order with names that sort wrongly as plain strings.
    for (const i of [3, 0, 2, 1]) await writeFrameFile(path.join(dir, `f_${[0, 1, 2, 10][i]}.png`), frames[i]);
    expect((await listFrameFiles(dir)).map((p) => path.basename(p))).toEqual(['f_0.png', 'f_1.png', 'f_2.png', 'f_10.png']);
    const back = [];
    for await (const f of readFrameFolder(dir)) back.push(f);
    expect(back).toHaveLength(4);
    back.forEach((f, i) => expect(Buffer.compare(Buffer.from(f.data), Buffer.from(frames[i].data))).toBe(0));
    expect(frameFileName(0)).toBe('frame_000001.png');
  });

  it('lists only images it can read: not a .bmp (sharp cannot decode it), not a hidden ._x.jpg companion', async () => {
    const mixed = mkdtempSync(path.join(dir, 'mixed-'));
    await writeFrameFile(path.join(mixed, 'a.png'), squareFrame(8, 8, 0, 1, 2, 10));
    for (const name of ['b.bmp', '._a.jpg', 'notes.txt']) writeFileSync(path.join(mixed, name), 'not an image');
    expect((await listFrameFiles(mixed)).map((p) => path.basename(p))).toEqual(['a.png']);
    const onlyBmp = mkdtempSync(path.join(dir, 'bmp-'));
    writeFileSync(path.join(onlyBmp, 'f1.bmp'), 'BM');
    const err = await listFrameFiles(onlyBmp).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    expect(err.message).toContain('.avif');
    expect(err.message).not.toContain('.bmp');
  });

  it('rejects a missing or empty folder with a coded error', async () => {
    await expect(listFrameFiles(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    const empty = mkdtempSync(path.join(dir, 'empty-'));
    await expect(listFrameFiles(empty)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
  });
});

describe('ffmpeg threads', () => {
  it('leave most cores to the stylizer: a quarter of them, at least one', () => {
    expect([1, 2, 3, 4, 8, 16].map((c) => ffmpegThreads(c))).toEqual([1, 1, 1, 1, 2, 4]);
  });
});

describe('rateOf (a frame folder\'s --fps as the fraction written to the video)', () => {
  it('is exact for decimal and NTSC rates and for rates below one frame in a thousand seconds', () => {
    // (Thousandths before: 0.0015 fps became 1/500, a 33% longer video, while the result said 0.0015.)
    const cases: Array<[number, number, number]> = [[25, 25, 1], [29.97, 2997, 100], [30000 / 1001, 30000, 1001], [24000 / 1001, 24000, 1001], [12.5, 25, 2], [0.0015, 3, 2000], [0.0011, 11, 10000], [1 / 3, 1, 3]];
    for (const [fps, num, den] of cases) expect([fps, rateOf(fps)]).toEqual([fps, { num, den }]);
  });
});
