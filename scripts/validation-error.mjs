// Where a generator's validation error lies, per held-out pair: how much PSNR a per-image colour
// correction would buy, how much of the error is low-frequency, and face centre against the rest.
// It answers "would a better model help, or is the rest of the target unpredictable from the photo?".
//
//   node scripts/validation-error.mjs [--model models/comic-light.json] [--pairs ../shared/data/pairs/comic] [--size 256] [--grid errors.png] [--mirror-average]
//
// --mirror-average evaluates the model as `--mirror-average` runs it (each image also stylized mirrored,
// the two averaged: lib/face/model.ts mirrorAveraged).
//
// --grid writes a picture: one row per pair, photo | target | output | error (mean absolute error of
// the three channels, x2, black = none, white = half the range or more).
//
// Columns (PSNR on [0, 1], as the model card's):
//   psnr      the model's output against the target
//   colour    after the best per-image, per-channel affine map of the output onto the target (an
//             oracle: it looks at the target; a model cannot do better on colour alone than this)
//   lowFrac   share of the squared error left after a 17x17 box blur of the error (colour casts,
//             shading, background: what no edge or line fixes)
//   centre    PSNR inside the face box (x 64..192, y 60..220 at 256), border outside it
//   photo     the photo itself against the target (the identity baseline), and photoCol after the
//             same colour oracle
// Needs a built checkout (npm install): it imports dist/.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { arg, dist, validationArgs } from './validation-setup.mjs';

const { modelPath, pairsDir, size: S } = validationArgs();
const { loadGenerator } = await dist('nn/load.js');
const { graphGenerator, mirrorAveraged } = await dist('face/model.js');
const { loadPairs } = await dist('train/data.js');
const { Tensor } = await dist('graph/tensor.js');
const { writeSampleGrid } = await dist('train/report.js');
const gridFile = arg('grid');

const card = JSON.parse(readFileSync(modelPath, 'utf8'));
// The shipped cards list them in data.validationFiles, a training run's card in validation.files.
const only = card.data?.validationFiles ?? card.validation?.files;
if (!Array.isArray(only) || only.length === 0) throw new Error(`${modelPath}: no data.validationFiles (shipped card) or validation.files (run card) in the model card`);
const val = await loadPairs(pairsDir, { size: S, only });
const plain = await graphGenerator((await loadGenerator(modelPath, { size: S })).graph);
const gen = process.argv.includes('--mirror-average') ? mirrorAveraged(plain) : plain;
const P = S * S;

const mse = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += (a[i] - b[i]) ** 2;
  return s / a.length;
};
const psnrOf = (m) => 10 * Math.log10(4 / m); // images in [-1, 1]: the range is 2

// Separable box blur of radius r on each plane, clamped at the edges.
function boxBlur(a, r) {
  const tmp = new Float32Array(a.length), out = new Float32Array(a.length);
  for (let c = 0; c < 3; ++c) {
    const o = c * P;
    for (let y = 0; y < S; ++y)
      for (let x = 0; x < S; ++x) {
        let s = 0, n = 0;
        for (let k = Math.max(0, x - r); k <= Math.min(S - 1, x + r); ++k, ++n) s += a[o + y * S + k];
        tmp[o + y * S + x] = s / n;
      }
    for (let y = 0; y < S; ++y)
      for (let x = 0; x < S; ++x) {
        let s = 0, n = 0;
        for (let k = Math.max(0, y - r); k <= Math.min(S - 1, y + r); ++k, ++n) s += tmp[o + k * S + x];
        out[o + y * S + x] = s / n;
      }
  }
  return out;
}

// The output mapped channel by channel onto the target by least squares (t ~ mean + k (y - mean)).
function colourMatched(y, t) {
  const out = new Float32Array(y.length);
  for (let c = 0; c < 3; ++c) {
    let sy = 0, st = 0, syy = 0, syt = 0;
    for (let i = c * P; i < (c + 1) * P; ++i) sy += y[i], st += t[i], syy += y[i] * y[i], syt += y[i] * t[i];
    const my = sy / P, mt = st / P, vy = syy / P - my * my;
    const k = vy > 0 ? (syt / P - my * mt) / vy : 0;
    for (let i = c * P; i < (c + 1) * P; ++i) out[i] = mt + k * (y[i] - my);
  }
  return out;
}

const inFace = (x, y) => x >= S / 4 && x < (3 * S) / 4 && y >= (60 * S) / 256 && y < (220 * S) / 256;
const rows = [];
const gridRows = [];
for (const pair of val.pairs) {
  const y = (await gen.run(new Tensor([1, 3, S, S], pair.input.slice()))).data;
  const t = pair.target;
  const m = mse(y, t);
  const e = y.map((v, i) => v - t[i]);
  const low = boxBlur(e, Math.round((8 * S) / 256));
  let centre = 0, nc = 0, border = 0, nb = 0;
  for (let c = 0; c < 3; ++c)
    for (let yy = 0; yy < S; ++yy)
      for (let x = 0; x < S; ++x) {
        const v = e[c * P + yy * S + x] ** 2;
        if (inFace(x, yy)) centre += v, ++nc;
        else border += v, ++nb;
      }
  if (gridFile) {
    const err = new Float32Array(3 * P);
    for (let i = 0; i < P; ++i) {
      const v = -1 + Math.min(2, (2 / 3) * (Math.abs(e[i]) + Math.abs(e[P + i]) + Math.abs(e[2 * P + i])));
      err[i] = err[P + i] = err[2 * P + i] = v;
    }
    gridRows.push([pair.input, t, y, err]);
  }
  rows.push({
    file: pair.name,
    psnr: psnrOf(m),
    colour: psnrOf(mse(colourMatched(y, t), t)),
    lowFrac: low.reduce((s, v) => s + v * v, 0) / low.length / m,
    centre: psnrOf(centre / nc),
    border: psnrOf(border / nb),
    photo: psnrOf(mse(pair.input, t)),
    photoCol: psnrOf(mse(colourMatched(pair.input, t), t)),
  });
}
await gen.dispose();

const keys = ['psnr', 'colour', 'lowFrac', 'centre', 'border', 'photo', 'photoCol'];
const fmt = (r) => keys.map((k) => r[k].toFixed(2).padStart(9)).join('');
console.log(`${'pair'.padEnd(32)}${keys.map((k) => k.padStart(9)).join('')}`);
for (const r of rows) console.log(`${String(r.file).slice(0, 31).padEnd(32)}${fmt(r)}`);
const mean = Object.fromEntries(keys.map((k) => [k, rows.reduce((s, r) => s + r[k], 0) / rows.length]));
console.log(`${'mean'.padEnd(32)}${fmt(mean)}`);
if (gridFile) {
  await writeSampleGrid(path.resolve(gridFile), gridRows, S);
  console.log(`grid (photo | target | output | error, one row per pair): ${path.resolve(gridFile)}`);
}
