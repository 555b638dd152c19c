// The op table: every op, several shapes each, random inputs; the native result on every device
// present against the plain-TS reference, with tolerance atol + rtol*|ref|.
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import { Tensor } from '../lib/graph/tensor.js';
import { getOp, normalizeAttrs } from '../lib/ops/index.js';
import { compile } from '../lib/runtime/session.js';
import type { InputSpec, OpCase } from './ops/case.js';
import { allCases } from './ops/table.js';
import { devicesPresent, gpuSkipReason } from './helpers/devices.js';
import { compareClose } from './helpers/tensors.js';

const spec = (s: number[] | InputSpec): InputSpec => (Array.isArray(s) ? { shape: s } : s);

function makeInputs(c: OpCase, seed: number): (Tensor | null)[] {
  return c.inputs.map((s, i) => {
    if (s === null) return null;
    const sp = spec(s);
    if (sp.data) return new Tensor(sp.shape, sp.data);
    const [lo, hi] = sp.range ?? [-1, 1];
    return Tensor.random(sp.shape, seed * 31 + i, lo, hi);
  });
}

export async function runCaseNative(c: OpCase, inputs: (Tensor | null)[], device: 'cpu' | 'cuda'): Promise<Tensor[]> {
  const g = new GraphBuilder(`${c.op}-${c.label}`);
  const feeds: Record<string, Tensor> = {};
  const syms: (Sym | null)[] = inputs.map((t, i) => {
    if (!t) return null;
    const s = c.inputs[i];
    if (s && !Array.isArray(s) && s.constant) return g.constant(`in${i}`, t);
    feeds[`in${i}`] = t;
    return g.input(`in${i}`, t.shape);
  });
  const outs = g.op(c.op, syms, c.attrs ?? {}, 'node');
  outs.forEach((o, i) => g.output(o, `out${i}`));
  const session = await compile(g.build(), { device });
  try {
    const r = await session.run(feeds);
    return outs.map((_, i) => r[`out${i}`]);
  } finally {
    session.dispose();
  }
}

const devices = devicesPresent();

describe('op table', () => {
  for (const device of ['cpu', 'cuda'] as const) {
    const skip = device === 'cuda' ? gpuSkipReason() : null;
    describe.skipIf(!devices.includes(device))(`${device}${skip ? ` (skipped: ${skip})` : ''}`, () => {
      for (const [k, c] of allCases.entries()) {
        if (device === 'cuda' && c.cudaRefuses) {
          it(`${c.op}: ${c.label}: refused on CUDA (a CPU-only op)`, async () => {
            await expect(runCaseNative(c, makeInputs(c, k + 1), device)).rejects.toThrow(c.cudaRefuses);
          });
          continue;
        }
        it(`${c.op}: ${c.label}`, async () => {
          const inputs = makeInputs(c, k + 1);
          const attrs = normalizeAttrs(getOp(c.op), c.attrs ?? {});
          const expected = getOp(c.op).reference(inputs, attrs);
          const actual = await runCaseNative(c, inputs, device);
          expect(actual.length).toBe(expected.length);
          for (let i = 0; i < expected.length; ++i) {
            const r = compareClose(actual[i], expected[i], c.atol ?? 1e-5, c.rtol ?? 1e-4);
            expect(r.ok, `${c.op} ${c.label} output ${i}: ${r.message}`).toBe(true);
          }
        });
      }
    });
  }
});
