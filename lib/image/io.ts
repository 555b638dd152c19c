// Image <-> tensor on sharp: the first and last step of the one path of data.
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { FacestyleError, asOutOfMemory, formatError, shapeError, unreadableFile } from '../errors.js';
import { isDirectory, writeFileWhole } from '../files.js';
import { MAX_TENSOR_ELEMENTS, Tensor } from '../graph/tensor.js';
import * as is from '../is.js';

export type ImageInput = string | Buffer | Uint8Array;

export interface ImageToTensorOptions {
  /** Resize to width x height (a number means square). Omitted: keep the image's size. */
  size?: number | [number, number];
  /** How to fit when resizing: 'fill' (stretch, default), 'cover' (crop) or 'contain' (letterbox). */
  fit?: 'fill' | 'cover' | 'contain';
  /** Channel order (default 'rgb'). */
  channels?: 'rgb' | 'bgr';
  /** Value range the 0..255 pixels map to: [low, high], or 'unit' ([0, 1], the default) or 'signed' ([-1, 1], a generator's range, as in alignFaces / pasteFaces). */
  range?: PixelRange;
  /** Refuse images with more pixels than this (default 268402689, sharp's default; false: no limit). */
  limitInputPixels?: number | false;
}

export const DEFAULT_PIXEL_LIMIT = 0x3fff * 0x3fff;

/** Values the 0..255 pixels map to: [low, high], 'unit' = [0, 1] or 'signed' = [-1, 1]. */
export type PixelRange = [number, number] | 'unit' | 'signed';

/** `range` as [low, high] (default [0, 1]); checked by checkPixelOptions first. */
const rangePair = (range: PixelRange | undefined): [number, number] => (range === undefined || range === 'unit' ? [0, 1] : range === 'signed' ? [-1, 1] : range);

/** The options readImageRgb takes (imageToTensor and toRgbImage hand it only these). */
export const READ_IMAGE_OPTION_KEYS = is.optionKeys<Pick<ImageToTensorOptions, 'limitInputPixels'>>()(['limitInputPixels']);
/** The options rgbToTensor takes. */
const RGB_TO_TENSOR_OPTION_KEYS = is.optionKeys<Pick<ImageToTensorOptions, 'channels' | 'range'>>()(['channels', 'range']);

/** Raw RGB pixels of an image (EXIF orientation applied, alpha flattened on black, grey expanded). */
export async function readImageRgb(input: ImageInput, options: { limitInputPixels?: number | false } = {}): Promise<{ data: Buffer; width: number; height: number }> {
  if (!(typeof input === 'string' && input.length > 0) && !(input instanceof Uint8Array)) throw is.invalid('image', 'file path or Buffer', input);
  is.knownOptions('readImageRgb', options, READ_IMAGE_OPTION_KEYS);
  // sharp's pixel limit: a whole number of pixels (0, like false, turns it off).
  if (options.limitInputPixels !== undefined && options.limitInputPixels !== false) is.integerInRange('limitInputPixels', options.limitInputPixels, 0, Number.MAX_SAFE_INTEGER);
  const limit = options.limitInputPixels ?? DEFAULT_PIXEL_LIMIT;
  try {
    const { data, info } = await sharp(input, { limitInputPixels: limit === false ? false : limit, failOn: 'error' })
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw formatError(`Expected 3 colour channels after conversion but received ${info.channels}`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof FacestyleError) throw e;
    // libvips repeats its decoder's complaints, one line each time it tried ('VipsJpeg: premature end of
    // JPEG image' five times for one truncated file): each distinct line once, on one line.
    const lines: string[] = [];
    for (const l of String((e as Error).message ?? e).split(/\r?\n/).map((x) => x.trim()))
      if (l && !lines.some((k) => k.endsWith(l))) lines.push(l);
    const msg = lines.join('; ');
    if (/out of memory|bad_alloc/i.test(msg)) throw new FacestyleError('ERR_FACESTYLE_OUT_OF_MEMORY', `Out of memory decoding the image${typeof input === 'string' ? ` '${input}'` : ''}: ${msg}`, { cause: e });
    if (/pixel limit/i.test(msg)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Image${typeof input === 'string' ? ` '${input}'` : ''} exceeds the pixel limit of ${limit} (the limitInputPixels option, --limit-input-pixels on the command line, raises it): ${msg}`);
    // A missing file is told by the file system, not by the message: libvips's 'missing SOS marker' is a
    // corrupt JPEG that exists.
    const unreadable = typeof input === 'string' ? await unreadableFile(input, `Image file '${input}'`) : null;
    if (unreadable) throw unreadable;
    if (typeof input === 'string' && isDirectory(input))
      throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Image file '${input}' is a folder: name an image file`);
    throw formatError(`Could not decode image${typeof input === 'string' ? ` '${input}'` : ''}: ${msg}`, e);
  }
}

/** channels: 'rgb' | 'bgr'; range: 'unit', 'signed' or two different finite numbers (ERR_FACESTYLE_ARGUMENT otherwise). */
function checkPixelOptions(options: { channels?: unknown; range?: unknown }): void {
  if (options.channels !== undefined) is.oneOf('channels', options.channels, ['rgb', 'bgr'] as const);
  const r = options.range;
  if (r !== undefined && r !== 'unit' && r !== 'signed' && !(Array.isArray(r) && r.length === 2 && is.number(r[0]) && is.number(r[1]) && r[0] !== r[1]))
    throw is.invalid('range', "'unit', 'signed' or [low, high]: two different finite numbers", r);
}

/** Interleaved RGB bytes (HWC) -> Float32 NCHW [1,3,H,W] tensor in `range`, RGB or BGR. */
export function rgbToTensor(data: Uint8Array, width: number, height: number, options: { channels?: 'rgb' | 'bgr'; range?: PixelRange } = {}): Tensor {
  if (!(data instanceof Uint8Array)) throw is.invalid('data', 'a Uint8Array of interleaved RGB bytes', data);
  is.integerInRange('width', width, 0, Number.MAX_SAFE_INTEGER);
  is.integerInRange('height', height, 0, Number.MAX_SAFE_INTEGER);
  is.knownOptions('rgbToTensor', options, RGB_TO_TENSOR_OPTION_KEYS);
  checkPixelOptions(options);
  const [lo, hi] = rangePair(options.range);
  const scale = (hi - lo) / 255;
  const plane = width * height;
  if (data.length !== plane * 3) throw shapeError(`Expected ${plane * 3} bytes for ${width}x${height} RGB but received ${data.length}`);
  const out = new Float32Array(plane * 3);
  const order = options.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let c = 0; c < 3; ++c) {
    const src = order[c];
    const base = c * plane;
    for (let i = 0; i < plane; ++i) out[base + i] = data[i * 3 + src] * scale + lo;
  }
  return new Tensor([1, 3, height, width], out);
}

/** Image file or Buffer -> Float32 NCHW [1,3,H,W] tensor. */
export async function imageToTensor(input: ImageInput, options: ImageToTensorOptions = {}): Promise<Tensor> {
  is.knownOptions('imageToTensor', options, IMAGE_TO_TENSOR_OPTION_KEYS);
  checkPixelOptions(options);
  if (options.fit !== undefined) is.oneOf('fit', options.fit, ['fill', 'cover', 'contain'] as const);
  const size = options.size === undefined ? undefined : typeof options.size === 'number' ? [options.size, options.size] : options.size;
  if (size !== undefined) {
    if (!Array.isArray(size) || size.length !== 2) throw is.invalid('size', 'a number or [width, height]', options.size);
    is.positiveInteger('size width', size[0]);
    is.positiveInteger('size height', size[1]);
    if (size[0] * size[1] * 3 > MAX_TENSOR_ELEMENTS) throw shapeError(`size ${size[0]}x${size[1]} is too large: 3 x width x height must be at most ${MAX_TENSOR_ELEMENTS}`);
  }
  try {
    let { data, width, height } = await readImageRgb(input, is.pickOptions(options, READ_IMAGE_OPTION_KEYS));
    if (size !== undefined) {
      const [w, h] = size;
      data = await sharpFromPixels(data, width, height)
        .resize(w, h, { fit: options.fit ?? 'fill', background: { r: 0, g: 0, b: 0 } })
        .raw()
        .toBuffer();
      width = w;
      height = h;
    }
    return rgbToTensor(data, width, height, is.pickOptions(options, RGB_TO_TENSOR_OPTION_KEYS));
  } catch (e) {
    throw asOutOfMemory(e, `making a tensor of ${typeof input === 'string' ? `'${input}'` : 'the image'}`);
  }
}

/** How tensorToRgb / saveTensorImage write pixels: channel order, value range, which image of a batch. */
export interface TensorPixelOptions {
  channels?: 'rgb' | 'bgr';
  range?: PixelRange;
  index?: number;
}
const TENSOR_PIXEL_OPTION_KEYS = is.optionKeys<TensorPixelOptions>()(['channels', 'range', 'index']);
const IMAGE_TO_TENSOR_OPTION_KEYS = is.optionKeys<ImageToTensorOptions>()(['size', 'fit', 'channels', 'range', 'limitInputPixels']);

/** Float32 NCHW tensor (one image: [1,3,H,W] or [3,H,W]) -> interleaved RGB bytes. */
export function tensorToRgb(tensor: Tensor, options: TensorPixelOptions = {}): { data: Buffer; width: number; height: number } {
  if (!(tensor instanceof Tensor)) throw is.invalid('tensor', 'a Tensor', tensor);
  is.knownOptions('tensorToRgb', options, TENSOR_PIXEL_OPTION_KEYS);
  checkPixelOptions(options);
  if (options.index !== undefined) is.integerInRange('index', options.index, 0, Number.MAX_SAFE_INTEGER);
  const shape = tensor.shape.length === 3 ? [1, ...tensor.shape] : tensor.shape;
  if (shape.length !== 4 || shape[1] !== 3) throw shapeError(`Expected a [N,3,H,W] tensor but received [${tensor.shape.join(',')}]`);
  const [, , height, width] = shape;
  if (width < 1 || height < 1) throw shapeError(`Expected an image of at least 1x1 pixels but the tensor is [${tensor.shape.join(',')}]`);
  const index = options.index ?? 0;
  if (index < 0 || index >= shape[0]) throw shapeError(`Image index ${index} is out of range for batch ${shape[0]}`);
  const [lo, hi] = rangePair(options.range);
  const scale = 255 / (hi - lo);
  const plane = width * height;
  const base = index * 3 * plane;
  const order = options.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const out = Buffer.alloc(plane * 3);
  for (let c = 0; c < 3; ++c) {
    const src = base + order[c] * plane;
    for (let i = 0; i < plane; ++i) {
      const v = (tensor.data[src + i] - lo) * scale;
      if (Number.isNaN(v))
        throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `The tensor holds NaN at image ${index}, channel ${order[c]}, pixel (${i % width}, ${Math.floor(i / width)}): no colour to write`);
      out[i * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return { data: out, width, height };
}

/** Tensor -> encoded image. Format from `format`, or from the file extension when writing. */
export async function tensorToImage(tensor: Tensor, options: TensorPixelOptions & { format?: ImageFormat | 'jpg' } = {}): Promise<Buffer> {
  is.knownOptions('tensorToImage', options, [...TENSOR_PIXEL_OPTION_KEYS, 'format']);
  const { data, width, height } = tensorToRgb(tensor, is.pickOptions(options, TENSOR_PIXEL_OPTION_KEYS));
  const format = encodedFormat(options.format ?? 'png');
  return sharpFromPixels(data, width, height).toFormat(format).toBuffer();
}

/**
 * sharp on raw pixels this process already holds (interleaved, 3 or 4 channels). sharp's input pixel
 * limit guards against decompression bombs in files; raw pixels are in memory already, so it is off
 * here (with it, a large image the caller read with a raised limit could not be written).
 */
export function sharpFromPixels(data: Uint8Array, width: number, height: number, channels: 3 | 4 = 3): Sharp {
  return sharp(data, { raw: { width, height, channels }, limitInputPixels: false });
}

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif' | 'gif';

/** The formats tensorToImage and lib/face's encodeRgbImage encode to ('jpg' is taken for 'jpeg'). */
const ENCODED_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp', 'tiff', 'avif', 'gif'];

/** An output format as the encoders take it: one of ENCODED_FORMATS, 'jpg' read as 'jpeg' (ERR_FACESTYLE_ARGUMENT otherwise). */
export function encodedFormat(format: ImageFormat | 'jpg'): ImageFormat {
  return format === 'jpg' ? 'jpeg' : is.oneOf('format', format, ENCODED_FORMATS);
}

/** Image formats the package writes (saveTensorImage, lib/face's writeRgbImage), by file extension (lower case). */
export const IMAGE_FORMATS: Readonly<Record<string, ImageFormat>> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.tif': 'tiff', '.tiff': 'tiff', '.avif': 'avif', '.gif': 'gif' };

/**
 * Whether a file name is that of an image the package reads: the extension of a format above (sharp
 * decodes them; not .bmp, which it cannot) and not a hidden file (macOS's '._photo.jpg' companions, this
 * package's own '.name.partial-...' temp files). What folders of photos, frames and training pairs are listed by.
 */
export function isImageFileName(name: string): boolean {
  const base = path.basename(name);
  return !base.startsWith('.') && Object.hasOwn(IMAGE_FORMATS, path.extname(base).toLowerCase());
}

/** The extensions isImageFileName accepts, for messages ('.png .jpg ...'). */
export const IMAGE_EXTENSIONS_TEXT = Object.keys(IMAGE_FORMATS).join(' ');

/**
 * Writes a tensor as an image file; the format follows the extension (.png, .jpg, .jpeg, .webp, .tif,
 * .tiff, .avif, .gif; another is ERR_FACESTYLE_ARGUMENT). The folder must exist (ERR_FACESTYLE_NOT_FOUND
 * naming it). The image is encoded into a hidden temp file beside `file` and renamed over it when complete,
 * so a failed or interrupted write never leaves a partial image under the output name (an existing file
 * stays as it was); a failed write removes the temp file.
 */
export async function saveTensorImage(tensor: Tensor, file: string, options: TensorPixelOptions = {}): Promise<void> {
  if (!is.string(file)) throw is.invalid('image file', 'a file path', file);
  const format = IMAGE_FORMATS[path.extname(file).toLowerCase()];
  if (!format) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot tell the image format from '${file}': use one of ${Object.keys(IMAGE_FORMATS).join(', ')}`);
  if (!(tensor instanceof Tensor)) throw is.invalid('tensor', 'a Tensor', tensor);
  is.knownOptions('saveTensorImage', options, TENSOR_PIXEL_OPTION_KEYS);
  const { data, width, height } = tensorToRgb(tensor, options);
  await writeFileWhole(file, () => sharpFromPixels(data, width, height).toFormat(format).toBuffer());
}
