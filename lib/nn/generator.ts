// The light generator family: a small U-Net. Encoder: 3x3 convs (stride 2 to go down) with
// LeakyReLU; residual blocks at 1/8 resolution (two 3x3 convs, or MobileNetV2-style inverted
// residual blocks: 1x1 expand, depthwise 3x3, 1x1 project); decoder: 3x3 conv at the low
// resolution, then x2 upsampling and an additive skip from the encoder (cheap: the convs run
// before the upsampling). Output tanh, RGB in [-1, 1], or the input plus a learned correction
// (`residual`). Any input size divisible by 8 works.
import { argumentError } from '../errors.js';
import { GraphBuilder, type Sym } from '../graph/builder.js';
import type { Graph } from '../graph/ir.js';

export interface GeneratorConfig {
  /** Always 'light-unet' for this family (recorded in checkpoints and model cards). */
  arch: 'light-unet';
  /** Channels at full, 1/2, 1/4 and 1/8 resolution (before the width multiplier). */
  channels: [number, number, number, number];
  /** Multiplies every channel count (rounded, at least 4). */
  width: number;
  /** Residual blocks at 1/8 resolution. */
  resBlocks: number;
  /** LeakyReLU slope. */
  alpha: number;
  /**
   * x2 upsampling: 'bilinear' (Resize, no weights) or 'deconv' (a learned 2x2 stride-2
   * ConvTranspose2D per level, initialised to nearest-neighbour upsampling).
   */
  upsample?: 'bilinear' | 'deconv';
  /** Border handling of the 3x3 convs: zero padding (default) or reflect padding (a Pad node). */
  pad?: 'zeros' | 'reflect';
  /** Normalisation after each hidden conv: none (default) or InstanceNormalization. */
  norm?: 'none' | 'instance';
  /**
   * Blocks at 1/8 resolution: 'residual' (two 3x3 convs, default) or 'inverted' (1x1 expand by
   * `expand`, depthwise 3x3, 1x1 project, no activation after the projection).
   */
  block?: 'residual' | 'inverted';
  /** Expansion factor of inverted residual blocks (default 4). */
  expand?: number;
  /**
   * true: the output is input + last conv (no tanh), the last conv starting at zero, so an
   * untrained model is the identity and training learns only the change of style (the photo
   * and its stylized version share most of their pixels).
   */
  residual?: boolean;
}

export const defaultGeneratorConfig: GeneratorConfig = { arch: 'light-unet', channels: [16, 32, 64, 96], width: 1, resBlocks: 2, alpha: 0.2 };

/** The most residual blocks and channels a level a generator config may have. */
export const MAX_RES_BLOCKS = 64;
export const MAX_CHANNELS = 4096;

export function generatorConfig(partial: Partial<GeneratorConfig> = {}): GeneratorConfig {
  const c = { ...defaultGeneratorConfig, ...partial };
  if (c.arch !== 'light-unet') throw argumentError(`Expected generator arch 'light-unet' but received '${c.arch}'`);
  if (!(c.width > 0)) throw argumentError(`Expected positive width multiplier but received ${c.width}`);
  // The LeakyReLU slope: a number in [0, 1) (a card's 1e999 reads as Infinity).
  if (!(typeof c.alpha === 'number' && c.alpha >= 0 && c.alpha < 1)) throw argumentError(`Expected a LeakyReLU slope (alpha) in [0, 1) but received ${typeof c.alpha === 'number' ? c.alpha : JSON.stringify(c.alpha)}`);
  if (!Array.isArray(c.channels) || c.channels.length !== 4 || c.channels.some((v) => !Number.isInteger(v) || v < 1)) throw argumentError(`Expected 4 positive channel counts but received ${JSON.stringify(c.channels)}`);
  if (c.pad !== undefined && c.pad !== 'zeros' && c.pad !== 'reflect') throw argumentError(`Expected pad 'zeros' or 'reflect' but received '${c.pad}'`);
  if (c.norm !== undefined && c.norm !== 'none' && c.norm !== 'instance') throw argumentError(`Expected norm 'none' or 'instance' but received '${c.norm}'`);
  if (c.upsample !== undefined && c.upsample !== 'bilinear' && c.upsample !== 'deconv') throw argumentError(`Expected upsample 'bilinear' or 'deconv' but received '${c.upsample}'`);
  if (!Number.isInteger(c.resBlocks) || c.resBlocks < 0 || c.resBlocks > MAX_RES_BLOCKS) throw argumentError(`Expected a whole number of residual blocks (resBlocks) in 0..${MAX_RES_BLOCKS} but received ${c.resBlocks}`);
  // Bounds that no light generator comes near, so that a card or checkpoint of absurd size (a damaged or
  // crafted file) is refused before it allocates anything.
  if (!(c.width <= 64)) throw argumentError(`Expected a width multiplier of at most 64 but received ${c.width}`);
  if (c.channels.some((v) => Math.round(v * c.width) > MAX_CHANNELS)) throw argumentError(`Expected at most ${MAX_CHANNELS} channels a level (after the width multiplier) but received ${JSON.stringify(c.channels)} x ${c.width}`);
  if (c.block !== undefined && c.block !== 'residual' && c.block !== 'inverted') throw argumentError(`Expected block 'residual' or 'inverted' but received '${c.block}'`);
  if (c.expand !== undefined && !(Number.isInteger(c.expand) && c.expand >= 1 && c.expand <= 64)) throw argumentError(`Expected a whole expand factor in 1..64 but received ${c.expand}`);
  if (c.residual !== undefined && typeof c.residual !== 'boolean') throw argumentError(`Expected residual true or false but received ${JSON.stringify(c.residual)}`);
  return c;
}

/** Writes the generator into `b` on `x` [N,3,H,W]; returns the output Sym. Param names start with `prefix`. */
export function buildGenerator(b: GraphBuilder, x: Sym, config: GeneratorConfig, prefix = 'g'): Sym {
  const [n, c, h, w] = x.shape;
  if (x.shape.length !== 4 || c !== 3) throw argumentError(`Generator expects RGB input [N,3,H,W] but received [${x.shape.join(',')}]`);
  if (h % 8 !== 0 || w % 8 !== 0) throw argumentError(`Generator input height and width must be divisible by 8 but received ${h}x${w}`);
  void n;
  const ch = config.channels.map((v) => Math.max(4, Math.round(v * config.width)));
  const act = (s: Sym, name: string) => b.op1('LeakyRelu', [s], { alpha: config.alpha }, name);
  const reflect = config.pad === 'reflect';
  const conv = (s: Sym, out: number, name: string, stride = 1) => {
    const input = reflect ? b.op1('Pad', [s], { mode: 'reflect', pads: [0, 0, 1, 1, 0, 0, 1, 1] }, `${prefix}.${name}.pad`) : s;
    const y = b.conv2d(input, { out, kernel: 3, stride, pad: reflect ? 0 : 1, name: `${prefix}.${name}` });
    if (config.norm !== 'instance' || name === 'out') return y;
    const scale = b.param(`${prefix}.${name}.norm.scale`, [out], 'ones');
    const bias = b.param(`${prefix}.${name}.norm.bias`, [out], 'zeros');
    return b.op1('InstanceNormalization', [y, scale, bias], {}, `${prefix}.${name}.norm`);
  };
  const up = (s: Sym, name: string) => {
    if ((config.upsample ?? 'bilinear') === 'bilinear') return b.op1('Resize', [s], { mode: 'linear', scales: [1, 1, 2, 2] }, `${prefix}.${name}`);
    const c = s.shape[1];
    const w = b.param(`${prefix}.${name}.weight`, [c, c, 2, 2], (n) => {
      const d = new Float32Array(n);
      for (let i = 0; i < c; ++i) d.fill(1, (i * c + i) * 4, (i * c + i) * 4 + 4);
      return d;
    });
    return b.op1('ConvTranspose2D', [s, w], { strides: [2, 2] }, `${prefix}.${name}`);
  };

  const e0 = act(conv(x, ch[0], 'enc0'), `${prefix}.enc0.act`);
  const e1 = act(conv(e0, ch[1], 'enc1', 2), `${prefix}.enc1.act`);
  const e2 = act(conv(e1, ch[2], 'enc2', 2), `${prefix}.enc2.act`);
  let r = act(conv(e2, ch[3], 'enc3', 2), `${prefix}.enc3.act`);
  const inverted = config.block === 'inverted';
  const hidden = ch[3] * (config.expand ?? 4);
  for (let i = 0; i < config.resBlocks; ++i) {
    if (inverted) {
      const e = act(b.conv2d(r, { out: hidden, kernel: 1, name: `${prefix}.res${i}.expand` }), `${prefix}.res${i}.expand.act`);
      const d = act(b.conv2d(e, { out: hidden, kernel: 3, pad: 1, groups: hidden, name: `${prefix}.res${i}.dw` }), `${prefix}.res${i}.dw.act`);
      r = b.add(r, b.conv2d(d, { out: ch[3], kernel: 1, name: `${prefix}.res${i}.project` }), `${prefix}.res${i}.add`);
      continue;
    }
    const t = act(conv(r, ch[3], `res${i}.conv0`), `${prefix}.res${i}.act`);
    r = b.add(r, conv(t, ch[3], `res${i}.conv1`), `${prefix}.res${i}.add`);
  }
  const d2 = b.add(up(act(conv(r, ch[2], 'dec2'), `${prefix}.dec2.act`), 'dec2.up'), e2, `${prefix}.dec2.skip`);
  const d1 = b.add(up(act(conv(d2, ch[1], 'dec1'), `${prefix}.dec1.act`), 'dec1.up'), e1, `${prefix}.dec1.skip`);
  const d0 = b.add(up(act(conv(d1, ch[0], 'dec0'), `${prefix}.dec0.act`), 'dec0.up'), e0, `${prefix}.dec0.skip`);
  const f = act(conv(d0, ch[0], 'head0'), `${prefix}.head0.act`);
  if (!config.residual) return b.op1('Tanh', [conv(f, 3, 'out')], {}, `${prefix}.tanh`);
  // Zero-initialised last conv: the untrained model is exactly the identity.
  const fin = reflect ? b.op1('Pad', [f], { mode: 'reflect', pads: [0, 0, 1, 1, 0, 0, 1, 1] }, `${prefix}.out.pad`) : f;
  const ow = b.param(`${prefix}.out.weight`, [3, ch[0], 3, 3], 'zeros');
  const bias = b.param(`${prefix}.out.bias`, [3], 'zeros');
  const delta = b.op1('Conv2D', [fin, ow, bias], { strides: [1, 1], pads: reflect ? [0, 0, 0, 0] : [1, 1, 1, 1], dilations: [1, 1], group: 1 }, `${prefix}.out`);
  return b.add(x, delta, `${prefix}.residual`);
}

/**
 * An inference graph: input 'image' [batch,3,H,W] -> output 'stylized'. initParams: false builds the
 * parameters' names and shapes only (weights to come from a file).
 */
export function generatorGraph(config: GeneratorConfig, options: { height: number; width: number; batch?: number; seed?: number; initParams?: boolean }): Graph {
  const b = new GraphBuilder('generator', { seed: options.seed ?? 1, initParams: options.initParams });
  const x = b.input('image', [options.batch ?? 1, 3, options.height, options.width]);
  b.output(buildGenerator(b, x, config), 'stylized');
  return b.build();
}
