// Alignment: the similarity fit, the templates and the crops, on synthetic points and real aligned faces.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alignFace, alignFaces, alignmentMatrix, applyAffine, arcfaceTemplate, imageTensor, roundedSpan, ffhqKeyPoints5, ffhqKeyPoints68, ffhqTemplate, ffhqTransform, invertAffine, similarityTransform } from '../lib/face/align.js';
import { detectFaces } from '../lib/face/detect.js';
import { toRgbImage } from '../lib/face/image.js';
import type { Affine2x3, Landmarks5, Point } from '../lib/face/types.js';
import { mulberry32 } from '../lib/graph/tensor.js';
import { DETECTOR, PFLD } from './face-fixtures.js';
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

/** The FFHQ script's quad, transcribed in its own terms (numpy flipud and hypot spelled out). */
function ffhqQuad(eyeLeft: Point, eyeRight: Point, mouthLeft: Point, mouthRight: Point): Point[] {
  const add = (a: Point, b: Point): Point => [a[0] + b[0], a[1] + b[1]];
  const sub = (a: Point, b: Point): Point => [a[0] - b[0], a[1] - b[1]];
  const mul = (a: Point, k: number): Point => [a[0] * k, a[1] * k];
  const flipudNeg = (v: Point): Point => [-v[1], v[0]]; // np.flipud(v) * [-1, 1]
  const eyeAvg = mul(add(eyeLeft, eyeRight), 0.5);
  const eyeToEye = sub(eyeRight, eyeLeft);
  const mouthAvg = mul(add(mouthLeft, mouthRight), 0.5);
  const eyeToMouth = sub(mouthAvg, eyeAvg);
  let x = sub(eyeToEye, flipudNeg(eyeToMouth));
  x = mul(x, 1 / Math.hypot(...x));
  x = mul(x, Math.max(Math.hypot(...eyeToEye) * 2.0, Math.hypot(...eyeToMouth) * 1.8));
  const y = flipudNeg(x);
  const c = add(eyeAvg, mul(eyeToMouth, 0.1));
  // Upper left, lower left, lower right, upper right.
  return [sub(sub(c, x), y), add(sub(c, x), y), add(add(c, x), y), sub(add(c, x), y)];
}

describe('FFHQ alignment procedure', () => {
  it('maps the quad of the FFHQ script onto the crop corners (pixel edges at -0.5 and size-0.5)', () => {
    const rng = mulberry32(11);
    for (let t = 0; t < 20; ++t) {
      // A random face: eyes ~60 px apart, mouth below, rotated, anywhere.
      const r = (rng() - 0.5) * 1.2, s = 0.5 + 2 * rng(), ox = 1000 * rng(), oy = 1000 * rng();
      const place = ([x, y]: Point): Point => [ox + s * (x * Math.cos(r) - y * Math.sin(r)), oy + s * (x * Math.sin(r) + y * Math.cos(r))];
      const jitter = () => (rng() - 0.5) * 8;
      const eyeL = place([-30 + jitter(), jitter()]), eyeR = place([30 + jitter(), jitter()]);
      const mouthL = place([-25 + jitter(), 55 + 20 * rng()]), mouthR = place([25 + jitter(), 55 + 20 * rng()]);
      const size = [256, 512, 1024][t % 3];
      const m = ffhqTransform({ eyeLeft: eyeL, eyeRight: eyeR, mouth: [(mouthL[0] + mouthR[0]) / 2, (mouthL[1] + mouthR[1]) / 2] }, size);
      const corners: Point[] = [[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5], [size - 0.5, -0.5]];
      ffhqQuad(eyeL, eyeR, mouthL, mouthR).forEach((q, i) => {
        const p = applyAffine(m, q);
        expect(p[0]).toBeCloseTo(corners[i][0], 6);
        expect(p[1]).toBeCloseTo(corners[i][1], 6);
      });
    }
  });

  it('reads eye centres from 6 points each and the mouth from its corners; 5 points use the eye points', () => {
    // 68 points where only the FFHQ ones matter: the others are far away and must be ignored.
    const p: Point[] = Array.from({ length: 68 }, (_, i) => [1000 + i, -500]);
    const eyeL: Point[] = [[90, 100], [95, 97], [100, 97], [105, 100], [100, 103], [95, 103]];
    eyeL.forEach((q, i) => (p[36 + i] = q));
    eyeL.forEach(([x, y], i) => (p[42 + i] = [x + 60, y + 4]));
    p[48] = [100, 170];
    p[54] = [150, 174];
    const k = ffhqKeyPoints68(p);
    expect(k.eyeLeft).toEqual([97.5, 100]);
    expect(k.eyeRight).toEqual([157.5, 104]);
    expect(k.mouth).toEqual([125, 172]);
    const five = ffhqKeyPoints5([[97.5, 100], [157.5, 104], [0, 0], [100, 170], [150, 174]]);
    expect(five).toEqual(k);
    // A Face with 68 points aligns by them; without, by its 5.
    const face = { box: [0, 0, 1, 1] as [number, number, number, number], score: 1, landmarks: [[90, 100], [150, 100], [0, 0], [100, 170], [150, 170]] as Landmarks5 };
    expect(alignmentMatrix({ ...face, landmarks68: p })).toEqual(ffhqTransform(k, 512));
    expect(alignmentMatrix(face)).toEqual(ffhqTransform(ffhqKeyPoints5(face.landmarks), 512));
    expect(alignmentMatrix(face, 'ffhq-template', 256)).toEqual(similarityTransform(face.landmarks, ffhqTemplate(256)));
  });
});

/** Per-crop distance from identity: the larger of the linear part's and the translation's (over the crop size). */
const identityError = (m: Affine2x3, size: number) => ({
  linear: Math.max(Math.abs(m[0] - 1), Math.abs(m[1]), Math.abs(m[3]), Math.abs(m[4] - 1)),
  translation: Math.max(Math.abs(m[2]), Math.abs(m[5])) / size,
});

describe('alignFaces names the face whose landmarks give no usable alignment', () => {
  it('landmarks scaled by 1e7 and coincident points: ERR_FACESTYLE_ARGUMENT naming landmarks[1] (it said only "The affine matrix is not invertible")', async () => {
    const image = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64 };
    const good: Landmarks5 = [[20, 24], [44, 24], [32, 34], [23, 46], [41, 46]];
    const huge = good.map(([x, y]) => [x * 1e7, y * 1e7]) as unknown as Landmarks5;
    const same = good.map(() => [30, 30]) as unknown as Landmarks5;
    for (const bad of [huge, same])
      await expect(alignFaces(image, [good, bad], { size: 32 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('landmarks[1] give no usable alignment') });
    expect((await alignFaces(image, [good], { size: 32 })).matrices).toHaveLength(1);
  });
});

describe('region rounding (warp sessions reused across frames)', () => {
  it('grows a span to a multiple of 32 inside the image, or to the whole image', () => {
    expect(roundedSpan(10, 50, 1000)).toEqual([10, 74]);
    expect(roundedSpan(980, 1000, 1000)).toEqual([968, 1000]);
    expect(roundedSpan(5, 20, 40)).toEqual([5, 37]);
    expect(roundedSpan(20, 30, 40)).toEqual([8, 40]);
    expect(roundedSpan(3, 30, 20)).toEqual([0, 20]);
    expect(roundedSpan(0, 64, 100)).toEqual([0, 64]);
  });

  it('crops from the rounded region equal crops from the whole image', async () => {
    const rand = mulberry32(9);
    const width = 301, height = 237;
    const data = new Uint8Array(width * height * 3).map(() => Math.floor(rand() * 256));
    const image = { data, width, height };
    const faces = [ffhqTemplate(64).map(([x, y]) => [x + 40.3, y + 70.7]) as Landmarks5, ffhqTemplate(90).map(([x, y]) => [x + 200.5, y + 120.2]) as Landmarks5];
    for (const border of ['reflect', 'constant'] as const) {
      const fromRegion = await alignFaces(image, faces, { size: 48, border });
      const fromWhole = await alignFaces(imageTensor(image), faces, { size: 48, border });
      let maxDiff = 0;
      fromRegion.crops.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - fromWhole.crops.data[i]))));
      // Same pixels sampled; only the float32 rounding of the shifted coordinates differs (1e-5 is 1/400 of a grey level).
      expect(maxDiff, border).toBeLessThan(1e-5);
    }
  });

  it("range 'signed' gives the same crops as 2 x unit - 1 (uint8 image and tensor); a bad range is a coded error", async () => {
    const rand = mulberry32(11);
    const width = 120, height = 97;
    const image = { data: new Uint8Array(width * height * 3).map(() => Math.floor(rand() * 256)), width, height };
    const faces = [ffhqTemplate(40).map(([x, y]) => [x + 30.4, y + 20.1]) as Landmarks5, ffhqTemplate(56).map(([x, y]) => [x + 50.2, y + 35.7]) as Landmarks5];
    for (const source of [image, imageTensor(image)]) {
      const unit = await alignFaces(source, faces, { size: 32 });
      const signed = await alignFaces(source, faces, { size: 32, range: 'signed' });
      expect(signed.matrices).toEqual(unit.matrices);
      expect(Math.min(...signed.crops.data)).toBeLessThan(-0.5);  // really in [-1,1], not [0,1]
      let maxDiff = 0;
      signed.crops.data.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - (unit.crops.data[i] * 2 - 1)))));
      expect(maxDiff).toBeLessThan(1e-6);
    }
    await expect(alignFaces(image, faces, { size: 32, range: 'half' as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });
});

describeShared('alignment on real faces', () => {
  const aligned = ['codeformer', 'gfpgan'].flatMap((d) => readdirSync(sharedData(`faces/aligned/${d}`)).map((f) => sharedData(`faces/aligned/${d}/${f}`)));

  /** FFHQ matrices (68 and 5 points) of every crop of the given sets, with their errors from identity. */
  async function realign(sets: string[], size: number) {
    const rows: { file: string; m68: Affine2x3; m5: Affine2x3; e68: number; e5: number }[] = [];
    for (const set of sets)
      for (const f of readdirSync(sharedData(`faces/aligned/${set}`))) {
        // Default detection (faces that fill the photo are found by its close-up retry), PFLD on top.
        const [face] = await detectFaces(sharedData(`faces/aligned/${set}/${f}`), { detector: DETECTOR, landmarks68: PFLD });
        expect(face, f).toBeDefined();
        const m68 = alignmentMatrix(face, 'ffhq', size), m5 = alignmentMatrix(face.landmarks, 'ffhq', size);
        const e = (m: Affine2x3) => Math.max(identityError(m, size).linear, identityError(m, size).translation);
        rows.push({ file: `${set}/${f}`, m68, m5, e68: e(m68), e5: e(m5) });
      }
    return rows;
  }
  const meanMatrix = (ms: Affine2x3[]) => [0, 1, 2, 3, 4, 5].map((i) => ms.reduce((s, m) => s + m[i], 0) / ms.length) as Affine2x3;
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

  it('re-aligning the FFHQ-aligned 512 crops (FFHQ procedure, 68 PFLD points): per-crop distance from identity as measured, no bias over the set', async () => {
    const rows = await realign(['codeformer', 'gfpgan', 'codeformer_gray'], 512);
    expect(rows).toHaveLength(37);
    // Not every crop is within 2%: PFLD's points are not dlib's, from which the crops were made.
    // Measured (default detection, PFLD two passes + mirror): 14 of 37 crops within 2%, median
    // 2.85%, mean 3.7% (the 5-point approximation: 4 of 37, mean 4.6%); worst codeformer/0720 14.3%,
    // 0763 10%, 0599 8%, Solvay_0018 8% (blurred or old faces where PFLD misplaces mouth or eyes).
    // The assertions hold these figures with a small margin; the README quotes them.
    const e68 = rows.map((r) => r.e68);
    const report = rows.map((r) => `${r.file} ${(100 * r.e68).toFixed(1)}%`).join(', ');
    expect(e68.filter((e) => e <= 0.02).length, report).toBeGreaterThanOrEqual(12);
    expect(median(e68), report).toBeLessThan(0.032);
    expect(Math.max(...e68), report).toBeLessThan(0.16);
    // The 68-point procedure is closer than its 5-point approximation, crop for crop on average.
    const e5 = rows.map((r) => r.e5);
    expect(e68.reduce((a, b) => a + b) / e68.length).toBeLessThan(e5.reduce((a, b) => a + b) / e5.length);
    // Over the set the two agree with the FFHQ procedure that made the crops: no bias beyond 2%.
    for (const mean of [meanMatrix(rows.map((r) => r.m68)), meanMatrix(rows.map((r) => r.m5))]) {
      const { linear, translation } = identityError(mean, 512);
      expect(linear).toBeLessThan(0.02);
      expect(translation).toBeLessThan(0.02);
    }
    // Faces this large are where the detector's second pass matters for the 5 points: without it
    // the 5-point error is 8.2% on average (measured) and two faces are missed at 640.
    const without: number[] = [];
    for (const r of rows) {
      const [face] = await detectFaces(sharedData(`faces/aligned/${r.file}`), { detector: DETECTOR, secondPass: false });
      if (face) without.push(Math.max(identityError(alignmentMatrix(face.landmarks, 'ffhq', 512), 512).linear, identityError(alignmentMatrix(face.landmarks, 'ffhq', 512), 512).translation));
    }
    expect(without.reduce((a, b) => a + b) / without.length).toBeGreaterThan(e5.reduce((a, b) => a + b) / e5.length + 0.02);
  });

  it('the 256 crops of facialcartoonization are FFHQ-aligned too: about half the crops within 2%, no bias over the set', async () => {
    const rows = await realign(['facialcartoonization_256'], 256);
    expect(rows).toHaveLength(49);
    const e68 = rows.map((r) => r.e68);
    const report = rows.map((r) => `${r.file} ${(100 * r.e68).toFixed(1)}%`).join(', ');
    // Measured: 25 of 49 within 2%, median 1.95%, mean 2.4% (5 points: 7 of 49, mean 5.1%); worst
    // 00092 12.7% (sunglasses), then 4.8% and less.
    expect(e68.filter((e) => e <= 0.02).length, report).toBeGreaterThanOrEqual(22);
    expect(median(e68), report).toBeLessThan(0.022);
    expect(Math.max(...e68), report).toBeLessThan(0.14);
    expect(e68.reduce((a, b) => a + b) / e68.length).toBeLessThan(rows.reduce((a, r) => a + r.e5, 0) / rows.length);
    const { linear, translation } = identityError(meanMatrix(rows.map((r) => r.m68)), 256);
    expect(linear).toBeLessThan(0.02);
    expect(translation).toBeLessThan(0.02);
  });

  it('the identity alignment crop of an aligned face is the face itself; batching equals single calls', async () => {
    const img = await toRgbImage(aligned[0]);
    const template = ffhqTemplate(512);
    const { crop, matrix } = await alignFace(img, template, { size: 512, template: 'ffhq-template' });
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
