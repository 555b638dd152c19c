// Frame folders in and out (numbered image files), and small RgbImage helpers the pipeline needs.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FacestyleError, readError, shapeError } from '../errors.js';
import type { RgbImage } from '../face/types.js';
import { removeAtTeardown, removeStaleTempFiles } from '../files.js';
import * as is from '../is.js';
import { IMAGE_EXTENSIONS_TEXT, isImageFileName, readImageRgb, sharpFromPixels } from '../image/io.js';

/** Image files of a folder in frame order: natural sort, so frame_2 comes before frame_10. */
export async function listFrameFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    throw readError(e, `Frame folder '${dir}'`) ?? new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Frame folder not found: ${dir}`, { cause: e });
  }
  const files = names.filter(isImageFileName);
  if (files.length === 0) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `No image files (${IMAGE_EXTENSIONS_TEXT}) in frame folder ${dir}`);
  const collator = new Intl.Collator('en', { numeric: true });
  return files.sort(collator.compare).map((n) => path.join(dir, n));
}

/** Reads a frame folder as RGB frames, one file at a time (memory stays flat). All frames must share one size. */
export async function* readFrameFolder(dir: string, options: { maxFrames?: number } = {}): AsyncGenerator<RgbImage, void, undefined> {
  if (options.maxFrames !== undefined && !(Number.isInteger(options.maxFrames) && options.maxFrames >= 0))
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected maxFrames to be a whole number >= 0 but received ${options.maxFrames}`);
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

/** Writes one frame as an image file, through a temp name in the same folder (PNG, or JPEG for .jpg/.jpeg). */
export async function writeFrameFile(file: string, frame: RgbImage): Promise<void> {
  const img = sharpFromPixels(frame.data, frame.width, frame.height);
  const ext = path.extname(file).toLowerCase();
  const tmp = `${file}.partial`;
  try {
    await (ext === '.jpg' || ext === '.jpeg' ? img.jpeg({ quality: 95 }) : img.png()).toFile(tmp);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Names frameFileName() gives: the only files an `overwrite` may delete from an existing output folder. */
const FRAME_FILE = /^frame_\d{6,}\.(png|jpg)$/;

/**
 * Checks a frame-folder output before any work. A missing or empty folder is fine. A folder with files in
 * it is replaced only with `overwrite`, and even then only when it holds nothing but frame_NNNNNN.png /
 * .jpg files, so a mistyped path never deletes someone's folder.
 */
export async function checkFrameFolderOutput(dir: string, overwrite: boolean): Promise<'missing' | 'empty' | 'frames'> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected the output ${dir} to be a folder but it is a file`);
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot read the output folder ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (names.length === 0) return 'empty';
  if (!overwrite) {
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Output folder ${dir} already exists and is not empty (${names.length} entries); pass overwrite: true (CLI: --overwrite) to replace it`);
  }
  const other = names.filter((n) => !FRAME_FILE.test(n));
  if (other.length > 0) {
    throw new FacestyleError(
      'ERR_FACESTYLE_ARGUMENT',
      `Output folder ${dir} holds more than frames (${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''}); it is not replaced, even with overwrite`,
    );
  }
  return 'frames';
}

const hiddenSibling = (target: string, tag: string) => path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);

/**
 * Writes frames as numbered PNG files into a hidden temp folder beside `output`
 * (.<name>.partial-<pid>-<random>) and renames it to `output` in finish(), so a failed or killed run
 * never leaves a half-written folder under the output name. abort() (or a failed finish) removes the
 * temp folder. With `overwrite`, an existing folder of frames is replaced: it is moved aside, the new one
 * renamed in, then the old one deleted.
 */
export class FrameFolderWriter {
  frames = 0;
  private closed = false;

  /** Unregisters the temp folder from the worker teardown cleanup (removeAtTeardown). */
  private readonly forgetTemp: () => void;

  private constructor(
    readonly output: string,
    readonly tempDir: string,
    private readonly overwrite: boolean,
  ) {
    this.forgetTemp = removeAtTeardown(tempDir, true);
  }

  /** Checks the output (see checkFrameFolderOutput) and creates the temp folder; the parent must exist. */
  static async create(output: string, options: { overwrite?: boolean } = {}): Promise<FrameFolderWriter> {
    const target = path.resolve(output);
    await checkFrameFolderOutput(target, options.overwrite === true);
    removeStaleTempFiles(target); // temp folders of killed runs into the same output
    const temp = hiddenSibling(target, 'partial');
    await fsp.mkdir(temp);
    return new FrameFolderWriter(target, temp, options.overwrite === true);
  }

  /** Writes the next frame (frame_000001.png, ...). PNG is lossless, so a pass-through frame keeps its bytes. */
  async write(frame: RgbImage): Promise<void> {
    if (this.closed) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', 'write() after finish() or abort()');
    const file = path.join(this.tempDir, frameFileName(this.frames));
    await sharpFromPixels(frame.data, frame.width, frame.height).png().toFile(file);
    ++this.frames;
  }

  /** Puts the finished folder under the output name. Returns the output path. */
  async finish(): Promise<string> {
    if (this.closed) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', 'finish() called twice');
    this.closed = true;
    let aside: string | null = null;
    try {
      // Checked again: the folder may have appeared (or filled) while we were running.
      const state = await checkFrameFolderOutput(this.output, this.overwrite);
      if (state === 'empty') await fsp.rmdir(this.output);
      else if (state === 'frames') {
        aside = hiddenSibling(this.output, 'old');
        await fsp.rename(this.output, aside);
      }
      try {
        await fsp.rename(this.tempDir, this.output);
      } catch (e) {
        if (aside) await fsp.rename(aside, this.output).catch(() => undefined); // put the old one back
        aside = null;
        throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Could not move the frames into ${this.output}: ${(e as Error).message}`, { cause: e });
      }
    } catch (e) {
      await fsp.rm(this.tempDir, { recursive: true, force: true });
      throw e;
    } finally {
      this.forgetTemp();
    }
    if (aside) await fsp.rm(aside, { recursive: true, force: true });
    return this.output;
  }

  /** Removes the temp folder; the output name is never touched. Safe to call twice. */
  async abort(): Promise<void> {
    this.closed = true;
    await fsp.rm(this.tempDir, { recursive: true, force: true });
    this.forgetTemp();
  }
}

/** Validates a frame (the pipeline's input edge). */
export function checkFrame(frame: unknown, index: number): RgbImage {
  const f = frame as RgbImage;
  if (!f || !(f.data instanceof Uint8Array) || !Number.isInteger(f.width) || !Number.isInteger(f.height) || f.width <= 0 || f.height <= 0) {
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected frame ${index} to be {data: Uint8Array, width, height} but received ${is.describe(frame)}`);
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
