// Pipeline efficiency: frames per second of the whole video pipeline (decode, detect, stylize, encode)
// against frames per second of the stylize stage alone (align, model, paste, one batch after the other)
// on the same frames, faces, batches, model and threads. 1.0 means the other stages are completely
// hidden behind stylization; the target is >= 0.8. The pipeline runs align, model and paste as
// overlapping stages, so it can beat the stage run alone (efficiency > 1); the model alone on the same
// crops (modelFps) is the ceiling neither can pass, reported beside it.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RgbImage } from '../face/types.js';
import { decodeVideo, probeVideo } from './ffmpeg.js';
import { ONE_EURO_DEFAULTS } from './one-euro.js';
import { stylizeVideo, type FramePipelineOptions } from './pipeline.js';
import { createVideoStylizer, type FrameFaces } from './stylizer.js';
import { DEFAULT_EVERY, FaceTracker } from './tracker.js';

export interface VideoFpsResult {
  input: string;
  frames: number;
  faces: number;
  /** Whole pipeline, frames per second (decode -> detect -> stylize -> encode to a temp file). */
  pipelineFps: number;
  /** The stylize stage alone (align, model, paste in the same batches), frames per second. */
  stylizeFps: number;
  /** The model alone on the same aligned crops in the same batches, frames per second (null when the stylizer has no steps). */
  modelFps: number | null;
  /** Face detection + tracking alone, frames per second. */
  detectFps: number;
  /** pipelineFps / stylizeFps. */
  efficiency: number;
  /** pipelineFps / modelFps (null without modelFps). */
  modelEfficiency: number | null;
}

/**
 * Measures pipeline fps and stylize-stage-alone fps on the first `maxFrames` frames (default 60) of a
 * video. The stylizer is warmed up with one batch first so model compilation is not counted; each
 * measurement runs `repeats` times (default 2), best kept.
 */
export async function measureVideoFps(input: string, options: FramePipelineOptions & { repeats?: number } = {}): Promise<VideoFpsResult> {
  const maxFrames = options.maxFrames ?? 60;
  const repeats = options.repeats ?? 2;
  const batch = options.batch ?? 4;
  const owned = !options.stylizer;
  const stylizer = options.stylizer ?? (await createVideoStylizer({ model: options.model, size: options.size, strength: options.strength, device: options.device, engine: options.engine, detector: options.detector, detectorEngine: options.detectorEngine }));
  try {
    const info = await probeVideo(input);
    const frames: RgbImage[] = [];
    for await (const f of decodeVideo(info, { maxFrames })) frames.push(f);

    // Faces exactly as the pipeline finds them (same tracker settings).
    const smoothing = options.smoothing === false ? false : options.smoothing === true || options.smoothing === undefined ? ONE_EURO_DEFAULTS : options.smoothing;
    const tracker = new FaceTracker({ every: options.every ?? DEFAULT_EVERY, smoothing });
    const items: FrameFaces[] = [];
    let t0 = performance.now();
    for (let i = 0; i < frames.length; ++i) {
      let faces = await tracker.track(frames[i], i, i / info.fps, (f) => stylizer.detect(f), stylizer.detectRegion ? (f) => stylizer.detectRegion!(f) : undefined);
      if (options.faces && faces.length > options.faces) faces = [...faces].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]).slice(0, options.faces);
      items.push({ frame: frames[i], faces });
    }
    const detectSeconds = (performance.now() - t0) / 1000;

    // The same batching as the pipeline: calls of about `batch` faces.
    const batches: FrameFaces[][] = [];
    let current: FrameFaces[] = [];
    let count = 0;
    for (const it of items) {
      if (it.faces.length === 0) continue;
      current.push(it);
      count += it.faces.length;
      if (count >= batch) {
        batches.push(current);
        current = [];
        count = 0;
      }
    }
    if (current.length) batches.push(current);
    if (batches.length) await stylizer.stylize(batches[0]); // warm-up
    // The model alone: every batch aligned beforehand, only the model calls timed.
    let modelSeconds: number | null = null;
    const steps = stylizer.steps;
    if (steps && batches.length) {
      const alignedBatches = [];
      for (const b of batches) alignedBatches.push(await steps.align(b));
      modelSeconds = Infinity;
      for (let r = 0; r < repeats; ++r) {
        t0 = performance.now();
        for (const a of alignedBatches) await steps.model(a);
        modelSeconds = Math.min(modelSeconds, (performance.now() - t0) / 1000);
      }
    }
    const tmp = path.join(os.tmpdir(), `facestyle-measure-${process.pid}-${Date.now()}.mp4`);
    // Alternate the two measurements and keep the best of each: a busy machine only ever slows a run down.
    let stylizeSeconds = Infinity;
    let pipelineSeconds = Infinity;
    try {
      for (let r = 0; r < repeats; ++r) {
        t0 = performance.now();
        for (const b of batches) await stylizer.stylize(b);
        stylizeSeconds = Math.min(stylizeSeconds, (performance.now() - t0) / 1000);
        t0 = performance.now();
        await stylizeVideo(input, tmp, { ...options, stylizer, maxFrames });
        pipelineSeconds = Math.min(pipelineSeconds, (performance.now() - t0) / 1000);
      }
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    const pipelineFps = frames.length / pipelineSeconds;
    const stylizeFps = frames.length / Math.max(stylizeSeconds, 1e-9);
    const modelFps = modelSeconds === null ? null : frames.length / Math.max(modelSeconds, 1e-9);
    return {
      input,
      frames: frames.length,
      faces: items.reduce((n, it) => n + it.faces.length, 0),
      pipelineFps,
      stylizeFps,
      modelFps,
      detectFps: frames.length / Math.max(detectSeconds, 1e-9),
      efficiency: pipelineFps / stylizeFps,
      modelEfficiency: modelFps === null ? null : pipelineFps / modelFps,
    };
  } finally {
    if (owned) await stylizer.dispose?.();
  }
}
