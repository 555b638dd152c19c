// Paired training data: folder pairs (the same file names in two folders) or side-by-side images
// ([input | target] in one file). Images are decoded and resized once and kept in memory as
// float CHW in [-1, 1]; batches are cut with identical random augmentation on both sides, from a
// random stream derived from (seed, step) so any step's batch can be rebuilt exactly (resume).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FacestyleError, formatError, readError, shapeError, unreadableFile } from '../errors.js';
import { Tensor, mulberry32 } from '../graph/tensor.js';
import { isImageFileName } from '../image/io.js';
import * as is from '../is.js';

export interface Pair {
  name: string;
  /** [3,S,S] in [-1,1]. */
  input: Float32Array;
  target: Float32Array;
}

export interface PairDataset {
  size: number;
  pairs: Pair[];
  layout: 'folders' | 'side-by-side';
  /** Folder or files the pairs came from, for the model card. */
  source: string;
}

export const FOLDER_NAMES: [string, string][] = [['photo', 'toon'], ['input', 'target'], ['A', 'B'], ['trainA', 'trainB']];

async function listImages(dir: string): Promise<string[]> {
  try {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).filter((d) => isImageFileName(d.name));
    // A symbolic link counts when it leads to a file (a pairs folder assembled from links to other sets).
    const isImageFile = async (d: (typeof entries)[number]) =>
      d.isFile() || (d.isSymbolicLink() && (await fs.stat(path.join(dir, d.name)).then((s) => s.isFile(), () => false)));
    const keep = await Promise.all(entries.map(isImageFile));
    return entries.filter((_, i) => keep[i]).map((d) => d.name).sort();
  } catch (e) {
    throw readError(e, `Pairs folder '${dir}'`) ?? e;
  }
}

/** The message when the pairs exist but the options leave none to load (every pair held out). */
const allLeftOut = (dir: string, count: number) =>
  `Pairs folder '${dir}' has ${count} pair${count === 1 ? '' : 's'}, and the held-out names (--holdout) leave none to train on: hold out fewer`;

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isDirectory(), () => false);
}

/** A pair image sharp failed on: NOT_FOUND when it may not be read, else FORMAT naming it. */
async function imageError(file: string, e: unknown): Promise<FacestyleError> {
  return (await unreadableFile(file, `Image '${file}'`)) ?? formatError(`Unreadable image '${file}': ${(e as Error).message}`, e);
}

/** Decodes `file` (optionally a region of it) to [3,size,size] floats in [-1,1]; errors name the file. */
async function decode(file: string, size: number, region?: { left: number; top: number; width: number; height: number }): Promise<Float32Array> {
  let raw: Buffer;
  try {
    let img = sharp(file, { failOn: 'error' }).rotate().removeAlpha().toColourspace('srgb');
    if (region) img = sharp(await img.extract(region).toBuffer()).removeAlpha();
    raw = await img.resize(size, size, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  } catch (e) {
    throw await imageError(file, e);
  }
  const plane = size * size;
  if (raw.length !== plane * 3) throw formatError(`Unreadable image '${file}': expected RGB but decoded ${raw.length / plane} channels`);
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; ++c) for (let i = 0; i < plane; ++i) out[c * plane + i] = raw[i * 3 + c] / 127.5 - 1;
  return out;
}

async function dims(file: string): Promise<{ width: number; height: number }> {
  try {
    const m = await sharp(file).metadata();
    if (!m.width || !m.height) throw new Error('no dimensions');
    // As displayed: the decoder applies the EXIF orientation (.rotate()), and orientations 5-8 turn the
    // picture a quarter: a photo stored 96x64 with orientation 6 pairs with an upright 64x96 target.
    return (m.orientation ?? 1) >= 5 ? { width: m.height, height: m.width } : { width: m.width, height: m.height };
  } catch (e) {
    throw await imageError(file, e);
  }
}

export interface LoadPairsOptions {
  /** Square size every image is resized to (default 256). */
  size?: number;
  /** File names (without folder) to leave out, e.g. a validation split. */
  exclude?: readonly string[];
  /** Only these file names. */
  only?: readonly string[];
}

/** Loads a pairs folder: two sub-folders with the same file names, or side-by-side images. */
export async function loadPairs(dir: string, options: LoadPairsOptions = {}): Promise<PairDataset> {
  if (!is.string(dir)) throw is.invalid('pairs folder', 'a folder path', dir);
  // Every pair is held decoded at size x size: 4096 is already 400 MB a pair.
  const size = is.integerInRange('size', options.size ?? 256, 8, 4096);
  if (!(await exists(dir))) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Pairs folder not found: ${dir}`);
  const keep = (n: string) => !(options.exclude ?? []).includes(n) && (!options.only || options.only.includes(n));
  // Names given to leave out or keep (a validation split) must be files of the set: a typo would
  // otherwise train on the validation pair, or validate on nothing.
  const checkNamed = (available: readonly string[], where: string) => {
    const have = new Set(available);
    const unknown = [...(options.exclude ?? []), ...(options.only ?? [])].filter((n) => !have.has(n));
    if (unknown.length) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Pairs folder '${dir}' has no ${unknown.map((n) => `'${n}'`).join(', ')} in ${where} (names are file names of the set, e.g. '${available[0] ?? 'photo.jpg'}')`);
  };
  let lone: string | undefined;
  for (const [a, b] of FOLDER_NAMES) {
    const da = path.join(dir, a), db = path.join(dir, b);
    const [ea, eb] = [await exists(da), await exists(db)];
    if (ea !== eb) lone ??= `'${ea ? a : b}' but no '${ea ? b : a}' folder beside it`;
    if (!ea || !eb) continue;
    const fa = await listImages(da), fb = await listImages(db);
    const setB = new Set(fb), setA = new Set(fa);
    const missing = [...fa.filter((n) => !setB.has(n)).map((n) => path.join(da, n)), ...fb.filter((n) => !setA.has(n)).map((n) => path.join(db, n))];
    if (missing.length) throw formatError(`Pairs without a partner (same file name expected in '${a}' and '${b}'): ${missing.join(', ')}`);
    checkNamed(fa, `'${a}'`);
    const names = fa.filter(keep);
    if (!names.length) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', fa.length ? allLeftOut(dir, fa.length) : `Pairs folder '${dir}' has no image pairs in '${a}' and '${b}'`);
    const pairs: Pair[] = [];
    for (const name of names) {
      const [pa, pb] = [path.join(da, name), path.join(db, name)];
      const [ia, ib] = await Promise.all([dims(pa), dims(pb)]);
      if (ia.width !== ib.width || ia.height !== ib.height)
        throw shapeError(`Pair '${name}': '${pa}' is ${ia.width}x${ia.height} but '${pb}' is ${ib.width}x${ib.height}`);
      pairs.push({ name, input: await decode(pa, size), target: await decode(pb, size) });
    }
    return { size, pairs, layout: 'folders', source: dir };
  }
  // Side-by-side: every image is [input | target], twice as wide as high.
  const listed = await listImages(dir);
  // A folder of one side without its partner, and no side-by-side images either: name what is missing.
  if (!listed.length && lone) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Pairs folder '${dir}' has ${lone} (paired images with the same file names in both)`);
  if (listed.length) checkNamed(listed, 'it');
  const files = listed.filter(keep);
  if (!files.length && listed.length) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', allLeftOut(dir, listed.length));
  if (!files.length) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Pairs folder '${dir}' is empty: expected sub-folders ${FOLDER_NAMES.map((p) => p.join('/')).join(', ')} or side-by-side images`);
  const pairs: Pair[] = [];
  for (const name of files) {
    const file = path.join(dir, name);
    const { width, height } = await dims(file);
    if (width !== 2 * height) throw shapeError(`Side-by-side image '${file}' is ${width}x${height}; expected width = 2 x height ([input | target])`);
    pairs.push({
      name,
      input: await decode(file, size, { left: 0, top: 0, width: height, height }),
      target: await decode(file, size, { left: height, top: 0, width: height, height }),
    });
  }
  return { size, pairs, layout: 'side-by-side', source: dir };
}

export interface AugmentOptions {
  /** Square crop fed to the network (default: the dataset size). */
  crop?: number;
  /** Horizontal flip probability (default 0.5). */
  flip?: number;
  /** Random resized crop: the crop side is a fraction in [minScale, 1] of the image side (default 0.6). */
  minScale?: number;
  /** Largest rotation in degrees (default 0). */
  rotate?: number;
  /** Brightness/contrast jitter amplitude (default 0), applied identically to both sides. */
  jitter?: number;
  /**
   * Saturation jitter amplitude (default 0), the same on both sides: every pixel moves away from (or
   * towards) its grey level, Rec. 601 luma, by one factor per sample drawn from [1 - s, 1 + s].
   */
  saturation?: number;
  /**
   * CutMix probability (default 0): a sample gets a random rectangle (20-50% of its area) cut from
   * another augmented pair, on both sides alike. On aligned faces the pasted part lies where that part
   * of a face is, so each composite is one more plausible pair.
   */
  cutmix?: number;
}

/** Bilinear sample of a [3,S,S] image at (x, y) (pixel centres at integers), edge clamped. */
function sample(img: Float32Array, s: number, c: number, x: number, y: number): number {
  x = Math.min(Math.max(x, 0), s - 1);
  y = Math.min(Math.max(y, 0), s - 1);
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const x1 = Math.min(x0 + 1, s - 1), y1 = Math.min(y0 + 1, s - 1);
  const fx = x - x0, fy = y - y0;
  const p = img.subarray(c * s * s, (c + 1) * s * s);
  return (1 - fy) * ((1 - fx) * p[y0 * s + x0] + fx * p[y0 * s + x1]) + fy * ((1 - fx) * p[y1 * s + x0] + fx * p[y1 * s + x1]);
}

/** A rectangle of output pixels: columns [x0, x0 + w), rows [y0, y0 + h). */
interface Rect {
  x0: number;
  y0: number;
  w: number;
  h: number;
}

/**
 * Cuts one augmented sample into out[offset..] for input and target with the SAME geometry and
 * colour change: flip, random resized crop, rotation, brightness/contrast, saturation. With `rect` only those
 * output pixels are written (the same values as in the whole sample: the random draws come first).
 */
function augmentInto(pair: Pair, s: number, rng: () => number, o: Required<AugmentOptions>, outIn: Float32Array, outTg: Float32Array, offset: number,
                     rect: Rect = { x0: 0, y0: 0, w: o.crop, h: o.crop }): void {
  const crop = o.crop;
  const side = s * (o.minScale + (1 - o.minScale) * rng());
  const x0 = (s - side) * rng(), y0 = (s - side) * rng();
  const flip = rng() < o.flip;
  const angle = ((2 * rng() - 1) * o.rotate * Math.PI) / 180;
  const gain = 1 + o.jitter * (2 * rng() - 1), bias = o.jitter * (2 * rng() - 1);
  // Drawn only when asked for, after the others: runs without it keep their random streams.
  const sat = o.saturation > 0 ? 1 + o.saturation * (2 * rng() - 1) : 1;
  const cos = Math.cos(angle), sin = Math.sin(angle);
  const step = side / crop;
  const cx = x0 + side / 2, cy = y0 + side / 2;
  for (let y = rect.y0; y < rect.y0 + rect.h; ++y)
    for (let x = rect.x0; x < rect.x0 + rect.w; ++x) {
      const u = ((flip ? crop - 1 - x : x) + 0.5) * step - side / 2;
      const v = (y + 0.5) * step - side / 2;
      const sx = cx + cos * u - sin * v - 0.5, sy = cy + sin * u + cos * v - 0.5;
      if (sat === 1) {
        for (let c = 0; c < 3; ++c) {
          const i = offset + (c * crop + y) * crop + x;
          outIn[i] = Math.max(-1, Math.min(1, sample(pair.input, s, c, sx, sy) * gain + bias));
          outTg[i] = Math.max(-1, Math.min(1, sample(pair.target, s, c, sx, sy) * gain + bias));
        }
      } else {
        saturated(pair.input, s, sx, sy, gain, bias, sat, outIn, offset + y * crop + x, crop * crop);
        saturated(pair.target, s, sx, sy, gain, bias, sat, outTg, offset + y * crop + x, crop * crop);
      }
    }
}

/** One pixel of `img` at (sx, sy) with gain and bias, moved from its luma by the factor `sat`, clamped, written at out[at + c * plane]. */
function saturated(img: Float32Array, s: number, sx: number, sy: number, gain: number, bias: number, sat: number, out: Float32Array, at: number, plane: number): void {
  const r = sample(img, s, 0, sx, sy) * gain + bias, g = sample(img, s, 1, sx, sy) * gain + bias, b = sample(img, s, 2, sx, sy) * gain + bias;
  const luma = 0.299 * r + 0.587 * g + 0.114 * b;
  out[at] = Math.max(-1, Math.min(1, luma + sat * (r - luma)));
  out[at + plane] = Math.max(-1, Math.min(1, luma + sat * (g - luma)));
  out[at + 2 * plane] = Math.max(-1, Math.min(1, luma + sat * (b - luma)));
}

/**
 * CutMix for sample `idx` (pair `own`), with probability o.cutmix: another pair, augmented on its own,
 * gives a rectangle of 20-50% of the crop's area (aspect 1:2 to 2:1) at a random place, written into
 * both the input and the target at out[offset..]. Its own random stream, so samples without it are
 * unchanged.
 */
function cutMixInto(ds: PairDataset, idx: number, seed: number, o: Required<AugmentOptions>, outIn: Float32Array, outTg: Float32Array, offset: number, own: number): void {
  const rng = mulberry32(mixSeed(seed, 3, idx));
  if (!(rng() < o.cutmix)) return;
  const n = ds.pairs.length;
  const other = (own + 1 + Math.floor(rng() * (n - 1))) % n;
  const crop = o.crop;
  const area = (0.2 + 0.3 * rng()) * crop * crop, aspect = Math.exp((2 * rng() - 1) * Math.LN2);
  const w = Math.max(1, Math.min(crop, Math.round(Math.sqrt(area * aspect)))), h = Math.max(1, Math.min(crop, Math.round(Math.sqrt(area / aspect))));
  const x0 = Math.floor(rng() * (crop - w + 1)), y0 = Math.floor(rng() * (crop - h + 1));
  augmentInto(ds.pairs[other], ds.size, mulberry32(mixSeed(seed, 4, idx)), o, outIn, outTg, offset, { x0, y0, w, h });
}

export interface Batch {
  step: number;
  input: Tensor;
  target: Tensor;
}

/** Deterministic seed mixing (splitmix-like) so streams for (seed, a, b) are independent. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h ^= (p >>> 0) + 0x7f4a7c15 + ((h << 6) >>> 0) + (h >>> 2);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  }
  return (h ^ (h >>> 16)) >>> 0;
}

/** Augmentation options with their defaults, checked (ERR_FACESTYLE_ARGUMENT naming the option); crop defaults to `size`. */
export function augmentOptions(aug: AugmentOptions, size: number): Required<AugmentOptions> {
  return {
    crop: aug.crop === undefined ? size : is.positiveInteger('crop', aug.crop),
    flip: is.numberInRange('flip', aug.flip ?? 0.5, 0, 1),
    minScale: is.numberInRange('minScale', aug.minScale ?? 0.6, 0.01, 1),
    rotate: is.numberInRange('rotate', aug.rotate ?? 0, 0, 180),
    jitter: is.numberInRange('jitter', aug.jitter ?? 0, 0, 1),
    saturation: is.numberInRange('saturation', aug.saturation ?? 0, 0, 1),
    cutmix: is.numberInRange('cutmix', aug.cutmix ?? 0, 0, 1),
  };
}

/** The batch of training step `step` (0-based): a pure function of (dataset, seed, step). */
export function makeBatch(ds: PairDataset, batch: number, seed: number, step: number, aug: AugmentOptions = {}): Batch {
  const o = augmentOptions(aug, ds.size);
  const n = ds.pairs.length;
  const per = 3 * o.crop * o.crop;
  const input = new Float32Array(batch * per), target = new Float32Array(batch * per);
  const perms = new Map<number, number[]>();
  for (let k = 0; k < batch; ++k) {
    const idx = step * batch + k;
    const epoch = Math.floor(idx / n);
    if (!perms.has(epoch)) {
      const r = mulberry32(mixSeed(seed, 1, epoch));
      const p = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; --i) {
        const j = Math.floor(r() * (i + 1));
        [p[i], p[j]] = [p[j], p[i]];
      }
      perms.set(epoch, p);
    }
    const own = perms.get(epoch)![idx % n];
    augmentInto(ds.pairs[own], ds.size, mulberry32(mixSeed(seed, 2, idx)), o, input, target, k * per);
    if (o.cutmix > 0 && n > 1) cutMixInto(ds, idx, seed, o, input, target, k * per, own);
  }
  return { step, input: new Tensor([batch, 3, o.crop, o.crop], input), target: new Tensor([batch, 3, o.crop, o.crop], target) };
}

/**
 * A bounded queue of upcoming batches: while the native step runs off the event loop, the next
 * `depth` batches are cut here, one per macrotask so the loop stays responsive.
 */
export class BatchQueue {
  private readonly ready = new Map<number, Promise<Batch>>();
  constructor(private readonly make: (step: number) => Batch, private readonly depth = 2) {}

  private schedule(step: number): void {
    if (this.ready.has(step)) return;
    this.ready.set(step, new Promise((resolve, reject) => setImmediate(() => {
      try {
        resolve(this.make(step));
      } catch (e) {
        reject(e);
      }
    })));
  }

  /** The batch of `step`; schedules the following ones. */
  async take(step: number): Promise<Batch> {
    for (let s = step; s < step + 1 + this.depth; ++s) this.schedule(s);
    const b = await this.ready.get(step)!;
    this.ready.delete(step);
    for (const k of [...this.ready.keys()]) if (k < step) this.ready.delete(k);
    return b;
  }

  get pending(): number {
    return this.ready.size;
  }
}
