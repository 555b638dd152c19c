// The video pipeline: decode (read ahead) -> detect + track + smooth -> batch -> align -> model -> paste
// -> encode.
// Stages are async loops joined by bounded queues: each stage works on its own frame or batch while the
// others work on theirs (ffmpeg decodes and encodes in its own processes, detection and the model run
// natively off the event loop, so the JS thread aligns and pastes meanwhile), and the queues cap how
// many frames are in memory at once.
import { promises as fsp } from 'node:fs';
import { FacestyleError, argumentError } from '../errors.js';
import type { ModelEngine } from '../face/index.js';
import type { RgbImage } from '../face/types.js';
import type { DeviceName } from '../runtime/session.js';
import { type FacesOption, faceLimit } from '../face/stylize.js';
import * as is from '../is.js';
import { checkWriteTarget } from '../files.js';
import { ownFrames } from './owned-frames.js';
import { checkFfmpeg, checkOutputPath, decodeVideo, ffmpegPaths, isVideoPath, probeVideo, startDecode, VideoEncoder, type VideoInfo } from './ffmpeg.js';
import { checkFrame, checkFrameFolderOutput, FrameFolderWriter, listFrameFiles, readFrameFolder } from './frames.js';
import { ONE_EURO_DEFAULTS, type OneEuroOptions } from './one-euro.js';
import { BoundedQueue } from './queue.js';
import type { DetectorEngine } from '../face/detector-engine.js';
import { createVideoStylizer, type FrameFaces, type FrameStylizer, videoStylizerOptions } from './stylizer.js';
import { DEFAULT_EVERY, FaceTracker, largestFaces, type TrackedFace } from './tracker.js';

export interface FramePipelineOptions {
  /** Bring your own stylizer (kept alive after the run); otherwise one is created from model/size/strength and disposed. */
  stylizer?: FrameStylizer;
  /** Style model for the created stylizer: a file (.onnx, card .json, .safetensors, run folder) or a shipped model's name ('comic-light'). */
  model?: string;
  /** Face crop size the model runs at, for the created stylizer. */
  size?: number;
  /** 0..1 blend between the photo and the stylized face, for the created stylizer (default 1). */
  strength?: number;
  /** Test-time mirror averaging in the created stylizer (VideoStylizerOptions.mirrorAverage; default false). */
  mirrorAverage?: boolean;
  /** Device for alignment, model and paste-back of the created stylizer (default 'cpu'). */
  device?: DeviceName;
  /** How an .onnx model runs in the created stylizer: 'native' (default) or 'onnxruntime'. */
  engine?: ModelEngine;
  /** YuNet detector .onnx for the created stylizer (default: FACESTYLE_DETECTOR, then the package's). */
  detector?: string;
  /** Where the detector runs (default: FACESTYLE_DETECTOR_ENGINE, else 'native'; see createVideoStylizer). */
  detectorEngine?: DetectorEngine;
  /** Detector score threshold for the created stylizer (default 0.5). */
  scoreThreshold?: number;
  /** CPU threads for the created stylizer's detector and model (default 0: all; ffmpeg's are its own). */
  threads?: number;
  /** Faces per stylize call (default 4). */
  batch?: number;
  /** At most this many faces per frame, largest first (default, 0 or 'all': all; 'largest' = 1; as on photos). */
  faces?: FacesOption;
  /** Full-frame detection every N frames; in between faces are re-found near their last position (default 5; 1: every frame). */
  every?: number;
  /** Landmark smoothing over time: One-Euro settings, true for the defaults, false for none (default true). */
  smoothing?: boolean | OneEuroOptions;
  /** Stop after this many frames. */
  maxFrames?: number;
  /** Frames each queue between stages holds (default 2 * batch, at least 4). */
  queueSize?: number;
  /**
   * Frames held at once between the source and your loop, all stages together (default 6 * batch + 8):
   * the bound on the pipeline's memory (each frame is width x height x 3 bytes). A frame counts from
   * the moment it is taken from the source until your loop asks for the next one after it.
   */
  maxInFlight?: number;
  /** Aborts the run; the promise or iterator rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface StylizeFramesOptions extends FramePipelineOptions {
  /** Frame rate of the incoming frames, the time base of the smoothing filter (default 30). */
  fps?: number;
}

/** Every key of FramePipelineOptions (is.optionKeys keeps the list whole). */
export const FRAME_PIPELINE_OPTION_KEYS = is.optionKeys<FramePipelineOptions>()([
  'stylizer', 'model', 'size', 'strength', 'mirrorAverage', 'device', 'engine', 'detector', 'detectorEngine', 'scoreThreshold', 'threads', 'batch', 'faces',
  'every', 'smoothing', 'maxFrames', 'queueSize', 'maxInFlight', 'signal',
]);
const STYLIZE_FRAMES_OPTION_KEYS = is.optionKeys<StylizeFramesOptions>()([...FRAME_PIPELINE_OPTION_KEYS, 'fps']);

/** One frame out of the pipeline. */
export interface StylizedFrame {
  /** 0-based position in the input. */
  index: number;
  /** The stylized frame; the very input object when no face was found (pass-through, byte-identical). */
  frame: RgbImage;
  /** The faces stylized in it (smoothed landmarks when smoothing is on). */
  faces: TrackedFace[];
}

export interface Normalized {
  batch: number;
  faces: number;
  every: number;
  smoothing: OneEuroOptions | false;
  maxFrames: number;
  queueSize: number;
  maxInFlight: number;
  fps: number;
}

/** The frame pipeline's options checked and defaulted (ERR_FACESTYLE_ARGUMENT naming the first bad one); measureVideoFps checks its own with it too. */
export function normalize(o: StylizeFramesOptions): Normalized {
  if (!is.object(o)) throw is.invalid('options', 'object', o);
  const batch = o.batch === undefined ? 4 : is.integerInRange('batch', o.batch, 1, 256);
  const faces = faceLimit(o.faces);
  const every = o.every === undefined ? DEFAULT_EVERY : is.integerInRange('every', o.every, 1, 10000);
  const maxFrames = o.maxFrames === undefined ? Infinity : is.integerInRange('maxFrames', o.maxFrames, 1, Number.MAX_SAFE_INTEGER);
  const queueSize = o.queueSize === undefined ? Math.max(4, 2 * batch) : is.integerInRange('queueSize', o.queueSize, 1, 1024);
  const maxInFlight = o.maxInFlight === undefined ? 6 * batch + 8 : is.integerInRange('maxInFlight', o.maxInFlight, 1, 1 << 20);
  // (High-speed cameras record 1000 fps and more: a probed rate of 1200 was refused as a bad option.)
  const fps = o.fps === undefined ? 30 : is.numberInRange('fps', o.fps, 0.001, 1e6);
  if (o.strength !== undefined) is.numberInRange('strength', o.strength, 0, 1);
  if (o.size !== undefined) is.integerInRange('size', o.size, 16, 4096);
  is.threadCount(o.threads);
  if (o.scoreThreshold !== undefined) is.numberInRange('scoreThreshold', o.scoreThreshold, 0, 1);
  if (o.model !== undefined && !is.string(o.model)) throw is.invalid('model', 'non-empty string', o.model);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw is.invalid('signal', 'an AbortSignal', o.signal);
  if (o.stylizer !== undefined && !(is.object(o.stylizer) && typeof o.stylizer.detect === 'function' && typeof o.stylizer.stylize === 'function')) {
    throw is.invalid('stylizer', 'object with detect() and stylize()', o.stylizer);
  }
  let smoothing: OneEuroOptions | false;
  if (o.smoothing === undefined || o.smoothing === true) smoothing = { ...ONE_EURO_DEFAULTS };
  else if (o.smoothing === false) smoothing = false;
  else if (is.object(o.smoothing)) {
    const s = o.smoothing as OneEuroOptions;
    smoothing = {
      minCutoff: s.minCutoff === undefined ? ONE_EURO_DEFAULTS.minCutoff : is.numberInRange('smoothing.minCutoff', s.minCutoff, 1e-6, 1e6),
      beta: s.beta === undefined ? ONE_EURO_DEFAULTS.beta : is.numberInRange('smoothing.beta', s.beta, 0, 1e6),
      dCutoff: s.dCutoff === undefined ? ONE_EURO_DEFAULTS.dCutoff : is.numberInRange('smoothing.dCutoff', s.dCutoff, 1e-6, 1e6),
    };
  } else throw is.invalid('smoothing', 'boolean or {minCutoff, beta, dCutoff}', o.smoothing);
  return { batch, faces, every, smoothing, maxFrames, queueSize, maxInFlight, fps };
}

/** How long a part batch waits for more frames before it goes to the stylizer anyway. */
const IDLE_FLUSH_MS = 100;

export function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new FacestyleError('ERR_FACESTYLE_ABORTED', 'The run was aborted');
}

interface Detected {
  index: number;
  frame: RgbImage;
  faces: TrackedFace[];
}

/** A batch between the stylize steps: its frames, and what the last step made of their faces (none when `empty`). */
interface InFlight {
  group: Detected[];
  empty: boolean;
  data: unknown;
}

/**
 * Stylizes a stream of frames, yielding each with the faces found in it, in order. Memory is bounded
 * by the queues; stopping early (break) stops the stages and closes the source.
 */
export async function* stylizeFrameStream(frames: AsyncIterable<RgbImage> | Iterable<RgbImage>, options: StylizeFramesOptions = {}): AsyncGenerator<StylizedFrame, void, undefined> {
  const o = normalize(options);
  is.knownOptions('stylizeFrames', options, STYLIZE_FRAMES_OPTION_KEYS);
  if (!frames || (typeof (frames as AsyncIterable<RgbImage>)[Symbol.asyncIterator] !== 'function' && typeof (frames as Iterable<RgbImage>)[Symbol.iterator] !== 'function')) {
    throw is.invalid('frames', 'iterable or async iterable of RGB frames', frames);
  }
  const signal = options.signal;
  if (signal?.aborted) throw abortReason(signal);
  const owned = !options.stylizer;
  const stylizer = options.stylizer ?? (await createVideoStylizer(videoStylizerOptions(options)));
  // Aborted while the model loaded: the listener below would never fire (an endless source ran on).
  if (signal?.aborted) {
    if (owned) await stylizer.dispose?.();
    throw abortReason(signal);
  }
  const tracker = new FaceTracker({ every: o.every, smoothing: o.smoothing });
  const decoded = new BoundedQueue<RgbImage>(o.queueSize);
  const detected = new BoundedQueue<Detected>(o.queueSize);
  const stylized = new BoundedQueue<StylizedFrame>(o.queueSize);
  // Batches between the stylize steps: one waiting per hand-over is enough for the steps to overlap.
  const batches = new BoundedQueue<Detected[]>(1);
  const aligned = new BoundedQueue<InFlight>(1);
  const modelled = new BoundedQueue<InFlight>(1);
  // One token per frame between the source and the consumer: the queues above bound each hand-over, this
  // bounds their sum (with batch 64 they held 835 frames, 6 GB at 1080p).
  const inFlight = new BoundedQueue<true>(o.maxInFlight);
  const queues: Array<BoundedQueue<unknown>> = [decoded, detected, batches, aligned, modelled, stylized, inFlight];
  const failAll = (e: unknown) => queues.forEach((q) => q.fail(e));
  const onAbort = () => failAll(abortReason(signal));
  signal?.addEventListener('abort', onAbort, { once: true });

  // Stage 0: read ahead from the source (the ffmpeg decoder pipe holds less than one frame by itself).
  // Iterated by hand to know when it waits on the source: a live source may stall (a camera, a socket),
  // and a stop must not wait for a next() that may never come.
  let waitingOnSource = false;
  const readStage = (async () => {
    const iterator: AsyncIterator<RgbImage> | Iterator<RgbImage> =
      typeof (frames as AsyncIterable<RgbImage>)[Symbol.asyncIterator] === 'function' ? (frames as AsyncIterable<RgbImage>)[Symbol.asyncIterator]() : (frames as Iterable<RgbImage>)[Symbol.iterator]();
    let closeSource = true; // as for-await: not when the source itself ended or threw
    try {
      for (let count = 0; count < o.maxFrames; ++count) {
        await inFlight.push(true); // room for one more frame, before it is taken from the source
        waitingOnSource = true;
        let next: IteratorResult<RgbImage>;
        try {
          next = await iterator.next();
        } catch (e) {
          closeSource = false;
          throw e;
        } finally {
          waitingOnSource = false;
        }
        if (next.done) {
          closeSource = false;
          break;
        }
        await decoded.push(next.value);
      }
      decoded.close();
    } catch (e) {
      failAll(e);
    } finally {
      // Inside then(): a return() that throws synchronously is caught too (after a stop nobody awaits this stage).
      if (closeSource) await Promise.resolve().then(() => iterator.return?.()).catch(() => {});
    }
  })();

  // Stage 1: detect + track + smooth, in frame order (tracking is sequential by nature).
  const detect = (img: RgbImage) => stylizer.detect(img);
  const detectRegion = stylizer.detectRegion ? (img: RgbImage) => stylizer.detectRegion!(img) : detect;
  const detectStage = (async () => {
    try {
      let index = 0;
      for await (const raw of decoded) {
        const frame = checkFrame(raw, index);
        let faces = await tracker.track(frame, index, index / o.fps, detect, detectRegion);
        faces = largestFaces(faces, o.faces);
        await detected.push({ index, frame, faces });
        ++index;
      }
      detected.close();
    } catch (e) {
      failAll(e);
    }
  })();

  // Stage 2: group frames into batches of about `batch` faces; frames without faces skip the stylizer
  // but keep their place in the order.
  // A part batch also goes when no frame has come for IDLE_FLUSH_MS (a stalled live source must not
  // hold back the frames it already gave).
  const batchStage = (async () => {
    try {
      let pending: Detected[] = [];
      let faceCount = 0;
      const flush = async () => {
        await batches.push(pending);
        pending = [];
        faceCount = 0;
      };
      let next = detected.shift();
      next.catch(() => {}); // awaited below; this only keeps a failure while a flush runs from being "unhandled"
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const idle = pending.length ? new Promise<'idle'>((resolve) => (timer = setTimeout(() => resolve('idle'), IDLE_FLUSH_MS))) : null;
        let got: IteratorResult<Detected, undefined> | 'idle';
        try {
          got = idle ? await Promise.race([next, idle]) : await next;
        } finally {
          clearTimeout(timer);
        }
        if (got === 'idle') {
          await flush();
          continue;
        }
        if (got.done) break;
        next = detected.shift();
        next.catch(() => {});
        pending.push(got.value);
        faceCount += got.value.faces.length;
        // Flush on a full batch of faces, or when face-less frames pile up (they must not wait long).
        if (faceCount >= o.batch || pending.length >= Math.max(o.batch, o.queueSize)) await flush();
      }
      if (pending.length) await batches.push(pending);
      batches.close();
    } catch (e) {
      failAll(e);
    }
  })();

  const emit = async (group: Detected[], outs: RgbImage[]) => {
    const withFaces = group.filter((p) => p.faces.length > 0).length;
    if (!Array.isArray(outs) || outs.length !== withFaces) {
      // Your own stylizer's mistake is an argument error; the one created here returning the wrong count is a bug of ours.
      throw new FacestyleError(owned ? 'ERR_FACESTYLE_INTERNAL' : 'ERR_FACESTYLE_ARGUMENT', `The stylizer returned ${Array.isArray(outs) ? outs.length : typeof outs} frames for ${withFaces}${owned ? '' : ' (options.stylizer: stylize() must return one frame per item)'}`);
    }
    let k = 0;
    for (const p of group) await stylized.push({ index: p.index, frame: p.faces.length > 0 ? outs[k++] : p.frame, faces: p.faces });
  };
  const faceItems = (group: Detected[]): FrameFaces[] => group.filter((p) => p.faces.length > 0).map((p) => ({ frame: p.frame, faces: p.faces }));

  // Stage 3: stylize. A stylizer with steps runs them as three stages (align -> model -> paste) joined by
  // one-batch queues, so the JS work of aligning and pasting overlaps the native model run; otherwise
  // one stage calls stylize() per batch.
  const stylizeStages: Array<Promise<void>> = [];
  const stage = (run: () => Promise<void>) => stylizeStages.push(run().catch((e) => failAll(e)));
  const steps = stylizer.steps;
  if (steps) {
    stage(async () => {
      for await (const group of batches) {
        const items = faceItems(group);
        await aligned.push({ group, empty: items.length === 0, data: items.length ? await steps.align(items) : undefined });
      }
      aligned.close();
    });
    stage(async () => {
      for await (const { group, empty, data } of aligned) await modelled.push({ group, empty, data: empty ? undefined : await steps.model(data) });
      modelled.close();
    });
    stage(async () => {
      for await (const { group, empty, data } of modelled) await emit(group, empty ? [] : await steps.paste(data));
      stylized.close();
    });
  } else {
    stage(async () => {
      for await (const group of batches) {
        const items = faceItems(group);
        await emit(group, items.length ? await stylizer.stylize(items) : []);
      }
      stylized.close();
    });
  }

  try {
    for await (const item of stylized) {
      yield item;
      inFlight.shift().catch(() => {}); // the consumer is done with it (a failed queue rejects: nothing to free then)
    }
  } finally {
    // Early exit or failure: stop every stage, wait until they are idle, then free what we created.
    failAll(new FacestyleError('ERR_FACESTYLE_ARGUMENT', 'The frame stream was closed'));
    signal?.removeEventListener('abort', onAbort);
    // A read stage still waiting on the source is not waited for: its next() may never settle (it stops,
    // and closes the source, once it does).
    await Promise.allSettled([waitingOnSource ? Promise.resolve() : readStage, detectStage, batchStage, ...stylizeStages]);
    if (owned) await stylizer.dispose?.();
  }
}

/**
 * Stylizes the faces of a stream of frames; yields the stylized frames in order. Frames in which no face
 * is found are yielded unchanged (the same object).
 *
 * ```js
 * for await (const frame of stylizeFrames(myFrames, { model: 'comic-light', batch: 4 })) show(frame);
 * ```
 */
export async function* stylizeFrames(frames: AsyncIterable<RgbImage> | Iterable<RgbImage>, options: StylizeFramesOptions = {}): AsyncGenerator<RgbImage, void, undefined> {
  for await (const item of stylizeFrameStream(frames, options)) yield item.frame;
}

export interface VideoProgress {
  /** Frames written so far. */
  frames: number;
  /** Frames expected in all (0 when unknown). */
  total: number;
  /** Faces stylized so far. */
  faces: number;
  /** Seconds since the start. */
  elapsed: number;
  /** Frames written per second so far (as StylizeVideoResult.speed is for the whole run). */
  speed: number;
  /** @deprecated The same as `speed`; not the video's frame rate (StylizeVideoResult.fps is that). */
  fps: number;
  /** Estimated seconds left (NaN when the total is unknown). */
  eta: number;
}

/** x264's presets, fastest first. */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo'] as const;

export interface StylizeVideoOptions extends FramePipelineOptions {
  /** Frame rate when the input is a frame folder (default 25); with a video input, ERR_FACESTYLE_ARGUMENT (a video keeps its own rate). */
  fps?: number;
  /** Video encoder (default libx264). */
  codec?: string;
  /** x264 quality: constant rate factor 0..51 (default 18). */
  crf?: number;
  /** x264 preset (default 'veryfast'; one of X264_PRESETS, slower = smaller files). */
  preset?: (typeof X264_PRESETS)[number];
  /** Fail on a damaged input video (default true); false stylizes whatever decodes. */
  strict?: boolean;
  /** Called after each written frame (awaited when it returns a promise); an exception thrown here, or a rejection, stops the run (nothing is left under `output`). */
  onProgress?: (progress: VideoProgress) => void | Promise<void>;
  /**
   * Replace an existing, non-empty frame-folder output (default false: ERR_FACESTYLE_ARGUMENT). Only a
   * folder holding nothing but frame_NNNNNN.png/.jpg files is ever replaced. Video files are always
   * replaced, atomically, when the run succeeds.
   */
  overwrite?: boolean;
}

const STYLIZE_VIDEO_OPTION_KEYS = is.optionKeys<StylizeVideoOptions>()([...FRAME_PIPELINE_OPTION_KEYS, 'fps', 'codec', 'crf', 'preset', 'strict', 'onProgress', 'overwrite']);

export interface StylizeVideoResult {
  output: string;
  frames: number;
  /** Frames in which at least one face was stylized. */
  framesWithFaces: number;
  faces: number;
  width: number;
  height: number;
  fps: number;
  /** Whether the output carries the input's audio: a video written from a video with audio (a frame folder holds no audio). */
  hasAudio: boolean;
  seconds: number;
  /** Frames per second of the whole run. */
  speed: number;
}

/** True when `p` names a frame folder rather than a video file: an existing folder, or a path ending with a separator. */
async function isFolderPath(p: string): Promise<boolean> {
  if (/[\\/]$/.test(p)) return true;
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

interface FrameSink {
  write(frame: RgbImage): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Stylizes every face of a video (or a folder of frames) into a video (or a folder of frames).
 * Video out has the input's size, frame rate and duration, with its audio copied through. Either output
 * is written to a hidden temp file or folder beside `output` and renamed at the end, so a failed,
 * aborted or killed run leaves nothing under `output` (a killed run may leave the hidden
 * .<name>.partial-* sibling). The output's parent folder must exist. An existing video file is replaced
 * when the run succeeds; an existing non-empty frame folder needs `overwrite: true`.
 */
export async function stylizeVideo(input: string, output: string, options: StylizeVideoOptions = {}): Promise<StylizeVideoResult> {
  const start = performance.now(); // the whole run, probing and process start-ups included
  if (!is.string(input)) throw is.invalid('input', 'video file or frame folder path', input);
  if (!is.string(output)) throw is.invalid('output', 'video file or frame folder path', output);
  is.knownOptions('stylizeVideo', options, STYLIZE_VIDEO_OPTION_KEYS);
  const o = normalize({ ...options, fps: options.fps ?? 25 });
  // Already aborted: no process is started.
  if (options.signal?.aborted) throw abortReason(options.signal);
  if (options.crf !== undefined) is.integerInRange('crf', options.crf, 0, 51);
  // Checked before anything is decoded (ffmpeg would refuse them only once frames were on their way).
  if (options.preset !== undefined) is.oneOf('preset', options.preset, X264_PRESETS);
  if (options.codec !== undefined && !(is.string(options.codec) && /^[\w.-]+$/.test(options.codec))) throw is.invalid('codec', "an ffmpeg encoder name such as 'libx264'", options.codec);
  // crf and preset are x264's (other encoders name and scale theirs differently): given with another
  // codec they were dropped without a word.
  if (options.codec !== undefined && options.codec !== 'libx264')
    for (const k of ['crf', 'preset'] as const)
      if (options[k] !== undefined) throw argumentError(`${k} is an option of libx264, and codec is '${options.codec}': leave ${k} out (the encoder's own defaults apply) or use libx264`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw is.invalid('onProgress', 'function', options.onProgress);
  for (const k of ['overwrite', 'strict'] as const) if (options[k] !== undefined) is.trueOrFalse(k, options[k]);
  const overwrite = options.overwrite === true;

  let inputStat;
  try {
    inputStat = await fsp.stat(input);
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Input not found: ${input}`, { cause: e });
  }
  const inputIsFolder = inputStat.isDirectory();
  // A video keeps its own frame rate: a rate given for one would be silently ignored.
  if (!inputIsFolder && options.fps !== undefined)
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `The fps option (--fps) applies to a frame folder input only; the video '${input}' keeps its own frame rate`);
  const outputIsFolder = await isFolderPath(output);
  if (!outputIsFolder && !isVideoPath(output)) {
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected output to be a video file (.mp4, .m4v, .mov, .mkv) or a folder ending with '/' but received '${output}'`);
  }
  const folderOut = output.replace(/[\\/]+$/, '') || output;
  await checkOutputPath(outputIsFolder ? folderOut : output, input);
  if (!outputIsFolder) checkWriteTarget(output); // not a device or pipe, which the final rename would replace
  // An existing, non-empty output folder is refused unless overwrite (checked again at the end).
  if (outputIsFolder) await checkFrameFolderOutput(folderOut, overwrite);
  const paths = ffmpegPaths();
  if (!inputIsFolder || !outputIsFolder) await checkFfmpeg(paths);

  const limit = o.maxFrames;
  const maxFrames = Number.isFinite(limit) ? limit : undefined;
  // The decoder starts while ffprobe runs (both are process start-ups); it waits on its pipe until read,
  // and is killed if the probe fails or the run stops before reading it.
  const started = inputIsFolder ? null : startDecode(input, { maxFrames, paths });
  let info: VideoInfo | null = null;
  try {
    info = inputIsFolder ? null : await probeVideo(input, paths);
  } catch (e) {
    started?.kill();
    throw e;
  }
  const fps = info ? info.fps : o.fps;
  // Progress totals: the probed frame count (0 where a container does not say), a folder's image files.
  const total = Math.min(info ? info.frameCount : (await listFrameFiles(input)).length, limit);
  // Frames decoded here are the pipeline's own: the paste step blends into them in place (owned-frames.ts).
  const source = ownFrames(info ? decodeVideo(info, { maxFrames, signal: options.signal, strict: options.strict, paths, started: started! }) : readFrameFolder(input, { maxFrames }));

  let sink: FrameSink | null = null;
  const openSink = async (width: number, height: number): Promise<FrameSink> => {
    if (outputIsFolder) {
      const writer = await FrameFolderWriter.create(folderOut, { overwrite });
      return { write: (frame) => writer.write(frame), finish: async () => void (await writer.finish()), abort: () => writer.abort() };
    }
    const frameRate = info ? info.frameRate : rateOf(o.fps);
    const encoder = new VideoEncoder(output, {
      width,
      height,
      frameRate,
      audioFrom: info?.hasAudio ? input : undefined,
      audioCodec: info?.audioCodec,
      audioCodecs: info?.audioCodecs,
      sampleAspect: info?.sampleAspect,
      color: info?.color,
      videoOffset: info?.videoOffset,
      // Only part of the video is stylized: cut the copied audio at the same point.
      // (frameCount 0: a container that does not say, such as MKV / WebM: cut too, harmless past the end.)
      maxDuration: info && Number.isFinite(limit) && (limit < info.frameCount || info.frameCount === 0) ? info.videoOffset + limit / info.fps : undefined,
      codec: options.codec,
      crf: options.crf,
      preset: options.preset,
      paths,
    });
    return { write: (f) => encoder.write(f), finish: async () => void (await encoder.finish()), abort: () => encoder.abort() };
  };

  let frames = 0;
  let framesWithFaces = 0;
  let faceCount = 0;
  let size: [number, number] = info ? [info.width, info.height] : [0, 0];
  try {
    // A video in gives the output's size up front: the encoder (a process start, tens of ms of CPU) starts
    // now, while the first frames are decoded and detected and a core is still free, not at the first
    // stylized frame, when the model has both cores busy. Frames come out of the decoder at info's size.
    if (info && !outputIsFolder) sink = await openSink(info.width, info.height);
    // The source stops at maxFrames itself: it must end on its own (not be closed by the stream), so that
    // the decoder's end checks (exit status, strict: a corrupt or truncated stream) still run.
    for await (const item of stylizeFrameStream(source, { ...is.pickOptions(options, FRAME_PIPELINE_OPTION_KEYS), fps, maxFrames: undefined })) {
      sink ??= await openSink(item.frame.width, item.frame.height);
      await sink.write(item.frame);
      size = [item.frame.width, item.frame.height];
      ++frames;
      faceCount += item.faces.length;
      if (item.faces.length > 0) ++framesWithFaces;
      if (options.onProgress) {
        const elapsed = (performance.now() - start) / 1000;
        const rate = frames / Math.max(elapsed, 1e-9);
        // An async callback is awaited: its rejection stops the run like a throw (it was left unhandled and ended the process).
        await options.onProgress({ frames, total, faces: faceCount, elapsed, speed: rate, fps: rate, eta: total > 0 ? Math.max(0, total - frames) / rate : NaN });
      }
    }
    if (options.signal?.aborted) throw abortReason(options.signal);
    if (!sink || frames === 0) throw new FacestyleError('ERR_FACESTYLE_FORMAT', `No frames in ${input}`);
    await sink.finish();
  } catch (e) {
    await sink?.abort();
    throw e;
  } finally {
    started?.kill(); // no-op once decoding ended; stops a decoder never read (the run failed before)
  }
  const seconds = (performance.now() - start) / 1000;
  return { output, frames, framesWithFaces, faces: faceCount, width: size[0], height: size[1], fps, hasAudio: !outputIsFolder && !!info?.hasAudio, seconds, speed: frames / seconds };
}

/**
 * A frame rate as a fraction ffmpeg accepts: the last continued-fraction convergent with a denominator up to
 * 100000, within about 1e-10 of the rate (29.97 -> 2997/100, 0.0015 -> 3/2000, 30000/1001 as a float ->
 * 30000/1001). Thousandths before:
 * 0.0015 fps was written as 1/500 while the result still said 0.0015.
 */
export function rateOf(fps: number): { num: number; den: number } {
  let [num0, num1, den0, den1] = [0, 1, 1, 0];
  let x = fps;
  for (let i = 0; i < 64; ++i) {
    const a = Math.floor(x);
    const [num2, den2] = [a * num1 + num0, a * den1 + den0];
    if (den2 > 100000) break;
    [num0, num1, den0, den1] = [num1, num2, den1, den2];
    const frac = x - a;
    if (frac < 1e-9 || Math.abs(num1 / den1 - fps) <= 1e-12 * fps) break;
    x = 1 / frac;
  }
  return { num: num1, den: den1 };
}
