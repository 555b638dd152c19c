// Checks that a graph rewrite keeps a graph's outputs: under the TypeScript reference interpreter and
// natively on every device present (shared by the pass tests).
import { expect } from 'vitest';
import type { Graph } from '../../lib/graph/ir.js';
import { evaluateReference } from '../../lib/graph/passes/index.js';
import type { Tensor } from '../../lib/graph/tensor.js';
import { compile } from '../../lib/runtime/session.js';
import { devicesPresent } from './devices.js';

/** Largest |a - b| / (1 + |b|) over every output: the error relative to the magnitude. */
export function worstRelative(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    expect(a[k].shape).toEqual(b[k].shape);
    for (let i = 0; i < b[k].data.length; ++i) {
      const d = Math.abs(a[k].data[i] - b[k].data[i]) / (1 + Math.abs(b[k].data[i]));
      worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
    }
  }
  return worst;
}

export async function runNative(g: Graph, feeds: Record<string, Tensor>, device: 'cpu' | 'cuda' = 'cpu', threads = 2): Promise<Record<string, Tensor>> {
  const s = await compile(g, { device, threads });
  try {
    return await s.run(feeds);
  } finally {
    s.dispose();
  }
}

/** before and after agree under the reference interpreter and natively on every device present. */
export async function expectSameEverywhere(before: Graph, after: Graph, feeds: Record<string, Tensor>, tol = 1e-5) {
  const ref = evaluateReference(before, feeds);
  expect(worstRelative(evaluateReference(after, feeds), ref)).toBeLessThan(tol);
  for (const device of devicesPresent()) {
    const native0 = await runNative(before, feeds, device);
    const native1 = await runNative(after, feeds, device);
    expect(worstRelative(native1, native0)).toBeLessThan(tol);
    expect(worstRelative(native1, ref)).toBeLessThan(1e-4);
  }
}

/**
 * before and after agree under the reference interpreter and on the CPU engine, for rewrites whose nodes
 * only the CPU runs (the fused pool, PointwiseDepthwise: a CUDA session refuses them).
 */
export async function expectSameOnCpu(before: Graph, after: Graph, feeds: Record<string, Tensor>) {
  const ref = evaluateReference(before, feeds);
  expect(worstRelative(evaluateReference(after, feeds), ref)).toBeLessThan(1e-6);
  const native0 = await runNative(before, feeds, 'cpu');
  const native1 = await runNative(after, feeds, 'cpu');
  expect(worstRelative(native1, native0)).toBeLessThan(1e-6);
  expect(worstRelative(native1, ref)).toBeLessThan(1e-5);
}

/** A CUDA session compiles `g` but refuses to run it (a node only the CPU runs), with a message matching `message`. */
export async function expectCudaRefuses(g: Graph, feeds: Record<string, Tensor>, message: RegExp) {
  const s = await compile(g, { device: 'cuda' });
  try {
    await expect(s.run(feeds)).rejects.toThrow(message);
  } finally {
    s.dispose();
  }
}
