// Alignment: an image -> crop similarity per face, then the crops by the native WarpAffine op.
// 'ffhq' is the FFHQ dataset's procedure (from 68 points when there are, else its 5-point
// approximation); 'ffhq-template' and 'arcface' fit the 5 points to a template by least squares.
import { FacestyleError, argumentError, shapeError } from '../errors.js';
import { Tensor } from '../graph/tensor.js';
import { rgbToTensor } from '../image/io.js';
import * as is from '../is.js';
import type { WarpBorder } from '../ops/warp.js';
import { WARP_BORDERS } from '../ops/warp.js';
import type { DeviceName } from '../runtime/session.js';
import type { Affine2x3, Face, Landmarks5, Point, RgbImage } from './types.js';
import { type CropRange, nativeImageOps, unitToSigned, warpAffine } from './warp.js';

export type AlignTemplate = 'ffhq' | 'ffhq-template' | 'arcface';
export const ALIGN_TEMPLATES = ['ffhq', 'ffhq-template', 'arcface'] as const;

// Templates (../shared/data/README.md): FFHQ for 512 (facexlib), ArcFace for 112.
const FFHQ_512: Point[] = [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935], [201.26117, 371.41043], [313.08905, 371.15118]];
const ARCFACE_112: Point[] = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/** The FFHQ 5-point template scaled to a `size` x `size` crop. */
export function ffhqTemplate(size = 512): Landmarks5 {
  return FFHQ_512.map(([x, y]) => [(x * size) / 512, (y * size) / 512]) as Landmarks5;
}

/** The ArcFace 5-point template scaled to a `size` x `size` crop. */
export function arcfaceTemplate(size = 112): Landmarks5 {
  return ARCFACE_112.map(([x, y]) => [(x * size) / 112, (y * size) / 112]) as Landmarks5;
}

/** The 5-point template of a least-squares template ('ffhq' uses the FFHQ 5-point template). */
export function faceTemplate(template: AlignTemplate, size: number): Landmarks5 {
  return template === 'arcface' ? arcfaceTemplate(size) : ffhqTemplate(size);
}

/**
 * Least-squares similarity mapping `src` points onto `dst` (Umeyama 1991 restricted to proper
 * rotations). In 2-D it has a closed form: with centred points as complex numbers p, q the best
 * a = s*e^{i theta} is sum(conj(p) q) / sum(|p|^2).
 */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): Affine2x3 {
  if (src.length !== dst.length || src.length < 2) throw argumentError(`Expected two point lists of the same length >= 2 but received ${src.length} and ${dst.length}`);
  const n = src.length;
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < n; ++i) {
    msx += src[i][0] / n;
    msy += src[i][1] / n;
    mdx += dst[i][0] / n;
    mdy += dst[i][1] / n;
  }
  let re = 0, im = 0, norm = 0;
  for (let i = 0; i < n; ++i) {
    const px = src[i][0] - msx, py = src[i][1] - msy;
    const qx = dst[i][0] - mdx, qy = dst[i][1] - mdy;
    re += px * qx + py * qy;
    im += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (!(norm > 1e-12)) throw argumentError('Expected landmarks that are not all at one point');
  const a = re / norm, b = im / norm;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

/** The geometry the FFHQ procedure reads from a face: eye centres and mouth centre. */
export interface FfhqKeyPoints {
  /** Centre of the eye on the image-left (subject's right eye). */
  eyeLeft: Point;
  /** Centre of the eye on the image-right. */
  eyeRight: Point;
  /** Midpoint of the two outer mouth corners. */
  mouth: Point;
}

const meanOf = (p: readonly Point[], a: number, b: number): Point => {
  let x = 0, y = 0;
  for (let i = a; i <= b; ++i) {
    x += p[i][0];
    y += p[i][1];
  }
  return [x / (b - a + 1), y / (b - a + 1)];
};

/** FFHQ key points from 68 ibug/dlib points: each eye centre is the mean of its 6 points, the mouth the mean of corners 48 and 54. */
export function ffhqKeyPoints68(p: readonly Point[]): FfhqKeyPoints {
  return { eyeLeft: meanOf(p, 36, 41), eyeRight: meanOf(p, 42, 47), mouth: meanOf([p[48], p[54]], 0, 1) };
}

/** FFHQ key points from 5 points (YuNet order): the eye points are the eye centres, the mouth the mean of the corners. */
export function ffhqKeyPoints5(l: Landmarks5): FfhqKeyPoints {
  return { eyeLeft: l[0], eyeRight: l[1], mouth: meanOf([l[3], l[4]], 0, 1) };
}

/**
 * The FFHQ alignment (Karras et al., the dataset's recreate_aligned_images) as an image -> crop
 * similarity: an oriented square whose horizontal axis is eye_to_eye - rot90(eye_to_mouth), with
 * half side max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|), centred at eye_avg + 0.1 eye_to_mouth, maps
 * onto the `size` x `size` crop (pixel centres at integers, so the square's centre lands on
 * (size-1)/2 as PIL's QUAD transform of quad + 0.5 puts it).
 */
export function ffhqTransform(k: FfhqKeyPoints, size: number): Affine2x3 {
  const eyeAvg: Point = [(k.eyeLeft[0] + k.eyeRight[0]) / 2, (k.eyeLeft[1] + k.eyeRight[1]) / 2];
  const e2e: Point = [k.eyeRight[0] - k.eyeLeft[0], k.eyeRight[1] - k.eyeLeft[1]];
  const e2m: Point = [k.mouth[0] - eyeAvg[0], k.mouth[1] - eyeAvg[1]];
  // rot90(v) = (-v.y, v.x): eye_to_mouth turned to point along the eye line.
  const ax = e2e[0] + e2m[1], ay = e2e[1] - e2m[0];
  const len = Math.hypot(ax, ay);
  const half = Math.max(2.0 * Math.hypot(e2e[0], e2e[1]), 1.8 * Math.hypot(e2m[0], e2m[1]));
  if (!(len > 1e-9) || !(half > 1e-9) || !Number.isFinite(len + half)) throw argumentError('Expected landmarks that span a face (eyes and mouth apart)');
  const cx = eyeAvg[0] + 0.1 * e2m[0], cy = eyeAvg[1] + 0.1 * e2m[1];
  // Crop = s R (p - c) + (size-1)/2, R turning the axis (ax, ay) onto +x.
  const s = size / (2 * half);
  const a = (s * ax) / len, b = (s * ay) / len;
  const o = (size - 1) / 2;
  return [a, b, o - (a * cx + b * cy), -b, a, o - (-b * cx + a * cy)];
}

/** What alignFaces accepts per face: 5 points, 68 points, or a Face (its 68 points when it has them). */
export type FaceLandmarks = Landmarks5 | readonly Point[] | Face;

function checkPoints(l: unknown, what: string): Point[] {
  if (!Array.isArray(l) || (l.length !== 5 && l.length !== 68) || !l.every((p) => Array.isArray(p) && p.length === 2 && is.number(p[0]) && is.number(p[1])))
    throw is.invalid(what, 'five or 68 [x, y] points with finite coordinates, or a face {landmarks, landmarks68?}', l);
  return l as Point[];
}

/** The points alignment reads from one entry: 68 when given (or on the Face), else 5. */
function facePoints(entry: FaceLandmarks, what: string): Point[] {
  if (is.object(entry as unknown)) {
    const f = entry as Face;
    return checkPoints(f.landmarks68 ?? f.landmarks, f.landmarks68 ? `${what}.landmarks68` : `${what}.landmarks`);
  }
  return checkPoints(entry, what);
}

/**
 * The image -> crop matrix of one face. 'ffhq': the FFHQ procedure, from 68 points when given (eye
 * centres from 6 points each), else from 5 (the eye points as centres); the template fits use the 5
 * points (from 68, the eye centres, nose tip and mouth corners).
 */
export function alignmentMatrix(points: FaceLandmarks, template: AlignTemplate = 'ffhq', size = 512): Affine2x3 {
  const p = facePoints(points, 'landmarks');
  if (template === 'ffhq') return ffhqTransform(p.length === 68 ? ffhqKeyPoints68(p) : ffhqKeyPoints5(p as Landmarks5), size);
  const five: Landmarks5 = p.length === 68 ? [meanOf(p, 36, 41), meanOf(p, 42, 47), p[30], p[48], p[54]] : (p as Landmarks5);
  return similarityTransform(five, faceTemplate(template, size));
}

/** Whether invertAffine can invert `m` (a determinant that is finite and not ~0). */
export function isInvertibleAffine(m: Affine2x3): boolean {
  const det = m[0] * m[4] - m[1] * m[3];
  return Math.abs(det) > 1e-12 && Number.isFinite(det);
}

export function invertAffine(m: Affine2x3): Affine2x3 {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (!isInvertibleAffine(m)) throw argumentError('The affine matrix is not invertible');
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

export function applyAffine(m: Affine2x3, [x, y]: Point): Point {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

export interface AlignOptions {
  /** Crop size in pixels (square; default 512). */
  size?: number;
  /**
   * How faces are aligned (default 'ffhq'): 'ffhq' is the FFHQ dataset's procedure (68 points when
   * given, else its 5-point approximation); 'ffhq-template' and 'arcface' are least-squares fits of
   * the 5 points to the FFHQ (facexlib) or ArcFace 5-point template.
   */
  template?: AlignTemplate;
  /** How pixels outside the image are filled (default 'reflect'). */
  border?: WarpBorder;
  device?: DeviceName;
  /** Value range of the crops: 'unit' [0,1] (default) or 'signed' [-1,1], a generator's input range. */
  range?: CropRange;
}

export interface AlignedFaces {
  /** [K,3,size,size] RGB in [0,1] ([-1,1] with range 'signed'). */
  crops: Tensor;
  /** Per face: image -> crop (Affine2x3 convention of types.ts). */
  matrices: Affine2x3[];
}

function checkImage(image: RgbImage): void {
  if (!is.object(image) || !(image.data instanceof Uint8Array) || !is.integer(image.width) || !is.integer(image.height) || image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3)
    throw is.invalid('image', 'RgbImage {data, width, height} with width*height*3 bytes, or Tensor [1,3,H,W]', image);
}

/** An image tensor [1,3,H,W] in [0,1] from an RgbImage (a Tensor passes through). */
export function imageTensor(image: RgbImage | Tensor): Tensor {
  if (image instanceof Tensor) {
    if (image.rank !== 4 || image.shape[0] !== 1 || image.shape[1] !== 3) throw shapeError(`Expected an image tensor [1,3,H,W] but received [${image.shape.join(',')}]`);
    return image;
  }
  checkImage(image);
  return rgbToTensor(image.data, image.width, image.height);
}

/**
 * Image regions sent to the warp are sized in steps of 32 pixels: the warp session is compiled per
 * shape, and a face moving through a video would otherwise need a new one on most frames.
 */
export const REGION_STEP = 32;
export const roundUpToStep = (v: number, step = REGION_STEP): number => Math.ceil(v / step) * step;

/** [lo, hi) grown to a length that is a multiple of `step` (or the whole [0, limit)), still inside [0, limit). */
export function roundedSpan(lo: number, hi: number, limit: number, step = REGION_STEP): [number, number] {
  const len = Math.min(limit, roundUpToStep(hi - lo, step));
  const end = Math.min(limit, lo + len);
  return [end - len, end];
}

/** Interleaved RGB bytes of a rectangle of `image` -> [1,3,h,w] in [0,1]. */
export function regionTensor(image: RgbImage, x0: number, y0: number, w: number, h: number): Tensor {
  const out = new Float32Array(3 * w * h);
  const plane = w * h;
  for (let y = 0; y < h; ++y) {
    const row = ((y0 + y) * image.width + x0) * 3;
    for (let x = 0; x < w; ++x) {
      const i = y * w + x, p = row + x * 3;
      out[i] = image.data[p] / 255;
      out[plane + i] = image.data[p + 1] / 255;
      out[2 * plane + i] = image.data[p + 2] / 255;
    }
  }
  return new Tensor([1, 3, h, w], out);
}

const ALIGN_OPTION_KEYS = is.optionKeys<AlignOptions>()(['size', 'template', 'border', 'device', 'range']);

/**
 * Aligned crops of several faces of one image, in one native call. Each entry is 5 points, 68
 * points or a Face (whose 68 points are used when it has them).
 */
export async function alignFaces(image: RgbImage | Tensor, landmarks: readonly FaceLandmarks[], options: AlignOptions = {}): Promise<AlignedFaces> {
  is.knownOptions('alignFaces', options, ALIGN_OPTION_KEYS);
  const size = is.integerInRange('size', options.size ?? 512, 8, 4096);
  const template = is.oneOf('template', options.template ?? 'ffhq', ALIGN_TEMPLATES);
  const border = is.oneOf('border', options.border ?? 'reflect', WARP_BORDERS);
  if (!Array.isArray(landmarks)) throw is.invalid('landmarks', 'an array of faces or 5- or 68-point landmarks', landmarks);
  const range = is.oneOf('range', options.range ?? 'unit', ['unit', 'signed'] as const);
  const matrices = landmarks.map((l, i) => {
    const points = facePoints(l, `landmarks[${i}]`);
    let m: Affine2x3;
    try {
      m = alignmentMatrix(points, template, size);
    } catch (e) {
      if (e instanceof FacestyleError && e.code === 'ERR_FACESTYLE_ARGUMENT') throw argumentError(`landmarks[${i}] give no usable alignment: ${e.message}`);
      throw e;
    }
    // Points millions of pixels apart give a crop that maps back to no area.
    if (!isInvertibleAffine(m))
      throw argumentError(`landmarks[${i}] give no usable alignment (the points lie too far apart): matrix [${m.map((v) => v.toPrecision(3)).join(', ')}]`);
    return m;
  });
  if (matrices.length === 0) return { crops: new Tensor([0, 3, size, size]), matrices };
  if (image instanceof Tensor) {
    const crops = await warpAffine(imageTensor(image), matrices.map(invertAffine), size, size, { border, device: options.device });
    if (range === 'signed') unitToSigned(crops.data);
    return { crops, matrices };
  }
  const crops = new Tensor([matrices.length, 3, size, size]);
  await cropFacesInto(image, matrices, crops, 0, { border, device: options.device, range });
  return { crops, matrices };
}

/**
 * The crops of `matrices` (image -> crop) written into `out` [N,3,S,S] from face `offset` on, in [0,1]
 * or (range 'signed') in [-1,1], the generator's range: the video stylizer packs a whole batch this way.
 * On the CPU one native pass reads the uint8 frame directly (alignCrops in native/cpu/paste_blend.cc);
 * elsewhere cropFacesReference runs.
 */
export async function cropFacesInto(image: RgbImage, matrices: readonly Affine2x3[], out: Tensor, offset: number, options: { border?: WarpBorder; device?: DeviceName; range?: CropRange } = {}): Promise<void> {
  checkImage(image);
  const [n, , size] = out.shape;
  if (out.rank !== 4 || out.shape[1] !== 3 || out.shape[3] !== size) throw shapeError(`Expected crops [N,3,S,S] but received [${out.shape.join(',')}]`);
  if (!is.integer(offset) || offset < 0 || offset + matrices.length > n) throw argumentError(`Expected ${matrices.length} crops at face ${offset} to fit [${out.shape.join(',')}]`);
  if (matrices.length === 0) return;
  const border = options.border ?? 'reflect';
  const range = options.range ?? 'unit';
  const inverse = matrices.map(invertAffine);
  const ops = nativeImageOps(options.device ?? 'cpu');
  if (ops) {
    const m = new Float64Array(inverse.length * 6);
    inverse.forEach((a, i) => m.set(a, i * 6));
    return ops.alignCrops(image.data, image.width, image.height, m, size, border, range, out.data, offset);
  }
  const crops = await cropFacesReference(image, inverse, size, border, options.device);
  const base = offset * 3 * size * size;
  // [0,1] -> [-1,1] with the arithmetic generators' callers use (v * 2 - 1).
  if (range === 'signed') unitToSigned(crops.data, out.data.subarray(base));
  else out.data.set(crops.data, base);
}

/**
 * The plain alignment, ground truth for the native pass: the rectangle of the image the crops read,
 * converted to a float tensor in JS, then cropped by the WarpAffine op (CPU or CUDA). `inverse` maps
 * crop pixel centres to image coordinates.
 */
export async function cropFacesReference(image: RgbImage, inverse: readonly Affine2x3[], size: number, border: WarpBorder, device?: DeviceName): Promise<Tensor> {
  // Only the part of the image the crops read is converted and sent to the native side (a face
  // in a 1080p frame reads a few percent of it). Where the crops reach past the image the
  // rectangle ends at the image edge, so reflect/edge borders behave as on the whole image.
  const { width, height } = image;
  let x0 = width, y0 = height, x1 = 0, y1 = 0;
  for (const inv of inverse)
    for (const c of [[-1, -1], [size, -1], [-1, size], [size, size]] as Point[]) {
      const [px, py] = applyAffine(inv, c);
      x0 = Math.min(x0, Math.floor(px) - 1);
      y0 = Math.min(y0, Math.floor(py) - 1);
      x1 = Math.max(x1, Math.ceil(px) + 2);
      y1 = Math.max(y1, Math.ceil(py) + 2);
    }
  x0 = Math.max(0, Math.min(x0, width - 1));
  y0 = Math.max(0, Math.min(y0, height - 1));
  x1 = Math.min(width, Math.max(x1, x0 + 1));
  y1 = Math.min(height, Math.max(y1, y0 + 1));
  // Sizes rounded up to REGION_STEP (more of the image, same crops).
  [x0, x1] = roundedSpan(x0, x1, width);
  [y0, y1] = roundedSpan(y0, y1, height);
  const x = regionTensor(image, x0, y0, x1 - x0, y1 - y0);
  const shifted = inverse.map(([a, b, tx, c, d, ty]): Affine2x3 => [a, b, tx - x0, c, d, ty - y0]);
  return warpAffine(x, shifted, size, size, { border, device });
}

/** One aligned crop [1,3,size,size] in [0,1] and its image -> crop matrix. */
export async function alignFace(image: RgbImage | Tensor, landmarks: FaceLandmarks, options: AlignOptions = {}): Promise<{ crop: Tensor; matrix: Affine2x3 }> {
  const { crops, matrices } = await alignFaces(image, [facePoints(landmarks, 'landmarks')], options);
  return { crop: crops, matrix: matrices[0] };
}
