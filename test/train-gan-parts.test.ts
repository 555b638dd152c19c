// GAN and generator building blocks: spectral normalisation (sigma from the in-graph power
// iteration against the largest singular value from a Jacobi eigen-solver), the Gram/style loss
// against a plain TS reference, multi-scale PatchGAN shapes and parameters, a trainer smoke run
// with all of them (and exact resume), and the generator's inverted residual blocks and residual
// output.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../lib/graph/builder.js';
import { Tensor, mulberry32 } from '../lib/graph/tensor.js';
import { buildDiscriminator, discriminatorConfig, spectralNorm } from '../lib/nn/discriminator.js';
import { generatorConfig, generatorGraph } from '../lib/nn/generator.js';
import { modelInfo } from '../lib/nn/info.js';
import { compile } from '../lib/runtime/session.js';
import type { PairDataset } from '../lib/train/data.js';
import { gramMatrix, styleLoss } from '../lib/train/losses.js';
import { readSafetensors } from '../lib/train/safetensors.js';
import { Trainer, trainConfig } from '../lib/train/trainer.js';
import { interruptedAndResumed } from './helpers/train-resume.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'facestyle-gan-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const random = (shape: number[], seed: number, lo = -1, hi = 1) => {
  const r = mulberry32(seed);
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; ++i) t.data[i] = lo + (hi - lo) * r();
  return t;
};

/** Largest singular value of m [rows, cols]: sqrt of the largest eigenvalue of m m^T by cyclic Jacobi rotations. */
function largestSingularValue(m: Float32Array, rows: number): number {
  const cols = m.length / rows;
  const a = Array.from({ length: rows }, (_, i) => Array.from({ length: rows }, (_, j) => {
    let s = 0;
    for (let k = 0; k < cols; ++k) s += m[i * cols + k] * m[j * cols + k];
    return s;
  }));
  for (let sweep = 0; sweep < 100; ++sweep) {
    let off = 0;
    for (let p = 0; p < rows; ++p) for (let q = p + 1; q < rows; ++q) off += a[p][q] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < rows; ++p)
      for (let q = p + 1; q < rows; ++q) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < rows; ++k) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < rows; ++k) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
      }
  }
  return Math.sqrt(Math.max(...a.map((row, i) => row[i])));
}

describe('spectral normalisation', () => {
  it('the Jacobi reference itself: singular values of a known matrix', () => {
    // diag(3, 2) rotated on both sides has singular values 3 and 2.
    const c = Math.cos(0.3), s = Math.sin(0.3), c2 = Math.cos(1.1), s2 = Math.sin(1.1);
    const u = [[c, -s], [s, c]], v = [[c2, -s2], [s2, c2]], d = [3, 2];
    const m = new Float32Array(4);
    for (let i = 0; i < 2; ++i) for (let j = 0; j < 2; ++j) m[i * 2 + j] = u[i][0] * d[0] * v[j][0] + u[i][1] * d[1] * v[j][1];
    expect(largestSingularValue(m, 2)).toBeCloseTo(3, 5);
  });

  it('sigma from the power iteration (state updated in the graph) is the largest singular value; W / sigma has spectral norm 1', async () => {
    const w = random([6, 3, 4, 4], 11);
    const b = new GraphBuilder('sn');
    const wp = b.param('d.l0.weight', w.shape, w);
    const wn = spectralNorm(b, wp, 'd.l0', true);
    b.output(wn, 'wn');
    b.output(b.find('d.l0.sn.sigma')!, 'sigma');
    const s = await compile(b.build(), { threads: 1 });
    const truth = largestSingularValue(w.data, 6);
    let out = await s.run({});
    // 20 power-iteration steps at build time already give a good estimate ...
    expect(Math.abs(out.sigma.data[0] - truth) / truth).toBeLessThan(2e-2);
    // ... and every run adds one more step through the graph's updates of u and v.
    for (let i = 0; i < 40; ++i) out = await s.run({});
    expect(out.sigma.data[0]).toBeCloseTo(truth, 4);
    expect(largestSingularValue(out.wn.data, 6)).toBeCloseTo(1, 4);
    const u = s.readParam('d.l0.sn.u').data;
    expect(Math.hypot(...u)).toBeCloseTo(1, 5);
    s.dispose();
  });

  it('without update the u, v state stays as initialised (the frozen copy in the generator step)', async () => {
    const b = new GraphBuilder('sn');
    const wp = b.param('w', [4, 8], random([4, 8], 3));
    b.output(spectralNorm(b, wp, 'w', false), 'wn');
    const g = b.build();
    expect(g.updates ?? []).toHaveLength(0);
    const s = await compile(g, { threads: 1 });
    const before = s.readParam('w.sn.u').data.slice();
    await s.run({});
    expect(s.readParam('w.sn.u').data).toEqual(before);
    s.dispose();
  });
});

describe('Gram / style loss', () => {
  it('matches a plain TS reference (G = F F^T / CHW, MSE between Grams)', async () => {
    const [n, c, h, w] = [2, 3, 4, 5];
    const a = random([n, c, h, w], 5), t = random([n, c, h, w], 6);
    const b = new GraphBuilder('gram');
    const xa = b.input('a', a.shape), xt = b.input('t', t.shape);
    b.output(gramMatrix(b, xa, 'g'), 'gram');
    b.output(styleLoss(b, xa, xt), 'style');
    const s = await compile(b.build(), { threads: 1 });
    const out = await s.run({ a, t });
    s.dispose();
    const gram = (x: Tensor) => {
      const g = new Float64Array(n * c * c);
      for (let k = 0; k < n; ++k)
        for (let i = 0; i < c; ++i)
          for (let j = 0; j < c; ++j) {
            let sum = 0;
            for (let p = 0; p < h * w; ++p) sum += x.data[(k * c + i) * h * w + p] * x.data[(k * c + j) * h * w + p];
            g[(k * c + i) * c + j] = sum / (c * h * w);
          }
      return g;
    };
    const ga = gram(a), gt = gram(t);
    expect(out.gram.shape).toEqual([n, c, c]);
    ga.forEach((v, i) => expect(out.gram.data[i]).toBeCloseTo(v, 5));
    const mse = ga.reduce((sum, v, i) => sum + (v - gt[i]) ** 2, 0) / ga.length;
    expect(out.style.data[0]).toBeCloseTo(mse, 6);
    expect(mse).toBeGreaterThan(1e-4); // the two inputs really differ
  });
});

describe('multi-scale PatchGAN', () => {
  it('one PatchGAN per scale, each on a 2x smaller input, with its own weights', () => {
    const b = new GraphBuilder('d');
    const x = b.input('x', [2, 3, 64, 64]);
    const d = buildDiscriminator(b, x, discriminatorConfig({ channels: 4, downLayers: 2, scales: 3 }));
    // 64 -> 32 -> 16 by the stride-2 layers; the stride-1 layers keep the size.
    expect(d.scales.map((s) => s.scores.shape)).toEqual([[2, 1, 16, 16], [2, 1, 8, 8], [2, 1, 4, 4]]);
    expect(d.scales.map((s) => s.features.map((f) => f.shape[1]))).toEqual([[4, 8, 16], [4, 8, 16], [4, 8, 16]]);
    expect(d.scores).toBe(d.scales[0].scores);
    d.scales.forEach((sc, i) => b.output(sc.scores, `scores${i}`));
    const params = b.build().values.filter((v) => v.kind === 'param').map((v) => v.name);
    expect(params).toEqual(expect.arrayContaining(['d.l0.weight', 'd.s1.l0.weight', 'd.s2.l3.bias']));
    expect(params).toHaveLength(3 * 4 * 2);
  });

  it('rejects a bad number of scales', () => {
    expect(() => discriminatorConfig({ scales: 0 })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
  });
});

/** Smooth random pairs (target: a colour mapping of the input). */
function synthetic(count: number, size: number): PairDataset {
  const rng = mulberry32(9);
  const pairs = Array.from({ length: count }, (_, k) => {
    const input = new Float32Array(3 * size * size), target = new Float32Array(3 * size * size);
    const f = [rng() * 0.5, rng() * 0.5, rng() * 6];
    for (let c = 0; c < 3; ++c)
      for (let i = 0; i < size * size; ++i) {
        const v = 0.8 * Math.sin(f[0] * (i % size) + f[1] * Math.floor(i / size) + f[2] + c);
        input[c * size * size + i] = v;
        target[((c + 1) % 3) * size * size + i] = 0.5 * v;
      }
    return { name: `p${k}.png`, input, target };
  });
  return { size, pairs, layout: 'folders', source: 'synthetic' };
}

describe('Trainer with a spectral-normalised multi-scale discriminator and style loss', () => {
  const cfg = trainConfig({
    crop: 16, batch: 2, steps: 4, lr: 1e-2, lrMin: 1e-3, warmupSteps: 2, threads: 1, seed: 5,
    losses: { l1: 1, color: 0, edge: 0, adv: 0.1, fm: 0.1, style: 1 },
    augment: { flip: 0.5, minScale: 1 },
    generator: { arch: 'light-unet', channels: [8, 8, 8, 8], width: 1, resBlocks: 0, alpha: 0.2 },
    discriminator: { channels: 4, downLayers: 1, scales: 2, spectralNorm: true },
  });

  it('trains: every scale has its loss terms, all finite; u, v are state (not trained) and move; resume is exact', async () => {
    const data = synthetic(2, 16);
    const dir = tmp();
    const whole = new Trainer(cfg, data, dir);
    expect(whole.dStep!.weights.some((n) => n.includes('.sn.'))).toBe(false);
    const u0 = whole.dStep!.graph.values.find((v) => v.name === 'd.s1.l0.sn.u')!.data!.slice();
    await whole.train();
    const terms = whole.history[3].terms;
    expect(Object.keys(terms)).toEqual(expect.arrayContaining(['l1', 'adv', 'adv_s1', 'd_real', 'd_real_s1', 'd_fake_s1', 'fm0', 'fm1_s1', 'style0', 'style1_s1']));
    for (const v of Object.values(terms)) expect(Number.isFinite(v)).toBe(true);
    const file = await whole.saveCheckpoint(path.join(dir, 'whole.safetensors'));
    const { tensors } = await readSafetensors(file);
    const u = tensors.get('d.s1.l0.sn.u')!.data;
    expect(Math.hypot(...u)).toBeCloseTo(1, 4);
    expect([...u]).not.toEqual([...u0]);
    // No optimizer state for the power-iteration vectors: they are not trained.
    expect(tensors.has('dopt.m.d.s1.l0.sn.u')).toBe(false);
    whole.dispose();

    const { history } = await interruptedAndResumed(cfg, data, tmp(), 2);
    expect(history.map((x) => x.terms)).toEqual(whole.history.map((x) => x.terms));
  });
});

describe('generator options', () => {
  it('inverted residual blocks: 1x1 expand, depthwise 3x3, 1x1 project, counted by modelInfo', () => {
    const base = { arch: 'light-unet' as const, channels: [8, 8, 8, 16] as [number, number, number, number], width: 1, resBlocks: 0, alpha: 0.2 };
    const plain = modelInfo(generatorGraph(generatorConfig(base), { height: 32, width: 32 }));
    const inv = modelInfo(generatorGraph(generatorConfig({ ...base, resBlocks: 2, block: 'inverted', expand: 3 }), { height: 32, width: 32 }));
    // Per block at 1/8 (4x4 for 32x32): 16->48 1x1 (+bias), 48 depthwise 3x3 (+bias), 48->16 1x1 (+bias).
    const perBlockParams = 16 * 48 + 48 + 48 * 9 + 48 + 48 * 16 + 16;
    const perBlockMacs = 16 * (16 * 48 + 48 * 9 + 48 * 16);
    expect(inv.params - plain.params).toBe(2 * perBlockParams);
    expect(inv.macs - plain.macs).toBe(2 * perBlockMacs);
    expect(() => generatorConfig({ block: 'dense' as never })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
  });

  it('residual output: the untrained generator is exactly the identity, of any size divisible by 8', async () => {
    const g = generatorGraph(generatorConfig({ residual: true, block: 'inverted', resBlocks: 1, channels: [8, 8, 8, 8] }), { height: 24, width: 40 });
    const s = await compile(g, { threads: 1 });
    const x = random([1, 3, 24, 40], 4);
    const { stylized } = await s.run({ image: x });
    s.dispose();
    expect(stylized.shape).toEqual([1, 3, 24, 40]);
    expect([...stylized.data]).toEqual([...x.data]);
  });
});

describe('Trainer.initGenerator (fine-tuning from trained weights)', () => {
  const cfg = (channels: [number, number, number, number]) => trainConfig({
    crop: 16, batch: 1, steps: 2, lr: 1e-2, warmupSteps: 1, threads: 1, seed: 2,
    losses: { l1: 1, mse: 1, color: 0, edge: 0 }, augment: { flip: 0, minScale: 1 },
    generator: { arch: 'light-unet', channels, width: 1, resBlocks: 1, alpha: 0.2 },
  });

  it('sets weights and their EMA; weights of another architecture are a FORMAT error naming the tensor', async () => {
    const data = synthetic(1, 16);
    const a = new Trainer(cfg([4, 4, 8, 8]), data, tmp());
    await a.train();
    const trained = a.emaWeights();
    a.dispose();
    const b = new Trainer(cfg([4, 4, 8, 8]), data, tmp());
    await b.initGenerator(trained, 'test weights');
    for (const [name, t] of b.emaWeights()) expect([...t.data], name).toEqual([...trained.get(name)!.data]);
    // The trained weights themselves (not only their EMA) start there, with fresh optimizer state.
    const { tensors } = await readSafetensors(await b.saveCheckpoint());
    for (const [name, t] of trained) expect([...tensors.get(name)!.data], name).toEqual([...t.data]);
    expect(tensors.get('opt.m.g.enc0.weight')!.data.every((v) => v === 0)).toBe(true);
    b.dispose();
    const c = new Trainer(cfg([4, 4, 8, 16]), data, tmp());
    await expect(c.initGenerator(trained, 'test weights')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining("'g.enc3.weight'") });
    c.dispose();
    // Weights with tensors this generator lacks (trained with 2 residual blocks, loaded into 1) are
    // refused, naming a tensor, not loaded in part.
    const two = new Trainer(trainConfig({ ...cfg([4, 4, 8, 8]), generator: { ...cfg([4, 4, 8, 8]).generator, resBlocks: 2 } }), data, tmp());
    await two.init();
    const twoWeights = two.emaWeights();
    two.dispose();
    expect([...twoWeights.keys()].some((n) => n.startsWith('g.res1.'))).toBe(true);
    const d = new Trainer(cfg([4, 4, 8, 8]), data, tmp());
    await expect(d.initGenerator(twoWeights, 'test weights')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringMatching(/'g\.res1\..*--res-blocks/) });
    d.dispose();
  });
});
