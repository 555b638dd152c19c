// The Trainer end to end on tiny synthetic pairs: a tiny generator overfits (loss falls 10x),
// an interrupted-and-resumed run reproduces the uninterrupted losses exactly, NaN stops training
// with ERR_FACESTYLE_NUMERIC and keeps the last good checkpoint, and the EMA weights follow the
// TS reference of the warm-up schedule.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../lib/graph/tensor.js';
import type { PairDataset } from '../lib/train/data.js';
import { type TrainConfig, Trainer, emaDecayAt, trainConfig } from '../lib/train/trainer.js';
import { interruptedAndResumed } from './helpers/train-resume.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'facestyle-train-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Smooth random images; the target is a fixed colour mapping of the input (learnable by 1x1 convs). */
function synthetic(count: number, size: number, seed = 3): PairDataset {
  const rng = mulberry32(seed);
  const pairs = Array.from({ length: count }, (_, k) => {
    const input = new Float32Array(3 * size * size);
    const target = new Float32Array(3 * size * size);
    const f = [rng() * 0.5, rng() * 0.5, rng() * 6];
    for (let c = 0; c < 3; ++c)
      for (let y = 0; y < size; ++y)
        for (let x = 0; x < size; ++x) {
          const v = 0.8 * Math.sin(f[0] * x + f[1] * y + f[2] + c);
          input[(c * size + y) * size + x] = v;
        }
    for (let i = 0; i < size * size; ++i) {
      const [r, g, b] = [input[i], input[size * size + i], input[2 * size * size + i]];
      target[i] = 0.5 * g - 0.2;
      target[size * size + i] = 0.6 * b + 0.1;
      target[2 * size * size + i] = 0.4 * r;
    }
    return { name: `p${k}.png`, input, target };
  });
  return { size, pairs, layout: 'folders', source: 'synthetic' };
}

const tiny = (o: Partial<TrainConfig> = {}): TrainConfig =>
  trainConfig({
    crop: 16, batch: 2, steps: 150, lr: 1e-2, lrMin: 1e-3, warmupSteps: 5, threads: 1, seed: 5,
    losses: { l1: 1, color: 0, edge: 0 },
    augment: { flip: 0.5, minScale: 1 },
    generator: { arch: 'light-unet', channels: [8, 8, 8, 8], width: 1, resBlocks: 0, alpha: 0.2, upsample: 'deconv' },
    ...o,
  });

describe('Trainer', () => {
  it('overfits two tiny pairs: the L1 loss falls by 10x', async () => {
    const t = new Trainer(tiny(), synthetic(2, 16), tmp());
    await t.train();
    const first = t.history.slice(0, 3).reduce((a, h) => a + h.terms.l1, 0) / 3;
    const last = t.history.slice(-3).reduce((a, h) => a + h.terms.l1, 0) / 3;
    t.dispose();
    expect(first).toBeGreaterThan(0.1);
    expect(last).toBeLessThan(first / 10);
  });

  it('resumes exactly: interrupted at step 4 and resumed gives the same losses as uninterrupted', async () => {
    const cfg = tiny({ steps: 8, losses: { l1: 1, color: 0.5, edge: 0.1 }, augment: { flip: 0.5, minScale: 0.7 }, clipNorm: 1, weightDecay: 0.01 });
    const data = synthetic(3, 24);
    const whole = new Trainer(cfg, data, tmp());
    await whole.train();
    const a = whole.history.map((h) => h.loss);
    whole.dispose();

    const { history, resumedAt } = await interruptedAndResumed(cfg, data, tmp(), 4);
    expect(resumedAt).toBe(4);
    const b = history.map((h) => h.loss);
    expect(a).toHaveLength(8);
    expect(b).toEqual(a);
  });

  it('stops with ERR_FACESTYLE_NUMERIC on a NaN loss and keeps the last good checkpoint', async () => {
    const data = synthetic(2, 16);
    const dir = tmp();
    const t = new Trainer(tiny({ steps: 6 }), data, dir);
    await t.train({ until: 2 });
    const file = await t.saveCheckpoint();
    const good = readFileSync(file);
    data.pairs.forEach((p) => p.target.fill(Number.NaN));
    await expect(t.train({ checkpointEvery: 1 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NUMERIC' });
    expect(t.step).toBe(2);
    expect(readFileSync(file).equals(good)).toBe(true);
    t.dispose();
  });

  it('EMA weights follow decay*ema + (1-decay)*w with warm-up (TS reference over 3 steps)', async () => {
    const cfg = tiny({ steps: 3, emaDecay: 0.9 });
    const t = new Trainer(cfg, synthetic(2, 16), tmp());
    await t.init();
    const name = t.step_.weights[0];
    const session = (t as unknown as { session: { readParam(n: string): { data: Float32Array } } }).session;
    let ema = Float64Array.from(session.readParam(name).data);
    for (let s = 0; s < 3; ++s) {
      await t.train({ until: s + 1 });
      const w = session.readParam(name).data;
      const d = emaDecayAt(0.9, s);
      ema = ema.map((e, i) => d * e + (1 - d) * w[i]);
    }
    const got = t.emaWeights().get(name)!.data;
    const w = session.readParam(name).data;
    // The EMA must differ from the weights (else the check is vacuous) and match the reference.
    expect(Math.max(...got.map((v, i) => Math.abs(v - w[i])))).toBeGreaterThan(1e-4);
    got.forEach((v, i) => expect(Math.abs(v - ema[i])).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(ema[i])));
    t.dispose();
  });

  for (const ganLoss of ['hinge', 'bce'] as const)
    it(`GAN with ${ganLoss} loss and total variation: D and G losses are reported and finite`, async () => {
      const t = new Trainer(tiny({ steps: 3, ganLoss, losses: { l1: 1, color: 0, edge: 0, adv: 0.1, fm: 0, tv: 0.01 }, discriminator: { channels: 4, downLayers: 1 } }), synthetic(2, 16), tmp());
      await t.train();
      const terms = t.history[2].terms;
      expect(Object.keys(terms).sort()).toEqual(['adv', 'd_fake', 'd_real', 'l1', 'tv']);
      // Hinge D losses start near 1 (scores near 0), BCE near ln 2.
      expect(terms.d_real).toBeCloseTo(ganLoss === 'hinge' ? 1 : Math.LN2, 0);
      t.dispose();
    });

  it('GAN (PatchGAN, LSGAN + feature matching): D trains in its own step graph, and resume stays exact', async () => {
    const cfg = tiny({ steps: 6, losses: { l1: 1, color: 0, edge: 0, adv: 0.1, fm: 0.5 }, discriminator: { channels: 4, downLayers: 1 } });
    const data = synthetic(2, 16);
    const whole = new Trainer(cfg, data, tmp());
    await whole.train();
    const h = whole.history;
    expect(Object.keys(h[0].terms)).toEqual(expect.arrayContaining(['l1', 'adv', 'fm0', 'fm1', 'd_real', 'd_fake']));
    // D is trained: its loss on the first step differs from the last (its weights moved).
    expect(h[5].terms.d_real).not.toBe(h[0].terms.d_real);
    whole.dispose();
    const { history } = await interruptedAndResumed(cfg, data, tmp(), 3);
    expect(history.map((x) => x.terms)).toEqual(h.map((x) => x.terms));
  });
});
