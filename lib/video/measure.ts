// Pipeline efficiency: frames per second of the whole video pipeline (decode, detect, stylize, encode)
// against frames per second of the stylize stage alone (align, model, paste, one batch after the other)
// on the same frames, faces, batches, model and threads. 1.0 means the other stages are completely
// hidden behind stylization; the target is >= 0.8. The pipeline runs align, model and paste as
// overlapping stages, so it can beat the stage run alone (efficiency > 1); the model alone on the same
// crops (modelFps) is the ceiling neither can pass, reported beside it. `cpu` says how much of the machine
// each used: where the stage alone already keeps every core busy, the pipeline's extra work (decode,
// detect, encode) has no idle core to hide on, and efficiency is bounded by the ratio of CPU work.
import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FacestyleError } from '../errors.js';
import * as is from '../is.js';
import type { RgbImage } from '../face/types.js';
import { decodeVideo, probeVideo } from './ffmpeg.js';
import { ONE_EURO_DEFAULTS } from './one-euro.js';
import { FRAME_PIPELINE_OPTION_KEYS, abortReason, normalize, stylizeVideo, type FramePipelineOptions } from './pipeline.js';
import { createVideoStylizer, type FrameFaces, videoStylizerOptions } from './stylizer.js';
import { DEFAULT_EVERY, FaceTracker, largestFaces } from './tracker.js';
import { faceLimit } from '../face/stylize.js';

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
  /**
   * Where the CPU goes (null where the children's CPU time cannot be read: outside Linux). The stage alone
   * keeps about every core busy, so the pipeline can only beat `efficiencyBound` by doing less work.
   */
  cpu: VideoCpuResult | null;
}

/** CPU time of the measured runs: this process (every thread) and, for the pipeline, its ffmpeg children. */
export interface VideoCpuResult {
  /** The cores this machine offers (os.availableParallelism()). */
  cores: number;
  /** Cores kept busy on average by the stylize stage alone (this process's CPU time / wall time). */
  stageCores: number;
  /** Cores kept busy on average by the whole pipeline (this process + ffmpeg / ffprobe children). */
  pipelineCores: number;
  /** CPU ms per frame of the pipeline's work beyond the stage alone: decode, detect, encode, process start-ups, JS around them. */
  otherCpuMsPerFrame: number;
  /** ffmpeg's and ffprobe's share of it, CPU ms per frame. */
  ffmpegCpuMsPerFrame: number;
  /**
   * The efficiency the pipeline would have if its CPU work kept every core busy all the time:
   * efficiency x cores / pipelineCores, i.e. cores x stage wall time / pipeline CPU time. The measured
   * efficiency is at most this (a process cannot use more than the cores there are).
   */
  efficiencyBound: number;
}

/**
 * CPU ms of this process's terminated, waited-for children (ffprobe, ffmpeg): cutime + cstime of
 * /proc/self/stat, in clock ticks of 10 ms (USER_HZ 100). null where there is no /proc. (Also used by
 * bench/video-cpu.mjs.)
 */
export function childrenCpuMs(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[13]) + Number(fields[14]); // fields 16 and 17 of proc(5), counted from 1 before the name
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

const processCpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const MEASURE_OPTION_KEYS = is.optionKeys<FramePipelineOptions & { repeats?: number }>()([...FRAME_PIPELINE_OPTION_KEYS, 'repeats']);

/**
 * Measures pipeline fps and stylize-stage-alone fps on the first `maxFrames` frames (default 60) of a
 * video. The stylizer is warmed up with one batch first so model compilation is not counted; each
 * measurement runs `repeats` times (default 2), best kept.
 */
export async function measureVideoFps(input: string, options: FramePipelineOptions & { repeats?: number } = {}): Promise<VideoFpsResult> {
  is.knownOptions('measureVideoFps', options, MEASURE_OPTION_KEYS);
  // Checked before anything is decoded, as the pipeline checks them (every: 0 was refused only by the
  // pipeline run at the end); a repeats of 0 measured nothing and reported 0 fps.
  const { batch, faces: most, every, smoothing } = normalize(options);
  const maxFrames = is.integerInRange('maxFrames', options.maxFrames ?? 60, 1, 100000);
  const repeats = is.integerInRange('repeats', options.repeats ?? 2, 1, 100);
  // The signal stops every phase (decoding, tracking, each timed batch), not only the pipeline runs.
  const signal = options.signal;
  const checkAborted = () => {
    if (signal?.aborted) throw abortReason(signal);
  };
  checkAborted();
  const owned = !options.stylizer;
  const stylizer = options.stylizer ?? (await createVideoStylizer(videoStylizerOptions(options)));
  try {
    checkAborted();
    const info = await probeVideo(input);
    checkAborted();
    const frames: RgbImage[] = [];
    for await (const f of decodeVideo(info, { maxFrames, signal })) frames.push(f);
    checkAborted();

    // Faces exactly as the pipeline finds them (same tracker settings).
    const tracker = new FaceTracker({ every, smoothing });
    const items: FrameFaces[] = [];
    let t0 = performance.now();
    for (let i = 0; i < frames.length; ++i) {
      checkAborted();
      let faces = await tracker.track(frames[i], i, i / info.fps, (f) => stylizer.detect(f), stylizer.detectRegion ? (f) => stylizer.detectRegion!(f) : undefined);
      faces = largestFaces(faces, most);
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
    // With no face the stylize stage does nothing, and its fps (frames / ~0 s) meant nothing (6 million).
    if (!batches.length) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `No face in the first ${frames.length} frames of ${input}: the stylize stage has nothing to measure (use a clip with faces)`);
    await stylizer.stylize(batches[0]); // warm-up
    // The model alone: every batch aligned beforehand, only the model calls timed.
    let modelSeconds: number | null = null;
    const steps = stylizer.steps;
    if (steps) {
      const alignedBatches = [];
      for (const b of batches) {
        checkAborted();
        alignedBatches.push(await steps.align(b));
      }
      modelSeconds = Infinity;
      for (let r = 0; r < repeats; ++r) {
        t0 = performance.now();
        for (const a of alignedBatches) {
          checkAborted();
          await steps.model(a);
        }
        modelSeconds = Math.min(modelSeconds, (performance.now() - t0) / 1000);
      }
    }
    const tmp = path.join(os.tmpdir(), `facestyle-measure-${process.pid}-${Date.now()}.mp4`);
    // Alternate the two measurements and keep the best of each: a busy machine only ever slows a run down.
    // The CPU time of the kept (fastest) run of each.
    let stylizeSeconds = Infinity;
    let pipelineSeconds = Infinity;
    let stageCpuMs = 0;
    let pipelineCpuMs = 0;
    let ffmpegCpuMs: number | null = 0;
    try {
      for (let r = 0; r < repeats; ++r) {
        let c0 = processCpuMs();
        t0 = performance.now();
        for (const b of batches) {
          checkAborted();
          await stylizer.stylize(b);
        }
        let seconds = (performance.now() - t0) / 1000;
        if (seconds < stylizeSeconds) [stylizeSeconds, stageCpuMs] = [seconds, processCpuMs() - c0];
        const k0 = childrenCpuMs();
        c0 = processCpuMs();
        t0 = performance.now();
        await stylizeVideo(input, tmp, { ...is.pickOptions(options, FRAME_PIPELINE_OPTION_KEYS), stylizer, maxFrames });
        seconds = (performance.now() - t0) / 1000;
        const k1 = childrenCpuMs();
        if (seconds < pipelineSeconds) [pipelineSeconds, pipelineCpuMs, ffmpegCpuMs] = [seconds, processCpuMs() - c0, k0 === null || k1 === null ? null : k1 - k0];
      }
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    const pipelineFps = frames.length / pipelineSeconds;
    const stylizeFps = frames.length / Math.max(stylizeSeconds, 1e-9);
    const modelFps = modelSeconds === null ? null : frames.length / Math.max(modelSeconds, 1e-9);
    const efficiency = pipelineFps / stylizeFps;
    let cpu: VideoCpuResult | null = null;
    if (ffmpegCpuMs !== null && stylizeSeconds > 0 && pipelineSeconds > 0 && frames.length > 0) {
      const cores = os.availableParallelism();
      const total = pipelineCpuMs + ffmpegCpuMs;
      const pipelineCores = total / 1000 / pipelineSeconds;
      cpu = {
        cores,
        stageCores: stageCpuMs / 1000 / stylizeSeconds,
        pipelineCores,
        otherCpuMsPerFrame: (total - stageCpuMs) / frames.length,
        ffmpegCpuMsPerFrame: ffmpegCpuMs / frames.length,
        efficiencyBound: pipelineCores > 0 ? (efficiency * cores) / pipelineCores : Infinity,
      };
    }
    return {
      input,
      frames: frames.length,
      faces: items.reduce((n, it) => n + it.faces.length, 0),
      pipelineFps,
      stylizeFps,
      modelFps,
      detectFps: frames.length / Math.max(detectSeconds, 1e-9),
      efficiency,
      modelEfficiency: modelFps === null ? null : pipelineFps / modelFps,
      cpu,
    };
  } finally {
    if (owned) await stylizer.dispose?.();
  }
}
