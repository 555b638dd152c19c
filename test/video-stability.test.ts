// Temporal stability with the real detector (YuNet through onnxruntime-node): on the single-face clips,
// One-Euro smoothing at least halves the frame-to-frame motion of the 5 landmarks (normalised by the
// inter-ocular distance) while staying close to the raw detections; tracking with --every N still finds
// the face between full detections.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FaceDetector } from '../lib/face/detect.js';
import type { Face, Landmarks5, RgbImage } from '../lib/face/types.js';
import { decodeVideo, probeVideo } from '../lib/video/ffmpeg.js';
import { readFrameFolder } from '../lib/video/frames.js';
import { interOcularDistance } from '../lib/video/one-euro.js';
import { stylizeFrameStream, type StylizedFrame } from '../lib/video/pipeline.js';
import type { FrameStylizer } from '../lib/video/stylizer.js';
import { describeShared, sharedData } from './helpers/shared.js';
import { hasFfmpeg } from './video-helpers.js';

const shared = (...parts: string[]) => sharedData(path.join(...parts));
const MODEL = shared('models', 'detection', 'yunet_s_dynamic.onnx');
/** Tests that decode or make video need ffmpeg/ffprobe (optional: video only); without them they skip, saying so. */
const needsFfmpeg = (title: string) => (hasFfmpeg ? title : `${title} (skipped: ffmpeg/ffprobe not on PATH)`);

/** Mean over consecutive frames of the mean landmark displacement, in inter-ocular distances. */
function landmarkMotion(items: StylizedFrame[]): number {
  let sum = 0;
  let n = 0;
  for (let i = 1; i < items.length; ++i) {
    const [a, b] = [items[i - 1].faces[0], items[i].faces[0]];
    if (!a || !b || a.trackId !== b.trackId) continue;
    const iod = interOcularDistance(b.landmarks);
    sum += b.landmarks.reduce((s, p, k) => s + Math.hypot(p[0] - a.landmarks[k][0], p[1] - a.landmarks[k][1]), 0) / 5 / iod;
    ++n;
  }
  return sum / n;
}

/** Mean distance between two landmark sets, in inter-ocular distances of the first. */
function landmarkDistance(a: Landmarks5, b: Landmarks5): number {
  return a.reduce((s, p, k) => s + Math.hypot(p[0] - b[k][0], p[1] - b[k][1]), 0) / 5 / interOcularDistance(a);
}

describeShared('landmark smoothing on real detections', () => {
  let detector: FaceDetector;
  // Detections cached per frame object: both runs (smoothed, raw) see exactly the same detector output.
  const cache = new WeakMap<RgbImage, Face[]>();
  let stylizer: FrameStylizer;
  beforeAll(async () => {
    detector = await FaceDetector.load(MODEL);
    stylizer = {
      detect: async (frame) => {
        let faces = cache.get(frame);
        if (!faces) cache.set(frame, (faces = await detector.detect(frame)));
        return faces;
      },
      stylize: async (items) => items.map((it) => it.frame),
    };
  });
  afterAll(async () => detector?.dispose());

  const collect = async (frames: RgbImage[], options: Parameters<typeof stylizeFrameStream>[1]) => {
    const out: StylizedFrame[] = [];
    for await (const it of stylizeFrameStream(frames, { stylizer, ...options })) out.push(it);
    return out;
  };

  const decode = async (clip: string, maxFrames: number) => {
    const info = await probeVideo(shared('video', clip));
    const frames: RgbImage[] = [];
    for await (const f of decodeVideo(info, { maxFrames })) frames.push(f);
    return { frames, fps: info.fps };
  };

  for (const clip of ['908.mp4', '651.mp4', '529.mp4']) {
    it.skipIf(!hasFfmpeg)(needsFfmpeg(`halves frame-to-frame landmark motion on ${clip}`), async () => {
      const { frames, fps } = await decode(clip, 45);
      const raw = await collect(frames, { fps, smoothing: false });
      const smooth = await collect(frames, { fps });
      // Single-face clip: one face found in (nearly) every frame, one track throughout.
      expect(raw.filter((it) => it.faces.length === 1).length).toBeGreaterThanOrEqual(frames.length - 2);
      // (529 has a brief second, false detection: the main face keeps its one track regardless.)
      expect(new Set(smooth.map((it) => it.faces[0]?.trackId)).size).toBe(1);
      const [mRaw, mSmooth] = [landmarkMotion(raw), landmarkMotion(smooth)];
      expect(mRaw).toBeGreaterThan(0.005); // there is jitter to remove
      expect(mSmooth).toBeLessThanOrEqual(0.5 * mRaw);
      // ...without drifting away from the face: on average within 0.15 inter-ocular distances of the detections.
      const drift = raw.reduce((s, it, i) => s + (it.faces[0] && smooth[i].faces[0] ? landmarkDistance(it.faces[0].landmarks, smooth[i].faces[0].landmarks) : 0), 0) / raw.length;
      expect(drift).toBeLessThan(0.15);
    });
  }

  it('halves landmark motion on a frame folder (frames/vtoonify_651 JPEGs)', async () => {
    const frames: RgbImage[] = [];
    for await (const f of readFrameFolder(shared('frames', 'vtoonify_651'))) frames.push(f);
    const raw = await collect(frames, { fps: 24, smoothing: false });
    const smooth = await collect(frames, { fps: 24 });
    expect(landmarkMotion(smooth)).toBeLessThanOrEqual(0.5 * landmarkMotion(raw));
  });

  it.skipIf(!hasFfmpeg)(needsFfmpeg('passes frames without faces through byte-identical (real detector, a face-less clip)'), async () => {
    // ffmpeg's test pattern: colour bars, a gradient and a moving counter, no faces.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-noface-'));
    try {
      const clip = path.join(dir, 'bars.mp4');
      const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10:duration=2', '-pix_fmt', 'yuv420p', clip]);
      expect(r.status).toBe(0);
      const frames: RgbImage[] = [];
      for await (const f of decodeVideo(await probeVideo(clip))) frames.push(f);
      const copies = frames.map((f) => Buffer.from(f.data));
      const never: FrameStylizer = { detect: (f) => detector.detect(f), stylize: async () => Promise.reject(new Error('stylize called on a face-less frame')) };
      let i = 0;
      for await (const out of stylizeFrameStream(frames, { stylizer: never, fps: 10 })) {
        expect(out.faces).toEqual([]);
        expect(out.frame).toBe(frames[i]);
        expect(Buffer.compare(Buffer.from(out.frame.data), copies[i])).toBe(0);
        ++i;
      }
      expect(i).toBe(20);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasFfmpeg)(needsFfmpeg('with every=5 finds the faces between full detections, close to where a full detection puts them'), async () => {
    // Two small faces in a 640x360 frame: the regions around them are much smaller than the frame.
    const { frames, fps } = await decode('short_hamilton_clip.mp4', 40);
    const calls: number[] = [];
    const counting: FrameStylizer = { ...stylizer, detect: (f) => (calls.push(f.width * f.height), stylizer.detect(f)) };
    const out: StylizedFrame[] = [];
    for await (const it of stylizeFrameStream(frames, { stylizer: counting, fps, every: 5, smoothing: false })) out.push(it);
    const reference = await collect(frames, { fps, smoothing: false });
    const full = frames[0].width * frames[0].height;
    const fullCalls = calls.filter((c) => c === full).length;
    expect(fullCalls).toBeGreaterThanOrEqual(8); // frames 0, 5, ..., 35 at least
    expect(fullCalls).toBeLessThan(20); // most frames: regions only
    expect(calls.filter((c) => c < full / 4).length).toBeGreaterThan(20);
    let err = 0;
    let n = 0;
    out.forEach((it, i) => {
      for (const f of it.faces) {
        const ref = reference[i].faces.find((r) => Math.abs(r.box[0] - f.box[0]) < f.box[2] / 2 && Math.abs(r.box[1] - f.box[1]) < f.box[3] / 2);
        if (ref) {
          err += landmarkDistance(ref.landmarks, f.landmarks);
          ++n;
        }
      }
    });
    expect(n).toBeGreaterThan(0.9 * reference.reduce((s, it) => s + it.faces.length, 0));
    // Small faces (about 20 px between the eyes): 0.2 inter-ocular distances is a few pixels of detector noise.
    expect(err / n).toBeLessThan(0.2);
  });
});
