// Training pictures: sample grids (input | target | output per row) and the loss curve (an SVG
// rendered to PNG by sharp).
import sharp from 'sharp';
import { writeFileWhole } from '../files.js';

/** [3,S,S] floats in [-1,1] -> interleaved RGB bytes. */
export function toRgbBytes(chw: Float32Array, size: number): Buffer {
  const plane = size * size;
  const out = Buffer.alloc(plane * 3);
  for (let i = 0; i < plane; ++i)
    for (let c = 0; c < 3; ++c) out[i * 3 + c] = Math.max(0, Math.min(255, Math.round((chw[c * plane + i] + 1) * 127.5)));
  return out;
}

/** Writes a PNG grid: one row per sample, columns input | target | output (whole or not at all: writeFileWhole). */
export async function writeSampleGrid(file: string, rows: Float32Array[][], size: number): Promise<void> {
  const cols = Math.max(...rows.map((r) => r.length));
  const composites = rows.flatMap((row, y) =>
    row.map((img, x) => ({ input: toRgbBytes(img, size), raw: { width: size, height: size, channels: 3 as const }, left: x * size, top: y * size })),
  );
  await writeFileWhole(file, () => sharp({ create: { width: cols * size, height: rows.length * size, channels: 3, background: { r: 0, g: 0, b: 0 } } }).composite(composites).png().toBuffer());
}

/** Loss curve as SVG (log-scale y while every loss is positive, else linear): points are [steps done, loss]. */
export function lossCurveSvg(points: [number, number][], width = 640, height = 320): string {
  const pts = points.filter(([x, l]) => Number.isFinite(x) && Number.isFinite(l));
  const pad = 40;
  if (pts.length < 2) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/><text x="${pad}" y="${height / 2}" font-family="sans-serif" font-size="14">not enough steps yet</text></svg>`;
  // A log scale while every loss is positive; a loss that can go negative (hinge, a GAN's terms) gets a
  // linear one rather than losing those steps.
  const logScale = pts.every(([, l]) => l > 0);
  const f = logScale ? Math.log10 : (v: number) => v;
  const inv = logScale ? (v: number) => 10 ** v : (v: number) => v;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => f(p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys) + 1e-9];
  const sx = (x: number) => pad + ((x - x0) / Math.max(1, x1 - x0)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  // Smooth with a running mean so the trend is visible through batch noise.
  const k = Math.max(1, Math.floor(pts.length / 100));
  const smooth = pts.map((_, i) => {
    const a = pts.slice(Math.max(0, i - k), i + k + 1);
    return [pts[i][0], f(a.reduce((s, p) => s + p[1], 0) / a.length)];
  });
  const line = smooth.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
<rect width="100%" height="100%" fill="white"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${line}"/>
<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="black"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="black"/>
<text x="${pad}" y="${pad - 10}" font-family="sans-serif" font-size="12">loss (${logScale ? 'log' : 'linear'} scale): ${inv(y1).toPrecision(3)} .. ${inv(y0).toPrecision(3)}</text>
<text x="${width - pad}" y="${height - 12}" font-family="sans-serif" font-size="12" text-anchor="end">step ${x1}</text>
</svg>`;
}

/** Writes the loss curve as a PNG (whole or not at all: writeFileWhole). */
export async function writeLossCurve(file: string, points: [number, number][]): Promise<void> {
  await writeFileWhole(file, () => sharp(Buffer.from(lossCurveSvg(points))).png().toBuffer());
}
