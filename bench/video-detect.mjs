#!/usr/bin/env node
// What the video tracker's detection costs and how steady its landmarks are, for detection with and
// without the detector's mirror-image runs (region flipTest; full detections' secondPassMirror). On the
// first N frames of each clip, the tracker runs as the pipeline runs it (full detection every 5
// frames or when a track is lost, regions in between) and reports:
//   - detection time per frame (full detections and region detections, their counts and mean times);
//   - smoothed landmark motion: mean frame-to-frame displacement of a track's 5 points, in inter-ocular
//     distances;
//   - distance of the smoothed landmarks from a full, mirrored detection of the same frame.
//
//   node bench/video-detect.mjs [--dist DIR] [--frames N] [clip ...]
//
// DIR is lib/ compiled by tsc (default: dist, made by `npx tsc -p .` / `npm test`). Clips default to
// ../shared/data/video/{908,651,529,short_hamilton_clip}.mp4; the detector is FACESTYLE_DETECTOR or
// yunet_s_dynamic.onnx (bench/pipeline.mjs, as the video benchmark).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pipelineDetector, sharedData } from './pipeline.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = { dist: path.join(root, 'dist'), frames: 60, clips: [] };
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--dist') opt.dist = path.resolve(args[++i]);
  else if (args[i] === '--frames') opt.frames = Number(args[++i]);
  else if (args[i].startsWith('--')) throw new Error(`unknown option ${args[i]} (node bench/video-detect.mjs [--dist DIR] [--frames N] [clip ...])`);
  else opt.clips.push(path.resolve(args[i]));
}
if (!opt.clips.length) opt.clips = ['908.mp4', '651.mp4', '529.mp4', 'short_hamilton_clip.mp4'].map((f) => path.join(sharedData(root), 'video', f));
if (!Number.isInteger(opt.frames) || opt.frames < 2) throw new Error(`--frames must be an integer >= 2, got ${opt.frames}`);
const load = (rel) => import(pathToFileURL(path.join(opt.dist, rel)).href);
const { sharedDetector, checkDetectOptions } = await load('face/detect.js');
// A build from before secondPassMirror would ignore it, and both variants would measure the same thing.
if (!('secondPassMirror' in checkDetectOptions({}))) throw new Error(`${opt.dist} predates DetectOptions.secondPassMirror: run npx tsc -p .`);
const { decodeVideo, probeVideo } = await load('video/ffmpeg.js');
const { FaceTracker, boxIoU } = await load('video/tracker.js');
const { interOcularDistance } = await load('video/one-euro.js');

const detector = await sharedDetector(pipelineDetector(root), process.env.FACESTYLE_DETECTOR_ENGINE || 'native');
/** Mean distance of two 5-point sets, in inter-ocular distances of the first. */
const distance = (a, b) => a.reduce((s, p, k) => s + Math.hypot(p[0] - b[k][0], p[1] - b[k][1]), 0) / 5 / interOcularDistance(a);
const REGION = { secondPass: false, inputSize: 160, minInputSize: 160, scoreThreshold: 0.3 };
const variants = [
  { name: 'mirror runs', full: {}, region: { ...REGION, flipTest: true } },
  { name: 'no mirror runs', full: { secondPassMirror: false }, region: { ...REGION, flipTest: false } },
];

for (const clip of opt.clips) {
  const info = await probeVideo(clip);
  const frames = [];
  for await (const f of decodeVideo(info, { maxFrames: opt.frames })) frames.push(f);
  const reference = [];
  for (const f of frames) reference.push(await detector.detect(f));
  // Twice, alternating, the second round reported: the first compiles each input shape.
  for (const round of [0, 1]) {
    for (const v of variants) {
      const tracker = new FaceTracker({});
      const time = { full: 0, region: 0 };
      const timed = (kind, run) => async (image) => {
        const t0 = performance.now();
        try {
          return await run(image);
        } finally {
          time[kind] += performance.now() - t0;
        }
      };
      // As lib/video/stylizer.ts: regions up to 160 px get a full detection of the region.
      const full = timed('full', (f) => detector.detect(f, v.full));
      const region = timed('region', (r) => (Math.max(r.width, r.height) > 160 ? detector.detect(r, v.region) : detector.detect(r, v.full)));
      const out = [];
      for (let i = 0; i < frames.length; i++) out.push(await tracker.track(frames[i], i, i / info.fps, full, region));
      if (round === 0) continue;
      let motion = 0, moves = 0, off = 0, offs = 0;
      out.forEach((faces, i) => {
        for (const f of faces) {
          const ref = reference[i].find((g) => boxIoU(g.box, f.box) > 0.3);
          if (ref) (off += distance(ref.landmarks, f.landmarks)), ++offs;
          const prev = i > 0 ? out[i - 1].find((g) => g.trackId === f.trackId) : undefined;
          if (prev) (motion += distance(f.landmarks, prev.landmarks)), ++moves;
        }
      });
      const per = (ms) => (ms / frames.length).toFixed(2);
      const mean = (sum, n) => (n ? (sum / n).toFixed(4) : 'n/a (no faces)');
      console.log(
        `${path.basename(clip).padEnd(24)} ${v.name.padEnd(15)} detection ${per(time.full + time.region)} ms/frame ` +
          `(${tracker.fullDetections} full ${(time.full / Math.max(1, tracker.fullDetections)).toFixed(2)} ms, ${tracker.regionDetections} regions ${(time.region / Math.max(1, tracker.regionDetections)).toFixed(2)} ms); ` +
          `smoothed motion ${mean(motion, moves)}, from mirrored full detections ${mean(off, offs)}`,
      );
    }
  }
}
await detector.dispose();
