// Face-pipeline image helpers: decode to RgbImage (EXIF orientation applied, alpha flattened,
// grey expanded, pixel limit enforced) and encode with the format taken from the file extension.
import path from 'node:path';
import sharp from 'sharp';
import { FacestyleError, formatError } from '../errors.js';
import { type ImageInput, readImageRgb } from '../image/io.js';
import * as is from '../is.js';
import type { RgbImage } from './types.js';

export const isRgbImage = (v: unknown): v is RgbImage =>
  is.object(v) && v.data instanceof Uint8Array && is.integer(v.width) && is.integer(v.height);

/** Checks an RgbImage's geometry (a wrong byte count would read out of bounds later). */
export function checkRgbImage(image: RgbImage, what = 'image'): RgbImage {
  if (!isRgbImage(image) || image.width < 1 || image.height < 1 || image.data.length !== image.width * image.height * 3)
    throw is.invalid(what, 'RgbImage with width*height*3 bytes', image);
  return image;
}

/** A path, encoded buffer or RgbImage -> RgbImage. */
export async function toRgbImage(input: ImageInput | RgbImage, options: { limitInputPixels?: number | false } = {}): Promise<RgbImage> {
  if (isRgbImage(input)) return checkRgbImage(input);
  const { data, width, height } = await readImageRgb(input, options);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}

export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif';

const FORMATS: Record<string, OutputFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.tif': 'tiff', '.tiff': 'tiff', '.avif': 'avif' };

/** The output format for a file name, or a coded error naming the supported extensions. */
export function formatFromPath(file: string): OutputFormat {
  const f = FORMATS[path.extname(file).toLowerCase()];
  if (!f) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot tell the output format from '${file}': use one of ${Object.keys(FORMATS).join(', ')}`);
  return f;
}

const sharpRaw = (image: RgbImage) => sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });

/** Writes an RgbImage; the format follows the extension. */
export async function writeRgbImage(image: RgbImage, file: string): Promise<void> {
  const format = formatFromPath(file);
  try {
    await sharpRaw(image).toFormat(format).toFile(file);
  } catch (e) {
    throw formatError(`Could not write '${file}': ${(e as Error).message}`, e);
  }
}

/** Encodes an RgbImage to a buffer. */
export function encodeRgbImage(image: RgbImage, format: OutputFormat = 'png'): Promise<Buffer> {
  return sharpRaw(image).toFormat(format).toBuffer();
}

/** Resizes an RgbImage (bilinear-quality resampling by sharp). */
export async function resizeRgbImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  const data = await sharpRaw(image).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}
