// Runs the native WarpAffine op: a one-node graph compiled once per (shapes, attributes, device)
// and kept in a small LRU cache, so video frames and photo folders of one size compile once.
import { GraphBuilder } from '../graph/builder.js';
import { Tensor } from '../graph/tensor.js';
import type { WarpBorder } from '../ops/warp.js';
import { type DeviceName, type Session, compile } from '../runtime/session.js';
import type { Affine2x3 } from './types.js';

export interface WarpOptions {
  border?: WarpBorder;
  /** Fill for border 'constant' (default 0). */
  value?: number;
  device?: DeviceName;
}

const MAX_CACHED = 12;
const cache = new Map<string, Promise<Session>>();

async function warpSession(xShape: readonly number[], k: number, outH: number, outW: number, border: WarpBorder, value: number, device: DeviceName): Promise<Session> {
  const key = `${xShape.join('x')}|${k}|${outH}x${outW}|${border}|${value}|${device}`;
  const hit = cache.get(key);
  if (hit) {
    // Refresh its place in the LRU order.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const g = new GraphBuilder('warp');
  const x = g.input('x', xShape);
  const m = g.input('m', [k, 2, 3]);
  g.output(g.op1('WarpAffine', [x, m], { out_height: outH, out_width: outW, border, value }), 'y');
  const pending = compile(g.build(), { device });
  cache.set(key, pending);
  pending.catch(() => cache.delete(key));
  while (cache.size > MAX_CACHED) {
    const [oldKey, old] = cache.entries().next().value as [string, Promise<Session>];
    cache.delete(oldKey);
    // A run queued on it finishes before dispose takes effect (Session.dispose is safe mid-run).
    old.then((s) => s.dispose(), () => undefined);
  }
  return pending;
}

/**
 * Warps `x` [N,C,H,W] with one matrix per output image (`inverse` maps output pixel centres to
 * input coordinates, WarpAffine's convention); N == 1 with several matrices crops one image K times.
 */
export async function warpAffine(x: Tensor, inverse: readonly Affine2x3[], outH: number, outW: number, options: WarpOptions = {}): Promise<Tensor> {
  const k = inverse.length;
  const session = await warpSession(x.shape, k, outH, outW, options.border ?? 'constant', options.value ?? 0, options.device ?? 'cpu');
  const m = new Float32Array(k * 6);
  inverse.forEach((a, i) => m.set(a, i * 6));
  const out = await session.run({ x, m: new Tensor([k, 2, 3], m) });
  return out.y;
}

/** Disposes every cached warp session (tests, shutdown). */
export function clearWarpCache(): void {
  for (const p of cache.values()) p.then((s) => s.dispose(), () => undefined);
  cache.clear();
}
