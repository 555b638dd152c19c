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

  it('after dispose() every call is ERR_FACESTYLE_DISPOSED (train() started over from the initial weights), and two train() at once are refused', async () => {
    const dir = tmp();
    const t = new Trainer(tiny({ steps: 4 }), synthetic(2, 16), dir);
    const first = t.train({ until: 3 });
    await expect(t.train({ until: 3 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('already running') });
    await first;
    expect(t.step).toBe(3);
    // Sequential calls are fine once the first has finished.
    await t.train({ until: 4 });
    expect(t.step).toBe(4);
    t.dispose();
    for (const call of [() => t.train({ until: 6 }), () => t.evaluate(synthetic(1, 16)), () => t.saveCheckpoint(), () => t.init()])
      await expect(call()).rejects.toMatchObject({ code: 'ERR_FACESTYLE_DISPOSED' });
    expect(() => t.emaWeights()).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_DISPOSED' }));
    expect(t.step).toBe(4);
    t.dispose(); // twice is fine
  });

  it("train()'s options are checked before a step runs; a fresh Trainer evaluates its initial weights; emaWeights() before init() names init()", async () => {
    const t = new Trainer(tiny({ steps: 4 }), synthetic(2, 16), tmp());
    try {
      // Each was taken before: a fractional until ran a step past it, reportEvery 0 divided by zero, a
      // misspelt key was dropped without a word.
      const bad: Array<[Record<string, unknown>, string]> = [
        [{ until: 1.5 }, 'until'],
        [{ until: -1 }, 'until'],
        [{ reportEvery: 0 }, 'reportEvery'],
        [{ checkpointEvery: 2.5 }, 'checkpointEvery'],
        [{ sampleEvery: -1 }, 'sampleEvery'],
        [{ deadline: NaN }, 'deadline'],
        [{ signal: 'stop' }, 'signal'],
        [{ untill: 2 }, "did you mean 'until'"],
      ];
      for (const [options, named] of bad) await expect(t.train(options as never)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(named) });
      expect(t.step).toBe(0);
      // Before init(): emaWeights() is the caller's ordering to fix (it was ERR_FACESTYLE_INTERNAL, "a bug of this package").
      expect(() => t.emaWeights()).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('init()') }));
      // evaluate() initialises: the initial weights' report, the same as after an explicit init().
      const before = (await t.evaluate(synthetic(1, 16))).report;
      expect(before.psnr).toBeGreaterThan(0);
      await t.init();
      expect((await t.evaluate(synthetic(1, 16))).report).toEqual(before);
      await t.train({ until: 1, checkpointEvery: 0, sampleEvery: 0 });
      expect(t.step).toBe(1);
    } finally {
      t.dispose();
    }
  });

  it('train() with evaluate() started alongside gives the losses of train() alone; evaluations at once agree; weights read mid-step are refused by name', async () => {
    const alone = new Trainer(tiny({ steps: 6 }), synthetic(2, 16), tmp());
    await alone.train();
    const t = new Trainer(tiny({ steps: 6 }), synthetic(2, 16), tmp());
    try {
      // Each call used to compile its own step session; evaluate()'s replaced train()'s after its first step.
      const training = t.train();
      const [a, b] = await Promise.all([t.evaluate(synthetic(1, 16)), t.evaluate(synthetic(1, 16))]);
      expect(a.report).toEqual(b.report);
      await training;
      expect(t.history.map((h) => h.loss)).toEqual(alone.history.map((h) => h.loss));
      // During a step the session is running: emaWeights() says so in the Trainer's words.
      const again = t.train({ until: 8 });
      await new Promise((r) => setImmediate(r));
      let refused: unknown = null;
      while (t.step < 8 && !refused) {
        try {
          t.emaWeights();
        } catch (e) {
          refused = e;
        }
        await new Promise((r) => setImmediate(r));
      }
      await again;
      expect(refused).toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('emaWeights() while a training step is running') });
    } finally {
      alone.dispose();
      t.dispose();
    }
  });

  it("evaluate() from a 'step' listener evaluates that step's weights, every step", async () => {
    const t = new Trainer(tiny({ steps: 5 }), synthetic(2, 16), tmp());
    try {
      const evaluations: Array<Promise<unknown>> = [];
      const weightsAt: Array<Map<string, unknown>> = [];
      t.on('step', () => {
        weightsAt.push(t.emaWeights());
        evaluations.push(t.evaluate(synthetic(1, 16)));
      });
      await t.train({ reportEvery: 1 });
      // (Each evaluate() read the weights after an await, when the next step was already running: refused.)
      const reports = await Promise.all(evaluations);
      expect(reports).toHaveLength(5);
      // The last evaluation is of the final weights.
      const last = (await t.evaluate(synthetic(1, 16), weightsAt[4] as never)).report;
      expect((reports[4] as { report: unknown }).report).toEqual(last);
    } finally {
      t.dispose();
    }
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

  it('gives the same bits on 1 and 2 threads (a run may resume with other threads)', async () => {
    // 64x64 crops, 16 channels: the filter gradients' GEMMs (16 x 144 x 4096 pixels) are deep enough to be
    // cut along K, and im2row / col2im large enough to split across threads.
    const cfg = (threads: number) =>
      tiny({
        crop: 64, steps: 3, threads, losses: { l1: 1, color: 0.5, edge: 0.1 },
        generator: { arch: 'light-unet', channels: [16, 16, 16, 16], width: 1, resBlocks: 0, alpha: 0.2, upsample: 'deconv' },
      });
    const data = synthetic(2, 64);
    const runs = [];
    for (const threads of [1, 2]) {
      const t = new Trainer(cfg(threads), data, tmp());
      await t.train();
      runs.push({ losses: t.history.map((h) => h.loss), weights: t.emaWeights() });
      t.dispose();
    }
    expect(runs[1].losses).toEqual(runs[0].losses);
    let differing = 0;
    for (const [name, w] of runs[0].weights) {
      const other = runs[1].weights.get(name)!.data;
      for (let i = 0; i < w.data.length; ++i) if (!Object.is(w.data[i], other[i])) ++differing;
    }
    expect(runs[0].weights.size).toBeGreaterThan(0);
    expect(differing).toBe(0);
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

  // The GAN losses (lib/ops/loss.ts), with A the discriminator's scores:
  //   hinge: d_real = mean relu(1 - A_real), d_fake = mean relu(1 + A_fake), adv (G) = -mean A_fake;
  //   bce:   d_real = mean softplus(-A_real), d_fake = mean softplus(A_fake), adv (G) = mean softplus(-A_fake).
  // Within one step the G step and the D step score the same fake batch (the G step's pred) with the
  // same D weights (copied into the G step after every D step), so per step:
  //   hinge: d_fake + adv - 1      = mean relu(-1 - A_fake)                        in [0, mean(A_fake^2) / 4]
  //   bce:   d_fake + adv - 2 ln 2 = mean (softplus(A) + softplus(-A)) - 2 ln 2   in [0, mean(A_fake^2) / 4]
  // (relu(-1 - a) <= a^2 / 4 since (a + 2)^2 >= 0; softplus(a) + softplus(-a) has its minimum 2 ln 2 at 0
  // and second derivative 2 sigmoid'(a) <= 1/2.) The lower bounds are exact, up to float32 rounding of
  // two means of order 1 (1e-4 is ample). Scale of the scores: a He-initialised conv keeps
  // E[z^2] = 2 E[x^2], LeakyReLU(0.2) keeps (1 + 0.04) / 2 of it, so the 3-conv PatchGAN gives
  // E[A^2] ~ 2 * 0.52 * 2 * 0.52 * 2 E[x^2] = 2.16 E[x^2] <= 2.16 for tanh outputs in [-1, 1]: the upper
  // bound mean(A^2) / 4 is at most 0.55. The real side: the targets here have E[x^2] ~ 0.1 (see
  // synthetic), so rms(A_real) ~ 0.46, and |hinge d_real - 1| <= mean |A_real| ~ 0.46 (< 0.5),
  // |bce d_real - ln 2| <= mean |A_real| / 2 + mean(A_real^2) / 8 ~ 0.26 (< 0.3).
  // The G total is l1 + 0.1 adv + 0.01 tv (the weights given); tv of a tanh image is in [0, 4]
  // (two means of |differences| <= 2) and l1 <= mean |pred| + mean |target| < 2.
  const ganTiny = (ganLoss: 'hinge' | 'bce', steps: number) =>
    tiny({ steps, ganLoss, losses: { l1: 1, mse: 0, color: 0, edge: 0, adv: 0.1, fm: 0, tv: 0.01, style: 0 }, discriminator: { channels: 4, downLayers: 1 } });
  for (const ganLoss of ['hinge', 'bce'] as const)
    it(`GAN with ${ganLoss} loss and total variation: every reported loss is finite and within the bounds of its definition`, async () => {
      const t = new Trainer(ganTiny(ganLoss, 3), synthetic(2, 16), tmp());
      await t.train();
      t.dispose();
      expect(t.history).toHaveLength(3);
      const floor = ganLoss === 'hinge' ? 1 : 2 * Math.LN2;
      for (const { step, loss, terms } of t.history) {
        const at = `step ${step}: ${JSON.stringify(terms)}`;
        expect(Object.keys(terms).sort(), at).toEqual(['adv', 'd_fake', 'd_real', 'l1', 'tv']);
        for (const [name, v] of Object.entries(terms)) expect(Number.isFinite(v), `${name} at ${at}`).toBe(true);
        expect(Number.isFinite(loss), at).toBe(true);
        expect(loss, at).toBeCloseTo(terms.l1 + 0.1 * terms.adv + 0.01 * terms.tv, 10);
        expect(terms.l1, at).toBeGreaterThan(0);
        expect(terms.l1, at).toBeLessThan(2);
        expect(terms.tv, at).toBeGreaterThanOrEqual(0);
        expect(terms.tv, at).toBeLessThanOrEqual(4);
        expect(terms.d_fake + terms.adv, at).toBeGreaterThanOrEqual(floor - 1e-4);
        expect(terms.d_fake + terms.adv, at).toBeLessThanOrEqual(floor + 0.55);
        if (ganLoss === 'hinge') {
          expect(terms.d_fake, at).toBeGreaterThanOrEqual(0);
          expect(Math.abs(terms.d_real - 1), at).toBeLessThan(0.5);
        } else {
          expect(terms.adv, at).toBeGreaterThan(0);
          expect(terms.d_fake, at).toBeGreaterThan(0);
          expect(Math.abs(terms.d_real - Math.LN2), at).toBeLessThan(0.3);
        }
      }
    });

  it('GAN hinge vs bce at the first step: same weights and batch, so the same fake scores A give hinge adv = -mean A = -(bce d_fake - bce adv)', async () => {
    // The loss form changes only the loss nodes: both runs start from the same seeded weights and draw
    // the same first batch, so l1 and tv agree and the fake scores are the same. softplus(a) - softplus(-a) = a.
    // The terms are float32 means of order 1: 1e-5 is about 100 units of their last place.
    const first = async (ganLoss: 'hinge' | 'bce') => {
      const t = new Trainer(ganTiny(ganLoss, 3), synthetic(2, 16), tmp());
      await t.train({ until: 1 });
      t.dispose();
      return t.history[0].terms;
    };
    const hinge = await first('hinge');
    const bce = await first('bce');
    expect(bce.l1).toBe(hinge.l1);
    expect(bce.tv).toBe(hinge.tv);
    const meanFake = bce.d_fake - bce.adv;
    // Not vacuous: the scores are not all zero (else both sides would be 0).
    expect(Math.abs(hinge.adv)).toBeGreaterThan(1e-3);
    expect(Math.abs(hinge.adv + meanFake)).toBeLessThan(1e-5);
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
