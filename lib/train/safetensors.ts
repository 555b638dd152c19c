// safetensors files (https://github.com/huggingface/safetensors format): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}},
// then the raw little-endian data. Only F32 tensors are written; F32 and F16 are read.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FacestyleError, formatError } from '../errors.js';
import { Tensor } from '../graph/tensor.js';

export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.size * 4] };
    offset += t.size * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned
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

/** Parses a safetensors buffer; `file` names the source in errors. */
export function decodeSafetensors(buf: Buffer, file = 'buffer'): SafetensorsContent {
  const bad = (why: string) => formatError(`Invalid safetensors file '${file}': ${why}`);
  if (buf.length < 8) throw bad(`only ${buf.length} bytes (truncated?)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw bad(`header of ${n} bytes does not fit in ${buf.length} bytes (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (info as unknown as Record<string, string>) ?? {};
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

export async function readSafetensors(file: string): Promise<SafetensorsContent> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `File not found: ${file}`);
    throw e;
  }
  return decodeSafetensors(buf, file);
}

/** Writes to a temporary file in the same folder and renames it, so a crash never leaves a half file. */
export async function writeSafetensors(file: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, encodeSafetensors(tensors, metadata));
  await fs.rename(tmp, file);
}
