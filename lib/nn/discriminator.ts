// PatchGAN discriminator (pix2pix): 4x4 convs, stride 2 then 1, LeakyReLU 0.2, one score per
// overlapping patch. Calling it twice in one graph with the same prefix shares the weights (the
// real and the fake branch of a GAN loss).
import { argumentError } from '../errors.js';
import type { GraphBuilder, Sym } from '../graph/builder.js';

export interface DiscriminatorConfig {
  /** Channels of the first layer; each further layer doubles them. */
  channels: number;
  /** Stride-2 layers (each halves the resolution) before the two stride-1 layers. */
  downLayers: number;
}

export const defaultDiscriminatorConfig: DiscriminatorConfig = { channels: 32, downLayers: 2 };

export function discriminatorConfig(partial: Partial<DiscriminatorConfig> = {}): DiscriminatorConfig {
  const c = { ...defaultDiscriminatorConfig, ...partial };
  if (!Number.isInteger(c.channels) || c.channels < 1) throw argumentError(`Expected positive integer discriminator channels but received ${c.channels}`);
  if (!Number.isInteger(c.downLayers) || c.downLayers < 1 || c.downLayers > 5) throw argumentError(`Expected 1 to 5 discriminator down layers but received ${c.downLayers}`);
  return c;
}

/** Scores [N,1,h,w] and the activations of every hidden layer (for feature matching). */
export function buildDiscriminator(b: GraphBuilder, x: Sym, config: DiscriminatorConfig, prefix = 'd', branch = 'real'): { scores: Sym; features: Sym[] } {
  const features: Sym[] = [];
  let h = x;
  let ch = config.channels;
  const layer = (i: number, out: number, stride: number, act: boolean): Sym => {
    const cin = h.shape[1];
    const w = b.find(`${prefix}.l${i}.weight`) ?? b.param(`${prefix}.l${i}.weight`, [out, cin, 4, 4], 'he', cin * 16);
    const bias = b.find(`${prefix}.l${i}.bias`) ?? b.param(`${prefix}.l${i}.bias`, [out], 'zeros');
    // pads [1,1,2,2] keep stride-1 layers at the same size with an even kernel.
    const y = b.op1('Conv2D', [h, w, bias], { strides: [stride, stride], pads: stride === 2 ? [1, 1, 1, 1] : [1, 1, 2, 2] }, `${prefix}.${branch}.l${i}`);
    return act ? b.op1('LeakyRelu', [y], { alpha: 0.2 }, `${prefix}.${branch}.l${i}.act`) : y;
  };
  let i = 0;
  for (; i < config.downLayers; ++i, ch *= 2) features.push((h = layer(i, ch, 2, true)));
  features.push((h = layer(i++, ch, 1, true)));
  return { scores: layer(i, 1, 1, false), features };
}
