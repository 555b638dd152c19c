// The whole job for photos and frames: detect, align, stylize (one batch), paste back.
import { FacestyleError, asOutOfMemory, isFacestyleError } from '../errors.js';
import { samePath } from '../files.js';
import { Tensor } from '../graph/tensor.js';
import type { ImageInput } from '../image/io.js';
import * as is from '../is.js';
import type { DeviceName } from '../runtime/session.js';
import { ALIGN_TEMPLATES, type AlignTemplate, alignFaces, ffhqTemplate, imageTensor } from './align.js';
import { DETECTOR_RUN_OPTION_KEYS, DETECT_OPTION_KEYS, type DetectOptions, type DetectorRunOptions, FaceDetector, LandmarkModel, checkDetectOptions, landmarksOption, sharedDetector } from './detect.js';
import { DETECTOR_ENGINES, type DetectorEngine } from './detector-engine.js';
import { type WriteOptions, checkPixelLimit, checkRgbImage, formatFromPath, imagePages, pixelLimit, resizeRgbImage, toRgbImage, writeRgbImage } from './image.js';
import { type FaceGenerator, type ModelEngine, type ModelSource, loadFaceGenerator, mirrorAveraged } from './model.js';
import { firstNonFinite, pasteCrops, withPixels } from './paste.js';
import { signedToUnit, unitToSigned } from './warp.js';
import type { Face, Landmarks5, RgbImage } from './types.js';

export interface FaceStylizerOptions extends DetectOptions {
  /** The generator: .onnx / model card / safetensors path, a Graph or a FaceGenerator (default: shipped model). */
  model?: ModelSource;
  /** Aligned crop size (default: the model's size, 512 for size-agnostic models). */
  size?: number;
  /** Stylize every face (default), only the largest, or at most this many, the largest first (0: all; as video's `faces`). */
  faces?: FacesOption;
  /** 0 keeps the original, 1 (default) pastes the stylized face fully. */
  strength?: number;
  /**
   * Also stylize each face mirrored and average the two (test-time mirror averaging, mirrorAveraged): a
   * little closer to the style (shipped model, held-out pairs: 18.16 -> 18.32 dB PSNR), twice the model
   * time. Default false.
   */
  mirrorAverage?: boolean;
  device?: DeviceName;
  /** How .onnx models run (default 'native'). */
  engine?: ModelEngine;
  /** Where the face detector runs (default: FACESTYLE_DETECTOR_ENGINE, else 'onnxruntime'; see FaceDetector.engine). */
  detectorEngine?: DetectorEngine;
  /**
   * Frames (and crops) of more pixels than this are refused with ERR_FACESTYLE_ARGUMENT (default, false
   * or 0: no limit on frames already in memory; stylize() / stylizeFile() apply it, as sharp's default
   * of 268402689 when unset, while decoding the photo).
   */
  limitInputPixels?: number | false;
  /**
   * Alignment (default 'ffhq': the FFHQ procedure, from PFLD's 68 points when `landmarks68` gives a
   * model, else from the 5 detected points). See AlignOptions.template. `landmarks68` defaults to
   * false here and to 'auto' in stylize() / stylizeFile() / the CLI.
   */
  template?: AlignTemplate;
}

/** Every key of FaceStylizerOptions (its own and DetectOptions'). */
const FACE_STYLIZER_OPTION_KEYS = is.optionKeys<FaceStylizerOptions>()([
  ...DETECT_OPTION_KEYS, 'model', 'size', 'faces', 'strength', 'mirrorAverage', 'device', 'engine', 'detectorEngine', 'limitInputPixels', 'template',
]);

/** Milliseconds per stage of one call. */
export interface StageTimings {
  detect: number;
  align: number;
  stylize: number;
  paste: number;
  total: number;
}

export interface FrameResult {
  image: RgbImage;
  faces: Face[];
  timings: StageTimings;
  warnings: string[];
}

export interface FaceStylizer {
  /** The crop size faces are stylized at. */
  readonly size: number;
  /** CPU threads the detector, landmark and model runs may use, as asked for (0: all). */
  readonly threads: number;
  /** Timings of the most recent call (detect/stylizeFaces/stylizeFrame). */
  readonly lastTimings: StageTimings;
  /** Sums over every call so far, with the number of frames stylized (stylizeFrame, stylizeFaces, stylizeAligned; detect() alone counts none). */
  readonly totalTimings: StageTimings & { frames: number };
  /** Faces in a frame, largest first (respects faces: 'largest'). */
  detect(frame: RgbImage): Promise<Face[]>;
  /** Stylizes the given faces (e.g. tracked and smoothed) of a frame; returns a new frame. */
  stylizeFaces(frame: RgbImage, faces: readonly Face[]): Promise<RgbImage>;
  /** detect + stylizeFaces. No face: the frame back unchanged (a copy) with a warning. */
  stylizeFrame(frame: RgbImage): Promise<FrameResult>;
  /** Stylizes aligned crops [N,3,size,size] RGB in [0,1]; returns the same layout. */
  stylizeCrops(crops: Tensor): Promise<Tensor>;
  /**
   * An image that is already an aligned face crop: resized to `size`, stylized whole, resized back; no
   * detection. Counted in lastTimings / totalTimings like a frame (align = resize in, paste = resize out).
   */
  stylizeAligned(crop: RgbImage): Promise<FrameResult>;
  /**
   * Loads the face detector and the landmark model (when one is configured) now rather than at the
   * first frame, so a missing or wrong file is reported before any work (the CLI calls it first).
   */
  prepare(): Promise<void>;
  dispose(): Promise<void>;
}

/** Which faces to stylize: 'all', 'largest', or at most N (largest first; 0 means all). */
export type FacesOption = 'all' | 'largest' | number;

/** A FacesOption as the most faces to take, 0 for all (ERR_FACESTYLE_ARGUMENT for anything else). */
export function faceLimit(faces: unknown): number {
  if (faces === undefined || faces === 'all') return 0;
  if (faces === 'largest') return 1;
  if (is.integer(faces) && faces >= 0 && faces <= 1000) return faces;
  throw is.invalid('faces', "'all', 'largest' or a whole number of faces 0..1000 (0: all)", faces);
}

const zeroTimings = (): StageTimings => ({ detect: 0, align: 0, stylize: 0, paste: 0, total: 0 });
const now = () => performance.now();

/** Creates a reusable stylizer: the detector and the model are loaded once. */
export async function createFaceStylizer(options: FaceStylizerOptions = {}): Promise<FaceStylizer> {
  is.knownOptions('createFaceStylizer', options, FACE_STYLIZER_OPTION_KEYS);
  const most = faceLimit(options.faces);
  const strength = is.numberInRange('strength', options.strength ?? 1, 0, 1);
  const template = is.oneOf('template', options.template ?? 'ffhq', ALIGN_TEMPLATES);
  // 68 points only feed the FFHQ procedure; the template fits read 5, so 'auto' loads no model for them.
  const lmOption = template === 'ffhq' || options.landmarks68 !== 'auto' ? landmarksOption(options.landmarks68) : null;
  const device = is.oneOf('device', options.device ?? 'cpu', ['cpu', 'cuda'] as const);
  const limit = pixelLimit(options.limitInputPixels);
  const checkFrame = (frame: RgbImage, what: string) => {
    checkRgbImage(frame, what);
    checkPixelLimit(frame, limit, what);
  };
  if (options.detectorEngine !== undefined) is.oneOf('detectorEngine', options.detectorEngine, DETECTOR_ENGINES);
  // maxFaces (a DetectOptions key) and faces both cap the count: the lower one wins.
  // (A maxFaces that is not a number goes through as it is, for checkDetectOptions to name it.)
  const capped = most > 0 && (options.maxFaces === undefined || typeof options.maxFaces === 'number');
  const detectOptions: DetectorRunOptions = { ...is.pickOptions(options, DETECTOR_RUN_OPTION_KEYS), maxFaces: capped ? Math.min(most, options.maxFaces ?? Infinity) : options.maxFaces };
  const { threads } = checkDetectOptions({ ...detectOptions, threads: options.threads }); // now, not at the first frame
  if (options.mirrorAverage !== undefined) is.trueOrFalse('mirrorAverage', options.mirrorAverage);
  const loaded: FaceGenerator = await loadFaceGenerator(options.model, { size: options.size, device, engine: options.engine, threads });
  const ownsGenerator = loaded !== options.model;
  // The wrapper disposes the generator it wraps: only one this stylizer loaded is disposed (ownsGenerator).
  const generator = options.mirrorAverage ? mirrorAveraged(loaded) : loaded;
  let detector: FaceDetector | undefined;
  // Loaded once, on first use: the promise is kept, so concurrent first frames share one model (each
  // loaded its own before, and only the last was disposed); a model that finishes loading after
  // dispose() is disposed at once.
  let landmarksLoading: Promise<LandmarkModel> | undefined;
  const landmarkModel = async (): Promise<LandmarkModel> => {
    if (!landmarksLoading) {
      const loading = LandmarkModel.load(lmOption!, { threads }).then(async (m) => {
        if (disposed) {
          await m.dispose();
          alive(); // throws
        }
        return m;
      });
      landmarksLoading = loading;
      // A failed load is not kept: the next frame tries again, as it did before the promise was cached.
      loading.catch(() => {
        if (landmarksLoading === loading) landmarksLoading = undefined;
      });
    }
    return landmarksLoading;
  };
  const size = generator.size;
  let last = zeroTimings();
  const total = { ...zeroTimings(), frames: 0 };
  let disposed = false;
  const alive = () => {
    if (disposed) throw new FacestyleError('ERR_FACESTYLE_DISPOSED', 'This FaceStylizer was disposed; create a new one with createFaceStylizer()');
  };
  const record = (t: StageTimings) => {
    last = t;
    for (const k of ['detect', 'align', 'stylize', 'paste', 'total'] as const) total[k] += t[k];
  };

  async function detectTimed(frame: RgbImage, t: StageTimings): Promise<Face[]> {
    const t0 = now();
    detector ??= await sharedDetector(options.detector, options.detectorEngine, { threads });
    let faces = await detector.detect(frame, detectOptions);
    if (lmOption !== null && faces.length) {
      faces = await (await landmarkModel()).refine(frame, faces);
    }
    t.detect += now() - t0;
    return faces;
  }

  // The generator on crops already in its range [-1,1], checked to return the same shape. The crops are
  // the caller's own temporary (never the user's), so the output may overwrite them.
  async function runGenerator(x: Tensor): Promise<Tensor> {
    const y = await generator.run(x, { inPlace: true });
    checkGeneratorOutput(x.shape, y, generator.name);
    return y;
  }

  async function stylizeCrops(crops: Tensor): Promise<Tensor> {
    if (!(crops instanceof Tensor) || crops.shape.length !== 4 || crops.shape[1] !== 3 || crops.shape[2] !== size || crops.shape[3] !== size)
      throw is.invalid('crops', `a Tensor [N,3,${size},${size}] (aligned crops, RGB in [0,1])`, crops instanceof Tensor ? `a Tensor [${crops.shape.join(',')}]` : crops);
    // Crops that are not numbers are the caller's, not the model's (the model check below would blame it).
    const bad = firstNonFinite(crops.data);
    if (bad >= 0) {
      const per = crops.size / crops.shape[0];
      throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `crops holds ${crops.data[bad]} (crop ${Math.floor(bad / per) + 1} of ${crops.shape[0]}, element ${bad % per}): expected RGB values in [0,1]`);
    }
    // [0,1] -> [-1,1] -> generator -> [0,1] (plain loops: TypedArray map() was 3-4x slower, 26 ms a
    // pass over 15 crops of 256)
    const y = await runGenerator(new Tensor(crops.shape, unitToSigned(crops.data, new Float32Array(crops.size))));
    return new Tensor(y.shape, signedToUnit(y.data, new Float32Array(y.size)));
  }

  async function stylizeFacesTimed(frame: RgbImage, faces: readonly Face[], t: StageTimings): Promise<RgbImage> {
    if (faces.length === 0) return withPixels(frame, new Uint8Array(frame.data));
    let t0 = now();
    // Crops straight in the generator's range and pasted from it (native passes both ways, as the video
    // stylizer does): no JS pass over the crops.
    const { crops, matrices } = await alignFaces(frame, faces, { size, template, device, range: 'signed' });
    t.align += now() - t0;
    t0 = now();
    const styled = await runGenerator(crops);
    t.stylize += now() - t0;
    t0 = now();
    // Largest faces come first; paste them last so they stay on top where faces overlap.
    const order = matrices.map((_, i) => i).reverse();
    const image = await pasteCrops(frame, styled, order.map((i) => ({ crop: i, matrix: matrices[i] })), { strength, device, range: 'signed' });
    t.paste += now() - t0;
    return image;
  }

  const stylizer: FaceStylizer = {
    size,
    threads,
    get lastTimings() {
      return { ...last };
    },
    get totalTimings() {
      return { ...total };
    },
    async detect(frame) {
      alive();
      checkFrame(frame, 'frame');
      const t = zeroTimings();
      const faces = await detectTimed(frame, t);
      t.total = t.detect;
      record(t);
      return faces;
    },
    async stylizeFaces(frame, faces) {
      alive();
      checkFrame(frame, 'frame');
      if (!Array.isArray(faces)) throw is.invalid('faces', 'an array of faces', faces);
      const t = zeroTimings();
      const t0 = now();
      const image = await stylizeFacesTimed(frame, faces, t);
      t.total = now() - t0;
      record(t);
      total.frames += 1; // one frame stylized (detect() + stylizeFaces() counted none)
      return image;
    },
    async stylizeFrame(frame) {
      alive();
      checkFrame(frame, 'frame');
      const t = zeroTimings();
      const t0 = now();
      const faces = await detectTimed(frame, t);
      const image = await stylizeFacesTimed(frame, faces, t);
      t.total = now() - t0;
      record(t);
      total.frames += 1;
      return { image, faces, timings: t, warnings: faces.length ? [] : ['No face found; the image is returned unchanged'] };
    },
    async stylizeCrops(crops) {
      alive();
      return stylizeCrops(crops);
    },
    async prepare() {
      alive();
      detector ??= await sharedDetector(options.detector, options.detectorEngine, { threads });
      if (lmOption !== null) await landmarkModel();
    },
    async stylizeAligned(image) {
      alive();
      checkFrame(image, 'crop');
      const t0 = now();
      const small = image.width === size && image.height === size ? image : await resizeRgbImage(image, size, size);
      const t1 = now();
      const y = await stylizeCrops(imageTensor(small));
      const t2 = now();
      const bytes = new Uint8Array(size * size * 3);
      for (let c = 0; c < 3; ++c)
        for (let i = 0; i < size * size; ++i) bytes[i * 3 + c] = Math.round(Math.min(1, Math.max(0, y.data[c * size * size + i])) * 255);
      let out: RgbImage = { data: bytes, width: size, height: size };
      if (image.width !== size || image.height !== size) out = await resizeRgbImage(out, image.width, image.height);
      // Back at the crop's size: its transparency comes through, as stylizeFrame's does.
      if (image.alpha) out = { ...out, alpha: image.alpha };
      const t3 = now();
      // The crop is taken as aligned: its landmarks are the template's, in its own pixels.
      const landmarks = ffhqTemplate(1).map(([x, y]) => [x * image.width, y * image.height]) as Landmarks5;
      const face: Face = { box: [0, 0, image.width, image.height], score: 1, landmarks };
      const timings = { detect: 0, align: t1 - t0, stylize: t2 - t1, paste: t3 - t2, total: t3 - t0 };
      record(timings);
      total.frames += 1;
      // An aligned crop is square: another aspect is stretched to the model's square and back, which
      // distorts the face (probably a whole photo given as aligned).
      const warnings =
        image.width === image.height
          ? []
          : [`the aligned input is ${image.width}x${image.height}, not square: it was stretched to ${size}x${size} for the model (an aligned face crop is square; for a whole photo leave out --aligned / aligned: true)`];
      return { image: out, faces: [face], timings: { ...timings }, warnings };
    },
    async dispose() {
      disposed = true;
      if (ownsGenerator) await generator.dispose();
      const loading = landmarksLoading;
      landmarksLoading = undefined;
      // (One still loading disposes itself when it arrives; see landmarkModel.)
      if (loading) await loading.then((m) => m.dispose(), () => undefined);
    },
  };
  // A call in flight when dispose() released the model said "The session was disposed; compile the graph
  // again", a session the caller never saw: it says the FaceStylizer was disposed instead.
  for (const name of ['detect', 'stylizeFaces', 'stylizeFrame', 'stylizeCrops', 'stylizeAligned', 'prepare'] as const) {
    const method = stylizer[name] as (...args: unknown[]) => Promise<unknown>;
    (stylizer as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await method(...args);
      } catch (e) {
        if (disposed && isFacestyleError(e) && e.code === 'ERR_FACESTYLE_DISPOSED') alive();
        throw e;
      }
    };
  }
  return stylizer;
}

/**
 * A generator's output crops y for input crops of `inputShape` [N,3,S,S]: the same shape (ERR_FACESTYLE_SHAPE) and
 * finite values: NaN / Inf would be pasted as black or white patches without a word (a model with Sqrt or
 * Log of a negative, broken weights), ERR_FACESTYLE_NUMERIC naming the face (1-based, of N). Used on
 * photos and on video batches.
 */
export function checkGeneratorOutput(inputShape: readonly number[], y: Tensor, generatorName: string): void {
  // A FaceGenerator of the caller's own may return anything (undefined failed as a TypeError).
  if (!(y instanceof Tensor)) throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Generator '${generatorName}' returned ${y === null ? 'null' : typeof y === 'object' ? (y as object).constructor?.name ?? 'an object' : typeof y}, not a Tensor [N,3,S,S]`);
  if (y.shape.join(',') !== inputShape.join(','))
    throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Generator '${generatorName}' returned [${y.shape.join(',')}] for input [${inputShape.join(',')}]`);
  checkFiniteFaces(y, generatorName);
}

function checkFiniteFaces(y: Tensor, generatorName: string): void {
  const i = firstNonFinite(y.data);
  if (i >= 0)
    throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `Generator '${generatorName}' returned ${Number.isNaN(y.data[i]) ? 'NaN' : 'Inf'} (face ${Math.floor(i / (y.size / y.shape[0])) + 1} of ${y.shape[0]}): the model is broken for this input`);
}

export interface StylizeOptions extends FaceStylizerOptions {
  /** Reuse a stylizer (its own options apply; the model/detector options here are ignored). */
  stylizer?: FaceStylizer;
  /** The input is already an aligned face crop: no detection; it is resized to size and stylized whole. */
  aligned?: boolean;
}

const STYLIZE_OPTION_KEYS = is.optionKeys<StylizeOptions>()([...FACE_STYLIZER_OPTION_KEYS, 'stylizer', 'aligned']);
const STYLIZE_FILE_OPTION_KEYS = is.optionKeys<StylizeOptions & WriteOptions>()([...STYLIZE_OPTION_KEYS, 'quality']);

/**
 * Stylizes every face of a photo (path, encoded buffer or RgbImage): the result has the input's
 * size with EXIF orientation applied. No face: the image comes back unchanged with a warning.
 */
export async function stylize(input: ImageInput | RgbImage, options: StylizeOptions = {}): Promise<FrameResult> {
  is.knownOptions('stylize', options, STYLIZE_OPTION_KEYS);
  if (options.aligned !== undefined) is.trueOrFalse('aligned', options.aligned);
  // A stylizer of your own (createFaceStylizer) is used as it is: its options, not these, apply.
  if (options.stylizer !== undefined && !(is.object(options.stylizer) && typeof (options.stylizer as FaceStylizer).stylizeFrame === 'function'))
    throw is.invalid('stylizer', 'a FaceStylizer (from createFaceStylizer)', options.stylizer);
  try {
    return await stylizeImage(input, options);
  } catch (e) {
    throw asOutOfMemory(e, `stylizing ${typeof input === 'string' ? `'${input}'` : 'the image'}`);
  }
}

async function stylizeImage(input: ImageInput | RgbImage, options: StylizeOptions): Promise<FrameResult> {
  const image = await toRgbImage(input, { limitInputPixels: options.limitInputPixels, keepAlpha: true });
  // Photos: 68-point alignment whenever a PFLD model is at hand (the frame API leaves it off by
  // default: video pays it every frame, and its tracker smooths only the 5 points).
  const { stylizer: given, aligned, ...faceOptions } = options;
  const stylizer = given ?? (await createFaceStylizer({ ...faceOptions, landmarks68: options.landmarks68 ?? 'auto' }));
  try {
    const r = aligned ? await stylizeAlignedImage(stylizer, image) : await stylizer.stylizeFrame(image);
    // Transparency passes through unchanged (stylizeFrame keeps it; stylizeAligned resizes a new image).
    if (image.alpha) r.image.alpha = image.alpha;
    await warnIfAnimated(input, r);
    return r;
  } finally {
    if (!given) await stylizer.dispose();
  }
}

/** An animated GIF / WebP decodes to its first frame: a warning on `result` says so rather than drop the others in silence. */
export async function warnIfAnimated(input: ImageInput | RgbImage, result: FrameResult): Promise<void> {
  const pages = await imagePages(input);
  if (pages > 1) result.warnings.push(`The image is animated (${pages} frames): only its first frame is stylized and written`);
}

/** An aligned crop (see FaceStylizer.stylizeAligned). */
export function stylizeAlignedImage(stylizer: FaceStylizer, image: RgbImage): Promise<FrameResult> {
  return stylizer.stylizeAligned(image);
}

/**
 * stylize() and write the result; the format follows `output`'s extension (checked before any
 * work), transparency is kept where the format has it.
 */
export async function stylizeFile(input: ImageInput, output: string, options: StylizeOptions & WriteOptions = {}): Promise<FrameResult> {
  if (!is.string(output) || output === '') throw is.invalid('output', 'an image file path', output);
  is.knownOptions('stylizeFile', options, STYLIZE_FILE_OPTION_KEYS);
  formatFromPath(output);
  if (is.string(input) && samePath(input, output))
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `The output '${output}' is the input file: the original would be overwritten; choose another output`);
  const { quality, ...stylizeOptions } = options;
  const r = await stylize(input, stylizeOptions);
  await writeRgbImage(r.image, output, { quality });
  return r;
}
