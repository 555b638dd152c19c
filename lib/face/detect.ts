// Face detection with YuNet through onnxruntime-node (CPU), spec in ../shared/data/README.md:
// BGR 0..255 input letterboxed at the top-left, outputs per stride 8/16/32 decoded against a
// row-major anchor grid, then NMS. Optional 68-point refinement with PFLD.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import sharp from 'sharp';
import { FacestyleError } from '../errors.js';
import { Tensor } from '../graph/tensor.js';
import type { ImageInput } from '../image/io.js';
import * as is from '../is.js';
import { packageRoot } from '../native.js';
import { imageTensor } from './align.js';
import { toRgbImage } from './image.js';
import type { Face, Landmarks5, Point, RgbImage } from './types.js';
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
  /** Dynamic models: the image is scaled down so its long side is at most this (default 640). */
  inputSize?: number;
  /** Dynamic models: smaller images are scaled up so their long side is at least this (default 0: never). */
  minInputSize?: number;
  /** Also run the mirrored image and average both (steadier landmarks, twice the detector time; default false). */
  flipTest?: boolean;
  /** Box voting: a face's box and landmarks are the score-weighted mean of its NMS group (default true). */
  vote?: boolean;
  /** Refuse images with more pixels than this (default sharp's 268402689; false: no limit). */
  limitInputPixels?: number | false;
  /** Add 68 points with PFLD: true (models/landmarks/pfld.onnx or FACESTYLE_LANDMARKS) or a path. */
  landmarks68?: boolean | string;
}

const STRIDES = [8, 16, 32] as const;
const YUNET_OUTPUTS = STRIDES.flatMap((s) => [`cls_${s}`, `obj_${s}`, `bbox_${s}`, `kps_${s}`]);

let ortModule: Promise<typeof Ort> | undefined;
function loadOrt(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node').catch((e: unknown) => {
    ortModule = undefined;
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `onnxruntime-node could not be loaded (npm install onnxruntime-node): ${(e as Error).message}`, { cause: e });
  });
  return ortModule;
}

function listOnnx(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.onnx')).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** The detector file: the option, then FACESTYLE_DETECTOR, then models/ (a YuNet model, dynamic preferred). */
export function resolveDetectorPath(option?: string): string {
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

/** The landmark model file: a path, FACESTYLE_LANDMARKS, then models/landmarks/pfld.onnx. */
export function resolveLandmarksPath(option: true | string): string {
  const given = typeof option === 'string' ? option : process.env.FACESTYLE_LANDMARKS;
  const file = given || path.join(packageRoot, 'models', 'landmarks', 'pfld.onnx');
  if (!existsSync(file))
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `68-point landmark model not found: '${file}'. Pass a path (landmarks68: "<pfld.onnx>") or set FACESTYLE_LANDMARKS (e.g. ../shared/data/models/landmarks/pfld.onnx).`);
  return file;
}

async function createSession(file: string, what: string): Promise<Ort.InferenceSession> {
  const ort = await loadOrt();
  try {
    // Idle onnxruntime threads must not spin: detection shares the cores with the native stylizer
    // (video pipeline stages overlap), and spinning workers steal its time.
    return await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 0,
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_FORMAT', `${what} '${file}' is not a loadable ONNX model: ${(e as Error).message}`, { cause: e });
  }
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

type OrtOutputs = Record<string, { data: unknown; dims: readonly number[] }>;

/**
 * YuNet decode for one network input of `width` x `height`: anchors row-major at (col*s, row*s),
 * score = cls * obj; boxes and points in network-input pixels.
 */
export function decodeYunet(outputs: OrtOutputs, width: number, height: number, scoreThreshold: number): Face[] {
  const faces: Face[] = [];
  for (const s of STRIDES) {
    const cols = Math.floor(width / s), rows = Math.floor(height / s);
    const cls = outputs[`cls_${s}`].data as Float32Array;
    const obj = outputs[`obj_${s}`].data as Float32Array;
    const bbox = outputs[`bbox_${s}`].data as Float32Array;
    const kps = outputs[`kps_${s}`].data as Float32Array;
    const n = Math.min(cols * rows, cls.length, obj.length, bbox.length / 4, kps.length / 10);
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

/** A loaded YuNet model; reuse one for many images (sessions are not cheap to create). */
export class FaceDetector {
  private constructor(
    readonly file: string,
    private readonly session: Ort.InferenceSession,
    /** Fixed network input [height, width], or null for a dynamic model. */
    readonly fixedSize: [number, number] | null,
  ) {}

  static async load(file?: string): Promise<FaceDetector> {
    const resolved = resolveDetectorPath(file);
    const session = await createSession(resolved, 'Face detector');
    const missing = YUNET_OUTPUTS.filter((o) => !session.outputNames.includes(o));
    if (session.inputNames.length !== 1 || missing.length) {
      await session.release().catch(() => undefined);
      throw new FacestyleError(
        'ERR_FACESTYLE_FORMAT',
        `'${resolved}' is not a YuNet face detector: expected one input and outputs ${YUNET_OUTPUTS.join(', ')}; ` +
          `it has inputs ${session.inputNames.join(', ')} and outputs ${session.outputNames.join(', ')}`,
      );
    }
    const meta = (session.inputMetadata as unknown as { shape?: readonly unknown[] }[] | undefined)?.[0];
    const dims = meta?.shape;
    const fixed = dims && typeof dims[2] === 'number' && typeof dims[3] === 'number' && (dims[2] as number) > 0 ? ([dims[2], dims[3]] as [number, number]) : null;
    return new FaceDetector(resolved, session, fixed);
  }

  /** Faces in image pixels, largest first. */
  async detect(image: RgbImage, options: DetectOptions = {}): Promise<Face[]> {
    const scoreThreshold = is.numberInRange('scoreThreshold', options.scoreThreshold ?? 0.5, 0, 1);
    const nmsThreshold = is.numberInRange('nmsThreshold', options.nmsThreshold ?? 0.45, 0, 1);
    const minSize = is.numberInRange('minSize', options.minSize ?? 0, 0, 1e6);
    const maxFaces = options.maxFaces === undefined ? Infinity : is.positiveInteger('maxFaces', options.maxFaces);
    const inputSize = is.integerInRange('inputSize', options.inputSize ?? 640, 32, 8192);
    const minInputSize = is.integerInRange('minInputSize', options.minInputSize ?? 0, 0, 8192);
    const { width, height } = image;
    // Letterbox geometry: scale to fit, pad at the bottom/right.
    let netW: number, netH: number, scale: number;
    if (this.fixedSize) {
      [netH, netW] = this.fixedSize;
      scale = Math.min(netW / width, netH / height);
    } else {
      scale = Math.min(1, inputSize / Math.max(width, height));
      if (Math.max(width, height) * scale < minInputSize) scale = minInputSize / Math.max(width, height);
      netW = Math.max(32, Math.ceil((width * scale) / 32) * 32);
      netH = Math.max(32, Math.ceil((height * scale) / 32) * 32);
    }
    const rw = Math.min(netW, Math.max(1, Math.round(width * scale)));
    const rh = Math.min(netH, Math.max(1, Math.round(height * scale)));
    const pixels =
      rw === width && rh === height ? image.data : await sharp(image.data, { raw: { width, height, channels: 3 } }).resize(rw, rh, { fit: 'fill' }).raw().toBuffer();
    const flip = options.flipTest === true;
    let raw = await this.run(pixels, rw, rh, netW, netH, false, scoreThreshold);
    if (flip) raw = raw.concat(await this.run(pixels, rw, rh, netW, netH, true, scoreThreshold));
    const sx = rw / width, sy = rh / height;
    const faces = nms(raw, nmsThreshold, options.vote ?? true)
      .map((f): Face => ({
        box: [f.box[0] / sx, f.box[1] / sy, f.box[2] / sx, f.box[3] / sy],
        score: f.score,
        landmarks: f.landmarks.map(([x, y]) => [x / sx, y / sy]) as Landmarks5,
      }))
      .filter((f) => Math.min(f.box[2], f.box[3]) >= minSize);
    faces.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
    return faces.slice(0, maxFaces);
  }

  /** One network pass (optionally on the mirrored image); faces in network-input pixels of the unmirrored image. */
  private async run(pixels: Uint8Array, rw: number, rh: number, netW: number, netH: number, mirrored: boolean, scoreThreshold: number): Promise<Face[]> {
    const input = new Float32Array(3 * netW * netH);
    const plane = netW * netH;
    for (let y = 0; y < rh; ++y)
      for (let x = 0; x < rw; ++x) {
        const src = (y * rw + (mirrored ? rw - 1 - x : x)) * 3, dst = y * netW + x;
        input[dst] = pixels[src + 2]; // BGR
        input[plane + dst] = pixels[src + 1];
        input[2 * plane + dst] = pixels[src];
      }
    const ort = await loadOrt();
    const feeds = { [this.session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, netH, netW]) };
    let outputs: OrtOutputs;
    try {
      outputs = (await this.session.run(feeds)) as unknown as OrtOutputs;
    } catch (e) {
      throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Face detector '${this.file}' failed on a ${netW}x${netH} input: ${(e as Error).message}`, { cause: e });
    }
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

  async dispose(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }
}

/** PFLD 68-point landmarks: input [b,3,112,112] RGB x/255 of a square crop 1.1x the face box (zero padded). */
export class LandmarkModel {
  private constructor(readonly file: string, private readonly session: Ort.InferenceSession) {}

  static async load(file: true | string = true): Promise<LandmarkModel> {
    const resolved = resolveLandmarksPath(file);
    const session = await createSession(resolved, 'Landmark model');
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      await session.release().catch(() => undefined);
      throw new FacestyleError('ERR_FACESTYLE_FORMAT', `'${resolved}' is not a PFLD landmark model: expected one input and one output [b,136]`);
    }
    return new LandmarkModel(resolved, session);
  }

  /** Adds `landmarks68` to each face (in image pixels). */
  async refine(image: RgbImage | Tensor, faces: Face[]): Promise<Face[]> {
    if (faces.length === 0) return faces;
    const S = 112;
    const squares = faces.map((f) => {
      const side = 1.1 * Math.max(f.box[2], f.box[3]);
      return { x0: f.box[0] + f.box[2] / 2 - side / 2, y0: f.box[1] + f.box[3] / 2 - side / 2, side };
    });
    // Crop pixel centre (o + 0.5) * side / S - 0.5 in the square, zero outside the image.
    const crops = await warpAffine(
      imageTensor(image),
      squares.map(({ x0, y0, side }) => [side / S, 0, x0 + (0.5 * side) / S - 0.5, 0, side / S, y0 + (0.5 * side) / S - 0.5]),
      S,
      S,
      { border: 'constant', value: 0 },
    );
    const ort = await loadOrt();
    let out: Float32Array;
    try {
      const r = (await this.session.run({ [this.session.inputNames[0]]: new ort.Tensor('float32', crops.data, crops.shape) })) as unknown as OrtOutputs;
      out = r[this.session.outputNames[0]].data as Float32Array;
    } catch (e) {
      throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Landmark model '${this.file}' failed: ${(e as Error).message}`, { cause: e });
    }
    if (out.length !== faces.length * 136) throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Landmark model '${this.file}' returned ${out.length} values for ${faces.length} faces; expected 136 each`);
    return faces.map((f, i) => {
      const { x0, y0, side } = squares[i];
      const pts = Array.from({ length: 68 }, (_, j): Point => [x0 + out[i * 136 + 2 * j] * side, y0 + out[i * 136 + 2 * j + 1] * side]);
      return { ...f, landmarks68: pts };
    });
  }

  async dispose(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }
}

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

/** A shared detector per file (loaded once per process). */
export function sharedDetector(file?: string): Promise<FaceDetector> {
  const resolved = resolveDetectorPath(file);
  let d = detectors.get(resolved);
  if (!d) {
    d = FaceDetector.load(resolved);
    detectors.set(resolved, d);
    d.catch(() => detectors.delete(resolved));
  }
  return d;
}

/**
 * Faces in an image (path, encoded buffer or RgbImage): boxes and 5 landmarks in image pixels,
 * largest first. No face is an empty array, not an error.
 */
export async function detectFaces(image: ImageInput | RgbImage, options: DetectOptions = {}): Promise<Face[]> {
  if (!is.object(options as unknown)) throw is.invalid('options', 'an object', options);
  const rgb = await toRgbImage(image, { limitInputPixels: options.limitInputPixels });
  const detector = await sharedDetector(options.detector);
  const faces = await detector.detect(rgb, options);
  if (!options.landmarks68 || faces.length === 0) return faces;
  const lm = await LandmarkModel.load(options.landmarks68);
  try {
    return await lm.refine(rgb, faces);
  } finally {
    await lm.dispose();
  }
}
