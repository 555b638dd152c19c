// PatchGAN discriminator (pix2pix): 4x4 convs, stride 2 then 1, LeakyReLU 0.2, one score per
// overlapping patch. Calling it twice in one graph with the same prefix shares the weights (the
// real and the fake branch of a GAN loss).
//
// Options: spectral normalisation of every conv weight (Miyato et al. 2018: W / sigma(W), sigma
// estimated by one power-iteration step per training step, the vectors u, v kept as non-trained
// state updated through the graph's updates), and multi-scale (pix2pixHD): the same PatchGAN
// layout, with its own weights, on the input and on 1/2, 1/4 ... bilinear downscales of it.
import { argumentError } from '../errors.js';
import type { GraphBuilder, Sym } from '../graph/builder.js';
import { Tensor, mulberry32 } from '../graph/tensor.js';

export interface DiscriminatorConfig {
  /** Channels of the first layer; each further layer doubles them. */
  channels: number;
  /** Stride-2 layers (each halves the resolution) before the two stride-1 layers. */
  downLayers: number;
  /** Spectral normalisation of the conv weights (default false). */
  spectralNorm?: boolean;
  /** Number of scales of a multi-scale discriminator (default 1: a single PatchGAN). */
  scales?: number;
}

export const defaultDiscriminatorConfig: DiscriminatorConfig = { channels: 32, downLayers: 2 };

export function discriminatorConfig(partial: Partial<DiscriminatorConfig> = {}): DiscriminatorConfig {
  const c = { ...defaultDiscriminatorConfig, ...partial };
  if (!Number.isInteger(c.channels) || c.channels < 1) throw argumentError(`Expected positive integer discriminator channels but received ${c.channels}`);
  if (!Number.isInteger(c.downLayers) || c.downLayers < 1 || c.downLayers > 5) throw argumentError(`Expected 1 to 5 discriminator down layers but received ${c.downLayers}`);
  if (c.scales !== undefined && (!Number.isInteger(c.scales) || c.scales < 1 || c.scales > 4)) throw argumentError(`Expected 1 to 4 discriminator scales but received ${c.scales}`);
  if (c.spectralNorm !== undefined && typeof c.spectralNorm !== 'boolean') throw argumentError(`Expected spectralNorm true or false but received ${JSON.stringify(c.spectralNorm)}`);
  return c;
}

export interface DiscriminatorOptions {
  /**
   * Write the power-iteration step of spectral normalisation as updates of the u, v state (the
   * discriminator's own step graph does; a frozen copy in the generator's step graph does not).
   */
  updateSpectralNorm?: boolean;
}

/** Scores [N,1,h,w] and hidden activations (for feature matching) of one scale. */
export interface DiscriminatorScale {
  scores: Sym;
  features: Sym[];
}

/**
 * Scores and the activations of every hidden layer. `scores`/`features` are those of the first
 * (full-resolution) scale; `scales` lists every scale.
 */
export function buildDiscriminator(b: GraphBuilder, x: Sym, config: DiscriminatorConfig, prefix = 'd', branch = 'real', options: DiscriminatorOptions = {}): DiscriminatorScale & { scales: DiscriminatorScale[] } {
  const scales: DiscriminatorScale[] = [];
  let input = x;
  for (let s = 0; s < (config.scales ?? 1); ++s) {
    if (s > 0) input = b.op1('Resize', [input], { mode: 'linear', scales: [1, 1, 0.5, 0.5] }, `${prefix}.${branch}.down${s}`);
    // Scale 0 keeps the single-scale parameter names, so older checkpoints still load.
    scales.push(patchGan(b, input, config, s === 0 ? prefix : `${prefix}.s${s}`, branch, options));
  }
  return { ...scales[0], scales };
}

function patchGan(b: GraphBuilder, x: Sym, config: DiscriminatorConfig, prefix: string, branch: string, options: DiscriminatorOptions): DiscriminatorScale {
  const features: Sym[] = [];
  let h = x;
  let ch = config.channels;
  const layer = (i: number, out: number, stride: number, act: boolean): Sym => {
    const cin = h.shape[1];
    const shared = b.find(`${prefix}.l${i}.weight`);
    const w = shared ?? b.param(`${prefix}.l${i}.weight`, [out, cin, 4, 4], 'he', cin * 16);
    const bias = b.find(`${prefix}.l${i}.bias`) ?? b.param(`${prefix}.l${i}.bias`, [out], 'zeros');
    // The normalised weight is computed once per graph and reused by the other branch.
    const wn = config.spectralNorm ? (b.find(`${prefix}.l${i}.weight_sn`) ?? spectralNorm(b, w, `${prefix}.l${i}`, !!options.updateSpectralNorm)) : w;
    // pads [1,1,2,2] keep stride-1 layers at the same size with an even kernel.
    const y = b.op1('Conv2D', [h, wn, bias], { strides: [stride, stride], pads: stride === 2 ? [1, 1, 1, 1] : [1, 1, 2, 2] }, `${prefix}.${branch}.l${i}`);
    return act ? b.op1('LeakyRelu', [y], { alpha: 0.2 }, `${prefix}.${branch}.l${i}.act`) : y;
  };
  let i = 0;
  for (; i < config.downLayers; ++i, ch *= 2) features.push((h = layer(i, ch, 2, true)));
  features.push((h = layer(i++, ch, 1, true)));
  return { scores: layer(i, 1, 1, false), features };
}

/** Unit vectors (u [out], v [K]) from `iterations` power-iteration steps on the matrix w [out, K]. */
export function powerIteration(w: Float32Array, out: number, iterations: number, seed = 1): { u: Float32Array; v: Float32Array; sigma: number } {
  const k = w.length / out;
  const rng = mulberry32(seed);
  let u = Float64Array.from({ length: out }, () => rng() - 0.5);
  let v = new Float64Array(k);
  const normalize = (a: Float64Array) => {
    const n = Math.hypot(...a) || 1;
    return a.map((x) => x / n);
  };
  u = normalize(u);
  for (let it = 0; it < iterations; ++it) {
    v = new Float64Array(k);
    for (let r = 0; r < out; ++r) for (let c = 0; c < k; ++c) v[c] += w[r * k + c] * u[r];
    v = normalize(v);
    u = new Float64Array(out);
    for (let r = 0; r < out; ++r) for (let c = 0; c < k; ++c) u[r] += w[r * k + c] * v[c];
    u = normalize(u);
  }
  let sigma = 0;
  for (let r = 0; r < out; ++r) for (let c = 0; c < k; ++c) sigma += u[r] * w[r * k + c] * v[c];
  return { u: Float32Array.from(u), v: Float32Array.from(v), sigma };
}

/**
 * W / sigma(W) for a conv weight W [out, ...], with sigma = u^T W v (W seen as [out, K]). u and
 * v are state params '<name>.sn.u' [1,out] and '<name>.sn.v' [1,K], not trained: gradients do not
 * flow through them. They start from 20 power-iteration steps on W's initial value; with `update`
 * the graph also writes one more step from the current W: v <- W^T u / |W^T u|, u <- W v / |W v|
 * (after which sigma = |W v| >= 0, so the division is safe).
 */
export function spectralNorm(b: GraphBuilder, w: Sym, name: string, update: boolean): Sym {
  const out = w.shape[0];
  const k = w.shape.slice(1).reduce((a, d) => a * d, 1);
  let u = b.find(`${name}.sn.u`), v = b.find(`${name}.sn.v`);
  if (!u || !v) {
    const init = powerIteration(b.dataOf(w) ?? new Float32Array(out * k).fill(1), out, 20);
    u = b.param(`${name}.sn.u`, [1, out], init.u);
    v = b.param(`${name}.sn.v`, [1, k], init.v);
  }
  const uCol = b.op1('Reshape', [u], { shape: [out, 1] }, `${name}.sn.u_col`);
  const uv = b.op1('Reshape', [b.op1('MatMul', [uCol, v], {}, `${name}.sn.uv`)], { shape: [...w.shape] }, `${name}.sn.uv_w`);
  const sigma = b.op1('ReduceSum', [b.op1('Mul', [w, uv], {}, `${name}.sn.wuv`)], { keepdims: 0 }, `${name}.sn.sigma`);
  const wn = b.op1('Div', [w, sigma], {}, `${name}.weight_sn`);
  if (update) {
    const eps = b.constant(`${name}.sn.eps`, new Tensor([], [1e-12]));
    const normalize = (a: Sym, tag: string) => {
      const n = b.op1('Sqrt', [b.op1('ReduceSum', [b.op1('Mul', [a, a], {}, `${name}.sn.${tag}.sq`)], { keepdims: 1 }, `${name}.sn.${tag}.ss`)], {}, `${name}.sn.${tag}.norm`);
      return b.op1('Div', [a, b.op1('Add', [n, eps], {}, `${name}.sn.${tag}.norm_eps`)], {}, `${name}.sn.${tag}.unit`);
    };
    const wm = b.op1('Reshape', [w], { shape: [out, k] }, `${name}.sn.w_mat`);
    const v2 = normalize(b.op1('MatMul', [u, wm], {}, `${name}.sn.wtu`), 'v');
    const wv = b.op1('MatMul', [wm, b.op1('Reshape', [v2], { shape: [k, 1] }, `${name}.sn.v_col`)], {}, `${name}.sn.wv`);
    const u2 = normalize(b.op1('Reshape', [wv], { shape: [1, out] }, `${name}.sn.wv_row`), 'u');
    b.update(u2, u);
    b.update(v2, v);
  }
  return wn;
}
