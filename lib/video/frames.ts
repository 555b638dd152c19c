// Frame folders in and out (numbered image files), and small RgbImage helpers the pipeline needs.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FacestyleError, shapeError } from '../errors.js';
import type { RgbImage } from '../face/types.js';
import { readImageRgb } from '../image/io.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff']);

/** Image files of a folder in frame order: natural sort, so frame_2 comes before frame_10. */
export async function listFrameFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Frame folder not found: ${dir}`, { cause: e });
  }
  const files = names.filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase()) && !n.startsWith('.'));
  if (files.length === 0) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `No image files (${[...IMAGE_EXTENSIONS].join(' ')}) in frame folder ${dir}`);
  const collator = new Intl.Collator('en', { numeric: true });
  return files.sort(collator.compare).map((n) => path.join(dir, n));
}

/** Reads a frame folder as RGB frames, one file at a time (memory stays flat). All frames must share one size. */
export async function* readFrameFolder(dir: string, options: { maxFrames?: number } = {}): AsyncGenerator<RgbImage, void, undefined> {
  const files = await listFrameFiles(dir);
  const limit = Math.min(files.length, options.maxFrames ?? Infinity);
  let size: [number, number] | null = null;
  for (let i = 0; i < limit; ++i) {
    const img = await readImageRgb(files[i]);
    if (size && (img.width !== size[0] || img.height !== size[1])) {
      throw shapeError(`Frame ${files[i]} is ${img.width}x${img.height} but earlier frames are ${size[0]}x${size[1]}`);
    }
    size = [img.width, img.height];
    yield { data: img.data, width: img.width, height: img.height };
  }
}

/** File name of frame `index` (0-based) in an output folder: frame_000001.png, ... */
export function frameFileName(index: number, format: 'png' | 'jpg' = 'png'): string {
  return `frame_${String(index + 1).padStart(6, '0')}.${format}`;
}

/** Writes one frame as an image file (PNG is lossless, so a pass-through frame keeps its bytes). */
export async function writeFrameFile(file: string, frame: RgbImage): Promise<void> {
  const img = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } });
  const ext = path.extname(file).toLowerCase();
  const tmp = `${file}.partial`;
  await (ext === '.jpg' || ext === '.jpeg' ? img.jpeg({ quality: 95 }) : img.png()).toFile(tmp);
  await fsp.rename(tmp, file);
}

/** Validates a frame (the pipeline's input edge). */
export function checkFrame(frame: unknown, index: number): RgbImage {
  const f = frame as RgbImage;
  if (!f || !(f.data instanceof Uint8Array) || !Number.isInteger(f.width) || !Number.isInteger(f.height) || f.width <= 0 || f.height <= 0) {
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected frame ${index} to be {data: Uint8Array, width, height} but received ${typeof frame}`);
  }
  if (f.data.length !== f.width * f.height * 3) throw shapeError(`Expected ${f.width * f.height * 3} bytes for ${f.width}x${f.height} RGB frame ${index} but received ${f.data.length}`);
  return f;
}

/** Copies the rectangle [x, x+w) x [y, y+h) of a frame (clipped to the frame) into a new image. */
export function cropRgb(frame: RgbImage, x: number, y: number, w: number, h: number): { image: RgbImage; x: number; y: number } {
  const x0 = Math.max(0, Math.floor(x));
  const y0 = Math.max(0, Math.floor(y));
  const x1 = Math.min(frame.width, Math.ceil(x + w));
  const y1 = Math.min(frame.height, Math.ceil(y + h));
  const cw = Math.max(0, x1 - x0);
  const ch = Math.max(0, y1 - y0);
  const data = new Uint8Array(cw * ch * 3);
  for (let row = 0; row < ch; ++row) {
    const src = ((y0 + row) * frame.width + x0) * 3;
    data.set(frame.data.subarray(src, src + cw * 3), row * cw * 3);
  }
  return { image: { data, width: cw, height: ch }, x: x0, y: y0 };
}
