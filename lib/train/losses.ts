// Loss terms written into a step graph. Fused ops (L1Loss, ColorLoss, LsganLoss ...) where a
// dedicated kernel is simpler; compositions of ops elsewhere (the edge loss is L1 between
// Laplacians computed by a fixed depthwise convolution).
import { shapeError } from '../errors.js';
import type { GraphBuilder, Sym } from '../graph/builder.js';
import * as is from '../is.js';
import { Tensor } from '../graph/tensor.js';

/** 3x3 Laplacian [[0,1,0],[1,-4,1],[0,1,0]] per channel, as a depthwise conv weight [C,1,3,3]. */
export function laplacianKernel(channels: number): Tensor {
  const k = [0, 1, 0, 1, -4, 1, 0, 1, 0];
  const data = new Float32Array(channels * 9);
  for (let c = 0; c < channels; ++c) data.set(k, c * 9);
  return new Tensor([channels, 1, 3, 3], data);
}

export function laplacian(b: GraphBuilder, x: Sym, name: string): Sym {
  const c = x.shape[1];
  const k = b.find('loss.laplacian') ?? b.constant('loss.laplacian', laplacianKernel(c));
  return b.op1('Conv2D', [x, k], { pads: [1, 1, 1, 1], group: c }, name);
}

/** Laplacian edge loss: mean |lap(pred) - lap(target)|. */
export function edgeLoss(b: GraphBuilder, pred: Sym, target: Sym): Sym {
  return b.op1('L1Loss', [laplacian(b, pred, 'loss.edge.pred'), laplacian(b, target, 'loss.edge.target')], {}, 'loss.edge');
}

export const l1Loss = (b: GraphBuilder, pred: Sym, target: Sym, name = 'loss.l1'): Sym => b.op1('L1Loss', [pred, target], {}, name);
export const colorLoss = (b: GraphBuilder, pred: Sym, target: Sym): Sym => b.op1('ColorLoss', [pred, target], {}, 'loss.color');
export const lsganLoss = (b: GraphBuilder, scores: Sym, real: boolean, name: string): Sym => b.op1('LsganLoss', [scores], { target: real ? 1 : 0 }, name);

/** PSNR in dB of images in [-1, 1] (peak-to-peak 2). */
export function psnr(a: Float32Array, b: Float32Array): number {
  if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) throw is.invalid('psnr images', 'two Float32Arrays', a instanceof Float32Array ? b : a);
  if (a.length !== b.length) throw shapeError(`psnr: the images have ${a.length} and ${b.length} values; expected the same size`);
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += (a[i] - b[i]) ** 2;
  const mse = s / a.length / 4; // rescaled to [0, 1]
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/** Mean absolute error of images in [-1, 1], reported in [0, 1] units. */
export function meanAbs(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += Math.abs(a[i] - b[i]);
  return s / a.length / 2;
}

/**
 * Gram matrices of feature maps [N,C,H,W] -> [N,C,C]: G[n] = F F^T / (C*H*W) with F = x[n] as
 * [C, H*W] (channel correlations: what a "style" is in Gatys et al.).
 */
export function gramMatrix(b: GraphBuilder, x: Sym, name: string): Sym {
  const [n, c, h, w] = x.shape;
  const f = b.op1('Reshape', [x], { shape: [n, c, h * w] }, `${name}.flat`);
  const ft = b.op1('Transpose', [f], { perm: [0, 2, 1] }, `${name}.flat_t`);
  const scale = b.find('loss.gram.scale.' + c * h * w) ?? b.constant('loss.gram.scale.' + c * h * w, new Tensor([], [1 / (c * h * w)]));
  return b.op1('Mul', [b.op1('MatMul', [f, ft], {}, `${name}.ffT`), scale], {}, name);
}

/** Style loss: mean squared difference of the Gram matrices of two feature maps. */
export function styleLoss(b: GraphBuilder, a: Sym, target: Sym, name = 'loss.style'): Sym {
  return b.op1('MseLoss', [gramMatrix(b, a, `${name}.gram_a`), gramMatrix(b, target, `${name}.gram_b`)], {}, name);
}
