/// <reference types="long" preserve="true" />
// ONNX protobuf decoding/encoding through `onnx-proto` (the official onnx.proto of ONNX v1.10.2
// compiled for protobufjs); no hand-written wire decoder. Also: TensorProto <-> typed arrays, with
// every length checked against the declared shape so a damaged file is a FORMAT error, not a crash.
import { createRequire } from 'node:module';
import { formatError, unsupportedError } from '../errors.js';
import type { onnx as OnnxNs } from 'onnx-proto';

const require = createRequire(import.meta.url);
// onnx-proto is CommonJS; its static module exposes the `onnx` namespace.
export const onnx: typeof OnnxNs = (require('onnx-proto') as { onnx: typeof OnnxNs }).onnx;
export type ModelProto = OnnxNs.ModelProto;
export type GraphProto = OnnxNs.IGraphProto;
export type NodeProto = OnnxNs.INodeProto;
export type TensorProto = OnnxNs.ITensorProto;
export type AttributeProto = OnnxNs.IAttributeProto;
export type ValueInfoProto = OnnxNs.IValueInfoProto;

/** ONNX AttributeProto.AttributeType codes. */
export const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;

/** ONNX TensorProto.DataType codes used here. */
export const DT = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

export const dataTypeName = (t: number): string => (onnx.TensorProto.DataType as unknown as Record<number, string>)[t] ?? `type ${t}`;

/** protobufjs hands int64 fields back as numbers or Long objects. */
export function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  if (typeof v === 'string') return Number(v);
  return Number(v);
}

/** Decodes a model; any wire error becomes ERR_FACESTYLE_FORMAT. */
export function decodeModel(bytes: Uint8Array, what = 'model'): ModelProto {
  if (bytes.length === 0) throw formatError(`Expected an ONNX model in ${what} but it is empty`);
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw formatError(`${what} is not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})`, e);
  }
  // Protobuf decodes almost any bytes into *something*; a real model has a graph with nodes or outputs.
  if (!model.graph || (!(model.graph.node?.length) && !(model.graph.output?.length)))
    throw formatError(`${what} is not an ONNX model: it has no graph`);
  return model;
}

export function encodeModel(model: OnnxNs.IModelProto): Uint8Array {
  const err = onnx.ModelProto.verify(model);
  if (err) throw formatError(`Internal: the exported model does not verify: ${err}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** A tensor known at load time. Integer/bool tensors keep exact values in a plain number array. */
export interface ConstTensor {
  dtype: number; // ONNX DataType
  shape: number[];
  data: Float32Array | number[];
}

export const isFloatType = (t: number): boolean => t === DT.FLOAT || t === DT.DOUBLE || t === DT.FLOAT16 || t === DT.BFLOAT16;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const elemCount = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** IEEE half -> float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** float -> IEEE half, round to nearest even (the storage format of fp16 exports). */
export function floatToHalf(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  if ((h & 0x7fff) >= 0x7c00) return sign | 0x7c00;
  return sign | h;
}

/** Reads a TensorProto into a ConstTensor, checking the data length against the shape. */
export function readTensor(t: TensorProto, what: string): ConstTensor {
  const dims = (t.dims ?? []).map(toNum);
  for (const d of dims) if (!Number.isInteger(d) || d < 0) throw formatError(`${what}: invalid dimension in shape [${dims.join(',')}]`);
  const n = elemCount(dims);
  if (n > 2 ** 31 - 1) throw formatError(`${what}: shape [${dims.join(',')}] is too large`);
  const dtype = t.dataType ?? 0;
  if (t.dataLocation === 1) throw unsupportedError(`${what}: external tensor data is not supported (save the model with weights inside the file)`);
  const raw = t.rawData && t.rawData.length ? t.rawData : null;
  const short = (got: number) => formatError(`${what}: shape [${dims.join(',')}] needs ${n} values of ${dataTypeName(dtype)} but the file holds ${got}`);
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const fromRaw = (size: number, read: (off: number) => number): number[] | Float32Array => {
    if (raw!.byteLength !== n * size) throw short(Math.floor(raw!.byteLength / size));
    const out = new Array<number>(n);
    for (let i = 0; i < n; ++i) out[i] = read(i * size);
    return out;
  };
  const checked = <T extends { length: number }>(arr: T | null | undefined): T => {
    const len = arr?.length ?? 0;
    if (len !== n) throw short(len);
    return arr as T;
  };
  switch (dtype) {
    case DT.FLOAT: {
      if (raw) {
        if (raw.byteLength !== n * 4) throw short(Math.floor(raw.byteLength / 4));
        // Fast path: an aligned copy on little-endian hosts (every platform Node ships on).
        if (raw.byteOffset % 4 === 0 && LITTLE_ENDIAN) return { dtype, shape: dims, data: new Float32Array(raw.buffer, raw.byteOffset, n).slice() };
        const out = new Float32Array(n);
        for (let i = 0; i < n; ++i) out[i] = view!.getFloat32(i * 4, true);
        return { dtype, shape: dims, data: out };
      }
      return { dtype, shape: dims, data: Float32Array.from(checked(t.floatData)) };
    }
    case DT.DOUBLE: {
      const d = raw ? fromRaw(8, (o) => view!.getFloat64(o, true)) : checked(t.doubleData);
      return { dtype: DT.FLOAT, shape: dims, data: Float32Array.from(d) };
    }
    case DT.FLOAT16:
    case DT.BFLOAT16: {
      const bits = raw ? fromRaw(2, (o) => view!.getUint16(o, true)) : checked(t.int32Data);
      const out = new Float32Array(n);
      for (let i = 0; i < n; ++i) out[i] = dtype === DT.FLOAT16 ? halfToFloat(bits[i]) : new Float32Array(new Uint32Array([bits[i] << 16]).buffer)[0];
      return { dtype: DT.FLOAT, shape: dims, data: out };
    }
    case DT.INT64:
    case DT.UINT64: {
      if (raw) return { dtype: DT.INT64, shape: dims, data: fromRaw(8, (o) => Number(dtype === DT.INT64 ? view!.getBigInt64(o, true) : view!.getBigUint64(o, true))) as number[] };
      return { dtype: DT.INT64, shape: dims, data: checked(dtype === DT.INT64 ? t.int64Data : t.uint64Data).map(toNum) };
    }
    case DT.INT32:
    case DT.INT16:
    case DT.INT8:
    case DT.UINT8:
    case DT.UINT16:
    case DT.BOOL: {
      if (raw) {
        const size = dtype === DT.INT32 ? 4 : dtype === DT.INT16 || dtype === DT.UINT16 ? 2 : 1;
        const read = (o: number): number =>
          dtype === DT.INT32 ? view!.getInt32(o, true)
          : dtype === DT.INT16 ? view!.getInt16(o, true)
          : dtype === DT.UINT16 ? view!.getUint16(o, true)
          : dtype === DT.INT8 ? view!.getInt8(o)
          : view!.getUint8(o);
        return { dtype, shape: dims, data: fromRaw(size, read) as number[] };
      }
      return { dtype, shape: dims, data: [...checked(t.int32Data)] };
    }
    case DT.UINT32: {
      if (raw) return { dtype, shape: dims, data: fromRaw(4, (o) => view!.getUint32(o, true)) as number[] };
      return { dtype, shape: dims, data: checked(t.uint64Data).map(toNum) };
    }
    default:
      throw unsupportedError(`${what}: tensors of type ${dataTypeName(dtype)} are not supported`);
  }
}

/** A float32 TensorProto (raw little-endian data, as every exporter writes it). */
export function floatTensorProto(name: string, shape: readonly number[], data: Float32Array): OnnxNs.ITensorProto {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; ++i) view.setFloat32(i * 4, data[i], true);
  return { name, dims: [...shape], dataType: DT.FLOAT, rawData: bytes };
}

export function halfTensorProto(name: string, shape: readonly number[], data: Float32Array): OnnxNs.ITensorProto {
  const bytes = new Uint8Array(data.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; ++i) view.setUint16(i * 2, floatToHalf(data[i]), true);
  return { name, dims: [...shape], dataType: DT.FLOAT16, rawData: bytes };
}

export function int64TensorProto(name: string, shape: readonly number[], data: readonly number[]): OnnxNs.ITensorProto {
  const bytes = new Uint8Array(data.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; ++i) view.setBigInt64(i * 8, BigInt(Math.trunc(data[i])), true);
  return { name, dims: [...shape], dataType: DT.INT64, rawData: bytes };
}
