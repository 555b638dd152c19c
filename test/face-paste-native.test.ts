// The native crop passes (alignCrops, pasteBlend: native/cpu/paste_blend.cc) against the plain JS +
// WarpAffine paths they replace on the CPU (cropFacesReference, pasteFacesReference), on real faces and
// on edge cases: regions clipped by the frame border, overlapping faces, strength 0 / 0.5 / 1, NaN in a
// crop, the generator's [-1,1] range, alphaOut, bad arguments.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alignFaces, alignmentMatrix, cropFacesInto, cropFacesReference, invertAffine } from '../lib/face/align.js';
import { detectFaces } from '../lib/face/detect.js';
import { toRgbImage } from '../lib/face/image.js';
import { pasteCrops, pasteFaces, pasteFacesReference } from '../lib/face/paste.js';
import type { Affine2x3, Face, RgbImage } from '../lib/face/types.js';
import { nativeImageOps } from '../lib/face/warp.js';
import { Tensor } from '../lib/graph/tensor.js';
import { describeShared, sharedData } from './helpers/shared.js';

const shared = (...parts: string[]) => sharedData(path.join(...parts));
const DETECTOR = shared('models', 'detection', 'yunet_s_dynamic.onnx');
const SIZE = 128;

/** Largest per-byte difference, and how many bytes differ at all. */
function byteDiff(a: Uint8Array, b: Uint8Array): { max: number; count: number } {
  expect(a.length).toBe(b.length);
  let max = 0, count = 0;
  for (let i = 0; i < a.length; ++i) {
    const d = Math.abs(a[i] - b[i]);
    if (d) ++count;
    if (d > max) max = d;
  }
  return { max, count };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; ++i) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** "Stylized" crops: a deterministic remap of the aligned ones that leaves [0,1] on both sides (the clamp is exercised). */
function fakeStyled(crops: Tensor): Tensor {
  return new Tensor(crops.shape, crops.data.map((v, i) => 1.2 - 1.4 * v + 0.05 * Math.sin(i)));
}

/** A synthetic frame with texture everywhere (so any misplaced sample shows). */
function gradientFrame(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; ++y)
    for (let x = 0; x < width; ++x) {
      const p = (y * width + x) * 3;
      data[p] = (x * 3 + y) & 255;
      data[p + 1] = (y * 5) & 255;
      data[p + 2] = (x * y) & 255;
    }
  return { data, width, height };
}

/** A similarity placing a `SIZE` crop over a face of side `side` centred at (cx, cy), turned by `angle`. */
function placement(cx: number, cy: number, side: number, angle: number): Affine2x3 {
  const s = SIZE / side, c = Math.cos(angle) * s, n = Math.sin(angle) * s, o = (SIZE - 1) / 2;
  return [c, n, o - (c * cx + n * cy), -n, c, o - (-n * cx + c * cy)];
}

describe('native crop passes (CPU)', () => {
  it('are compiled into the addon this test runs on', () => {
    expect(nativeImageOps('cpu')).not.toBeNull();
    // CUDA keeps the WarpAffine path.
    expect(nativeImageOps('cuda')).toBeNull();
  });

  describeShared('on real faces', () => {
    const photos: { name: string; image: RgbImage; faces: Face[] }[] = [];
    beforeAll(async () => {
      for (const [name, file] of [
        ['908 frame', shared('frames', 'vtoonify_908', 'frame_001.jpg')],
        ['group photo', shared('faces', 'whole', 'dlib_faces', '2008_002506.jpg')],
      ]) {
        const image = await toRgbImage(file);
        photos.push({ name, image, faces: await detectFaces(image, { detector: DETECTOR }) });
      }
    });

    it('align: the same crops as region -> float -> WarpAffine, in [0,1] and [-1,1]', async () => {
      for (const { name, image, faces } of photos) {
        expect(faces.length, name).toBeGreaterThan(0);
        const matrices = faces.map((f) => alignmentMatrix(f.landmarks, 'ffhq', SIZE));
        for (const border of ['reflect', 'edge', 'constant'] as const) {
          const reference = await cropFacesReference(image, matrices.map(invertAffine), SIZE, border);
          const unit = new Tensor([faces.length, 3, SIZE, SIZE]);
          await cropFacesInto(image, matrices, unit, 0, { border });
          // Two extra slots around the faces: they must stay untouched.
          const signed = Tensor.fill([faces.length + 2, 3, SIZE, SIZE], 7);
          await cropFacesInto(image, matrices, signed, 1, { border, range: 'signed' });
          const plane = 3 * SIZE * SIZE;
          let maxUnit = 0, maxSigned = 0;
          for (let i = 0; i < reference.size; ++i) {
            maxUnit = Math.max(maxUnit, Math.abs(unit.data[i] - reference.data[i]));
            maxSigned = Math.max(maxSigned, Math.abs(signed.data[plane + i] - (reference.data[i] * 2 - 1)));
          }
          expect(maxUnit, `${name} ${border}`).toBeLessThan(1e-4);
          expect(maxSigned, `${name} ${border}`).toBeLessThan(2e-4);
          expect(signed.data[0]).toBe(7);
          expect(signed.data[signed.size - 1]).toBe(7);
        }
        // alignFaces (public) takes the native pass on the CPU: same crops.
        const { crops } = await alignFaces(image, faces, { size: SIZE });
        const reference = await cropFacesReference(image, faces.map((f) => invertAffine(alignmentMatrix(f.landmarks, 'ffhq', SIZE))), SIZE, 'reflect');
        expect(maxAbsDiff(crops.data, reference.data)).toBeLessThan(1e-4);
      }
    });

    it('paste: within one grey level of WarpAffine + the JS blend, alphaOut equal', async () => {
      for (const { name, image, faces } of photos) {
        const { crops, matrices } = await alignFaces(image, faces, { size: SIZE });
        const styled = fakeStyled(crops);
        for (const strength of [0, 0.5, 1]) {
          const alphaNative = new Float32Array(image.width * image.height);
          const alphaRef = new Float32Array(image.width * image.height);
          const native = await pasteFaces(image, styled, matrices, { strength, alphaOut: alphaNative });
          const reference = await pasteFacesReference(image, styled, matrices, { strength, alphaOut: alphaRef });
          const d = byteDiff(native.data, reference.data);
          expect(d.max, `${name} strength ${strength}`).toBeLessThanOrEqual(1);
          // Rounding ties only: a handful of bytes.
          expect(d.count, `${name} strength ${strength}`).toBeLessThan(image.data.length * 1e-3);
          let alphaMax = 0, covered = 0;
          for (let i = 0; i < alphaRef.length; ++i) {
            alphaMax = Math.max(alphaMax, Math.abs(alphaNative[i] - alphaRef[i]));
            if (alphaRef[i] > 0.99 * strength && strength > 0) ++covered;
          }
          expect(alphaMax).toBeLessThan(1e-5);
          // The faces really were pasted (or, at strength 0, nothing was).
          if (strength === 0) expect(byteDiff(native.data, image.data).count).toBe(0);
          else {
            expect(covered).toBeGreaterThan(faces.length * 100);
            expect(byteDiff(native.data, image.data).count).toBeGreaterThan(faces.length * 300);
          }
        }
      }
    });
  });

  it('paste: regions clipped by the frame border and overlapping faces, later over earlier', async () => {
    const frame = gradientFrame(160, 120);
    const crops = new Tensor([3, 3, SIZE, SIZE], Float32Array.from({ length: 3 * 3 * SIZE * SIZE }, (_, i) => ((i * 7919) % 1000) / 900 - 0.05));
    const matrices: Affine2x3[] = [
      placement(10, 15, 90, 0.3), // past the top-left corner
      placement(150, 100, 70, -0.2), // past the bottom-right corner
      placement(40, 30, 80, 0.1), // overlaps the first
    ];
    for (const strength of [0.5, 1]) {
      const a1 = new Float32Array(160 * 120), a2 = new Float32Array(160 * 120);
      const native = await pasteFaces(frame, crops, matrices, { strength, alphaOut: a1 });
      const reference = await pasteFacesReference(frame, crops, matrices, { strength, alphaOut: a2 });
      const d = byteDiff(native.data, reference.data);
      expect(d.max).toBeLessThanOrEqual(1);
      expect(d.count).toBeLessThan(20);
      expect(maxAbsDiff(a1, a2)).toBeLessThan(1e-5);
      // Pixels at the frame corners were reached (the clipped regions were pasted).
      expect(a1[0]).toBeGreaterThan(0);
      expect(a1[a1.length - 1]).toBeGreaterThan(0);
    }
    // Order matters where faces overlap: face 2 pasted last differs from face 2 pasted first.
    const swapped = await pasteCrops(frame, crops, [2, 0, 1].map((crop) => ({ crop, matrix: matrices[crop] })));
    const inOrder = await pasteFaces(frame, crops, matrices);
    expect(byteDiff(swapped.data, inOrder.data).count).toBeGreaterThan(100);
    const swappedRef = await pasteFacesReference(frame, new Tensor([3, 3, SIZE, SIZE], [...crops.data.subarray(2 * 3 * SIZE * SIZE), ...crops.data.subarray(0, 2 * 3 * SIZE * SIZE)]), [matrices[2], matrices[0], matrices[1]]);
    expect(byteDiff(swapped.data, swappedRef.data).max).toBeLessThanOrEqual(1);
  });

  it('paste: NaN in a crop reads as black at the mask alpha in the native pass, as in the JS path (pasteFaces refuses it); a face wholly outside changes nothing', async () => {
    const frame = gradientFrame(96, 80);
    const crops = Tensor.fill([1, 3, SIZE, SIZE], 0.6);
    // A NaN block in the red channel over the face centre.
    for (let y = 50; y < 70; ++y) for (let x = 50; x < 70; ++x) crops.data[y * SIZE + x] = NaN;
    const m = placement(48, 40, 70, 0);
    // pasteCrops (the stylizers' path, whose crops were checked as the generator returned them) does not scan.
    const native = await pasteCrops(frame, crops, [{ crop: 0, matrix: m }]);
    const reference = await pasteFacesReference(frame, crops, [m]);
    expect(byteDiff(native.data, reference.data).max).toBeLessThanOrEqual(1);
    // The centre pixel (crop ~ (63.5, 63.5)) is fully pasted: red 0, green 0.6 * 255.
    const p = (40 * 96 + 48) * 3;
    expect(native.data[p]).toBe(0);
    expect(native.data[p + 1]).toBe(153);
    const outside = await pasteFaces(frame, Tensor.fill([1, 3, SIZE, SIZE], 0.6), [placement(500, 500, 70, 0)]);
    expect(byteDiff(outside.data, frame.data).count).toBe(0);
    expect(outside.data).not.toBe(frame.data);
  });

  it("paste: [-1,1] crops ('signed') equal their [0,1] form, and the input frame is left alone", async () => {
    const frame = gradientFrame(100, 90);
    const copy = Uint8Array.from(frame.data);
    const unit = new Tensor([2, 3, SIZE, SIZE], Float32Array.from({ length: 2 * 3 * SIZE * SIZE }, (_, i) => ((i * 104729) % 997) / 996));
    const signed = new Tensor(unit.shape, unit.data.map((v) => v * 2 - 1));
    const faces = [{ crop: 1, matrix: placement(40, 50, 60, 0.4) }, { crop: 0, matrix: placement(60, 40, 50, -0.1) }];
    const a = await pasteCrops(frame, signed, faces, { range: 'signed', strength: 0.8 });
    const b = await pasteCrops(frame, unit, faces, { strength: 0.8 });
    const ref = await pasteFacesReference(frame, new Tensor(unit.shape, [...unit.data.subarray(3 * SIZE * SIZE), ...unit.data.subarray(0, 3 * SIZE * SIZE)]), faces.map((f) => f.matrix), { strength: 0.8 });
    expect(byteDiff(a.data, b.data).max).toBeLessThanOrEqual(1);
    expect(byteDiff(b.data, ref.data).max).toBeLessThanOrEqual(1);
    expect(byteDiff(b.data, frame.data).count).toBeGreaterThan(1000);
    expect(byteDiff(frame.data, copy).count).toBe(0);
  });

  it("paste: the frame's transparency (alpha) comes through on every path, pasted or not", async () => {
    const frame: RgbImage = { ...gradientFrame(80, 64), alpha: Uint8Array.from({ length: 80 * 64 }, (_, i) => i % 251) };
    const crops = Tensor.fill([1, 3, SIZE, SIZE], 0.3);
    const inside = [placement(40, 32, 50, 0)], outside = [placement(900, 900, 50, 0)];
    const results = [
      await pasteFaces(frame, crops, inside),
      await pasteFacesReference(frame, crops, inside),
      await pasteFaces(frame, crops, outside), // nothing to paste: a copy
      await pasteFaces(frame, crops, inside, { strength: 0 }),
    ];
    for (const r of results) {
      expect(r.data).not.toBe(frame.data);
      expect(r.alpha).toBe(frame.alpha);
    }
    expect(byteDiff(results[0].data, frame.data).count).toBeGreaterThan(100); // the first one did paste
    // A frame without alpha gives images without one.
    expect((await pasteFaces(gradientFrame(80, 64), crops, inside)).alpha).toBeUndefined();
  });

  it('pasteFaces / pasteCrops: null, non-square crops, malformed matrices and NaN crops are coded errors (TypeErrors or silent pastes before)', async () => {
    const frame = gradientFrame(64, 64);
    const crops = Tensor.fill([1, 3, 32, 32], 0.5);
    const m: Affine2x3 = [0.5, 0, 0, 0, 0.5, 0];
    const rejected = (p: () => Promise<unknown>) => p().then(() => ({ code: 'resolved', message: '' }), (e: { code?: string; message: string }) => e);
    const expectCoded = async (p: () => Promise<unknown>, code: string, ...fragments: string[]) => {
      const e = await rejected(p);
      expect(e.code, e.message).toBe(code);
      for (const f of fragments) expect(e.message).toContain(f);
    };
    await expectCoded(() => pasteFaces(null as never, crops, [m]), 'ERR_FACESTYLE_ARGUMENT', 'for image but received null');
    await expectCoded(() => pasteFaces(frame, crops, null as never), 'ERR_FACESTYLE_ARGUMENT', 'for matrices but received null');
    // [1,3,32,64] was pasted as if it were 32x32.
    await expectCoded(() => pasteFaces(frame, Tensor.fill([1, 3, 32, 64], 1), [m]), 'ERR_FACESTYLE_ARGUMENT', 'Tensor [K,3,S,S]', '[1,3,32,64]');
    await expectCoded(() => pasteFaces(frame, { shape: [1, 3, 32, 32], data: [] } as never, [m]), 'ERR_FACESTYLE_ARGUMENT', 'for crops');
    // A matrix of the wrong length was "not invertible"; strings were pasted as numbers.
    await expectCoded(() => pasteFaces(frame, crops, [[0.5, 0, 0, 0.5] as never]), 'ERR_FACESTYLE_ARGUMENT', '6 finite numbers', 'for matrices[0]');
    await expectCoded(() => pasteFaces(frame, crops, [['0.5', 0, 0, 0, 0.5, 0] as never]), 'ERR_FACESTYLE_ARGUMENT', 'for matrices[0]');
    await expectCoded(() => pasteFaces(frame, crops, [[0, 0, 0, 0, 0, 0]]), 'ERR_FACESTYLE_ARGUMENT', 'matrices[0] is not invertible');
    await expectCoded(() => pasteFaces(frame, crops, [m, m]), 'ERR_FACESTYLE_ARGUMENT', 'one matrix per crop', 'matrices holds 2');
    // All-NaN crops were pasted as black without a word (stylizeCrops refuses them: NUMERIC).
    await expectCoded(() => pasteFaces(frame, Tensor.fill([1, 3, 32, 32], NaN), [m]), 'ERR_FACESTYLE_NUMERIC', 'crops holds NaN (crop 1 of 1, element 0)');
    const inf = Tensor.fill([2, 3, 32, 32], 0.5);
    inf.data[3 * 32 * 32 + 5] = Infinity;
    await expectCoded(() => pasteFaces(frame, inf, [m, m]), 'ERR_FACESTYLE_NUMERIC', 'crops holds Infinity (crop 2 of 2, element 5)');
    await expectCoded(() => pasteFaces(frame, crops, [m], { alphaOut: new Float64Array(64 * 64) as never }), 'ERR_FACESTYLE_ARGUMENT', 'for alphaOut');
    // pasteCrops: the placements and a crop index past the batch.
    await expectCoded(() => pasteCrops(null as never, crops, [{ crop: 0, matrix: m }]), 'ERR_FACESTYLE_ARGUMENT', 'for image');
    await expectCoded(() => pasteCrops(frame, crops, null as never), 'ERR_FACESTYLE_ARGUMENT', 'for faces');
    await expectCoded(() => pasteCrops(frame, crops, [{ crop: 1, matrix: m }]), 'ERR_FACESTYLE_ARGUMENT', 'for faces[0].crop', 'received 1');
    await expectCoded(() => pasteCrops(frame, crops, [{ crop: 0, matrix: [1, 0, 0] as never }]), 'ERR_FACESTYLE_ARGUMENT', 'for faces[0].matrix');
    await expectCoded(() => pasteCrops(frame, crops, [{ crop: 0, matrix: m }], { range: 'half' as never }), 'ERR_FACESTYLE_ARGUMENT', 'for range');
    // Good input still pastes.
    const out = await pasteFaces(frame, crops, [m]);
    expect(byteDiff(out.data, frame.data).count).toBeGreaterThan(100);
  });

  it('bad arguments are coded errors, not crashes', async () => {
    const ops = nativeImageOps('cpu')!;
    const frame = new Uint8Array(4 * 4 * 3);
    const crops = new Float32Array(3 * 4 * 4), mask = new Float32Array(16).fill(1);
    const face = (x0: number, w: number) => Float64Array.from([0, 1, 0, 0, 0, 1, 0, x0, 0, w, 4]);
    const code = async (p: () => Promise<unknown>) => p().then(() => 'resolved', (e: { code?: string }) => e.code);
    const sync = (f: () => unknown) => {
      try {
        f();
        return 'returned';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    expect(sync(() => ops.pasteBlend(frame.subarray(1), 4, 4, crops, 4, face(0, 4), mask, 1, 'unit'))).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(sync(() => ops.pasteBlend(frame, 4, 4, crops, 4, face(0, 4), mask, 1, 'linear' as 'unit'))).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(sync(() => ops.pasteBlend(frame, 4, 4, crops, 4, face(0, 4), mask.subarray(1), 1, 'unit'))).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(sync(() => ops.pasteBlend(frame, 4, 4, crops, 4, face(0, 4), mask, 1, 'unit', new Float32Array(3)))).toBe('ERR_FACESTYLE_ARGUMENT');
    // A rectangle past the frame: checked at the call (the rectangles are copied in and out there).
    expect(sync(() => ops.pasteBlend(frame, 4, 4, crops, 4, face(2, 4), mask, 1, 'unit'))).toBe('ERR_FACESTYLE_ARGUMENT');
    // Checked on the worker: strength out of range.
    expect(await code(() => ops.pasteBlend(frame, 4, 4, crops, 4, face(0, 4), mask, 2, 'unit'))).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(await code(() => ops.pasteBlend(frame, 4, 4, crops, 4, face(0, 4), mask, 1, 'unit'))).toBe('resolved');
    const m = Float64Array.from([1, 0, 0, 0, 1, 0]);
    expect(sync(() => ops.alignCrops(frame, 4, 4, m, 4, 'wrap' as 'edge', 'unit', new Float32Array(48), 0))).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(sync(() => ops.alignCrops(frame, 4, 4, m, 4, 'edge', 'unit', new Float32Array(48), 1))).toBe('ERR_FACESTYLE_ARGUMENT');
    expect(sync(() => ops.alignCrops(frame, 4, 4, m, 4, 'edge', 'unit', new Float32Array(47), 0))).toBe('ERR_FACESTYLE_ARGUMENT');
    // And through the TS helper: an offset past the output.
    await expect(cropFacesInto({ data: frame, width: 4, height: 4 }, [[1, 0, 0, 0, 1, 0]], new Tensor([1, 3, 4, 4]), 1)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });
});
