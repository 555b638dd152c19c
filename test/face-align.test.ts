// Alignment: the similarity fit, the templates and the crops, on synthetic points and real aligned faces.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alignFace, alignFaces, applyAffine, arcfaceTemplate, ffhqTemplate, invertAffine, similarityTransform } from '../lib/face/align.js';
import { detectFaces } from '../lib/face/detect.js';
import { toRgbImage } from '../lib/face/image.js';
import type { Affine2x3, Landmarks5, Point } from '../lib/face/types.js';
import { mulberry32 } from '../lib/graph/tensor.js';
import { DETECTOR } from './face-fixtures.js';
import { describeShared, sharedData } from './helpers/shared.js';

const similarity = (deg: number, s: number, tx: number, ty: number): Affine2x3 => {
  const r = (deg * Math.PI) / 180;
  return [s * Math.cos(r), -s * Math.sin(r), tx, s * Math.sin(r), s * Math.cos(r), ty];
};
const sqErr = (m: Affine2x3, src: readonly Point[], dst: readonly Point[]) =>
  src.reduce((e, p, i) => {
    const q = applyAffine(m, p);
    return e + (q[0] - dst[i][0]) ** 2 + (q[1] - dst[i][1]) ** 2;
  }, 0);

describe('similarity transform', () => {
  it('recovers an exact similarity', () => {
    const truth = similarity(23, 1.7, -40.5, 12.25);
    const src = ffhqTemplate(512);
    const dst = src.map((p) => applyAffine(truth, p));
    const m = similarityTransform(src, dst);
    m.forEach((v, i) => expect(v).toBeCloseTo(truth[i], 9));
  });

  it('is the least-squares optimum with noisy points (every perturbation is worse)', () => {
    const rng = mulberry32(5);
    const src = arcfaceTemplate(112);
    const dst = src.map((p) => applyAffine(similarity(-10, 2.3, 100, 50), p)).map(([x, y]): Point => [x + 6 * (rng() - 0.5), y + 6 * (rng() - 0.5)]);
    const m = similarityTransform(src, dst);
    const best = sqErr(m, src, dst);
    // Perturb the four similarity parameters (a, b, tx, ty).
    for (const [da, db, dx, dy] of [[1e-3, 0, 0, 0], [-1e-3, 0, 0, 0], [0, 1e-3, 0, 0], [0, -1e-3, 0, 0], [0, 0, 0.05, 0], [0, 0, -0.05, 0], [0, 0, 0, 0.05], [0, 0, 0, -0.05]]) {
      const p: Affine2x3 = [m[0] + da, m[1] - db, m[2] + dx, m[3] + db, m[4] + da, m[5] + dy];
      expect(sqErr(p, src, dst)).toBeGreaterThan(best);
    }
  });

  it('inverts affines', () => {
    const m = similarity(40, 0.3, 7, -9);
    const id = invertAffine(m);
    const p: Point = [13.5, -2.25];
    const q = applyAffine(id, applyAffine(m, p));
    expect(q[0]).toBeCloseTo(p[0], 9);
    expect(q[1]).toBeCloseTo(p[1], 9);
    expect(() => invertAffine([0, 0, 1, 0, 0, 1])).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
  });

  it('refuses malformed landmarks', async () => {
    const img = { data: new Uint8Array(12), width: 2, height: 2 };
    await expect(alignFace(img, [[0, 0]] as unknown as Landmarks5)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(alignFace(img, ffhqTemplate(2).map(() => [1, 1]) as Landmarks5)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });

  it('scales the templates with the size', () => {
    expect(ffhqTemplate(256)[0][0]).toBeCloseTo(192.98138 / 2, 5);
    expect(arcfaceTemplate(224)[4][1]).toBeCloseTo(92.2041 * 2, 5);
  });
});

describeShared('alignment on real faces', () => {
  const aligned = ['codeformer', 'gfpgan', 'codeformer_gray'].flatMap((d) => readdirSync(sharedData(`faces/aligned/${d}`)).map((f) => sharedData(`faces/aligned/${d}/${f}`)));

  it('re-aligning FFHQ-aligned 512 crops gives a matrix within 2% of identity (mean over the set)', async () => {
    const mats: Affine2x3[] = [];
    for (const file of aligned) {
      // Faces fill these crops; YuNet's landmarks are steadier on a smaller input.
      const faces = await detectFaces(file, { detector: DETECTOR, inputSize: 160, flipTest: true });
      expect(faces.length, file).toBeGreaterThanOrEqual(1);
      const m = similarityTransform(faces[0].landmarks, ffhqTemplate(512));
      // Each crop individually: the same face geometry within 20% (5-point detections on crops
      // made by the 68-point FFHQ procedure differ face by face).
      expect(Math.abs(m[0] - 1) + Math.abs(m[1]), file).toBeLessThan(0.2);
      mats.push(m);
    }
    const mean = [0, 1, 2, 3, 4, 5].map((i) => mats.reduce((s, m) => s + m[i], 0) / mats.length);
    const linear = [mean[0] - 1, mean[1], mean[3], mean[4] - 1].map(Math.abs);
    expect(Math.max(...linear)).toBeLessThan(0.02);
    expect(Math.abs(mean[2]) / 512).toBeLessThan(0.02);
    expect(Math.abs(mean[5]) / 512).toBeLessThan(0.02);
  });

  it('the identity alignment crop of an aligned face is the face itself; batching equals single calls', async () => {
    const img = await toRgbImage(aligned[0]);
    const template = ffhqTemplate(512);
    const { crop, matrix } = await alignFace(img, template, { size: 512 });
    matrix.forEach((v, i) => expect(v).toBeCloseTo([1, 0, 0, 0, 1, 0][i], 9));
    let diff = 0;
    for (let c = 0; c < 3; ++c) for (let i = 0; i < 512 * 512; ++i) diff = Math.max(diff, Math.abs(crop.data[c * 512 * 512 + i] * 255 - img.data[i * 3 + c]));
    expect(diff).toBeLessThan(0.01);

    const shifted = template.map(([x, y]) => [x + 30, y - 20]) as Landmarks5;
    const small = arcfaceTemplate(112).map(([x, y]) => [x * 3 + 100, y * 3 + 80]) as Landmarks5;
    const batch = await alignFaces(img, [template, shifted, small], { size: 128, template: 'arcface', border: 'edge' });
    expect(batch.crops.shape).toEqual([3, 3, 128, 128]);
    const single = await alignFace(img, shifted, { size: 128, template: 'arcface', border: 'edge' });
    // Same crop up to float rounding (each call converts only the image rectangle its crops read).
    const part = batch.crops.data.subarray(3 * 128 * 128, 6 * 128 * 128);
    let maxDiff = 0;
    for (let i = 0; i < part.length; ++i) maxDiff = Math.max(maxDiff, Math.abs(part[i] - single.crop.data[i]));
    expect(maxDiff).toBeLessThan(1e-4);
    // The ArcFace crop of the shifted points: its template points land where the image points were.
    const back = applyAffine(invertAffine(batch.matrices[1]), arcfaceTemplate(128)[2]);
    expect(Math.hypot(back[0] - shifted[2][0], back[1] - shifted[2][1])).toBeLessThan(15);
  });

  it('cropping only the rectangle the crops read equals warping the whole image, also past the image edges', async () => {
    const img = await toRgbImage(aligned[1]);
    const { imageTensor } = await import('../lib/face/align.js');
    // Faces near a corner (the crop reaches outside), rotated, and well inside.
    const near = ffhqTemplate(512).map(([x, y]) => [x * 0.4 - 60, y * 0.4 - 40]) as Landmarks5;
    const rot = ffhqTemplate(512).map(([x, y]) => applyAffine(similarity(30, 0.5, 300, 100), [x, y])) as Landmarks5;
    const inside = ffhqTemplate(512).map(([x, y]) => [x * 0.3 + 200, y * 0.3 + 200]) as Landmarks5;
    for (const border of ['reflect', 'edge', 'constant'] as const) {
      const a = await alignFaces(img, [near, rot, inside], { size: 64, border });
      const b = await alignFaces(imageTensor(img), [near, rot, inside], { size: 64, border });
      let maxDiff = 0;
      for (let i = 0; i < a.crops.size; ++i) maxDiff = Math.max(maxDiff, Math.abs(a.crops.data[i] - b.crops.data[i]));
      expect(maxDiff, border).toBeLessThan(1e-4);
    }
  });
});
