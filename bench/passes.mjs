#!/usr/bin/env node
// What one inference pass is worth on a whole model: the model optimized with every pass, against the same
// model with one pass turned off, both on the native engine, `runSync` timed in interleaved rounds (medians),
// and the largest output difference between the two.
//
//   node bench/passes.mjs <model.onnx> <size> [--threads N] [--off fusePointwiseDepthwise] [--rounds R] [--runs N] [--dist DIR]
//
// --off names an optimizeForInference option (default fusePointwiseDepthwise; also fusePool, mergeHeads,
// fuseResidual, fuseElementwise, ...). The input is [1, 3, size, size], named as the model's input. DIR is lib/
// compiled by tsc (default dist, what `npm install` builds). The README's "unfused -> fused" figures:
//   node bench/passes.mjs ../shared/data/models/detection/yunet_n_dynamic.onnx 512
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = { threads: 2, off: 'fusePointwiseDepthwise', rounds: 3, runs: 200, dist: path.join(root, 'dist'), positional: [] };
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--threads') opt.threads = Number(args[++i]);
  else if (args[i] === '--off') opt.off = args[++i];
  else if (args[i] === '--rounds') opt.rounds = Number(args[++i]);
  else if (args[i] === '--runs') opt.runs = Number(args[++i]);
  else if (args[i] === '--dist') opt.dist = path.resolve(args[++i]);
  else opt.positional.push(args[i]);
}
const [file, sizeArg] = opt.positional;
const size = Number(sizeArg);
if (!file || !Number.isInteger(size) || size < 1) {
  console.error('usage: node bench/passes.mjs <model.onnx> <size> [--threads N] [--off option] [--rounds R] [--runs N] [--dist DIR]');
  process.exit(2);
}
const dist = (p) => import(pathToFileURL(path.join(opt.dist, p)).href);
const { compile, Tensor } = await dist('index.js');
const { loadOnnx } = await dist('onnx/index.js');
const { optimizeForInference } = await dist('graph/passes/index.js');

const shape = [1, 3, size, size];
const model = loadOnnx(path.resolve(file), { inputShapes: { input: shape } });
const on = optimizeForInference(model), off = optimizeForInference(model, { [opt.off]: false });
const sessions = [await compile(off, { threads: opt.threads }), await compile(on, { threads: opt.threads })];
const feeds = { [on.values[on.inputs[0]].name]: new Tensor(shape, Float32Array.from({ length: 3 * size * size }, (_, i) => ((i * 37) % 255) / 255)) };
const [a, b] = sessions.map((s) => s.runSync(feeds));
let worst = 0;
for (const k of Object.keys(a)) for (let i = 0; i < a[k].data.length; ++i) worst = Math.max(worst, Math.abs(a[k].data[i] - b[k].data[i]));
console.log(`${path.basename(file)} at ${size}, ${opt.threads} threads: ${off.nodes.length} nodes with ${opt.off} off, ${on.nodes.length} on; largest output difference ${worst}`);
const median = (v) => v.sort((x, y) => x - y)[v.length >> 1];
for (let r = 0; r < opt.rounds; ++r) {
  const t = [[], []];
  for (let i = 0; i < opt.runs; ++i)
    for (const k of [0, 1]) {
      const t0 = performance.now();
      sessions[k].runSync(feeds);
      t[k].push(performance.now() - t0);
    }
  const [m0, m1] = t.map(median);
  console.log(`round ${r + 1}: ${opt.off} off ${m0.toFixed(3)} ms, on ${m1.toFixed(3)} ms (${(m1 / m0).toFixed(3)}x)`);
}
for (const s of sessions) s.dispose();
