#!/usr/bin/env node
// Where PFLD's time goes, segment by segment, in the native engine and in onnxruntime-node side by side,
// without per-node profiling (whose overhead, a few us a node in each engine, blurs a 1.5 ms model).
// Each row is a prefix of the model: the input up to the input of one conv, cut there, ended by a Slice
// of one element (so that copying the prefix's output out weighs nothing; a channel-mean pool instead
// cost our engine tens of us on 56x56 planes), exported to ONNX and run by both engines (same weights,
// denormals zeroed as the benchmark does), best of 5 rounds of N runs each. A segment's time is its prefix
// less the one before: what the model adds there, in the context of everything before it (the cache
// state, which core wrote what), which a layer timed alone would not show.
//
//   node bench/pfld-segments.mjs [--dist DIR] [--threads 2] [--runs 1500]
//
// DIR is lib/ compiled by tsc (default: dist, made by `npx tsc -p .` / `npm test`).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
};
const dist = path.resolve(root, arg('dist', 'dist'));
const threads = Number(arg('threads', '2'));
const runs = Number(arg('runs', '1500'));
const api = await import(path.join(dist, 'index.js'));
const { loadOnnx, exportOnnxBuffer } = await import(path.join(dist, 'onnx', 'index.js'));
const { optimizeForInference } = await import(path.join(dist, 'graph', 'passes', 'index.js'));
const { flushDenormalWeights } = await import(path.join(dist, 'graph', 'passes', 'denormal.js'));

const model = path.resolve(root, '..', 'shared', 'data', 'models', 'landmarks', 'pfld.onnx');
const shape = [1, 3, 112, 112];
const full = flushDenormalWeights(loadOnnx(model, { inputShapes: { input: shape } }));
const byName = new Map(full.nodes.map((x) => [x.name, x]));
// Cut before these convs: the stem; the 56x56 depthwise + 1x1; the stride-2 block to 28x28; four 28x28
// blocks; the stride-2 block to 14x14; six 14x14 blocks; the rest (the last block, the multi-scale head).
const cuts = [
  ['Conv_3', 'stem 3x3/2 3->64'],
  ['Conv_7', 'dw 3x3 + 1x1 64->64 @56'],
  ['Conv_15', '1x1 @56, dw 3x3/2, 1x1 @28'],
  ['Conv_51', '4 blocks 64->128->64 @28'],
  ['Conv_59', '1x1 @28, dw 3x3/2, 1x1 64->128 @14'],
  ['Conv_112', '6 blocks 128->256->128 @14'],
  [null, 'last block, head'],
];

/** The model up to the input of node `upTo`, ended by a one-element Slice (the whole model when null). */
function prefix(upTo) {
  if (!upTo) return full;
  const out = byName.get(upTo).inputs[0];
  const need = new Set([out]);
  const keep = [];
  for (let i = full.nodes.length - 1; i >= 0; --i) {
    const node = full.nodes[i];
    if (!node.outputs.some((o) => need.has(o))) continue;
    keep.unshift(node);
    for (const v of node.inputs) if (v >= 0) need.add(v);
  }
  const id = full.values.length;
  const values = [...full.values, { id, name: 'prefix_corner', kind: 'intermediate', shape: [1, 1, 1, 1] }];
  const slice = { id: full.nodes.length, name: 'PrefixCorner', op: 'Slice', attrs: { starts: [0, 0, 0, 0], ends: [1, 1, 1, 1], axes: [], steps: [] }, inputs: [out], outputs: [id] };
  return { ...full, values, nodes: [...keep, slice], outputs: [id] };
}

const data = Float32Array.from({ length: 3 * 112 * 112 }, (_, i) => ((i * 37) % 255) / 255);
console.log(`PFLD by segment, ${threads} thread(s), best of 5 x ${runs} runs (us; diff = native - onnxruntime)`);
console.log('| cut before | segment | onnxruntime | native | diff |\n|---|---|---|---|---|');
let before = { ort: 0, native: 0 };
for (const [cut, what] of cuts) {
  const bytes = exportOnnxBuffer(prefix(cut), { dynamicBatch: false });
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const graph = optimizeForInference(loadOnnx(bytes, { inputShapes: { [session.inputNames[0]]: shape } }));
  const native = await api.compile(graph, { threads });
  const ortFeeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  const nativeFeeds = { [graph.values[graph.inputs[0]].name]: new api.Tensor(shape, data) };
  for (let i = 0; i < 200; i++) {
    await session.run(ortFeeds);
    native.runSync(nativeFeeds);
  }
  const best = { ort: Infinity, native: Infinity };
  for (let r = 0; r < 5; ++r) {
    let t0 = performance.now();
    for (let i = 0; i < runs; i++) await session.run(ortFeeds);
    best.ort = Math.min(best.ort, ((performance.now() - t0) / runs) * 1000);
    t0 = performance.now();
    for (let i = 0; i < runs; i++) native.runSync(nativeFeeds);
    best.native = Math.min(best.native, ((performance.now() - t0) / runs) * 1000);
  }
  native.dispose();
  await session.release();
  const seg = { ort: best.ort - before.ort, native: best.native - before.native };
  console.log(`| ${cut ?? '(end)'} | ${what} | ${seg.ort.toFixed(0)} | ${seg.native.toFixed(0)} | ${(seg.native - seg.ort).toFixed(0)} |`);
  before = best;
}
console.log(`| | whole model | ${before.ort.toFixed(0)} | ${before.native.toFixed(0)} | ${(before.native - before.ort).toFixed(0)} (ratio ${(before.native / before.ort).toFixed(3)}) |`);
