// WarpAffine: bilinear affine resampling of a batch of images, one 2x3 matrix per image.
// Used by face alignment (image -> aligned crop) and paste-back (crop -> image region).
//
// X [N,C,H,W], M [K,2,3] with K == N, or N == 1 and any K (K crops of one image: the image is
// not copied K times); Y [K,C,out_height,out_width].
// Convention (OpenCV's warpAffine with WARP_INVERSE_MAP): integer coordinates are pixel centres.
// Output pixel (x, y) of image n samples the input at (sx, sy) = M[n] * (x, y, 1). Each of the four
// bilinear taps that falls outside the input is resolved by `border`:
//   constant: the tap reads `value`;
//   reflect:  mirrored without repeating the edge pixel (ONNX Pad 'reflect': -1 -> 1);
//   edge:     clamped to the nearest edge pixel.
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { registerOp } from './registry.js';

export const WARP_BORDERS = ['constant', 'reflect', 'edge'] as const;
export type WarpBorder = (typeof WARP_BORDERS)[number];

function warpShape(x: Shape, m: Shape, attrs: Attrs): number[] {
  if (x.length !== 4) throw shapeError(`expected X of shape [N,C,H,W] but received ${shapeToString(x)}`);
  // M [K,2,3]: K == N (one matrix per image), or N == 1 (K crops of one image).
  if (m.length !== 3 || m[1] !== 2 || m[2] !== 3 || !(m[0] === x[0] || x[0] === 1))
    throw shapeError(`expected M of shape [${x[0] === 1 ? 'K' : x[0]},2,3] (one 2x3 matrix per image of X ${shapeToString(x)}) but received ${shapeToString(m)}`);
  const oh = attrs.out_height as number;
  const ow = attrs.out_width as number;
  if (!(oh >= 1) || !(ow >= 1)) throw shapeError(`expected out_height and out_width >= 1 but received ${oh}x${ow}`);
  if ((x[2] === 0 || x[3] === 0) && attrs.border !== 'constant')
    throw shapeError(`border '${attrs.border}' needs a non-empty input but received ${shapeToString(x)}`);
  return [m[0], x[1], oh, ow];
}

/** Input index for a tap at integer `i` along an axis of `n` pixels, or -1 for "use the constant". */
export function borderIndex(i: number, n: number, border: string): number {
  if (i >= 0 && i < n) return i;
  if (border === 'constant') return -1;
  if (border === 'edge' || n === 1) return i < 0 ? 0 : n - 1;
  // reflect: period 2(n-1), mirrored about 0 and n-1
  const period = 2 * (n - 1);
  let r = Math.abs(i) % period;
  if (r >= n) r = period - r;
  return r;
}

/** The plain reference: four taps per output pixel, computed in float64. */
function warpReference(x: Tensor, m: Tensor, attrs: Attrs): Tensor {
  const [n, c, h, w] = x.shape;
  const k = m.shape[0];
  const shape = warpShape(x.shape, m.shape, attrs);
  const [, , oh, ow] = shape;
  const border = attrs.border as string;
  const value = attrs.value as number;
  const y = new Tensor(shape);
  for (let b = 0; b < k; ++b) {
    const [a0, a1, a2, a3, a4, a5] = m.data.subarray(b * 6, b * 6 + 6);
    for (let ch = 0; ch < c; ++ch) {
      const plane = ((n === 1 ? 0 : b) * c + ch) * h * w;
      const tap = (iy: number, ix: number): number => {
        const ry = borderIndex(iy, h, border);
        const rx = borderIndex(ix, w, border);
        return ry < 0 || rx < 0 ? value : x.data[plane + ry * w + rx];
      };
      for (let oy = 0; oy < oh; ++oy)
        for (let ox = 0; ox < ow; ++ox) {
          const sx = a0 * ox + a1 * oy + a2;
          const sy = a3 * ox + a4 * oy + a5;
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const tx = sx - x0;
          const ty = sy - y0;
          const v =
            (1 - ty) * ((1 - tx) * tap(y0, x0) + tx * tap(y0, x0 + 1)) + ty * ((1 - tx) * tap(y0 + 1, x0) + tx * tap(y0 + 1, x0 + 1));
          y.data[((b * c + ch) * oh + oy) * ow + ox] = v;
        }
    }
  }
  return y;
}

registerOp({
  name: 'WarpAffine',
  doc: 'Bilinear affine warp; M [N,2,3] maps output pixel centres to input coordinates',
  inputs: { min: 2, max: 2, names: ['X', 'M'] },
  outputs: 1,
  attrs: {
    out_height: { type: 'int', doc: 'output height (required)' },
    out_width: { type: 'int', doc: 'output width (required)' },
    border: { type: 'string', default: 'constant', oneOf: WARP_BORDERS },
    value: { type: 'float', default: 0, doc: 'fill for border constant' },
  },
  inferShapes: ([x, m], attrs) => [warpShape(x as Shape, m as Shape, attrs)],
  reference: ([x, m], attrs) => [warpReference(x as Tensor, m as Tensor, attrs)],
});
