// The face detector's input sampler: the addon's sampleDetectorInput (native/cpu/detector_input.cc) and
// its TypeScript fallback (sampleDetectorInputJs in lib/face/detect.ts) against the definition summed the
// long way, value for value: shrinking by integer and fractional factors, different factors across and
// down, enlarging (k < 1), regions hanging over every edge of the frame, a 1x1 frame, at an offset inside
// a batch, sums past 32 bits on a white frame; what the numbers mean (a copy at k = 1, the mean of a block
// at k = 2, BGR planes, the letterbox left as it was, the mirror image); and bad arguments as coded errors.
import { describe, expect, it } from 'vitest';
import { type DetectorSample, mirrorDetectorInput, sampleDetectorInput, sampleDetectorInputJs } from '../lib/face/detect.js';
import type { RgbImage } from '../lib/face/types.js';
import { mulberry32 } from '../lib/graph/tensor.js';
import { loadNative } from '../lib/native.js';

type Sampler = (frame: Uint8Array, width: number, height: number, x0: number, y0: number, kx: number, ky: number, outW: number, outH: number, out: Float32Array, offset: number, netW: number, netH: number) => void;
const native = (loadNative() as unknown as { sampleDetectorInput: Sampler }).sampleDetectorInput;

function noiseFrame(width: number, height: number, seed: number): RgbImage {
  const rand = mulberry32(seed);
  return { data: new Uint8Array(width * height * 3).map(() => Math.floor(rand() * 256)), width, height };
}

/**
 * The definition, summed the long way: output pixel (u, v) is the mean of n x n bilinear samples (n =
 * ceil(k) per axis) at x0 + ((i + 0.5) / n) k - 0.5 (i = u n .. u n + n - 1), clamped to the frame, each
 * the four neighbours weighted in 1/256 steps, rounded half up to a whole level; planes B, G, R.
 */
function bruteForce(frame: RgbImage, s: Omit<DetectorSample, 'mirror'>, out: Float32Array, offset: number, netW: number, netH: number) {
  const taps = (p0: number, k: number, count: number, size: number) => {
    const n = Math.max(1, Math.ceil(k - 1e-6));
    return {
      n,
      at: (i: number) => {
        const p = Math.min(size - 1, Math.max(0, p0 + ((i + 0.5) / n) * k - 0.5));
        const lo = Math.floor(p);
        return { lo, hi: Math.min(size - 1, lo + 1), w: Math.round((p - lo) * 256) };
      },
    };
  };
  const xs = taps(s.x0, s.kx, s.width, frame.width), ys = taps(s.y0, s.ky, s.height, frame.height);
  const px = (x: number, y: number, c: number) => frame.data[(y * frame.width + x) * 3 + c];
  const denom = xs.n * ys.n * 65536;
  for (let v = 0; v < s.height; ++v)
    for (let u = 0; u < s.width; ++u)
      for (let c = 0; c < 3; ++c) {
        let sum = 0;
        for (let j = v * ys.n; j < (v + 1) * ys.n; ++j)
          for (let i = u * xs.n; i < (u + 1) * xs.n; ++i) {
            const y = ys.at(j), x = xs.at(i);
            const top = px(x.lo, y.lo, c) * (256 - x.w) + px(x.hi, y.lo, c) * x.w;
            const bottom = px(x.lo, y.hi, c) * (256 - x.w) + px(x.hi, y.hi, c) * x.w;
            sum += top * (256 - y.w) + bottom * y.w;
          }
        out[offset + (2 - c) * netW * netH + v * netW + u] = Math.floor((sum + denom / 2) / denom);
      }
}

function nativeSample(frame: RgbImage, s: Omit<DetectorSample, 'mirror'>, out: Float32Array, offset: number, netW: number, netH: number) {
  native(frame.data, frame.width, frame.height, s.x0, s.y0, s.kx, s.ky, s.width, s.height, out, offset, netW, netH);
}

describe('detector input sampling', () => {
  it('the addon has it', () => {
    expect(typeof native).toBe('function');
  });

  it('gives the definition summed the long way, value for value, as does the TypeScript fallback', () => {
    const white: RgbImage = { data: new Uint8Array(300 * 40 * 3).fill(255), width: 300, height: 40 };
    const frames = [noiseFrame(211, 157, 1), noiseFrame(64, 300, 2), noiseFrame(1, 1, 3), white];
    const samples: Omit<DetectorSample, 'mirror'>[] = [
      { x0: 10.3, y0: 5.7, kx: 1.0, ky: 1.0, width: 40, height: 40 },
      { x0: -30.5, y0: -12.25, kx: 2.5, ky: 2.5, width: 48, height: 48 }, // hangs over the top-left, n = 3
      { x0: 150.75, y0: 120.1, kx: 3.0, ky: 3.0, width: 32, height: 32 }, // over the bottom-right, integer shrink
      { x0: 20.2, y0: 30.9, kx: 0.37, ky: 0.37, width: 56, height: 56 }, // enlarging: one sample per pixel
      { x0: -5, y0: -5, kx: 7.01, ky: 7.01, width: 33, height: 33 }, // larger than the frame, n = 8
      { x0: 0, y0: 0, kx: 1e-3, ky: 1e-3, width: 5, height: 5 },
      { x0: 0, y0: 0, kx: 211 / 96, ky: 157 / 71, width: 96, height: 71 }, // a letterboxed resize: kx != ky
      { x0: 3, y0: 1, kx: 0.8, ky: 4.2, width: 37, height: 20 }, // enlarged across, shrunk down
      { x0: 5, y0: 4, kx: 1, ky: 1, width: 50, height: 40 }, // whole pixels: the copy path where it fits
      { x0: -2, y0: 0, kx: 1, ky: 1, width: 30, height: 20 }, // whole pixels over the left edge (clamped)
      { x0: 0, y0: 0, kx: 16, ky: 8, width: 12, height: 4 }, // 128 samples a pixel: the largest 32-bit horizontal sum
      { x0: 0, y0: 0, kx: 12, ky: 12, width: 20, height: 3 }, // 144: 64-bit horizontal sums
    ];
    let compared = 0;
    for (const frame of frames)
      for (const s of samples) {
        const netW = s.width + 7, netH = s.height + 3, item = 3 * netW * netH;
        // The second item of a batch of two, the letterbox pre-filled with a marker that must survive.
        const want = new Float32Array(2 * item).fill(-1), got = new Float32Array(2 * item).fill(-1), js = new Float32Array(2 * item).fill(-1);
        bruteForce(frame, s, want, item, netW, netH);
        nativeSample(frame, s, got, item, netW, netH);
        sampleDetectorInputJs(frame, s, js, item, netW, netH);
        let diff = 0, jsDiff = 0;
        for (let i = 0; i < want.length; ++i) {
          if (got[i] !== want[i]) ++diff;
          if (js[i] !== want[i]) ++jsDiff;
        }
        expect(diff, `native ${frame.width}x${frame.height} ${JSON.stringify(s)}`).toBe(0);
        expect(jsDiff, `fallback ${frame.width}x${frame.height} ${JSON.stringify(s)}`).toBe(0);
        expect(got.subarray(0, item).every((v) => v === -1)).toBe(true); // the first item untouched
        if (frame === white) expect(got.subarray(item, item + s.width).every((v) => v === 255)).toBe(true); // no overflow
        compared += s.width * s.height * 3;
      }
    expect(compared).toBeGreaterThan(50000);
  });

  it('copies pixels at k = 1, averages 2x2 blocks at k = 2, writes planes B, G, R and mirrors', () => {
    const frame = noiseFrame(9, 7, 5);
    const W = frame.width, netW = 12, netH = 8, plane = netW * netH;
    const px = (x: number, y: number, c: number) => frame.data[(y * W + x) * 3 + c];
    const copy = new Float32Array(3 * plane);
    nativeSample(frame, { x0: 2, y0: 1, kx: 1, ky: 1, width: 5, height: 4 }, copy, 0, netW, netH);
    // lib/face's wrapper mirrors after sampling: in place, or copied into another array.
    const mirrored = new Float32Array(3 * plane);
    sampleDetectorInput(frame, { x0: 2, y0: 1, kx: 1, ky: 1, width: 5, height: 4, mirror: true }, mirrored, 0, netW, netH);
    const copied = new Float32Array(3 * plane);
    mirrorDetectorInput(copy, 0, copied, 0, 5, 4, netW, netH);
    expect(Array.from(copied)).toEqual(Array.from(mirrored));
    for (let v = 0; v < 4; ++v)
      for (let u = 0; u < 5; ++u)
        for (let c = 0; c < 3; ++c) {
          expect(copy[(2 - c) * plane + v * netW + u]).toBe(px(u + 2, v + 1, c));
          expect(mirrored[(2 - c) * plane + v * netW + (4 - u)]).toBe(px(u + 2, v + 1, c));
        }
    expect(copy[5]).toBe(0); // past the region: the letterbox stays zero
    const half = new Float32Array(3 * plane);
    nativeSample(frame, { x0: 0, y0: 0, kx: 2, ky: 2, width: 4, height: 3 }, half, 0, netW, netH);
    for (let v = 0; v < 3; ++v)
      for (let u = 0; u < 4; ++u)
        for (let c = 0; c < 3; ++c) {
          const sum = px(2 * u, 2 * v, c) + px(2 * u + 1, 2 * v, c) + px(2 * u, 2 * v + 1, c) + px(2 * u + 1, 2 * v + 1, c);
          expect(half[(2 - c) * plane + v * netW + u]).toBe(Math.floor(sum / 4 + 0.5));
        }
  });

  it('rejects bad arguments with coded errors', () => {
    const f = noiseFrame(20, 10, 4);
    const out = new Float32Array(3 * 8 * 8);
    const call = (over: Partial<{ h: number; x0: number; k: number; w: number; out: unknown; offset: number; netW: number }>) => () =>
      native(f.data, 20, over.h ?? 10, over.x0 ?? 0, 0, over.k ?? 1, 1, over.w ?? 8, 8, (over.out ?? out) as Float32Array, over.offset ?? 0, over.netW ?? 8, 8);
    expect(call({})).not.toThrow();
    const coded = expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect(call({ h: 11 })).toThrow(coded); // frame too small
    expect(call({ x0: Number.NaN })).toThrow(coded);
    expect(call({ k: 0 })).toThrow(coded);
    expect(call({ w: 0 })).toThrow(coded);
    expect(call({ w: 9 })).toThrow(coded); // wider than the network input
    expect(call({ out: new Uint8Array(192) })).toThrow(coded);
    expect(call({ offset: 1 })).toThrow(coded); // no room for the item after the offset
    expect(call({ netW: 7 })).toThrow(coded);
    expect(call({ k: Number.POSITIVE_INFINITY })).toThrow(coded);
    expect(call({ offset: -1 })).toThrow(coded);
    // Samples per axis (outW x ceil(kx)) capped at 2^22: a k of 4096 over 8 output pixels is 32768, fine;
    // over 2048 pixels it is 8 Mi, refused rather than hours of work on this thread.
    expect(call({ k: 4096 })).not.toThrow();
    const wide = new Float32Array(3 * 2048 * 8);
    expect(() => native(f.data, 20, 10, 0, 0, 4096, 1, 2048, 8, wide, 0, 2048, 8)).toThrow(coded);
  });
});
