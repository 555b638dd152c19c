// Face-pipeline image helpers: decode to RgbImage (EXIF orientation applied, alpha flattened,
// grey expanded, pixel limit enforced) and encode with the format taken from the file extension.
import path from 'node:path';
import sharp from 'sharp';
import { FacestyleError, argumentError } from '../errors.js';
import { writeFileWhole } from '../files.js';
import { IMAGE_FORMATS, type ImageFormat, type ImageInput, READ_IMAGE_OPTION_KEYS, encodedFormat, readImageRgb, sharpFromPixels } from '../image/io.js';
import * as is from '../is.js';
import type { RgbImage } from './types.js';

export const isRgbImage = (v: unknown): v is RgbImage =>
  is.object(v) && v.data instanceof Uint8Array && is.integer(v.width) && is.integer(v.height);

/** What an image-like object holds, for errors: "{ data: Uint16Array(300), width: 10, height: 10 }"; else is.describe. */
function describeImage(v: unknown): string {
  if (!is.object(v) || !('data' in v || 'width' in v || 'height' in v)) return is.describe(v);
  return `{ data: ${is.describe(v.data)}, width: ${is.describe(v.width)}, height: ${is.describe(v.height)} }`;
}

/** The longest image side the native image passes take. */
const MAX_SIDE = 1 << 20;

/** Checks an RgbImage's geometry (a wrong byte count would read out of bounds later). */
export function checkRgbImage(image: RgbImage, what = 'image'): RgbImage {
  if (!isRgbImage(image) || image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3)
    throw argumentError(`Expected an RgbImage { data: Uint8Array of width*height*3 bytes, width, height } for ${what} but received ${describeImage(image)}`);
  // The native passes take sides up to 2^20 (a 1048577 x 2 strip was refused there as "width ... 1048577.000000").
  if (image.width > MAX_SIDE || image.height > MAX_SIDE)
    throw argumentError(`The ${what} is ${image.width}x${image.height}: each side must be at most ${MAX_SIDE} pixels`);
  // Transparency, when given, is one byte per pixel (it was accepted at any length and silently dropped).
  if (image.alpha !== undefined && !(image.alpha instanceof Uint8Array && image.alpha.length === image.width * image.height))
    throw is.invalid(`${what}.alpha`, 'a Uint8Array of width*height bytes', image.alpha);
  return image;
}

/** A limitInputPixels option as a pixel count, 0 for no limit (undefined, false or 0); checked. */
export function pixelLimit(option: number | false | undefined): number {
  return option === undefined || option === false ? 0 : is.integerInRange('limitInputPixels', option, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * An RgbImage held to a pixel limit (0: none), as the decoder holds a file: ERR_FACESTYLE_ARGUMENT naming
 * its size. For images given already decoded (frames, RgbImages), which no decoder saw.
 */
export function checkPixelLimit(image: RgbImage, limit: number, what = 'image'): void {
  if (limit > 0 && image.width * image.height > limit)
    throw argumentError(`The ${what} is ${image.width}x${image.height} = ${image.width * image.height} pixels, more than limitInputPixels (${limit})`);
}

/** What toRgbImage takes: readImageRgb's pixel limit, and whether to keep transparency. */
export interface ToRgbImageOptions {
  /** Refuse images with more pixels than this (default sharp's 268402689; false or 0: no limit). */
  limitInputPixels?: number | false;
  /** Also return the input's transparency as `alpha` (default false). */
  keepAlpha?: boolean;
}
const TO_RGB_IMAGE_OPTION_KEYS = is.optionKeys<ToRgbImageOptions>()(['limitInputPixels', 'keepAlpha']);

/**
 * A path, encoded buffer or RgbImage -> RgbImage (EXIF orientation applied, grey expanded, alpha
 * flattened onto black). With `keepAlpha` an input with transparency also yields `alpha`.
 */
export async function toRgbImage(input: ImageInput | RgbImage, options: ToRgbImageOptions = {}): Promise<RgbImage> {
  is.knownOptions('toRgbImage', options, TO_RGB_IMAGE_OPTION_KEYS);
  if (options.keepAlpha !== undefined) is.trueOrFalse('keepAlpha', options.keepAlpha);
  // An object with image fields is an RgbImage gone wrong: checkRgbImage says which field.
  if (isRgbImage(input) || (is.object(input) && !(input instanceof Uint8Array) && 'data' in input)) return checkRgbImage(input as RgbImage);
  // Here an RgbImage is accepted too (readImageRgb's own message names only paths and buffers).
  if (!(typeof input === 'string' && input.length > 0) && !(input instanceof Uint8Array)) throw is.invalid('image', 'a file path, an encoded image Buffer or an RgbImage {data, width, height}', input);
  const { data, width, height } = await readImageRgb(input, is.pickOptions(options, READ_IMAGE_OPTION_KEYS));
  const image: RgbImage = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
  if (options.keepAlpha) {
    // The decode above succeeded, so these do too; most images have no alpha.
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    if (meta.hasAlpha) {
      const alpha = await sharp(input, { limitInputPixels: false }).rotate().ensureAlpha().extractChannel(3).raw().toBuffer();
      if (alpha.length === width * height) {
        image.alpha = new Uint8Array(alpha.buffer, alpha.byteOffset, alpha.length);
        // The colours as stored, before the flattening (readImageRgb's pipeline without it).
        const straight = await sharp(input, { limitInputPixels: false }).rotate().toColourspace('srgb').removeAlpha().raw().toBuffer();
        if (straight.length === image.data.length) decodedColours.set(image.alpha, { straight, flat: Uint8Array.from(image.data) });
      }
    }
  }
  return image;
}

/** Frames of an encoded image (an animated GIF or WebP has several; the decoders read the first); 1 for an RgbImage. */
export async function imagePages(input: ImageInput | RgbImage): Promise<number> {
  if (!(typeof input === 'string' || input instanceof Uint8Array) || isRgbImage(input)) return 1;
  return (await sharp(input, { limitInputPixels: false }).metadata()).pages ?? 1;
}

/**
 * For images decoded with keepAlpha, keyed by their alpha array (which withPixels and the pipeline carry
 * from input to output unchanged): the colours as the file stored them and the flattened ones the
 * RgbImage started with. Writing such an image gives every pixel still holding its flattened colour the
 * stored one back: flattening onto black and dividing back by the opacity keeps little of a nearly
 * transparent pixel (at alpha 2, only 0, 127 or 255 per channel), so "unchanged" would not have been.
 */
const decodedColours = new WeakMap<Uint8Array, { straight: Uint8Array; flat: Uint8Array }>();

export type OutputFormat = ImageFormat;

/** Formats that store transparency. */
const WITH_ALPHA = new Set<OutputFormat>(['png', 'webp', 'tiff', 'avif', 'gif']);

/** The output format for a file name, or a coded error naming the supported extensions. */
export function formatFromPath(file: string): OutputFormat {
  const f = IMAGE_FORMATS[path.extname(file).toLowerCase()];
  if (!f) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot tell the output format from '${file}': use one of ${Object.keys(IMAGE_FORMATS).join(', ')}`);
  return f;
}

export interface WriteOptions {
  /** JPEG / WebP / AVIF / TIFF quality 1..100 (default 90: stylized edges survive, files stay small). */
  quality?: number;
}

const sharpRaw = (image: RgbImage) => sharpFromPixels(image.data, image.width, image.height);

/**
 * Interleaved RGBA of an image with `alpha`: the flattened-onto-black colours divided back by
 * their opacity, so semi-transparent edges do not come out darkened; pixels of a decoded image that
 * nothing changed get their stored colours back (decodedColours).
 */
function unflatten(image: RgbImage & { alpha: Uint8Array }): Buffer {
  const n = image.width * image.height;
  const out = Buffer.alloc(n * 4);
  const kept = decodedColours.get(image.alpha);
  const d = image.data;
  for (let i = 0; i < n; ++i) {
    const a = image.alpha[i];
    const j = i * 3;
    const same = kept !== undefined && d[j] === kept.flat[j] && d[j + 1] === kept.flat[j + 1] && d[j + 2] === kept.flat[j + 2];
    for (let c = 0; c < 3; ++c) out[i * 4 + c] = same ? kept.straight[j + c] : a === 0 ? 0 : Math.min(255, Math.round((d[j + c] * 255) / a));
    out[i * 4 + 3] = a;
  }
  return out;
}

/**
 * The sharp pipeline encoding `image` as `format`, after checking all three: an RgbImage whose data fills
 * width x height (sharp read a short buffer past its end or failed uncoded, and wrote a long one's first
 * bytes silently), a format the package writes ('jpg' taken for 'jpeg'), known options.
 */
function encoder(image: RgbImage, format: OutputFormat | 'jpg', options: WriteOptions) {
  checkRgbImage(image);
  format = encodedFormat(format);
  is.knownOptions('writeRgbImage / encodeRgbImage', options, is.optionKeys<WriteOptions>()(['quality']));
  const quality = is.integerInRange('quality', options.quality ?? 90, 1, 100);
  const s =
    image.alpha && image.alpha.length === image.width * image.height && WITH_ALPHA.has(format)
      ? sharpFromPixels(unflatten(image as RgbImage & { alpha: Uint8Array }), image.width, image.height, 4)
      : sharpRaw(image);
  return format === 'png' || format === 'gif' ? s.toFormat(format) : s.toFormat(format, { quality });
}

/**
 * Writes an RgbImage (with its transparency where the format has it); the format follows the extension.
 * The image is encoded in memory, written into a hidden temp file beside `file` and renamed over it, so a
 * failed or interrupted write never leaves a partial image under the output name (an existing file stays as it was).
 */
export async function writeRgbImage(image: RgbImage, file: string, options: WriteOptions = {}): Promise<void> {
  checkRgbImage(image);
  if (!is.string(file)) throw is.invalid('image file', 'a file path', file);
  const e = encoder(image, formatFromPath(file), options);
  await writeFileWhole(file, () => e.toBuffer());
}

/** Encodes an RgbImage to a buffer: 'png' (default), 'jpeg' (or 'jpg'), 'webp', 'tiff', 'avif' or 'gif'; another is ERR_FACESTYLE_ARGUMENT. */
export async function encodeRgbImage(image: RgbImage, format: OutputFormat | 'jpg' = 'png', options: WriteOptions = {}): Promise<Buffer> {
  const e = encoder(image, format, options);
  try {
    return await e.toBuffer();
  } catch (err) {
    // sharp's own error ("Processed image is too large for the WebP format") reached the caller uncoded.
    throw new FacestyleError('ERR_FACESTYLE_FORMAT', `Could not encode a ${image.width}x${image.height} image as ${format}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

/** Resizes an RgbImage (bilinear-quality resampling by sharp). */
export async function resizeRgbImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  const data = await sharpRaw(image).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}
