// Pictures for people: sideBySide (before | after strips) and drawFaces (the --debug overlay).
import { describe, expect, it } from 'vitest';
import { drawFaces, sideBySide } from '../lib/face/draw.js';
import type { Face, RgbImage } from '../lib/face/types.js';

/** An image whose every pixel encodes its position: (x, y, tag). */
function coded(width: number, height: number, tag: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; ++y)
    for (let x = 0; x < width; ++x) data.set([x % 256, y % 256, tag], (y * width + x) * 3);
  return { data, width, height };
}

const pixel = (im: RgbImage, x: number, y: number) => Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));

describe('sideBySide', () => {
  it('places the images left to right, unchanged, with a white gap between', async () => {
    const a = coded(5, 4, 10), b = coded(3, 4, 20), c = coded(2, 4, 30);
    const s = await sideBySide([a, b, c], 2);
    expect([s.width, s.height]).toEqual([5 + 2 + 3 + 2 + 2, 4]);
    for (let y = 0; y < 4; ++y) {
      for (let x = 0; x < 5; ++x) expect(pixel(s, x, y)).toEqual([x, y, 10]);
      for (const x of [5, 6, 10, 11]) expect(pixel(s, x, y)).toEqual([255, 255, 255]);
      for (let x = 0; x < 3; ++x) expect(pixel(s, 7 + x, y)).toEqual([x, y, 20]);
      for (let x = 0; x < 2; ++x) expect(pixel(s, 12 + x, y)).toEqual([x, y, 30]);
    }
    expect((await sideBySide([a], 8)).data).toEqual(a.data);
  });

  it('scales later images to the first one\'s height, keeping their aspect ratio', async () => {
    const flat = (w: number, h: number, v: number): RgbImage => ({ data: new Uint8Array(w * h * 3).fill(v), width: w, height: h });
    const s = await sideBySide([flat(6, 10, 0), flat(10, 20, 100)], 0);
    // 10x20 scaled to height 10 is 5 wide.
    expect([s.width, s.height]).toEqual([6 + 5, 10]);
    expect(pixel(s, 5, 5)).toEqual([0, 0, 0]);
    expect(pixel(s, 8, 5)).toEqual([100, 100, 100]);
  });

  it('refuses no images, a bad gap and a broken image with coded errors', async () => {
    await expect(sideBySide([])).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(sideBySide([coded(2, 2, 0)], -1)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(sideBySide([coded(2, 2, 0)], 1.5)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(sideBySide([coded(2, 2, 0), { data: new Uint8Array(5), width: 2, height: 2 }])).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('image 1') });
  });
});

describe('drawFaces', () => {
  it('draws the box outline and the landmarks, and leaves pixels far from them alone', async () => {
    const grey: RgbImage = { data: new Uint8Array(100 * 80 * 3).fill(60), width: 100, height: 80 };
    const face: Face = { box: [20, 20, 40, 40], score: 0.9, landmarks: [[30, 30], [50, 30], [40, 40], [32, 50], [48, 50]] };
    const out = await drawFaces(grey, [face]);
    expect([out.width, out.height]).toEqual([100, 80]);
    // On the box's left edge (halfway down, away from the text): the outline colour, green-dominant.
    const edge = pixel(out, 20, 45);
    expect(edge[1]).toBeGreaterThan(150);
    expect(edge[1]).toBeGreaterThan(edge[0] + 50);
    // The first landmark's dot is red-dominant, the second green-dominant.
    const [r0, g0] = pixel(out, 30, 30);
    expect(r0).toBeGreaterThan(g0 + 100);
    const [r1, g1] = pixel(out, 50, 30);
    expect(g1).toBeGreaterThan(r1 + 100);
    // Far from every mark: unchanged.
    for (const [x, y] of [[2, 2], [90, 70], [80, 10]]) expect(pixel(out, x, y)).toEqual([60, 60, 60]);
    // The input is not modified.
    expect(grey.data.every((v) => v === 60)).toBe(true);
  });
});
