// Alignment: a least-squares similarity (rotation + uniform scale + translation, Umeyama without
// reflection) from the 5 detected points to a template, then a crop by the native WarpAffine op.
import { argumentError, shapeError } from '../errors.js';
import { Tensor } from '../graph/tensor.js';
import { rgbToTensor } from '../image/io.js';
import * as is from '../is.js';
import type { WarpBorder } from '../ops/warp.js';
import { WARP_BORDERS } from '../ops/warp.js';
import type { DeviceName } from '../runtime/session.js';
import type { Affine2x3, Landmarks5, Point, RgbImage } from './types.js';
import { warpAffine } from './warp.js';

export type AlignTemplate = 'ffhq' | 'arcface';

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

export function invertAffine(m: Affine2x3): Affine2x3 {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (!(Math.abs(det) > 1e-12) || !Number.isFinite(det)) throw argumentError('The affine matrix is not invertible');
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

export function applyAffine(m: Affine2x3, [x, y]: Point): Point {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

export interface AlignOptions {
  /** Crop size in pixels (square; default 512). */
  size?: number;
  /** Landmark template (default 'ffhq'). */
  template?: AlignTemplate;
  /** How pixels outside the image are filled (default 'reflect'). */
  border?: WarpBorder;
  device?: DeviceName;
}

export interface AlignedFaces {
  /** [K,3,size,size] RGB in [0,1]. */
  crops: Tensor;
  /** Per face: image -> crop (Affine2x3 convention of types.ts). */
  matrices: Affine2x3[];
}

function checkLandmarks(l: unknown, what: string): Landmarks5 {
  if (!Array.isArray(l) || l.length !== 5 || !l.every((p) => Array.isArray(p) && p.length === 2 && is.number(p[0]) && is.number(p[1])))
    throw is.invalid(what, 'five [x, y] points with finite coordinates', l);
  return l as Landmarks5;
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

/** Interleaved RGB bytes of a rectangle of `image` -> [1,3,h,w] in [0,1]. */
function regionTensor(image: RgbImage, x0: number, y0: number, w: number, h: number): Tensor {
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

/** Aligned crops of several faces of one image, in one native warp call. */
export async function alignFaces(image: RgbImage | Tensor, landmarks: readonly Landmarks5[], options: AlignOptions = {}): Promise<AlignedFaces> {
  const size = is.integerInRange('size', options.size ?? 512, 8, 4096);
  const template = is.oneOf('template', options.template ?? 'ffhq', ['ffhq', 'arcface'] as const);
  const border = is.oneOf('border', options.border ?? 'reflect', WARP_BORDERS);
  if (!Array.isArray(landmarks)) throw is.invalid('landmarks', 'an array of 5-point landmarks', landmarks);
  const dst = faceTemplate(template, size);
  const matrices = landmarks.map((l, i) => similarityTransform(checkLandmarks(l, `landmarks[${i}]`), dst));
  if (matrices.length === 0) return { crops: new Tensor([0, 3, size, size]), matrices };
  let inverse = matrices.map(invertAffine);
  let x: Tensor;
  if (image instanceof Tensor) x = imageTensor(image);
  else {
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
    checkImage(image);
    x = regionTensor(image, x0, y0, x1 - x0, y1 - y0);
    inverse = inverse.map(([a, b, tx, c, d, ty]): Affine2x3 => [a, b, tx - x0, c, d, ty - y0]);
  }
  const crops = await warpAffine(x, inverse, size, size, { border, device: options.device });
  return { crops, matrices };
}

/** One aligned crop [1,3,size,size] in [0,1] and its image -> crop matrix. */
export async function alignFace(image: RgbImage | Tensor, landmarks: Landmarks5, options: AlignOptions = {}): Promise<{ crop: Tensor; matrix: Affine2x3 }> {
  const { crops, matrices } = await alignFaces(image, [checkLandmarks(landmarks, 'landmarks')], options);
  return { crop: crops, matrix: matrices[0] };
}
