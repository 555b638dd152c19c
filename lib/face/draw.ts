// Debug drawing: face boxes, scores and landmarks over the image (an SVG overlay through sharp).
import sharp from 'sharp';
import type { Face, RgbImage } from './types.js';

const COLOURS = ['#ff3030', '#30ff30', '#3080ff', '#ffff30', '#ff30ff'];

/** The image with every face's box (and score), 5 landmarks and any 68 points drawn. */
export async function drawFaces(image: RgbImage, faces: readonly Face[]): Promise<RgbImage> {
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
  const data = await sharp(image.data, { raw: { width, height, channels: 3 } })
    .composite([{ input: svg, top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}
