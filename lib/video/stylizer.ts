// The small interface the video pipeline needs from a face stylizer, and the adapter from lib/face's
// frame-level API. Keeping the pipeline on this interface makes it testable with a fake stylizer.
import { alignmentMatrix, cropFacesInto } from '../face/align.js';
import { createFaceStylizer, loadFaceGenerator, mirrorAveraged, type FaceGenerator, type FaceStylizer, type ModelEngine } from '../face/index.js';
import { checkGeneratorOutput } from '../face/stylize.js';
import * as is from '../is.js';
import { pasteCrops } from '../face/paste.js';
import type { Affine2x3, Face, RgbImage } from '../face/types.js';
import { sharedDetector } from '../face/detect.js';
import { type DetectorEngine, chooseDetectorEngine } from '../face/detector-engine.js';
import { Tensor } from '../graph/tensor.js';
import type { DeviceName } from '../runtime/session.js';
import { isOwnedFrame } from './owned-frames.js';

export interface FrameFaces {
  frame: RgbImage;
  faces: Face[];
}

/**
 * stylize() split into its three steps, so the pipeline can run them as overlapping stages: while the
 * model runs on one batch (native threads, off the event loop), the JS thread aligns the next batch
 * and pastes the previous one. `stylize(items)` must equal `paste(await model(await align(items)))`.
 */
export interface StylizeSteps<A = unknown, M = unknown> {
  /** Aligned crops of all faces of `items`, ready for the model (JS + native warp). */
  align(items: FrameFaces[]): Promise<A>;
  /** The model on one aligned batch. */
  model(aligned: A): Promise<M>;
  /** The styled crops pasted back: new frames, in the order of the `items` given to align(). */
  paste(styled: M): Promise<RgbImage[]>;
}

/** What the pipeline calls: detect faces in a frame; stylize the given faces of several frames at once. */
export interface FrameStylizer {
  /** Faces in a frame (or in a region cut from one), in that image's pixel coordinates. */
  detect(frame: RgbImage): Promise<Face[]>;
  /**
   * Optional: faces in a region cut around one tracked face (about 2.2x its box), in the region's pixel
   * coordinates. The tracker uses it between full detections; without it, detect() is used.
   */
  detectRegion?(region: RgbImage): Promise<Face[]>;
  /**
   * New frames with the given faces stylized and pasted back, in order. Several frames come at once so
   * an implementation can run their face crops as one batch.
   */
  stylize(items: FrameFaces[]): Promise<RgbImage[]>;
  /** Optional: stylize() as three steps the pipeline overlaps (align / model / paste). */
  steps?: StylizeSteps;
  /** Frees native resources (called by the pipeline only for stylizers it created). */
  dispose?(): void | Promise<void>;
}

/** The shape of lib/face's frame-level stylizer (createFaceStylizer), as far as video needs it. */
export interface FaceStylizerLike {
  detect(frame: RgbImage): Promise<Face[]>;
  stylizeFaces(frame: RgbImage, faces: Face[]): Promise<RgbImage>;
  /** Optional batched form: many frames' faces in one engine call. */
  stylizeFacesBatch?(items: FrameFaces[]): Promise<RgbImage[]>;
  dispose?(): void | Promise<void>;
}

/** Wraps lib/face's stylizer as a FrameStylizer: its batched call when it has one, else frame by frame. */
export function adaptFaceStylizer(face: FaceStylizerLike): FrameStylizer {
  return {
    detect: (frame) => face.detect(frame),
    stylize: async (items) => {
      if (face.stylizeFacesBatch) return face.stylizeFacesBatch(items);
      const out: RgbImage[] = [];
      // In order, one at a time: the engine runs one call per session at a time anyway.
      for (const { frame, faces } of items) out.push(await face.stylizeFaces(frame, faces));
      return out;
    },
    dispose: () => face.dispose?.(),
  };
}

export interface VideoStylizerOptions {
  /** Style model: .onnx, model card .json or .safetensors (default: the shipped model). */
  model?: string;
  /** Aligned crop size (default: the model's). */
  size?: number;
  /** 0..1 blend of the stylized face over the original (default 1). */
  strength?: number;
  /**
   * Also stylize each face mirrored and average the two (test-time mirror averaging, mirrorAveraged): a
   * little closer to the style (shipped model, held-out pairs: 18.16 -> 18.32 dB PSNR), twice the model
   * time. Default false.
   */
  mirrorAverage?: boolean;
  device?: DeviceName;
  /** How .onnx models run: 'native' (default) or 'onnxruntime'. */
  engine?: ModelEngine;
  /** YuNet detector .onnx (default: FACESTYLE_DETECTOR, then the package's models/detection). */
  detector?: string;
  /**
   * Where the detector runs (default: FACESTYLE_DETECTOR_ENGINE, else 'native': a video's input shapes
   * repeat, so each is compiled once; 908.mp4 48.4-48.8 -> 51.6-51.9 fps against 'onnxruntime').
   */
  detectorEngine?: DetectorEngine;
  /** Detector score threshold (default 0.5). */
  scoreThreshold?: number;
  /** CPU threads for the detector and the model (default 0: all). */
  threads?: number;
}

/** One model batch in flight between the steps: the frames, their faces' matrices, the crops. */
interface Batch {
  items: FrameFaces[];
  /** Per frame, its faces' image -> crop matrices. */
  matrices: Affine2x3[][];
  /** [total,3,S,S]: aligned crops in the model's range ([-1,1] with a generator, [0,1] otherwise), then the styled ones. */
  crops: Tensor;
  /** True when `crops` is in [-1,1] (the generator's range). */
  signed: boolean;
}

/**
 * A FrameStylizer over lib/face's stylizer that batches across frames: the faces of all frames in one
 * call are aligned per frame, run through the model as ONE batch, and pasted back per frame.
 *
 * With `generator` (the model behind `face`), the model step calls it directly: the crops are cut from
 * the frames straight into the generator's [-1,1] and pasted back from it (native passes on the CPU,
 * lib/face's align.ts and paste.ts), so no JS pass over the crops is left on the event loop. Without it,
 * the model step is face.stylizeCrops ([0,1] in and out).
 */
export function batchedFaceStylizer(
  face: FaceStylizer,
  options: { strength?: number; device?: DeviceName; generator?: FaceGenerator; detectRegion?: (region: RgbImage) => Promise<Face[]> } = {},
): FrameStylizer {
  const strength = options.strength ?? 1;
  const device = options.device ?? 'cpu';
  const generator = options.generator;
  const size = face.size;

  const steps: StylizeSteps<Batch, Batch> = {
    async align(items) {
      // lib/face's alignment (FFHQ procedure, reflect border), every frame's crops written into one batch.
      const matrices = items.map(({ faces }) => faces.map((f) => alignmentMatrix(f.landmarks, 'ffhq', size)));
      const total = matrices.reduce((n, m) => n + m.length, 0);
      const crops = new Tensor([total, 3, size, size]);
      const signed = !!generator;
      let offset = 0;
      // All frames at once: the native passes run side by side on the libuv pool.
      await Promise.all(
        items.map(({ frame }, i) => {
          const at = offset;
          offset += matrices[i].length;
          return cropFacesInto(frame, matrices[i], crops, at, { border: 'reflect', device, range: signed ? 'signed' : 'unit' });
        }),
      );
      return { items, matrices, crops, signed };
    },
    async model(batch) {
      if (batch.crops.shape[0] === 0) return batch;
      if (!generator) return { ...batch, crops: await face.stylizeCrops(batch.crops) };
      // The crops are not needed after the model: the output may overwrite them (no new batch tensor).
      const y = await generator.run(batch.crops, { inPlace: true });
      checkGeneratorOutput(batch.crops.shape, y, generator.name); // as on photos
      return { ...batch, crops: y };
    },
    async paste({ items, matrices, crops, signed }) {
      let offset = 0;
      const jobs = items.map(({ frame, faces }, i) => {
        // Paste smaller faces first so the larger (nearer) face stays on top where they overlap.
        const order = faces.map((_, k) => k).sort((a, b) => faces[a].box[2] * faces[a].box[3] - faces[b].box[2] * faces[b].box[3]);
        const base = offset;
        offset += faces.length;
        // A frame the pipeline decoded itself is blended into in place; an app's own frame is copied.
        return pasteCrops(frame, crops, order.map((k) => ({ crop: base + k, matrix: matrices[i][k] })), { strength, device, range: signed ? 'signed' : 'unit', inPlace: isOwnedFrame(frame) });
      });
      return Promise.all(jobs);
    },
  };

  return {
    detect: (frame) => face.detect(frame),
    ...(options.detectRegion ? { detectRegion: options.detectRegion } : {}),
    async stylize(items) {
      return steps.paste(await steps.model(await steps.align(items)));
    },
    steps: steps as StylizeSteps,
    async dispose() {
      await face.dispose();
      await generator?.dispose();
    },
  };
}

/**
 * Only the VideoStylizerOptions of a larger options object (a pipeline's): the stylizer that
 * stylizeVideo, stylizeFrames and measureVideoFps create when they are not given one.
 */
export function videoStylizerOptions(o: VideoStylizerOptions): VideoStylizerOptions {
  return is.pickOptions(o, VIDEO_STYLIZER_OPTION_KEYS);
}

const VIDEO_STYLIZER_OPTION_KEYS = is.optionKeys<VideoStylizerOptions>()([
  'model', 'size', 'strength', 'mirrorAverage', 'device', 'engine', 'detector', 'detectorEngine', 'scoreThreshold', 'threads',
]);

/** Side (px) the tracker's re-detection regions are scaled to. */
const REGION_INPUT = 160;

/** The real stylizer (lib/face's detector, aligner, model and paste-back) behind the FrameStylizer interface. */
export async function createVideoStylizer(options: VideoStylizerOptions = {}): Promise<FrameStylizer> {
  is.knownOptions('createVideoStylizer', options, VIDEO_STYLIZER_OPTION_KEYS);
  const detectorEngine = chooseDetectorEngine(options.detectorEngine, 'native'); // checked before anything loads
  // The generator is loaded here (not inside createFaceStylizer) so the pipeline's model stage can call it directly.
  if (options.mirrorAverage !== undefined) is.trueOrFalse('mirrorAverage', options.mirrorAverage);
  const threads = is.threadCount(options.threads);
  const loaded = await loadFaceGenerator(options.model, { size: options.size, device: options.device, engine: options.engine, threads });
  const generator = options.mirrorAverage ? mirrorAveraged(loaded) : loaded;
  let face: FaceStylizer | undefined;
  try {
    face = await createFaceStylizer({
      model: generator,
      strength: options.strength,
      device: options.device,
      engine: options.engine,
      detector: options.detector,
      detectorEngine,
      scoreThreshold: options.scoreThreshold,
      threads,
      // The second pass without its mirror tiles (see the region detection below for why).
      secondPassMirror: false,
    });
    // Between full detections the tracker re-finds each face in a region around it (2.2x its box).
    // lib/face's detect() runs a pass at the region's own size and then its second pass (a 160 px tile
    // around the face). For a region larger than 160 px (a face over ~70 px) one pass on the
    // region shrunk to 160 px is that second pass alone: about half the detection time on the close-up
    // clips, landmarks within 0.02-0.03 inter-ocular distances of full detections (lib/video/README.md).
    // Smaller regions (small faces, where the first pass is cheap and the second pass gains most) keep
    // lib/face's detect(). No mirror runs, in regions (flipTest) or in full detections' second pass
    // (secondPassMirror): the tracker's smoothing already removes the noise they would average out.
    // `node bench/video-detect.mjs`: detection 2.63 -> 1.86 ms a frame on 908, 5.29 -> 4.07 on
    // short_hamilton_clip (first 60 frames), smoothed landmark motion the same (lib/video/README.md).
    const detector = await sharedDetector(options.detector, detectorEngine, { threads });
    const regionOptions = { secondPass: false, flipTest: false, inputSize: REGION_INPUT, minInputSize: REGION_INPUT, scoreThreshold: Math.min(options.scoreThreshold ?? 0.5, 0.3) };
    const full = face;
    const detectRegion = (region: RgbImage) => (Math.max(region.width, region.height) > REGION_INPUT ? detector.detect(region, regionOptions) : full.detect(region));
    return batchedFaceStylizer(face, { strength: options.strength, device: options.device, generator, detectRegion });
  } catch (e) {
    await face?.dispose();
    await generator.dispose();
    throw e;
  }
}
