// The detector's tile sampler: the addon's sampleTile (native/cpu/sample_tile.cc) against the TypeScript
// loop it replaced (sampleTileReference in lib/face/detect.ts), byte for byte: shrinking by integer and
// fractional factors, enlarging (k < 1), tiles hanging over every edge of the frame, a 1x1 frame; and its
// bad arguments as coded errors.
import { describe, expect, it } from 'vitest';
import { sampleTileReference } from '../lib/face/detect.js';
import type { RgbImage } from '../lib/face/types.js';
import { mulberry32 } from '../lib/graph/tensor.js';
import { loadNative } from '../lib/native.js';

type Sampler = (frame: Uint8Array, width: number, height: number, x0: number, y0: number, k: number, tile: number) => Uint8Array;
const native = (loadNative() as unknown as { sampleTile: Sampler }).sampleTile;

function noiseFrame(width: number, height: number, seed: number): RgbImage {
  const rand = mulberry32(seed);
  return { data: new Uint8Array(width * height * 3).map(() => Math.floor(rand() * 256)), width, height };
}

describe('detector tile sampling', () => {
  it('the addon has it', () => {
    expect(typeof native).toBe('function');
  });

  it('gives the TypeScript reference byte for byte', () => {
    const frames = [noiseFrame(211, 157, 1), noiseFrame(64, 300, 2), noiseFrame(1, 1, 3)];
    const tiles = [
      { x0: 10.3, y0: 5.7, k: 1.0, tile: 40 },
      { x0: -30.5, y0: -12.25, k: 2.5, tile: 48 },  // hangs over the top-left, n = 3
      { x0: 150.75, y0: 120.1, k: 3.0, tile: 32 },  // over the bottom-right, integer shrink
      { x0: 20.2, y0: 30.9, k: 0.37, tile: 56 },    // enlarging: one sample per tile pixel
      { x0: -5, y0: -5, k: 7.01, tile: 33 },        // larger than the frame, n = 8
      { x0: 0, y0: 0, k: 1e-3, tile: 5 },
    ];
    let compared = 0;
    for (const frame of frames)
      for (const t of tiles) {
        const want = sampleTileReference(frame, t, t.tile);
        const got = native(frame.data, frame.width, frame.height, t.x0, t.y0, t.k, t.tile);
        expect(got.length).toBe(t.tile * t.tile * 3);
        let diff = 0;
        for (let i = 0; i < want.length; ++i) if (got[i] !== want[i]) ++diff;
        expect(diff, `${frame.width}x${frame.height} ${JSON.stringify(t)}`).toBe(0);
        compared += want.length;
      }
    expect(compared).toBeGreaterThan(50000);
  });

  it('rejects bad arguments with coded errors', () => {
    const f = noiseFrame(20, 10, 4);
    expect(() => native(f.data, 20, 11, 0, 0, 1, 8)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));  // frame too small
    expect(() => native(f.data, 20, 10, Number.NaN, 0, 1, 8)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    expect(() => native(f.data, 20, 10, 0, 0, 0, 8)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    expect(() => native(f.data, 20, 10, 0, 0, 1, 0)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
  });
});
