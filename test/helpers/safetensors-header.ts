// Reads a safetensors header without lib/train/safetensors.ts (an independent count for tests that
// check parameter counts): 8-byte little-endian header length, then that many bytes of JSON
// {name: {dtype, shape, data_offsets}, __metadata__?: {...}} (https://github.com/huggingface/safetensors).
import { readFileSync } from 'node:fs';

export interface HeaderTensor {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Tensor entries of the header by name (__metadata__ left out). */
export function safetensorsTensors(file: string): Map<string, HeaderTensor> {
  const bytes = readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
  const out = new Map<string, HeaderTensor>();
  for (const [name, entry] of Object.entries(header)) if (name !== '__metadata__') out.set(name, entry as HeaderTensor);
  return out;
}

/** Sum of the element counts of every tensor in the file. */
export function safetensorsElementCount(file: string): number {
  let n = 0;
  for (const t of safetensorsTensors(file).values()) n += t.shape.reduce((a, d) => a * d, 1);
  return n;
}
