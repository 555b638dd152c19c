// Face detection with YuNet through onnxruntime-node (CPU), spec in ../shared/data/README.md:
// BGR 0..255 input letterboxed at the top-left, outputs per stride 8/16/32 decoded against a
// row-major anchor grid, then NMS. Optional 68-point refinement with PFLD.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { FacestyleError, isFacestyleError } from '../errors.js';
import { Tensor } from '../graph/tensor.js';
import type { ImageInput } from '../image/io.js';
import * as is from '../is.js';
import { loadNative, packageRoot } from '../native.js';
import { imageTensor, regionTensor } from './align.js';
import { checkPixelLimit, checkRgbImage, pixelLimit, toRgbImage } from './image.js';
import type { Affine2x3, Face, Landmarks5, Point, RgbImage } from './types.js';
import { DETECTOR_ENGINES, type DetectorBackend, type DetectorEngine, type NetOutputs, PFLD_NET, chooseDetectorEngine, createDetectorBackend, defaultPhotoDetectorEngine } from './detector-engine.js';
import { warpAffine } from './warp.js';

export interface DetectOptions {
  /** YuNet .onnx file. Default: env FACESTYLE_DETECTOR, then models/detection/*.onnx of the package. */
  detector?: string;
  /** Keep faces whose score (cls * obj) is at least this (default 0.5). */
  scoreThreshold?: number;
  /** IoU above which the lower-scored of two boxes is dropped (default 0.45). */
  nmsThreshold?: number;
  /** Smallest face side in image pixels (default 0). */
  minSize?: number;
  /** Keep at most this many faces, the largest (default: all). */
  maxFaces?: number;
  /**
   * Dynamic models: the image is scaled down so its long side is at most this (default 640). When
   * nothing is found on an input over 160 px, one retry at 160 finds faces that fill the photo.
   */
  inputSize?: number;
  /** Dynamic models: smaller images are scaled up so their long side is at least this (default 0: never). */
  minInputSize?: number;
  /** Also run the mirrored image and average both (steadier landmarks, twice the detector time; default false). */
  flipTest?: boolean;
  /**
   * Second pass (default true): each face is detected again on a 160x160 tile around it (twice its
   * box, so the face is ~80 px; 64-100 px measured alike, tiny or huge faces worse) and on the
   * tile's mirror image, and takes that pass's box and landmarks. Small faces (dlib_faces, 11-40 px
   * between the eyes): mean landmark error 12.3% -> 8.8% of the inter-ocular distance; faces that
   * fill a 512 image: FFHQ alignment error 8.2% -> 4.6%. Cost: two 160x160 YuNet runs per face
   * (4-7 ms on 2 busy cores; a 16-face 1080p photo: +110 ms), one with `secondPassMirror: false`.
   */
  secondPass?: boolean;
  /**
   * The second pass's mirror-image tiles (default true): each face's tile is also run mirrored and the
   * two detections averaged. false halves the second pass's cost for slightly noisier landmarks; the
   * video tracker turns it off, as its landmark smoothing removes that noise anyway.
   */
  secondPassMirror?: boolean;
  /** Box voting: a face's box and landmarks are the score-weighted mean of its NMS group (default true). */
  vote?: boolean;
  /** Refuse images with more pixels than this (default sharp's 268402689; false: no limit). */
  limitInputPixels?: number | false;
  /**
   * Add 68 points with PFLD: true (FACESTYLE_LANDMARKS, then models/landmarks/pfld.onnx), a path, or
   * 'auto' (as true when such a model is found, else nothing). Default false; stylize(),
   * stylizeFile() and the CLI default to 'auto' (their FFHQ alignment then reads the 68 points).
   */
  landmarks68?: boolean | string;
  /**
   * CPU threads for the detector and landmark networks (default 0: all). Read when they load (detectFaces,
   * createFaceStylizer, stylize), not by FaceDetector.detect(), whose model is already loaded.
   */
  threads?: number;
}

/** What FaceDetector.detect itself takes: the rest of DetectOptions choose the detector, the 68 points, the threads and the image limit (detectFaces, the stylizers). */
export type DetectorRunOptions = Omit<DetectOptions, 'detector' | 'limitInputPixels' | 'landmarks68' | 'threads'>;

/** Every key of DetectorRunOptions. */
export const DETECTOR_RUN_OPTION_KEYS = is.optionKeys<DetectorRunOptions>()([
  'scoreThreshold', 'nmsThreshold', 'minSize', 'maxFaces', 'inputSize', 'minInputSize', 'flipTest', 'secondPass', 'secondPassMirror', 'vote',
]);

/** Every key of DetectOptions (is.optionKeys keeps the list whole). */
export const DETECT_OPTION_KEYS = is.optionKeys<DetectOptions>()([
  'detector', 'scoreThreshold', 'nmsThreshold', 'minSize', 'maxFaces', 'inputSize', 'minInputSize', 'flipTest', 'secondPass', 'secondPassMirror', 'vote',
  'limitInputPixels', 'landmarks68', 'threads',
]);

/** A region of an image sampled into a detector input (sampleDetectorInput). */
export interface DetectorSample {
  /** Image position of the region's top-left corner. */
  x0: number;
  y0: number;
  /** Image pixels per input pixel, across and down. */
  kx: number;
  ky: number;
  /** Input pixels written. */
  width: number;
  height: number;
  /** The mirror image (left and right swapped). */
  mirror: boolean;
}

const sameRegion = (a: DetectorSample, b: DetectorSample) => a.x0 === b.x0 && a.y0 === b.y0 && a.kx === b.kx && a.ky === b.ky && a.width === b.width && a.height === b.height;

type DetectorSampler = (frame: Uint8Array, width: number, height: number, x0: number, y0: number, kx: number, ky: number, outW: number, outH: number, out: Float32Array, offset: number, netW: number, netH: number) => void;

const STRIDES = [8, 16, 32] as const;
/** Second pass: tile side (dynamic models) and score threshold. */
const TILE = 160;
/** Input side of the retry when a large input finds no face. */
const CLOSE_UP_INPUT = 160;
const SECOND_PASS_SCORE = 0.3;
const YUNET_OUTPUTS = STRIDES.flatMap((s) => [`cls_${s}`, `obj_${s}`, `bbox_${s}`, `kps_${s}`]);

function listOnnx(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.onnx')).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** The detector file: the option, then FACESTYLE_DETECTOR, then models/ (a YuNet model, dynamic preferred). */
export function resolveDetectorPath(option?: string): string {
  if (option !== undefined && typeof option !== 'string') throw is.invalid('detector', 'a path to a YuNet .onnx file', option);
  const given = option ?? process.env.FACESTYLE_DETECTOR;
  if (given !== undefined && given !== '') {
    if (!existsSync(given) || !statSync(given).isFile())
      throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Face detector not found: '${given}' (from ${option !== undefined ? 'the detector option' : 'FACESTYLE_DETECTOR'})`);
    return given;
  }
  // Any .onnx in models/detection, or a YuNet-named one in models/; YuNet dynamic preferred.
  const found = [...listOnnx(path.join(packageRoot, 'models', 'detection')), ...listOnnx(path.join(packageRoot, 'models')).filter((f) => /yunet/i.test(path.basename(f)))];
  const yunet = found.filter((f) => /yunet/i.test(path.basename(f)));
  const best = yunet.find((f) => /dynamic/i.test(f)) ?? yunet[0] ?? found[0];
  if (best) return best;
  throw new FacestyleError(
    'ERR_FACESTYLE_NOT_FOUND',
    'No face detector found. Pass { detector: "<yunet.onnx>" } (CLI: --detector), or set FACESTYLE_DETECTOR to a YuNet ONNX file ' +
      '(e.g. ../shared/data/models/detection/yunet_s_dynamic.onnx, or face_detection_yunet from the OpenCV model zoo), ' +
      `or place one in ${path.join(packageRoot, 'models', 'detection')}. Nothing is downloaded.`,
  );
}

/**
 * The landmark model to use for a `landmarks68` option, or null for none: false -> null; 'auto' ->
 * the default model when one is found, else null; true or a path -> that model (or a not-found error).
 */
export function landmarksOption(option: boolean | string | undefined): true | string | null {
  if (option === undefined || option === false) return null;
  if (option === 'auto') {
    // A FACESTYLE_LANDMARKS that names no file is a set-up mistake worth an error, as for the detector.
    if (process.env.FACESTYLE_LANDMARKS) return resolveLandmarksPath(true);
    return existsSync(path.join(packageRoot, 'models', 'landmarks', 'pfld.onnx')) ? true : null;
  }
  if (option === true || is.string(option)) return option;
  throw is.invalid('landmarks68', "a boolean, 'auto' or a PFLD .onnx path", option);
}

/** The landmark model file: a path, FACESTYLE_LANDMARKS, then models/landmarks/pfld.onnx. */
export function resolveLandmarksPath(option: true | string): string {
  const given = typeof option === 'string' ? option : process.env.FACESTYLE_LANDMARKS;
  const file = given || path.join(packageRoot, 'models', 'landmarks', 'pfld.onnx');
  if (!existsSync(file) || !statSync(file).isFile()) {
    // Name where the path came from, as for the detector: a stale FACESTYLE_LANDMARKS is the usual cause.
    const from = typeof option === 'string' ? 'the landmarks option' : given ? 'FACESTYLE_LANDMARKS' : 'the default location';
    throw new FacestyleError(
      'ERR_FACESTYLE_NOT_FOUND',
      `68-point landmark model not found: '${file}' (from ${from}). Pass a path (API: landmarks68: "<pfld.onnx>"; CLI: --landmarks <pfld.onnx>) or set FACESTYLE_LANDMARKS to one (e.g. ../shared/data/models/landmarks/pfld.onnx).`,
    );
  }
  return file;
}

/** Intersection over union of two [x, y, w, h] boxes. */
export function iou(a: readonly number[], b: readonly number[]): number {
  const ix = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy NMS: highest score first, drop any box overlapping a kept one by more than `threshold`.
 * With `vote`, a kept face's box and landmarks become the score-weighted mean of the boxes it
 * suppressed (box voting: neighbouring anchors see the same face, their mean is less noisy).
 */
export function nms(faces: Face[], threshold: number, vote = false): Face[] {
  if (!Array.isArray(faces)) throw is.invalid('faces', 'an array of faces', faces);
  is.numberInRange('threshold', threshold, 0, 1);
  const sorted = [...faces].sort((a, b) => b.score - a.score);
  const kept: Face[] = [];
  const groups: Face[][] = [];
  for (const f of sorted) {
    const k = kept.findIndex((g) => iou(g.box, f.box) > threshold);
    if (k < 0) {
      kept.push(f);
      groups.push([f]);
    } else groups[k].push(f);
  }
  if (!vote) return kept;
  return groups.map((g) => {
    const wsum = g.reduce((s, f) => s + f.score, 0);
    const avg = (get: (f: Face) => number) => g.reduce((s, f) => s + get(f) * f.score, 0) / wsum;
    return {
      box: [0, 1, 2, 3].map((i) => avg((f) => f.box[i])) as Face['box'],
      score: g[0].score,
      landmarks: g[0].landmarks.map((_, j): Point => [avg((f) => f.landmarks[j][0]), avg((f) => f.landmarks[j][1])]) as Landmarks5,
    };
  });
}

/**
 * YuNet decode for one network input of `width` x `height`: anchors row-major at (col*s, row*s),
 * score = cls * obj; boxes and points in network-input pixels.
 */
export function decodeYunet(outputs: NetOutputs, width: number, height: number, scoreThreshold: number, batchIndex = 0): Face[] {
  const faces: Face[] = [];
  for (const s of STRIDES) {
    const cols = Math.floor(width / s), rows = Math.floor(height / s);
    // Batch element b's anchors are the b-th block of cols*rows rows of each output.
    const per = cols * rows, o = batchIndex * per;
    const cls = (outputs[`cls_${s}`].data as Float32Array).subarray(o, o + per);
    const obj = (outputs[`obj_${s}`].data as Float32Array).subarray(o, o + per);
    const bbox = (outputs[`bbox_${s}`].data as Float32Array).subarray(4 * o, 4 * (o + per));
    const kps = (outputs[`kps_${s}`].data as Float32Array).subarray(10 * o, 10 * (o + per));
    const n = Math.min(per, cls.length, obj.length, bbox.length / 4, kps.length / 10);
    for (let i = 0; i < n; ++i) {
      const score = Math.min(Math.max(cls[i], 0), 1) * Math.min(Math.max(obj[i], 0), 1);
      if (!(score >= scoreThreshold)) continue;
      const ax = (i % cols) * s, ay = Math.floor(i / cols) * s;
      const cx = bbox[i * 4] * s + ax, cy = bbox[i * 4 + 1] * s + ay;
      const w = Math.exp(bbox[i * 4 + 2]) * s, h = Math.exp(bbox[i * 4 + 3]) * s;
      const landmarks = Array.from({ length: 5 }, (_, j): Point => [kps[i * 10 + 2 * j] * s + ax, kps[i * 10 + 2 * j + 1] * s + ay]) as Landmarks5;
      faces.push({ box: [cx - w / 2, cy - h / 2, w, h], score, landmarks });
    }
  }
  return faces;
}

/** DetectOptions checked, with their defaults (FaceDetector.detect; createFaceStylizer checks them up front). */
export function checkDetectOptions(options: DetectOptions) {
  return {
    scoreThreshold: is.numberInRange('scoreThreshold', options.scoreThreshold ?? 0.5, 0, 1),
    nmsThreshold: is.numberInRange('nmsThreshold', options.nmsThreshold ?? 0.45, 0, 1),
    minSize: is.numberInRange('minSize', options.minSize ?? 0, 0, 1e6),
    maxFaces: options.maxFaces === undefined ? Infinity : is.positiveInteger('maxFaces', options.maxFaces),
    inputSize: is.integerInRange('inputSize', options.inputSize ?? 640, 32, 8192),
    minInputSize: is.integerInRange('minInputSize', options.minInputSize ?? 0, 0, 8192),
    flipTest: options.flipTest === undefined ? false : is.trueOrFalse('flipTest', options.flipTest),
    secondPass: options.secondPass === undefined ? true : is.trueOrFalse('secondPass', options.secondPass),
    secondPassMirror: options.secondPassMirror === undefined ? true : is.trueOrFalse('secondPassMirror', options.secondPassMirror),
    vote: options.vote === undefined ? true : is.trueOrFalse('vote', options.vote),
    threads: is.threadCount(options.threads),
  };
}

/** A loaded YuNet model; reuse one for many images (sessions are not cheap to create). */
export class FaceDetector {
  private constructor(
    readonly file: string,
    private readonly backend: DetectorBackend,
  ) {}

  /** Fixed network input [height, width], or null for a dynamic model. */
  get fixedSize(): [number, number] | null {
    return this.backend.fixedSize;
  }

  /**
   * Where the model runs: 'onnxruntime' (the default, and a model the native importer cannot take),
   * 'native', or 'auto' (a shape's first 7 runs on onnxruntime-node, later ones natively; the two
   * engines' results differ in the last float digits, so a detection may change by a fraction of a
   * pixel when a shape switches).
   */
  get engine(): DetectorEngine {
    return this.backend.engine;
  }

  /** Network runs so far on each engine. */
  get runs(): { native: number; onnxruntime: number } {
    return { ...this.backend.runs };
  }

  /** CPU threads each network run may use, as asked for at load (0: all). */
  get threads(): number {
    return this.backend.threads;
  }

  /** `engine`: see FaceDetector.engine; `threads`: CPU threads per network run (default 0: all). */
  static async load(file?: string, options: { engine?: DetectorEngine; threads?: number } = {}): Promise<FaceDetector> {
    is.knownOptions('FaceDetector.load', options, ['engine', 'threads']);
    const resolved = resolveDetectorPath(file);
    const engine = is.oneOf('engine', options.engine ?? defaultPhotoDetectorEngine(), DETECTOR_ENGINES);
    const threads = is.threadCount(options.threads);
    return new FaceDetector(resolved, await createDetectorBackend(resolved, YUNET_OUTPUTS, engine, threads));
  }

  /**
   * Faces in image pixels, largest first. Only the detection options: `detector`, `landmarks68`, `threads`
   * and `limitInputPixels` belong to detectFaces and the stylizers (given here, they were ignored).
   */
  async detect(image: RgbImage, options: DetectorRunOptions = {}): Promise<Face[]> {
    is.knownOptions('FaceDetector.detect', options, DETECTOR_RUN_OPTION_KEYS);
    checkRgbImage(image);
    const { scoreThreshold, nmsThreshold, minSize, maxFaces, inputSize, minInputSize, flipTest, secondPass, secondPassMirror, vote } = checkDetectOptions(options);
    const { width, height } = image;
    // Letterbox geometry: scale to fit, pad at the bottom/right.
    let netW: number, netH: number, scale: number;
    if (this.fixedSize) {
      [netH, netW] = this.fixedSize;
      scale = Math.min(netW / width, netH / height);
    } else {
      scale = Math.min(1, inputSize / Math.max(width, height));
      if (Math.max(width, height) * scale < minInputSize) scale = minInputSize / Math.max(width, height);
      // (Rounded first: 525 * (160 / 525) is 160.00000000000003, which would make a 192 px input.)
      const side = (v: number) => Math.max(32, Math.ceil(Math.round(v * scale * 1e6) / 1e6 / 32) * 32);
      netW = side(width);
      netH = side(height);
    }
    const rw = Math.min(netW, Math.max(1, Math.round(width * scale)));
    const rh = Math.min(netH, Math.max(1, Math.round(height * scale)));
    // An image shrunk more than MAX_SAMPLE_SCALE times on an axis (a 1,000,000 x 1 strip) holds no face
    // the network could see (one would span tens of thousands of pixels): nothing to find, and the
    // sampler refuses such a scale.
    if (width / rw > MAX_SAMPLE_SCALE || height / rh > MAX_SAMPLE_SCALE) return [];
    // The image scaled to rw x rh (kx = ky = 1 copies it), sampled straight into the network's input.
    const input = new Float32Array(3 * netW * netH);
    sampleDetectorInput(image, { x0: 0, y0: 0, kx: width / rw, ky: height / rh, width: rw, height: rh, mirror: false }, input, 0, netW, netH);
    // The mirror image (flipTest): a reversed copy, made before the first run can touch the input.
    const mirrored = flipTest ? new Float32Array(input.length) : null;
    if (mirrored) mirrorDetectorInput(input, 0, mirrored, 0, rw, rh, netW, netH);
    let raw = await this.run(input, rw, netW, netH, false, scoreThreshold);
    if (mirrored) raw = raw.concat(await this.run(mirrored, rw, netW, netH, true, scoreThreshold));
    // Nothing found on a large input: the face may fill the photo (a selfie, a crop), beyond the
    // sizes YuNet's anchors cover; one more pass with the image shrunk to 160 px finds it. Only one: that
    // pass asks for 160 px (an input computed a block larger must not start another, and another...).
    if (raw.length === 0 && !this.fixedSize && inputSize > CLOSE_UP_INPUT && Math.max(netW, netH) > CLOSE_UP_INPUT)
      return this.detect(image, { ...options, inputSize: CLOSE_UP_INPUT, minInputSize: 0 });
    const sx = rw / width, sy = rh / height;
    // Network pixels to image pixels as the sampler placed them (pixel centres: network u is image
    // (u + 0.5) / sx - 0.5), the convention of the second pass and of the mirror in run(): mapped as
    // u / sx, a flipTest face came out off by 1/sx - 1 px (2.2 px on a 2048-px photo) from its mirror.
    const ix = (u: number) => (u + 0.5) / sx - 0.5, iy = (v: number) => (v + 0.5) / sy - 0.5;
    const faces = nms(raw, nmsThreshold, vote)
      .map((f): Face => ({
        box: [ix(f.box[0]), iy(f.box[1]), f.box[2] / sx, f.box[3] / sy],
        score: f.score,
        landmarks: f.landmarks.map(([x, y]) => [ix(x), iy(y)]) as Landmarks5,
      }))
      .filter((f) => Math.min(f.box[2], f.box[3]) >= minSize);
    faces.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
    const kept = faces.slice(0, maxFaces);
    if (!secondPass || kept.length === 0) return kept;
    return (await this.secondPass(image, kept, secondPassMirror)).sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  }

  /**
   * The second pass: for each face a square tile twice its box, sampled at TILE x TILE pixels, and
   * its mirror image (unless `mirror` is false), run as one batch (a fixed-size model: one letterboxed
   * tile per run). Each face takes the mean of the plain and mirrored detections nearest its tile's
   * centre; a face the second pass misses keeps its first-pass values.
   */
  private async secondPass(image: RgbImage, faces: Face[], mirror = true): Promise<Face[]> {
    const T = this.fixedSize ? Math.min(...this.fixedSize) : TILE;
    const tiles = faces.map((f) => {
      const side = 2 * Math.max(f.box[2], f.box[3]);
      return { x0: f.box[0] + f.box[2] / 2 - side / 2, y0: f.box[1] + f.box[3] / 2 - side / 2, k: side / T };
    });
    // found[face][0 plain | 1 mirrored]: detections in tile pixels (mirrored ones already mapped back).
    const found: Face[][][] = faces.map(() => [[], []]);
    const unmirror = (f: Face): Face => ({
      box: [T - 1 - f.box[0] - f.box[2], f.box[1], f.box[2], f.box[3]],
      score: f.score,
      landmarks: [1, 0, 2, 4, 3].map((j): Point => [T - 1 - f.landmarks[j][0], f.landmarks[j][1]]) as Landmarks5,
    });
    const views = mirror ? [false, true] : [false];
    const samples = tiles.flatMap(({ x0, y0, k }) => views.map((m): DetectorSample => ({ x0, y0, kx: k, ky: k, width: T, height: T, mirror: m })));
    const dets = await this.runTiles(image, samples);
    faces.forEach((_, i) => {
      found[i][0] = dets[views.length * i];
      if (mirror) found[i][1] = dets[views.length * i + 1].map(unmirror);
    });
    return faces.map((f, i) => {
      // The detection nearest the tile centre, in each of the plain and mirrored tiles.
      const near = (list: Face[]) =>
        list
          .map((d) => ({ d, dist: Math.hypot(d.box[0] + d.box[2] / 2 - T / 2, d.box[1] + d.box[3] / 2 - T / 2) }))
          .filter((e) => e.dist < T / 6)
          .sort((a, b) => a.dist - b.dist)[0]?.d;
      const picks = [near(nms(found[i][0], 0.45, true)), near(nms(found[i][1], 0.45, true))].filter((d): d is Face => d !== undefined);
      if (picks.length === 0) return f;
      const avg = (get: (d: Face) => number) => picks.reduce((s, d) => s + get(d), 0) / picks.length;
      const { x0, y0, k } = tiles[i];
      // Tile pixel centre u is image coordinate x0 + (u + 0.5) k - 0.5.
      const pt = (u: number, o: number) => o + (u + 0.5) * k - 0.5;
      return {
        box: [pt(avg((d) => d.box[0]), x0), pt(avg((d) => d.box[1]), y0), avg((d) => d.box[2]) * k, avg((d) => d.box[3]) * k],
        score: f.score,
        landmarks: f.landmarks.map((_, j): Point => [pt(avg((d) => d.landmarks[j][0]), x0), pt(avg((d) => d.landmarks[j][1]), y0)]) as Landmarks5,
      };
    });
  }

  /** Detections (tile pixels) in each of several tiles of the image; batches of up to 32 on a dynamic model. */
  private async runTiles(image: RgbImage, samples: DetectorSample[]): Promise<Face[][]> {
    const [netH, netW] = this.fixedSize ?? [samples[0].height, samples[0].width];
    const per = this.fixedSize ? 1 : 32;
    const item = 3 * netW * netH;
    const out: Face[][] = [];
    // Batches of a power of two (6 tiles: 4 + 2): a few input shapes, each compiled once by the native engine.
    for (let start = 0, n = 0; start < samples.length; start += n) {
      n = Math.min(per, 2 ** Math.floor(Math.log2(samples.length - start)));
      const input = new Float32Array(n * item);
      for (let b = 0; b < n; ++b) {
        const s = samples[start + b], prev = samples[start + b - 1];
        // A tile's mirror image right after the tile itself in one batch: a reversed copy, not a second
        // sampling. (A fixed-size model runs one tile a batch: each mirror is sampled, then reversed.)
        if (b > 0 && s.mirror && !prev.mirror && sameRegion(s, prev)) mirrorDetectorInput(input, (b - 1) * item, input, b * item, s.width, s.height, netW, netH);
        else sampleDetectorInput(image, s, input, b * item, netW, netH);
      }
      const outputs = await this.infer(input, [n, 3, netH, netW]);
      for (let b = 0; b < n; ++b) out.push(decodeYunet(outputs, netW, netH, SECOND_PASS_SCORE, b));
    }
    return out;
  }

  private async infer(input: Float32Array, dims: number[]): Promise<NetOutputs> {
    if (this.disposed) throw new FacestyleError('ERR_FACESTYLE_DISPOSED', `Face detector '${this.file}' was disposed; load it again with FaceDetector.load()`);
    try {
      return await this.backend.infer(input, dims);
    } catch (e) {
      // Disposed while this run was on its way: not the model's fault.
      if (this.disposed) throw new FacestyleError('ERR_FACESTYLE_DISPOSED', `Face detector '${this.file}' was disposed during the run`, { cause: e });
      // A coded error of the native engine (out of memory, an unsupported shape) keeps its code.
      const code = e instanceof FacestyleError ? e.code : 'ERR_FACESTYLE_FORMAT';
      throw new FacestyleError(code, `Face detector '${this.file}' failed on a ${dims[3]}x${dims[2]} input: ${(e as Error).message}`, { cause: e });
    }
  }

  /** One network pass on an input holding the image scaled to rw pixels across (mirrored or not); faces in network-input pixels of the unmirrored image. */
  private async run(input: Float32Array, rw: number, netW: number, netH: number, mirrored: boolean, scoreThreshold: number): Promise<Face[]> {
    const outputs = await this.infer(input, [1, 3, netH, netW]);
    const faces = decodeYunet(outputs, netW, netH, scoreThreshold);
    if (!mirrored) return faces;
    // Mirror back; the subject's left and right swap, so eyes and mouth corners swap order.
    const mx = (x: number) => rw - 1 - x;
    return faces.map((f) => ({
      box: [mx(f.box[0] + f.box[2]), f.box[1], f.box[2], f.box[3]],
      score: f.score,
      landmarks: [1, 0, 2, 4, 3].map((j): Point => [mx(f.landmarks[j][0]), f.landmarks[j][1]]) as Landmarks5,
    }));
  }

  private disposed = false;

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.backend.dispose().catch(() => undefined);
  }
}

/**
 * PFLD 68-point landmarks: input [b,3,112,112] RGB x/255 of a square crop, output [b,136] in 0..1 of
 * the crop. Two passes: the first on a square 1.1x the detector's box (the model's demo crop), the
 * second on a square 1.2x the first pass's point bounding box (the crop PFLD was trained on); each
 * averaged with its mirror image (points swapped left for right). On the FFHQ-aligned 512 crops
 * (test/face-align.test.ts) this brings 16 of 37 re-alignments within 2% of identity, against 8 for
 * one plain pass. Cost: four 112x112 PFLD runs per face.
 */
export class LandmarkModel {
  private disposed = false;
  private constructor(
    readonly file: string,
    private readonly session: DetectorBackend,
    /** CPU threads each run may use, as asked for at load (0: all). */
    readonly threads: number,
  ) {}

  /** `file`: true for the package's PFLD model; `threads`: CPU threads per run (default 0: all). */
  static async load(file: true | string = true, options: { threads?: number } = {}): Promise<LandmarkModel> {
    is.knownOptions('LandmarkModel.load', options, ['threads']);
    // (123, false or {} loaded the default model.)
    if (file !== true && !(is.string(file) && file.length > 0)) throw is.invalid('landmark model', 'a .onnx path, or true for the default (FACESTYLE_LANDMARKS or models/landmarks/pfld.onnx)', file);
    const threads = is.threadCount(options.threads);
    const resolved = resolveLandmarksPath(file);
    // onnxruntime-node on the main thread; in a worker_thread the native engine (onnxruntime-node there
    // only for a model with ops the importer lacks), as for the photo detector: onnxruntime-node aborts the
    // whole process when a worker running it is terminated (std::terminate).
    const backend = await createDetectorBackend(resolved, [], isMainThread ? 'onnxruntime' : 'native', threads, PFLD_NET);
    if (backend.outputNames.length !== 1) {
      await backend.dispose().catch(() => undefined);
      throw new FacestyleError('ERR_FACESTYLE_FORMAT', `'${resolved}' is not a PFLD landmark model: expected one input and one output [b,136]`);
    }
    return new LandmarkModel(resolved, backend, threads);
  }

  /** Where the model runs: onnxruntime-node, or the native engine in a worker_thread. */
  get engine(): DetectorEngine {
    return this.session.engine;
  }

  /** Adds `landmarks68` to each face (in image pixels). */
  async refine(image: RgbImage | Tensor, faces: Face[]): Promise<Face[]> {
    if (!Array.isArray(faces)) throw is.invalid('faces', 'an array of faces ({ box, landmarks })', faces);
    faces.forEach((f, i) => {
      if (!(is.object(f) && Array.isArray(f.box) && f.box.length === 4 && f.box.every((v) => is.number(v)) && f.box[2] > 0 && f.box[3] > 0))
        throw is.invalid(`faces[${i}].box`, 'an [x, y, width, height] box of finite numbers, width and height > 0', is.object(f) ? f.box : f);
    });
    if (faces.length === 0) return faces;
    const first = faces.map((f) => {
      const side = 1.1 * Math.max(f.box[2], f.box[3]);
      return { x0: f.box[0] + f.box[2] / 2 - side / 2, y0: f.box[1] + f.box[3] / 2 - side / 2, side };
    });
    // Mirror-averaged in both passes: the plain first pass gives 13 of 37 within 2% instead of 16.
    const rough = await this.run(image, first, true);
    const second = rough.map((q) => {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const [px, py] of q) {
        x0 = Math.min(x0, px);
        y0 = Math.min(y0, py);
        x1 = Math.max(x1, px);
        y1 = Math.max(y1, py);
      }
      const side = 1.2 * Math.max(x1 - x0, y1 - y0, 1);
      return { x0: (x0 + x1) / 2 - side / 2, y0: (y0 + y1) / 2 - side / 2, side };
    });
    const pts = await this.run(image, second, true);
    return faces.map((f, i) => ({ ...f, landmarks68: pts[i] }));
  }

  /** One pass over squares (top-left x0, y0, side in image pixels); with `mirror` each square and its mirror in one batch, averaged. */
  private async run(image: RgbImage | Tensor, squares: { x0: number; y0: number; side: number }[], mirror: boolean): Promise<Point[][]> {
    const S = 112;
    const k = squares.length;
    // Only the image rectangle the squares cover is converted (a face is a small part of a photo);
    // outside the image the crops read zeros either way.
    let x: Tensor, ox = 0, oy = 0;
    if (image instanceof Tensor) x = imageTensor(image);
    else {
      checkRgbImage(image);
      const rx0 = Math.max(0, Math.min(image.width - 1, Math.floor(Math.min(...squares.map((q) => q.x0))) - 1));
      const ry0 = Math.max(0, Math.min(image.height - 1, Math.floor(Math.min(...squares.map((q) => q.y0))) - 1));
      const rx1 = Math.min(image.width, Math.max(rx0 + 1, Math.ceil(Math.max(...squares.map((q) => q.x0 + q.side))) + 2));
      const ry1 = Math.min(image.height, Math.max(ry0 + 1, Math.ceil(Math.max(...squares.map((q) => q.y0 + q.side))) + 2));
      x = regionTensor(image, rx0, ry0, rx1 - rx0, ry1 - ry0);
      [ox, oy] = [rx0, ry0];
    }
    // Crop pixel o samples the square at x0 + (o + 0.5) side/S - 0.5; the mirror samples S-1-o. Zero outside the image.
    const mats: Affine2x3[] = squares.map(({ x0, y0, side }) => [side / S, 0, x0 - ox + (0.5 * side) / S - 0.5, 0, side / S, y0 - oy + (0.5 * side) / S - 0.5]);
    if (mirror) for (const { x0, y0, side } of squares) mats.push([-side / S, 0, x0 - ox + ((S - 0.5) * side) / S - 0.5, 0, side / S, y0 - oy + (0.5 * side) / S - 0.5]);
    const crops = await warpAffine(x, mats, S, S, { border: 'constant', value: 0 });
    let out: Float32Array;
    try {
      out = Object.values(await this.session.infer(crops.data, [...crops.shape]))[0].data as Float32Array; // its one output (checked at load)
    } catch (e) {
      if (isFacestyleError(e) && e.code !== 'ERR_FACESTYLE_INTERNAL' && !this.disposed) throw e;
      // Disposed while this run was on its way (a FaceStylizer disposed mid-call): not the model's fault.
      if (this.disposed) throw new FacestyleError('ERR_FACESTYLE_DISPOSED', `Landmark model '${this.file}' was disposed during the run`, { cause: e });
      throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Landmark model '${this.file}' failed: ${(e as Error).message}`, { cause: e });
    }
    if (out.length !== mats.length * 136) throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Landmark model '${this.file}' returned ${out.length} values for ${mats.length} crops; expected 136 each`);
    return squares.map(({ x0, y0, side }, i) =>
      Array.from({ length: 68 }, (_, j): Point => {
        // Point j of the plain crop and its mirror partner in the mirrored crop (x measured from the other side).
        const p = i * 136 + 2 * j;
        if (!mirror) return [x0 + out[p] * side, y0 + out[p + 1] * side];
        const m = (k + i) * 136 + 2 * MIRROR68[j];
        return [x0 + ((out[p] + 1 - out[m]) / 2) * side, y0 + ((out[p + 1] + out[m + 1]) / 2) * side];
      }),
    );
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.resolve(this.session.dispose()).catch(() => undefined);
  }
}

let nativeSampler: DetectorSampler | null | undefined;

/** The largest shrink factor (kx, ky) sampleDetectorInput takes (the addon's limit, native/napi/image_ops.cc). */
const MAX_SAMPLE_SCALE = 4096;

/**
 * Writes a region of `image` into `out` at `offset` as a network input item: planar BGR 0..255 floats,
 * planes of netW x netH, the region's pixels at the top-left (the rest of the item is left as it is:
 * zeros in a fresh array, the letterbox). Output pixel (u, v) has its centre at
 * (x0 + (u + 0.5) kx - 0.5, y0 + (v + 0.5) ky - 0.5) in the image, bilinear, clamped at the edges;
 * shrinking averages n x n bilinear samples per pixel (n = ceil(k) per axis) so fine detail does not
 * alias; each value is rounded to a whole level. The addon's pass (native/cpu/detector_input.cc, the same
 * numbers) or, where the addon is missing, sampleDetectorInputJs.
 */
export function sampleDetectorInput(image: RgbImage, s: DetectorSample, out: Float32Array, offset: number, netW: number, netH: number): void {
  if (nativeSampler === undefined) {
    try {
      const addon = loadNative() as unknown as { sampleDetectorInput?: DetectorSampler };
      nativeSampler = typeof addon.sampleDetectorInput === 'function' ? addon.sampleDetectorInput : null;
    } catch {
      nativeSampler = null; // detection runs on onnxruntime-node; it does not need the addon
    }
  }
  if (nativeSampler) nativeSampler(image.data, image.width, image.height, s.x0, s.y0, s.kx, s.ky, s.width, s.height, out, offset, netW, netH);
  else sampleDetectorInputJs(image, s, out, offset, netW, netH);
  if (s.mirror) mirrorDetectorInput(out, offset, out, offset, s.width, s.height, netW, netH);
}

/**
 * The mirror image of a detector input item's width x height region, from `src` at `from` to `dst` at
 * `to` (the same array and offset: in place). Mirroring a sampled item equals sampling it mirrored, and
 * costs less than sampling twice.
 */
export function mirrorDetectorInput(src: Float32Array, from: number, dst: Float32Array, to: number, width: number, height: number, netW: number, netH: number): void {
  const plane = netW * netH;
  for (let c = 0; c < 3; ++c)
    for (let y = 0; y < height; ++y) {
      const s = from + c * plane + y * netW, d = to + c * plane + y * netW;
      if (src === dst && s === d) {
        for (let a = d, b = d + width - 1; a < b; ++a, --b) {
          const t = dst[a];
          dst[a] = dst[b];
          dst[b] = t;
        }
      } else for (let x = 0; x < width; ++x) dst[d + x] = src[s + width - 1 - x];
    }
}

/** One axis's taps: sample i of n per output pixel at p0 + ((i + 0.5) / n) k - 0.5, clamped; hi = lo + 1 clamped; w = hi's weight in 1/256. */
function axisTaps(p0: number, k: number, count: number, size: number) {
  const n = Math.max(1, Math.ceil(k - 1e-6));
  const m = count * n;
  const lo = new Int32Array(m), hi = new Int32Array(m), w = new Int32Array(m);
  for (let i = 0; i < m; ++i) {
    const p = Math.min(size - 1, Math.max(0, p0 + ((i + 0.5) / n) * k - 0.5));
    const fl = Math.floor(p);
    lo[i] = fl;
    hi[i] = Math.min(size - 1, fl + 1);
    w[i] = Math.round((p - fl) * 256);
  }
  return { n, lo, hi, w };
}

/**
 * The native sampleDetectorInput in TypeScript, where the addon is missing: the same separable sums (per
 * output row, the ny bilinear rows added up column by column, then nx horizontal taps per pixel; weights
 * in 1/256, every sum an exact integer), so the two give the same values. test/face-detector-input.test.ts
 * holds both to a brute-force sum over the four neighbours of every sample. (No mirror: sampleDetectorInput
 * mirrors after either.)
 */
export function sampleDetectorInputJs(image: RgbImage, s: Omit<DetectorSample, 'mirror'>, out: Float32Array, offset: number, netW: number, netH: number): void {
  const { data, width: W } = image;
  const xs = axisTaps(s.x0, s.kx, s.width, W), ys = axisTaps(s.y0, s.ky, s.height, image.height);
  const nn = xs.n * ys.n, half = nn * 32768, plane = netW * netH;
  const c0 = xs.lo[0], span = (xs.hi[xs.hi.length - 1] - c0 + 1) * 3;
  const acc = new Float64Array(span); // per column and channel: the sum of ny blended rows (exact integers)
  for (let v = 0; v < s.height; ++v) {
    acc.fill(0);
    for (let j = v * ys.n; j < (v + 1) * ys.n; ++j) {
      const a = (ys.lo[j] * W + c0) * 3, b = (ys.hi[j] * W + c0) * 3, wb = ys.w[j], wa = 256 - wb;
      for (let q = 0; q < span; ++q) acc[q] += data[a + q] * wa + data[b + q] * wb;
    }
    const row = offset + v * netW;
    for (let u = 0; u < s.width; ++u) {
      let r = 0, g = 0, bl = 0;
      for (let i = u * xs.n; i < (u + 1) * xs.n; ++i) {
        const lo = (xs.lo[i] - c0) * 3, hi = (xs.hi[i] - c0) * 3, wh = xs.w[i], wl = 256 - wh;
        r += acc[lo] * wl + acc[hi] * wh;
        g += acc[lo + 1] * wl + acc[hi + 1] * wh;
        bl += acc[lo + 2] * wl + acc[hi + 2] * wh;
      }
      // Rounded half up to a whole level: floor((sum + half) / (nn * 65536)), as the C++ does it.
      out[row + u] = Math.floor(Math.floor((bl + half) / 65536) / nn); // RGB -> planes B, G, R
      out[row + plane + u] = Math.floor(Math.floor((g + half) / 65536) / nn);
      out[row + 2 * plane + u] = Math.floor(Math.floor((r + half) / 65536) / nn);
    }
  }
}

/** ibug 68-point index of each point's mirror image (left and right swap). */
const MIRROR68: number[] = [
  ...Array.from({ length: 17 }, (_, i) => 16 - i), // jaw
  26, 25, 24, 23, 22, 21, 20, 19, 18, 17, // brows
  27, 28, 29, 30, 35, 34, 33, 32, 31, // nose
  45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, // eyes
  54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, // outer mouth
  64, 63, 62, 61, 60, 67, 66, 65, // inner mouth
];

/** 5 points (YuNet order) from 68 ibug points: eye centres, nose tip, mouth corners. */
export function landmarks5From68(p: readonly Point[]): Landmarks5 {
  const mean = (a: number, b: number): Point => {
    let x = 0, y = 0;
    for (let i = a; i <= b; ++i) {
      x += p[i][0];
      y += p[i][1];
    }
    return [x / (b - a + 1), y / (b - a + 1)];
  };
  return [mean(36, 41), mean(42, 47), [p[30][0], p[30][1]], [p[48][0], p[48][1]], [p[54][0], p[54][1]]];
}

const detectors = new Map<string, Promise<FaceDetector>>();

/**
 * A shared detector per file, engine and thread count (loaded once per process). The engine: the
 * argument, else FACESTYLE_DETECTOR_ENGINE, else `fallback` (for photos 'onnxruntime' on the main
 * thread: a photo's size rarely comes back, and the native engine compiles per size; 'native' in a
 * worker_thread, see defaultPhotoDetectorEngine; the video stylizer asks for 'native').
 */
export function sharedDetector(file?: string, engine?: DetectorEngine, options: { fallback?: DetectorEngine; threads?: number } = {}): Promise<FaceDetector> {
  const resolved = resolveDetectorPath(file);
  const chosen = chooseDetectorEngine(engine, options.fallback ?? defaultPhotoDetectorEngine());
  const threads = is.threadCount(options.threads);
  const key = `${chosen}:${threads}:${resolved}`;
  let d = detectors.get(key);
  if (!d) {
    d = FaceDetector.load(resolved, { engine: chosen, threads });
    detectors.set(key, d);
    d.catch(() => detectors.delete(key));
  }
  return d;
}

/**
 * Faces in an image (path, encoded buffer or RgbImage): boxes and 5 landmarks in image pixels,
 * largest first. No face is an empty array, not an error.
 */
export async function detectFaces(image: ImageInput | RgbImage, options: DetectOptions = {}): Promise<Face[]> {
  is.knownOptions('detectFaces', options, DETECT_OPTION_KEYS);
  const limit = pixelLimit(options.limitInputPixels);
  const rgb = await toRgbImage(image, { limitInputPixels: options.limitInputPixels });
  // A decoded file was held to the limit by the decoder; an RgbImage given as it is, here (as the stylizers do).
  checkPixelLimit(rgb, limit);
  const threads = is.threadCount(options.threads);
  const detector = await sharedDetector(options.detector, undefined, { threads });
  const lmOption = landmarksOption(options.landmarks68);
  const faces = await detector.detect(rgb, is.pickOptions(options, DETECTOR_RUN_OPTION_KEYS));
  if (lmOption === null || faces.length === 0) return faces;
  const lm = await LandmarkModel.load(lmOption, { threads });
  try {
    return await lm.refine(rgb, faces);
  } finally {
    await lm.dispose();
  }
}
