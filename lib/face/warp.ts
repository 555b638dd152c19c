// Runs the native WarpAffine op: a one-node graph compiled once per (shapes, attributes, device)
// and kept in a small LRU cache, so video frames and photo folders of one size compile once.
import { GraphBuilder } from '../graph/builder.js';
import { Tensor } from '../graph/tensor.js';
import * as is from '../is.js';
import type { WarpBorder } from '../ops/warp.js';
import { loadNative } from '../native.js';
import { type DeviceName, type Session, compile } from '../runtime/session.js';
import type { Affine2x3 } from './types.js';

/** How crop values are stored: 'unit' [0,1], or 'signed' [-1,1] (v = 2u - 1, what generators take and give). */
export type CropRange = 'unit' | 'signed';

/** dst[i] = 2 src[i] - 1 ([0,1] -> [-1,1]) for i < src.length; dst may be src or a subarray of a larger buffer. */
export function unitToSigned(src: Float32Array, dst: Float32Array = src): Float32Array {
  for (let i = 0; i < src.length; ++i) dst[i] = src[i] * 2 - 1;
  return dst;
}

/** dst[i] = (src[i] + 1) / 2 ([-1,1] -> [0,1]) for i < src.length; dst may be src or a subarray of a larger buffer. */
export function signedToUnit(src: Float32Array, dst: Float32Array = src): Float32Array {
  for (let i = 0; i < src.length; ++i) dst[i] = (src[i] + 1) / 2;
  return dst;
}

/**
 * The addon's one-pass crop functions (native/napi/image_ops.cc, native/cpu/paste_blend.h). Both run on
 * a libuv pool thread, single-threaded, and keep the buffers they are given alive until they settle.
 */
export interface NativeImageOps {
  /** Crops [K,3,S,S] sampled from an interleaved uint8 frame into `out` from face `outOffset` on; `cropToImage` holds 6 numbers per face. */
  alignCrops(frame: Uint8Array, width: number, height: number, cropToImage: Float64Array, size: number, border: WarpBorder, range: CropRange, out: Float32Array, outOffset: number): Promise<void>;
  /**
   * A new frame: `frame` with the crops blended in through the mask. `faces` holds 11 numbers per face:
   * crop index, the image -> crop matrix (6), and the frame rectangle x0, y0, w, h.
   */
  pasteBlend(frame: Uint8Array, width: number, height: number, crops: Float32Array, size: number, faces: Float64Array, mask: Float32Array, strength: number, range: CropRange, alphaOut?: Float32Array, inPlace?: boolean): Promise<Uint8Array>;
}

/**
 * The native crop functions for `device`, or null where the JS + WarpAffine path is used instead: on
 * CUDA (the warp op runs there) and with an addon built before these functions existed.
 */
export function nativeImageOps(device: DeviceName = 'cpu'): NativeImageOps | null {
  if (device !== 'cpu') return null;
  const addon = loadNative() as unknown as Partial<NativeImageOps>;
  return typeof addon.alignCrops === 'function' && typeof addon.pasteBlend === 'function' ? (addon as NativeImageOps) : null;
}

export interface WarpOptions {
  border?: WarpBorder;
  /** Fill for border 'constant' (default 0). */
  value?: number;
  device?: DeviceName;
}

const MAX_CACHED = 12;

/**
 * A compiled warp session and the calls using it. An entry pushed out of the cache (or cleared) is
 * disposed once its last user is done: disposing it at once failed calls that had taken it and not yet
 * run on it (ERR_FACESTYLE_DISPOSED from 14 concurrent warps of 14 shapes, or concurrent frames with
 * 68-point landmarks, each warping its own region size).
 */
interface CachedWarp {
  session: Promise<Session>;
  users: number;
  evicted: boolean;
}
const cache = new Map<string, CachedWarp>();

/** Disposes an entry out of the cache once no call holds it. */
function disposeWhenUnused(entry: CachedWarp): void {
  if (entry.evicted && entry.users === 0) entry.session.then((s) => s.dispose(), () => undefined);
}

function retire(entry: CachedWarp): void {
  entry.evicted = true;
  disposeWhenUnused(entry);
}

/** The cached session for these shapes (compiled on first use), taken for one call: give it back with release(). */
function acquireWarpSession(xShape: readonly number[], k: number, outH: number, outW: number, border: WarpBorder, value: number, device: DeviceName): CachedWarp {
  const key = `${xShape.join('x')}|${k}|${outH}x${outW}|${border}|${value}|${device}`;
  let entry = cache.get(key);
  if (entry) {
    // Refresh its place in the LRU order.
    cache.delete(key);
    cache.set(key, entry);
  } else {
    const g = new GraphBuilder('warp');
    const x = g.input('x', xShape);
    const m = g.input('m', [k, 2, 3]);
    g.output(g.op1('WarpAffine', [x, m], { out_height: outH, out_width: outW, border, value }), 'y');
    const created: CachedWarp = { session: compile(g.build(), { device }), users: 0, evicted: false };
    entry = created;
    cache.set(key, created);
    created.session.catch(() => cache.get(key) === created && cache.delete(key));
  }
  ++entry.users; // before any await: an eviction from here on leaves it to this call's release()
  while (cache.size > MAX_CACHED) {
    const [oldKey, old] = cache.entries().next().value as [string, CachedWarp];
    cache.delete(oldKey);
    retire(old);
  }
  return entry;
}

function releaseWarpSession(entry: CachedWarp): void {
  --entry.users;
  disposeWhenUnused(entry);
}

/** A 2x3 affine matrix as the warps take it: an array (or Float32/64Array) of 6 finite numbers; `name` says which in the error. */
export function checkAffine(name: string, m: unknown): asserts m is Affine2x3 {
  if (!((Array.isArray(m) || m instanceof Float32Array || m instanceof Float64Array) && m.length === 6 && Array.from(m).every((v) => is.number(v))))
    throw is.invalid(name, 'a 2x3 affine matrix: 6 finite numbers [a, b, c, d, e, f]', m);
}

const WARP_OPTION_KEYS = is.optionKeys<WarpOptions>()(['border', 'value', 'device']);

/**
 * Warps `x` [N,C,H,W] with one matrix per output image (`inverse` maps output pixel centres to
 * input coordinates, WarpAffine's convention); N == 1 with several matrices crops one image K times.
 */
export async function warpAffine(x: Tensor, inverse: readonly Affine2x3[], outH: number, outW: number, options: WarpOptions = {}): Promise<Tensor> {
  is.knownOptions('warpAffine', options, WARP_OPTION_KEYS);
  if (!(x instanceof Tensor)) throw is.invalid('x', 'a Tensor [N,C,H,W]', x);
  if (!Array.isArray(inverse)) throw is.invalid('inverse', 'an array of 2x3 affine matrices', inverse);
  inverse.forEach((a, i) => checkAffine(`inverse[${i}]`, a));
  is.positiveInteger('outH', outH);
  is.positiveInteger('outW', outW);
  const k = inverse.length;
  if (k === 0) return new Tensor([0, x.shape[1], outH, outW]);
  const m = new Float32Array(k * 6);
  inverse.forEach((a, i) => m.set(a, i * 6));
  const entry = acquireWarpSession(x.shape, k, outH, outW, options.border ?? 'constant', options.value ?? 0, options.device ?? 'cpu');
  try {
    const out = await (await entry.session).run({ x, m: new Tensor([k, 2, 3], m) });
    return out.y;
  } finally {
    releaseWarpSession(entry);
  }
}

/** Disposes every cached warp session (tests, shutdown). */
export function clearWarpCache(): void {
  for (const entry of cache.values()) retire(entry);
  cache.clear();
}
