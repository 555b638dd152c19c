// WarpAffine: the native kernel against closed-form expectations and the TS reference, with
// sub-pixel shifts and every border mode; the face warp helper's batching.
import { describe, expect, it } from 'vitest';
import { Tensor } from '../lib/graph/tensor.js';
import { getOp, normalizeAttrs } from '../lib/ops/index.js';
import { borderIndex } from '../lib/ops/warp.js';
import { warpAffine } from '../lib/face/warp.js';
import type { Affine2x3 } from '../lib/face/types.js';
import { compareClose } from './helpers/tensors.js';

const reference = (x: Tensor, m: Affine2x3[], oh: number, ow: number, border = 'constant', value = 0) =>
  getOp('WarpAffine').reference([x, new Tensor([m.length, 2, 3], m.flat())], normalizeAttrs(getOp('WarpAffine'), { out_height: oh, out_width: ow, border, value }))[0];

describe('WarpAffine', () => {
  it('reproduces a linear ramp exactly under sub-pixel shifts (bilinear is exact on planes)', async () => {
    const h = 12, w = 16;
    const x = new Tensor([1, 1, h, w], Float32Array.from({ length: h * w }, (_, i) => 0.5 * (i % w) - 0.25 * Math.floor(i / w) + 3));
    for (const [dx, dy] of [[0.25, 0.5], [0.125, 0.875], [1.6, 2.3]]) {
      const y = await warpAffine(x, [[1, 0, dx, 0, 1, dy]], 6, 8, { border: 'edge' });
      for (let oy = 0; oy < 6; ++oy)
        for (let ox = 0; ox < 8; ++ox) expect(y.data[oy * 8 + ox]).toBeCloseTo(0.5 * (ox + dx) - 0.25 * (oy + dy) + 3, 4);
    }
  });

  it('resolves taps outside the input by constant, reflect (no edge repeat) and edge', async () => {
    const x = new Tensor([1, 1, 1, 4], [10, 20, 30, 40]);
    // Output pixel i samples input x = i - 2 (integer shift: no interpolation).
    const shift: Affine2x3 = [1, 0, -2, 0, 1, 0];
    const run = (border: 'constant' | 'reflect' | 'edge') => warpAffine(x, [shift], 1, 8, { border, value: -1 }).then((t) => [...t.data]);
    expect(await run('constant')).toEqual([-1, -1, 10, 20, 30, 40, -1, -1]);
    expect(await run('reflect')).toEqual([30, 20, 10, 20, 30, 40, 30, 20]);
    expect(await run('edge')).toEqual([10, 10, 10, 20, 30, 40, 40, 40]);
    // Half a pixel left of the first pixel: half of the border tap, half of the first pixel.
    const half = await warpAffine(x, [[1, 0, -0.5, 0, 1, 0]], 1, 1, { border: 'constant', value: 0 });
    expect(half.data[0]).toBeCloseTo(5, 5);
  });

  it('reflect index follows the mirror rule far outside', () => {
    expect([-1, -2, -3, -6, 4, 5, 6, 9].map((i) => borderIndex(i, 4, 'reflect'))).toEqual([1, 2, 3, 0, 2, 1, 0, 3]);
    expect(borderIndex(-7, 1, 'reflect')).toBe(0);
  });

  it('matches the TS reference for rotations, scales and sub-pixel shifts on every border', async () => {
    const x = Tensor.random([1, 3, 23, 31], 7, 0, 1);
    const mats: Affine2x3[] = [];
    for (let k = 0; k < 6; ++k) {
      const r = 0.4 * k - 1, s = 0.6 + 0.3 * k;
      mats.push([Math.cos(r) * s, -Math.sin(r) * s, 3.37 * k - 6.1, Math.sin(r) * s, Math.cos(r) * s, -2.71 * k + 4.3]);
    }
    for (const border of ['constant', 'reflect', 'edge'] as const) {
      const got = await warpAffine(x, mats, 17, 19, { border, value: 0.5 });
      const want = reference(x, mats, 17, 19, border, 0.5);
      const r = compareClose(got, want, 2e-5, 1e-4);
      expect(r.ok, `${border}: ${r.message}`).toBe(true);
    }
  });

  it('one image with K matrices equals K separate warps (no image copies)', async () => {
    const x = Tensor.random([1, 2, 10, 10], 3, 0, 1);
    const mats: Affine2x3[] = [[1, 0, 0.5, 0, 1, 0.5], [0.5, 0.1, 2, -0.1, 0.5, 3], [2, 0, -3, 0, 2, -3]];
    const batched = await warpAffine(x, mats, 5, 6, { border: 'reflect' });
    expect(batched.shape).toEqual([3, 2, 5, 6]);
    for (let k = 0; k < 3; ++k) {
      const one = await warpAffine(x, [mats[k]], 5, 6, { border: 'reflect' });
      expect([...batched.data.subarray(k * 60, (k + 1) * 60)]).toEqual([...one.data]);
    }
  });

  it('many concurrent warps of more shapes than the session cache holds all succeed (evicted sessions were disposed under calls that had taken them)', async () => {
    const x = new Tensor([1, 1, 16, 16], Float32Array.from({ length: 256 }, (_, i) => i));
    const shift: Affine2x3 = [1, 0, 0.5, 0, 1, 0.25];
    // 20 output shapes at once (the cache keeps 12): each must equal the same warp done alone.
    const shapes = Array.from({ length: 20 }, (_, i) => [4 + i, 8] as const);
    const together = await Promise.allSettled(shapes.map(([h, w]) => warpAffine(x, [shift], h, w)));
    expect(together.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    for (const [i, [h, w]] of shapes.entries()) {
      const alone = await warpAffine(x, [shift], h, w);
      expect(Array.from((together[i] as PromiseFulfilledResult<Tensor>).value.data), `${h}x${w}`).toEqual(Array.from(alone.data));
    }
  });

  it('refuses a matrix batch that does not match the images', async () => {
    const x = Tensor.random([2, 1, 4, 4], 1);
    await expect(warpAffine(x, [[1, 0, 0, 0, 1, 0]], 4, 4)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE' });
  });
});
