// Pictures for people: face boxes, scores and landmarks drawn over the image (an SVG overlay through
// sharp), and before | after strips.
import { FacestyleError, shapeError } from '../errors.js';
import { MAX_TENSOR_ELEMENTS } from '../graph/tensor.js';
import { sharpFromPixels } from '../image/io.js';
import * as is from '../is.js';
import { checkRgbImage, resizeRgbImage } from './image.js';
import type { Face, RgbImage } from './types.js';

const COLOURS = ['#ff3030', '#30ff30', '#3080ff', '#ffff30', '#ff30ff'];

const finitePoint = (p: unknown): boolean => Array.isArray(p) && p.length === 2 && is.number(p[0]) && is.number(p[1]);

/** A face drawFaces can draw: a box of 4 finite numbers, a finite score, 5 points (and optional 68). */
function checkDrawableFace(f: Face, i: number): void {
  const ok =
    is.object(f) &&
    Array.isArray(f.box) &&
    f.box.length === 4 &&
    f.box.every((v) => is.number(v)) &&
    is.number(f.score) &&
    Array.isArray(f.landmarks) &&
    f.landmarks.every(finitePoint) &&
    (f.landmarks68 === undefined || (Array.isArray(f.landmarks68) && f.landmarks68.every(finitePoint)));
  if (!ok) throw is.invalid(`faces[${i}]`, 'a face { box: [x, y, w, h], score, landmarks: [[x, y], ...] }', f);
}

/** The image with every face's box (and score), 5 landmarks and any 68 points drawn. */
export async function drawFaces(image: RgbImage, faces: readonly Face[]): Promise<RgbImage> {
  checkRgbImage(image);
  if (!Array.isArray(faces as unknown)) throw is.invalid('faces', 'an array of faces', faces);
  faces.forEach(checkDrawableFace);
  const { width, height } = image;
  const stroke = Math.max(1, Math.round(Math.min(width, height) / 300));
  const parts: string[] = [];
  for (const f of faces) {
    const [x, y, w, h] = f.box;
    const r = Math.max(1.5, Math.min(w, h) / 40);
    parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="none" stroke="#00ff80" stroke-width="${stroke}"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${Math.max(10, y - 3).toFixed(1)}" font-size="${Math.max(10, Math.round(h / 8))}" fill="#00ff80" font-family="sans-serif">${f.score.toFixed(2)}</text>`);
    f.landmarks.forEach(([px, py], i) => parts.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="${r.toFixed(1)}" fill="${COLOURS[i]}"/>`));
    for (const [px, py] of f.landmarks68 ?? []) parts.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="${(r / 2).toFixed(1)}" fill="#ffffff"/>`);
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`);
  const data = await sharpFromPixels(image.data, width, height)
    .composite([{ input: svg, top: 0, left: 0, limitInputPixels: false }])
    .removeAlpha()
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}

/**
 * Images placed left to right on a white strip, `gap` pixels apart, each scaled (keeping its aspect
 * ratio) to the height of the first: a before | after picture. Alpha is dropped.
 */
export async function sideBySide(images: readonly RgbImage[], gap = 8): Promise<RgbImage> {
  if (images.length === 0) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', 'sideBySide needs at least one image');
  if (!Number.isInteger(gap) || gap < 0) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected gap to be a whole number >= 0 but received ${gap}`);
  for (const [i, im] of images.entries()) checkRgbImage(im, `image ${i}`);
  const height = images[0].height;
  const widths = images.map((im) => (im.height === height ? im.width : Math.max(1, Math.round((im.width * height) / im.height))));
  const width = widths.reduce((w, v) => w + v, 0) + gap * (images.length - 1);
  // Checked before anything is resized or allocated (a huge gap or a tall image scaled to a long strip).
  if (width * height * 3 > MAX_TENSOR_ELEMENTS) throw shapeError(`The side-by-side picture would be ${width}x${height} pixels: too large (width x height x 3 must be at most ${MAX_TENSOR_ELEMENTS})`);
  const parts = await Promise.all(images.map((im, i) => (im.height === height ? im : resizeRgbImage(im, widths[i], height))));
  const out = new Uint8Array(width * height * 3).fill(255);
  let left = 0;
  for (const p of parts) {
    for (let y = 0; y < height; ++y) out.set(p.data.subarray(y * p.width * 3, (y + 1) * p.width * 3), (y * width + left) * 3);
    left += p.width + gap;
  }
  return { data: out, width, height };
}
