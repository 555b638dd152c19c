// Shared pieces of the face tests (not a test file itself).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { GraphBuilder } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import type { RgbImage } from '../lib/face/types.js';
import { sharedData } from './helpers/shared.js';

export const DETECTOR = sharedData('models/detection/yunet_n_dynamic.onnx');
export const DETECTOR_FIXED_320 = sharedData('models/detection/yunet_s_320_320.onnx');
export const PFLD = sharedData('models/landmarks/pfld.onnx');
export const ANIME = sharedData('models/stylization/animeganv3_tiny_cute.onnx');
export const WHOLE = sharedData('faces/whole');

/** Every photo under faces/whole/<set>/ (relative names). */
export function wholePhotos(): string[] {
  return readdirSync(WHOLE)
    .flatMap((d) => readdirSync(path.join(WHOLE, d)).map((f) => `${d}/${f}`))
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort();
}

/** A tiny generator: one 1x1 convolution with weight -I, i.e. colour inversion in [-1,1]. */
export function invertingGenerator(size: number, batch = 1): Graph {
  const g = new GraphBuilder('invert');
  const x = g.input('x', [batch, 3, size, size]);
  const w = new Float32Array(9);
  w[0] = w[4] = w[8] = -1;
  const y = g.op1('Conv2D', [x, g.param('w', [3, 3, 1, 1], w)], {});
  g.output(y, 'y');
  return g.build();
}

/** Mean of |grad| (central differences of the mean of R,G,B) over pixels where `select` holds. */
export function meanGradient(img: RgbImage, select: (p: number) => boolean): { mean: number; count: number } {
  const { width: w, height: h, data } = img;
  const lum = (x: number, y: number) => (data[(y * w + x) * 3] + data[(y * w + x) * 3 + 1] + data[(y * w + x) * 3 + 2]) / 3;
  let sum = 0, count = 0;
  for (let y = 1; y < h - 1; ++y)
    for (let x = 1; x < w - 1; ++x) {
      const p = y * w + x;
      if (!select(p)) continue;
      const gx = (lum(x + 1, y) - lum(x - 1, y)) / 2, gy = (lum(x, y + 1) - lum(x, y - 1)) / 2;
      sum += Math.hypot(gx, gy);
      ++count;
    }
  return { mean: count ? sum / count : NaN, count };
}
