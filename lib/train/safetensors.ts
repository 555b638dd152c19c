// safetensors files (https://github.com/huggingface/safetensors format): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}},
// then the raw little-endian data. Only F32 tensors are written; F32 and F16 are read.
import { promises as fs } from 'node:fs';
import { FacestyleError, argumentError, formatError, readError } from '../errors.js';
import { writeFileWhole } from '../files.js';
import { Tensor } from '../graph/tensor.js';
import * as is from '../is.js';

export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Checks what encodeSafetensors / writeSafetensors are given (ERR_FACESTYLE_ARGUMENT naming the bad entry). */
function checkContent(tensors: unknown, metadata: unknown): void {
  if (!(tensors instanceof Map)) throw is.invalid('tensors', 'a Map of name -> Tensor', tensors);
  for (const [name, t] of tensors) {
    if (!is.string(name) || name === '__metadata__') throw is.invalid('a tensor name', "a non-empty string other than '__metadata__'", name);
    if (!(t instanceof Tensor)) throw is.invalid(`tensor '${name}'`, 'a Tensor', t);
  }
  if (!is.object(metadata)) throw is.invalid('metadata', 'an object of string values', metadata);
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw is.invalid(`metadata '${k}'`, 'a string', v);
}

export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  checkContent(tensors, metadata);
  // No prototype: a tensor named '__proto__' is an entry like any other (assigned on a plain object it was lost).
  const header: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, { __metadata__: metadata });
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.size * 4] };
    offset += t.size * 4;
  }
  let json = JSON.stringify(header);
  // Pads the header to a multiple of 8 bytes, counted in UTF-8 (a non-ASCII name counted in UTF-16 units
  // left the data misaligned for readers that view it in place).
  json += ' '.repeat((8 - (Buffer.byteLength(json, 'utf8') % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    Buffer.from(t.data.buffer, t.data.byteOffset, t.size * 4).copy(out, at);
    at += t.size * 4;
  }
  return out;
}

const f16 = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
};

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

const invalid = (file: string, why: string) => formatError(`Invalid safetensors file '${file}': ${why}`);

/** The header's length from the file's first 8 bytes (`start`), checked against the file's size. */
function headerLength(start: Buffer, size: number, file: string): number {
  if (size < 8) throw invalid(file, `only ${size} bytes (truncated?)`);
  const n = Number(start.readBigUInt64LE(0));
  if (n > size - 8) throw invalid(file, `header of ${n} bytes does not fit in ${size} bytes (truncated?)`);
  return n;
}

/**
 * The header as JSON, checked for its shape: an object of entries, each tensor an object with a dtype
 * string, a shape of whole numbers >= 0 (at most 8 dimensions) and two data offsets, `__metadata__` an
 * object of strings. Anything else (null, an array, a shape that is not an array) is ERR_FACESTYLE_FORMAT
 * naming the file and the entry, not a TypeError from the code that reads it.
 */
function parseHeader(bytes: Buffer, file: string): Header {
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(file, `header is not JSON (${(e as Error).message})`);
  }
  if (!is.object(header)) throw invalid(file, `header is ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header}, not an object of tensors`);
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!is.object(info) || !Object.values(info).every((v) => typeof v === 'string')) throw invalid(file, '__metadata__ is not an object of strings');
      continue;
    }
    if (!is.object(info)) throw invalid(file, `tensor '${name}' is ${info === null ? 'null' : typeof info}, not an entry`);
    if (typeof info.dtype !== 'string') throw invalid(file, `tensor '${name}' has no dtype`);
    const shape = info.shape;
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw invalid(file, `tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(info.data_offsets) || info.data_offsets.length !== 2) throw invalid(file, `tensor '${name}' has bad data_offsets`);
  }
  return header as Header;
}

/** Parses a safetensors buffer; `file` names the source in errors. */
export function decodeSafetensors(buf: Buffer, file = 'buffer'): SafetensorsContent {
  const bad = (why: string) => invalid(file, why);
  const n = headerLength(buf, buf.length, file);
  const header = parseHeader(buf.subarray(8, 8 + n), file);
  const dataStart = 8 + n;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as unknown as Record<string, string>;
      continue;
    }
    const [b, e] = info.data_offsets ?? [];
    if (!Number.isInteger(b) || !Number.isInteger(e) || e < b) throw bad(`tensor '${name}' has bad data_offsets`);
    if (dataStart + e > buf.length) throw bad(`tensor '${name}' ends at byte ${dataStart + e} but the file has ${buf.length} (truncated?)`);
    const count = info.shape.reduce((a, d) => a * d, 1);
    let data: Float32Array;
    if (info.dtype === 'F32') {
      if (e - b !== count * 4) throw bad(`tensor '${name}' has ${e - b} bytes for ${count} F32 values`);
      data = new Float32Array(count);
      Buffer.from(data.buffer).set(buf.subarray(dataStart + b, dataStart + e));
    } else if (info.dtype === 'F16') {
      if (e - b !== count * 2) throw bad(`tensor '${name}' has ${e - b} bytes for ${count} F16 values`);
      data = new Float32Array(count);
      for (let i = 0; i < count; ++i) data[i] = f16(buf.readUInt16LE(dataStart + b + 2 * i));
    } else throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `Safetensors file '${file}': tensor '${name}' has dtype ${info.dtype}; only F32 and F16 are supported`);
    tensors.set(name, new Tensor(info.shape, data));
  }
  return { tensors, metadata };
}

/** A failed read as a coded error naming the file. */
function safetensorsReadError(file: string, e: unknown): FacestyleError {
  if (e instanceof FacestyleError) return e;
  const missingOrForbidden = readError(e, `Safetensors file '${file}'`);
  if (missingOrForbidden) return missingOrForbidden;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') return argumentError(`Expected a .safetensors file but '${file}' is a folder`);
  return formatError(`Cannot read safetensors file '${file}': ${(e as Error).message}`, e);
}

export async function readSafetensors(file: string): Promise<SafetensorsContent> {
  if (!is.string(file)) throw is.invalid('safetensors file', 'a file path', file);
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    throw safetensorsReadError(file, e);
  }
  return decodeSafetensors(buf, file);
}

/** The `__metadata__` of a safetensors file, reading only its header (not the tensors). */
export async function readSafetensorsMetadata(file: string): Promise<Record<string, string>> {
  if (!is.string(file)) throw is.invalid('safetensors file', 'a file path', file);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const size = (await handle.stat()).size;
    const start = Buffer.alloc(8);
    await handle.read(start, 0, 8, 0);
    const n = headerLength(start, size, file);
    const bytes = Buffer.alloc(n);
    await handle.read(bytes, 0, n, 8);
    return (parseHeader(bytes, file).__metadata__ as unknown as Record<string, string>) ?? {};
  } catch (e) {
    throw safetensorsReadError(file, e);
  } finally {
    await handle?.close();
  }
}

/**
 * Writes to a hidden temporary file in the same folder and renames it, so a crash never leaves a half
 * file under the name and an existing file stays as it was until the new one is complete; a failed write
 * removes the temporary file. The folder is created when missing (training checkpoints go into a new run
 * folder); a path through a file is ERR_FACESTYLE_NOT_FOUND naming the folder, a folder as `file`
 * ERR_FACESTYLE_ARGUMENT, bad tensors or metadata ERR_FACESTYLE_ARGUMENT naming the entry.
 */
export async function writeSafetensors(file: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  if (!is.string(file)) throw is.invalid('safetensors file', 'a file path', file);
  const bytes = encodeSafetensors(tensors, metadata);
  await writeFileWhole(file, async () => bytes, { createFolder: true });
}
