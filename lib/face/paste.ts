// Paste-back: the stylized crop and a feathered mask are inverse-warped into the image region the crop
// covers, then alpha-blended into the frame. On the CPU one native pass does both (pasteBlend in
// native/cpu/paste_blend.cc); pasteFacesReference, the plain version (WarpAffine + a JS blend loop), is
// the ground truth it is tested against and the path on CUDA.
import { FacestyleError, argumentError } from '../errors.js';
import * as is from '../is.js';
import { Tensor } from '../graph/tensor.js';
import type { DeviceName } from '../runtime/session.js';
import { applyAffine, invertAffine, isInvertibleAffine, roundUpToStep } from './align.js';
import { checkRgbImage } from './image.js';
import type { Affine2x3, RgbImage } from './types.js';
import { type CropRange, checkAffine, nativeImageOps, signedToUnit, warpAffine } from './warp.js';

export interface FeatherOptions {
  /**
   * 'rounded' (default): a superellipse (|x|^4 + |y|^4 = r^4 around the crop centre) that is 1 out to
   * `inner` of the half-size and falls smoothly to 0 just inside the crop border, so the crop's corners (background
   * beside the head) keep the original and a stylized background fades out over a wide band instead of
   * ending at a square edge. 'square': the crop square eroded by `erode`, then blurred by three box
   * passes of radius `blur` (the mask before 2026-11-25).
   */
  shape?: 'rounded' | 'square';
  /** 'rounded': where the fall-off starts, as a fraction of the half-size (default 0.7; it ends at 0.97). */
  inner?: number;
  /** 'square': pixels (in the crop) cut from each side before blurring (default size/32 + 3*blur). */
  erode?: number;
  /** 'square': radius of each of the three box-blur passes, in crop pixels (default size/64). */
  blur?: number;
}

/** 1-D profile: the indicator of [erode, size-erode) blurred by three box passes of radius r. */
function featherProfile(size: number, erode: number, r: number): Float32Array {
  let p = new Float32Array(size);
  for (let i = 0; i < size; ++i) p[i] = i >= erode && i < size - erode ? 1 : 0;
  for (let pass = 0; pass < 3 && r > 0; ++pass) {
    const q = new Float32Array(size);
    for (let i = 0; i < size; ++i) {
      let s = 0;
      for (let j = i - r; j <= i + r; ++j) s += j >= 0 && j < size ? p[j] : 0;
      q[i] = s / (2 * r + 1);
    }
    p = q;
  }
  return p;
}

/**
 * The feathered crop mask [size*size] in [0,1] (see FeatherOptions): 0 on the crop border, 1 over the
 * face; its widths scale with the crop, i.e. with the face.
 */
export function featherMask(size: number, options: FeatherOptions = {}): Float32Array {
  // The mask is size x size floats: at most the crop sizes the package uses (and far beyond), 16384.
  is.integerInRange('size', size, 1, 16384);
  is.knownOptions('featherMask', options, FEATHER_OPTION_KEYS);
  const shape = is.oneOf('shape', options.shape ?? 'rounded', ['rounded', 'square'] as const);
  // Each shape's own knobs: the other's were ignored without a word.
  const foreign = (shape === 'rounded' ? (['blur', 'erode'] as const) : (['inner'] as const)).filter((k) => options[k] !== undefined);
  if (foreign.length) throw argumentError(`featherMask: ${foreign.join(' and ')} ${foreign.length > 1 ? 'apply' : 'applies'} to shape '${shape === 'rounded' ? 'square' : 'rounded'}', and the shape is '${shape}'`);
  if (options.blur !== undefined) is.numberInRange('blur', options.blur, 0, size);
  if (options.erode !== undefined) is.numberInRange('erode', options.erode, 0, size);
  if (options.inner !== undefined) is.numberInRange('inner', options.inner, 0, 0.95);
  const m = new Float32Array(size * size);
  if (shape === 'square') {
    // blur 0 is no blur (it was raised to 1).
    const r = options.blur !== undefined ? Math.round(options.blur) : Math.max(1, Math.round(size / 64));
    const erode = Math.round(options.erode ?? size / 32 + 3 * r);
    // A mask that is 0 everywhere would paste nothing, silently: the face must keep some of the crop.
    if (2 * erode >= size)
      throw argumentError(`featherMask: erode ${erode}${options.erode === undefined ? ` (the default for blur ${r})` : ''} leaves nothing of a ${size}-pixel crop (twice the erosion must stay below the size)`);
    const p = featherProfile(size, erode, r);
    for (let y = 0; y < size; ++y) for (let x = 0; x < size; ++x) m[y * size + x] = p[y] * p[x];
    return m;
  }
  // Superellipse radius of pixel centres, 1 at the middle of each crop edge; smoothstep from inner to
  // OUTER, 0 beyond (the border pixels, r > 0.99 from a 64-px crop up, are 0 as in the square mask).
  const inner = options.inner ?? 0.7;
  const OUTER = 0.97;
  const half = size / 2;
  const q = new Float64Array(size); // |u|^4 per column / row, u in crop half-sizes
  for (let i = 0; i < size; ++i) q[i] = ((i + 0.5 - half) / half) ** 4;
  for (let y = 0; y < size; ++y)
    for (let x = 0; x < size; ++x) {
      const t = ((q[x] + q[y]) ** 0.25 - inner) / (OUTER - inner);
      m[y * size + x] = t <= 0 ? 1 : t >= 1 ? 0 : 1 - t * t * (3 - 2 * t);
    }
  return m;
}

const maskCache = new Map<number, Float32Array>();
function cachedMask(size: number): Float32Array {
  let m = maskCache.get(size);
  if (!m) {
    m = featherMask(size);
    maskCache.set(size, m);
  }
  return m;
}

/** The image rectangle a crop covers (clipped to the image), or null when it is outside. */
export function cropRegion(matrix: Affine2x3, size: number, width: number, height: number): { x0: number; y0: number; w: number; h: number } | null {
  const inv = invertAffine(matrix);
  const corners = [[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]].map((p) => applyAffine(inv, p as [number, number]));
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c[0]))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c[1]))));
  const x1 = Math.min(width, Math.ceil(Math.max(...corners.map((c) => c[0]))) + 1);
  const y1 = Math.min(height, Math.ceil(Math.max(...corners.map((c) => c[1]))) + 1);
  return x1 > x0 && y1 > y0 ? { x0, y0, w: x1 - x0, h: y1 - y0 } : null;
}

export interface PasteOptions {
  /** Blend weight of the stylized face, 0..1 (default 1). */
  strength?: number;
  device?: DeviceName;
  /** Receives the per-pixel alpha of the pasted faces (image-sized), e.g. for seam checks. */
  alphaOut?: Float32Array;
  /**
   * Blend into `image` itself and return it, instead of into a new copy (default false): for callers that
   * own the frame (the video pipeline's decoded frames). The CPU's native pass honours it; the reference
   * path (CUDA, no addon) returns a new image as before.
   */
  inPlace?: boolean;
}

const PASTE_OPTION_KEYS = is.optionKeys<PasteOptions>()(['strength', 'device', 'alphaOut', 'inPlace']);
const FEATHER_OPTION_KEYS = is.optionKeys<FeatherOptions>()(['shape', 'inner', 'erode', 'blur']);

/**
 * Blends stylized crops [K,3,S,S] (RGB in [0,1]) back into `image` (a new RgbImage is returned)
 * through the image -> crop matrices; later faces are pasted over earlier ones.
 */
export async function pasteFaces(image: RgbImage, crops: Tensor, matrices: readonly Affine2x3[], options: PasteOptions = {}): Promise<RgbImage> {
  is.knownOptions('pasteFaces', options, PASTE_OPTION_KEYS);
  checkRgbImage(image);
  const k = checkCrops(crops);
  if (!Array.isArray(matrices)) throw is.invalid('matrices', 'an array of 2x3 affine matrices (image -> crop), one per crop', matrices);
  if (matrices.length > 0 && matrices.every((v) => typeof v === 'number'))
    throw argumentError(`matrices is one matrix [${matrices.join(', ')}]; give an array of matrices, one per crop ([matrix] for one crop)`);
  if (matrices.length !== k) throw argumentError(`Expected one matrix per crop: crops is [${crops.shape.join(',')}] (${k} crops) but matrices holds ${matrices.length}`);
  matrices.forEach((m, i) => checkMatrix(`matrices[${i}]`, m));
  // Crops that are not numbers would be pasted as black without a word (the native pass and the reference
  // clamp NaN to 0). The stylizers' own crops were checked as the generator returned them (checkGeneratorOutput),
  // so this scan is here, at the public edge, and not in pasteCrops.
  const bad = firstNonFinite(crops.data);
  if (bad >= 0) {
    const per = crops.size / k;
    throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `crops holds ${crops.data[bad]} (crop ${Math.floor(bad / per) + 1} of ${k}, element ${bad % per}): expected RGB values in [0,1]`);
  }
  return pasteCrops(image, crops, matrices.map((matrix, crop) => ({ crop, matrix })), options);
}

/** `crops` as a Tensor [K,3,S,S] of square crops (ERR_FACESTYLE_ARGUMENT otherwise, as stylizeCrops); returns K. */
function checkCrops(crops: Tensor): number {
  const s = crops instanceof Tensor ? crops.shape : [];
  if (!(crops instanceof Tensor) || s.length !== 4 || s[1] !== 3 || s[2] !== s[3] || s[2] < 1)
    throw is.invalid('crops', 'a Tensor [K,3,S,S] (square crops, RGB)', crops instanceof Tensor ? `a Tensor [${crops.shape.join(',')}]` : crops);
  return s[0];
}

/** An image -> crop matrix: 6 finite numbers that can be inverted (now, so cropRegion cannot fail later without naming it); `name` says which. */
function checkMatrix(name: string, m: unknown): void {
  checkAffine(name, m);
  if (!isInvertibleAffine(m)) throw argumentError(`The affine matrix ${name} is not invertible: [${Array.from(m).join(', ')}]`);
}

/**
 * The index of the first NaN or infinity in `d`, or -1 when every value is finite (also lib/face/stylize's
 * scan of generator output). A sum in four lanes is finite when every value is, unless finite values
 * overflow it (then the per-value scan finds nothing): 0.64 ms for 4 crops of 256 against 1.1-1.8 ms for
 * a test per value, on the thread that runs the video pipeline.
 */
export function firstNonFinite(d: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n4 = d.length & ~3;
  for (let i = 0; i < n4; i += 4) {
    s0 += d[i];
    s1 += d[i + 1];
    s2 += d[i + 2];
    s3 += d[i + 3];
  }
  for (let i = n4; i < d.length; ++i) s0 += d[i];
  if (Number.isFinite(s0 + s1 + s2 + s3)) return -1;
  for (let i = 0; i < d.length; ++i) if (d[i] - d[i] !== 0) return i;
  return -1;
}

/** One face to paste: which crop of the batch, and its image -> crop matrix. */
export interface CropPlacement {
  crop: number;
  matrix: Affine2x3;
}

/** An image of `image`'s size and transparency (its `alpha`, when it has one) with the pixels `data`. */
export function withPixels(image: RgbImage, data: Uint8Array): RgbImage {
  return image.alpha ? { data, width: image.width, height: image.height, alpha: image.alpha } : { data, width: image.width, height: image.height };
}

/**
 * pasteFaces on any crops of a batch [N,3,S,S] (the video stylizer pastes each frame's faces straight
 * from the model's output), stored in [0,1] or, with range 'signed', in the generator's [-1,1].
 */
export async function pasteCrops(image: RgbImage, crops: Tensor, faces: readonly CropPlacement[], options: PasteOptions & { range?: CropRange } = {}): Promise<RgbImage> {
  if (options.strength !== undefined) is.numberInRange('strength', options.strength, 0, 1);
  // O(faces) checks: this runs per video frame. NaN crops are pasteFaces' check (see there).
  checkRgbImage(image);
  const k = checkCrops(crops);
  if (!Array.isArray(faces)) throw is.invalid('faces', 'an array of { crop, matrix }', faces);
  faces.forEach((f, i) => {
    if (!is.object(f)) throw is.invalid(`faces[${i}]`, 'a { crop, matrix } placement', f);
    if (!is.integer(f.crop) || f.crop < 0 || f.crop >= k) throw is.invalid(`faces[${i}].crop`, k ? `a crop index 0..${k - 1}` : 'a crop index, but crops holds none', f.crop);
    checkMatrix(`faces[${i}].matrix`, f.matrix);
  });
  const range = is.oneOf('range', options.range ?? 'unit', ['unit', 'signed'] as const);
  const device = is.oneOf('device', options.device ?? 'cpu', ['cpu', 'cuda'] as const);
  if (options.inPlace !== undefined) is.trueOrFalse('inPlace', options.inPlace);
  if (options.alphaOut !== undefined && !(options.alphaOut instanceof Float32Array && options.alphaOut.length === image.width * image.height))
    throw is.invalid('alphaOut', `a Float32Array of width*height (${image.width * image.height}) values`, options.alphaOut);
  const ops = nativeImageOps(device);
  const [, , size] = crops.shape;
  if (!ops) {
    // The reference path takes [K,3,S,S] in [0,1], in paste order.
    const plane = 3 * size * size;
    const picked = new Tensor([faces.length, 3, size, size]);
    faces.forEach(({ crop }, j) => {
      const src = crops.data.subarray(crop * plane, (crop + 1) * plane);
      if (range === 'signed') signedToUnit(src, picked.data.subarray(j * plane));
      else picked.data.set(src, j * plane);
    });
    return pasteFacesReference(image, picked, faces.map((f) => f.matrix), options);
  }
  const strength = options.strength ?? 1;
  const { width, height } = image;
  const rows: number[] = [];
  for (const { crop, matrix } of faces) {
    const r = cropRegion(matrix, size, width, height);
    if (r) rows.push(crop, ...matrix, r.x0, r.y0, r.w, r.h);
  }
  if (rows.length === 0 || strength === 0) return options.inPlace ? image : withPixels(image, new Uint8Array(image.data));
  const data = await ops.pasteBlend(image.data, width, height, crops.data, size, Float64Array.from(rows), cachedMask(size), strength, range, options.alphaOut, options.inPlace === true);
  // An addon without the in-place pass (FACESTYLE_ADDON pointing at an older build) returns a new frame.
  return data === image.data ? image : withPixels(image, data);
}

/**
 * The plain paste-back, ground truth for the native pass: crops and mask as 4 channels through one
 * WarpAffine (CPU or CUDA), then a JS blend loop into a copy of the frame.
 */
export async function pasteFacesReference(image: RgbImage, crops: Tensor, matrices: readonly Affine2x3[], options: PasteOptions = {}): Promise<RgbImage> {
  const strength = options.strength ?? 1;
  const out = withPixels(image, new Uint8Array(image.data));
  const [k, , size] = crops.shape;
  const regions = matrices.map((m) => cropRegion(m, size, image.width, image.height));
  const live = regions.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
  if (k === 0 || live.length === 0 || strength === 0) return out;
  // One warp for all faces: RGB + mask as 4 channels, into the largest region size.
  const plane = size * size;
  const mask = cachedMask(size);
  const x = new Float32Array(live.length * 4 * plane);
  live.forEach((f, j) => {
    x.set(crops.data.subarray(f * 3 * plane, (f + 1) * 3 * plane), j * 4 * plane);
    x.set(mask, (j * 4 + 3) * plane);
  });
  // Rounded up like the align regions (REGION_STEP) so the warp session is reused from frame to frame;
  // the extra rows and columns are never read.
  const rw = roundUpToStep(Math.max(...live.map((f) => regions[f]!.w)));
  const rh = roundUpToStep(Math.max(...live.map((f) => regions[f]!.h)));
  // Region pixel (ox, oy) is image pixel (x0 + ox, y0 + oy); the matrix takes it into the crop.
  const inverse = live.map((f): Affine2x3 => {
    const [a, b, tx, c, d, ty] = matrices[f];
    const { x0, y0 } = regions[f]!;
    return [a, b, a * x0 + b * y0 + tx, c, d, c * x0 + d * y0 + ty];
  });
  const warped = await warpAffine(new Tensor([live.length, 4, size, size], x), inverse, rh, rw, { border: 'constant', value: 0, device: options.device });
  const rplane = rw * rh;
  const W = image.width;
  const wd = warped.data, od = out.data, alphaOut = options.alphaOut;
  const clamp01 = (v: number) => (v > 0 ? (v < 1 ? v : 1) : 0); // NaN -> 0
  live.forEach((f, j) => {
    const { x0, y0, w, h } = regions[f]!;
    const base = j * 4 * rplane;
    const r0 = base, g0 = base + rplane, b0 = base + 2 * rplane, m0 = base + 3 * rplane;
    for (let oy = 0; oy < h; ++oy)
      for (let ox = 0; ox < w; ++ox) {
        const r = oy * rw + ox;
        const alpha = clamp01(wd[m0 + r]) * strength;
        if (alpha <= 0) continue;
        const p = (y0 + oy) * W + (x0 + ox);
        if (alphaOut && alphaOut[p] < alpha) alphaOut[p] = alpha;
        // Zero-filled samples from outside the crop only appear where the mask is already 0.
        const q = p * 3, keep = 1 - alpha, k = 255 * alpha;
        od[q] = Math.round(od[q] * keep + clamp01(wd[r0 + r]) * k);
        od[q + 1] = Math.round(od[q + 1] * keep + clamp01(wd[g0 + r]) * k);
        od[q + 2] = Math.round(od[q + 2] * keep + clamp01(wd[b0 + r]) * k);
      }
  });
  return out;
}
