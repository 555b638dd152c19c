// Could a generator learn the colour correction its validation error asks for? scripts/validation-error.mjs
// shows how much PSNR the best per-image, per-channel affine colour map (fitted on the target: an oracle)
// would buy. This checks whether that map is predictable without the target: it fits the map's shift and
// gain, per channel, on the TRAINING pairs as a linear function of global statistics (channel means of the
// output, of the photo, the photo's spreads), and applies the fitted predictor to the held-out pairs.
// A large gain would argue for a global colour branch in the generator; none, for "not learnable from
// global statistics of 72 pairs".
//
//   node scripts/colour-predictability.mjs [--model models/comic-light.json] [--pairs ../shared/data/pairs/comic] [--size 256]
//
// Prints mean PSNR (on [0, 1], as the model card's) over the validation and the training pairs for: the
// model, the oracle map, the oracle shift alone, a constant map (the training pairs' mean), and the fitted
// predictors. Needs a built checkout (npm install): it imports dist/.
import { readFileSync } from 'node:fs';
import { dist, validationArgs } from './validation-setup.mjs';

const { modelPath, pairsDir, size: S } = validationArgs();
const { loadGenerator } = await dist('nn/load.js');
const { graphGenerator } = await dist('face/model.js');
const { loadPairs } = await dist('train/data.js');
const { Tensor } = await dist('graph/tensor.js');

const card = JSON.parse(readFileSync(modelPath, 'utf8'));
// The shipped cards list them in data.validationFiles, a training run's card in validation.files.
const held = card.data?.validationFiles ?? card.validation?.files;
if (!Array.isArray(held) || held.length === 0) throw new Error(`${modelPath}: no data.validationFiles (shipped card) or validation.files (run card) in the model card`);
const P = S * S;
const all = await loadPairs(pairsDir, { size: S });
const gen = await graphGenerator((await loadGenerator(modelPath, { size: S })).graph);

// Per pair: output y, target t, photo x, and per channel the means, the photo's spread and the oracle gain
// k (least squares of t - mean(t) on y - mean(y)).
const rows = [];
for (const pair of all.pairs) {
  const y = (await gen.run(new Tensor([1, 3, S, S], pair.input.slice()))).data;
  const t = pair.target, x = pair.input;
  const r = { held: held.includes(pair.name), y, t, my: [], mt: [], mx: [], sx: [], k: [] };
  for (let c = 0; c < 3; ++c) {
    let sy = 0, st = 0, syy = 0, syt = 0, sx = 0, sxx = 0;
    for (let i = c * P; i < (c + 1) * P; ++i) sy += y[i], st += t[i], syy += y[i] * y[i], syt += y[i] * t[i], sx += x[i], sxx += x[i] * x[i];
    const my = sy / P, mt = st / P, vy = syy / P - my * my;
    r.my.push(my), r.mt.push(mt), r.mx.push(sx / P), r.sx.push(Math.sqrt(Math.max(0, sxx / P - (sx / P) ** 2)));
    r.k.push(vy > 0 ? (syt / P - my * mt) / vy : 0);
  }
  rows.push(r);
}
await gen.dispose();

const psnr = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(4 / (s / a.length)); // images in [-1, 1]: the range is 2
};
// The output mapped per channel: mean(y) + shift + gain * (y - mean(y)).
const mapped = (r, shift, gain) => {
  const o = new Float32Array(r.y.length);
  for (let c = 0; c < 3; ++c) for (let i = c * P; i < (c + 1) * P; ++i) o[i] = r.my[c] + shift[c] + gain[c] * (r.y[i] - r.my[c]);
  return o;
};
const train = rows.filter((r) => !r.held), val = rows.filter((r) => r.held);
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const report = (name, out) =>
  console.log(`${name.padEnd(62)}${mean(val.map((r) => psnr(out(r), r.t))).toFixed(3).padStart(10)}${mean(train.map((r) => psnr(out(r), r.t))).toFixed(3).padStart(10)}`);

// Least squares with a small ridge on the non-constant features (Gauss-Jordan on the normal equations).
function fit(A, b) {
  const n = A[0].length;
  const M = Array.from({ length: n }, () => new Float64Array(n + 1));
  for (let i = 0; i < A.length; ++i)
    for (let p = 0; p < n; ++p) {
      for (let q = 0; q < n; ++q) M[p][q] += A[i][p] * A[i][q];
      M[p][n] += A[i][p] * b[i];
    }
  for (let p = 1; p < n; ++p) M[p][p] += 1e-3 * A.length;
  for (let p = 0; p < n; ++p) {
    let piv = p;
    for (let q = p + 1; q < n; ++q) if (Math.abs(M[q][p]) > Math.abs(M[piv][p])) piv = q;
    [M[p], M[piv]] = [M[piv], M[p]];
    for (let q = 0; q < n; ++q)
      if (q !== p) {
        const f = M[q][p] / M[p][p];
        for (let j = p; j <= n; ++j) M[q][j] -= f * M[p][j];
      }
  }
  return M.map((row, p) => row[n] / row[p]);
}

console.log(`${'PSNR dB'.padEnd(62)}${'held out'.padStart(10)}${'training'.padStart(10)}`);
report('model', (r) => r.y);
report('oracle map (looks at the target)', (r) => mapped(r, r.mt.map((m, c) => m - r.my[c]), r.k));
report('oracle shift alone', (r) => mapped(r, r.mt.map((m, c) => m - r.my[c]), [1, 1, 1]));
const shift0 = [0, 1, 2].map((c) => mean(train.map((r) => r.mt[c] - r.my[c])));
const gain0 = [0, 1, 2].map((c) => mean(train.map((r) => r.k[c])));
report('constant map (training mean)', (r) => mapped(r, shift0, gain0));
const features = {
  'output means': (r) => [1, ...r.my],
  'output + photo means': (r) => [1, ...r.my, ...r.mx],
  'output + photo means, photo spreads': (r) => [1, ...r.my, ...r.mx, ...r.sx],
};
for (const [name, feat] of Object.entries(features)) {
  const A = train.map(feat);
  const ws = [0, 1, 2].map((c) => fit(A, train.map((r) => r.mt[c] - r.my[c])));
  const wk = [0, 1, 2].map((c) => fit(A, train.map((r) => r.k[c])));
  const predict = (r, w) => w.map((wc) => feat(r).reduce((s, v, i) => s + v * wc[i], 0));
  report(`fitted shift + gain from ${name}`, (r) => mapped(r, predict(r, ws), predict(r, wk)));
}
