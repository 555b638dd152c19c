import type { OpCase } from '../case.js';

// Matrices map output pixel centres to input coordinates: [a, b, tx, c, d, ty] per image.
const identity = [1, 0, 0, 0, 1, 0];
const shift = (dx: number, dy: number) => [1, 0, dx, 0, 1, dy];
// Rotation by `deg` and scale `s` about the input centre (cx, cy), output centre (ox, oy).
function rotation(deg: number, s: number, cx: number, cy: number, ox: number, oy: number): number[] {
  const r = (deg * Math.PI) / 180;
  const a = Math.cos(r) / s;
  const b = -Math.sin(r) / s;
  return [a, b, cx - a * ox - b * oy, -b, a, cy + b * ox - a * oy];
}

const x = (n: number, c: number, h: number, w: number) => ({ shape: [n, c, h, w] });
const m = (...mats: number[][]) => ({ shape: [mats.length, 2, 3], data: mats.flat() });

export const cases: OpCase[] = [
  { op: 'WarpAffine', label: 'identity', inputs: [x(1, 3, 9, 11), m(identity)], attrs: { out_height: 9, out_width: 11 } },
  { op: 'WarpAffine', label: 'sub-pixel shift, constant 0.25', inputs: [x(1, 2, 8, 8), m(shift(0.37, -0.81))], attrs: { out_height: 8, out_width: 8, value: 0.25 } },
  { op: 'WarpAffine', label: 'sub-pixel shift, reflect', inputs: [x(1, 2, 8, 8), m(shift(-1.63, 2.29))], attrs: { out_height: 8, out_width: 8, border: 'reflect' } },
  { op: 'WarpAffine', label: 'sub-pixel shift, edge', inputs: [x(1, 2, 8, 8), m(shift(2.5, -0.5))], attrs: { out_height: 8, out_width: 8, border: 'edge' } },
  { op: 'WarpAffine', label: 'rotate+zoom out past borders, constant', inputs: [x(1, 3, 12, 10), m(rotation(33, 0.5, 4.5, 5.5, 10, 9))], attrs: { out_height: 19, out_width: 21 } },
  { op: 'WarpAffine', label: 'rotate+zoom out past borders, reflect', inputs: [x(1, 3, 12, 10), m(rotation(-71, 0.4, 4.5, 5.5, 10, 9))], attrs: { out_height: 19, out_width: 21, border: 'reflect' } },
  { op: 'WarpAffine', label: 'rotate+zoom out past borders, edge', inputs: [x(1, 3, 12, 10), m(rotation(123, 0.45, 4.5, 5.5, 10, 9))], attrs: { out_height: 19, out_width: 21, border: 'edge' } },
  { op: 'WarpAffine', label: 'far outside: reflect wraps several periods', inputs: [x(1, 1, 5, 4), m(shift(-23.3, 17.6))], attrs: { out_height: 6, out_width: 7, border: 'reflect' } },
  {
    op: 'WarpAffine',
    label: 'batch of 3, one matrix each, downscale',
    inputs: [x(3, 4, 16, 16), m(rotation(10, 0.5, 7.5, 7.5, 3.5, 3.5), shift(0.5, 0.5), [2, 0, 0.5, 0, 2, 0.5])],
    attrs: { out_height: 8, out_width: 8, border: 'edge' },
  },
  { op: 'WarpAffine', label: '1x1 input, reflect', inputs: [x(2, 1, 1, 1), m(shift(0.3, 0.6), shift(-2.2, 1.7))], attrs: { out_height: 3, out_width: 2, border: 'reflect' } },
  { op: 'WarpAffine', label: 'large output (threaded)', inputs: [x(2, 3, 64, 64), m(rotation(20, 1.7, 31.5, 31.5, 60, 50), rotation(-5, 0.8, 31.5, 31.5, 60, 50))], attrs: { out_height: 100, out_width: 120 } },
];
cases.push({
  op: 'WarpAffine',
  label: 'one image, 3 crops (N=1, K=3)',
  inputs: [x(1, 3, 20, 24), m(rotation(15, 1, 11.5, 9.5, 4, 4), shift(-2.25, 13.5), rotation(-40, 2, 20, 2, 4, 4))],
  attrs: { out_height: 9, out_width: 8, border: 'reflect' },
});
