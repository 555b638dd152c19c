#!/usr/bin/env node
// Per-op-type time of one ONNX model in the native engine, beside onnxruntime-node's total, in one
// process on the same input and thread count. For finding where the native engine loses time.
//
// Usage:
//   npx tsc -p tsconfig.json --outDir build-x/dist      # compiled lib/ (default: dist/)
//   FACESTYLE_ADDON=$PWD/build-x/Release/facestyle.node \
//     node scripts/profile-model.mjs <model.onnx> [--size 320] [--threads 2] [--runs 10] [--dist build-x/dist] [--nodes 15]
//
// --size S gives the input shape: [1,3,S,S], or [1,S,S,3] for an NHWC model (last dim 3); a model with a
// fixed input shape needs no --size. Native runs use optimizeForInference (the inference folds and
// activation fusion) when lib/graph/passes has it. Timing: median over --runs runs after a warm-up,
// native and onnxruntime in alternating blocks so that load from other processes hits both alike; the
// per-op table comes from a second session compiled with profile: true (a sync per node, so its
// total is a little above the unprofiled median).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const file = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
if (!file || !existsSync(file)) {
  console.error('usage: node scripts/profile-model.mjs <model.onnx> [--size S] [--threads 2] [--runs 10] [--dist dist] [--nodes 15]');
  process.exit(2);
}
const threads = Number(flag('threads', 2));
const runs = Number(flag('runs', 10));
const nodesShown = Number(flag('nodes', 15));
const dist = path.resolve(root, flag('dist', 'dist'));
const size = flag('size', null);

const api = await import(pathToFileURL(path.join(dist, 'index.js')).href);
const onnx = await import(pathToFileURL(path.join(dist, 'onnx', 'index.js')).href);
const passesFile = path.join(dist, 'graph', 'passes', 'index.js');
const passes = existsSync(passesFile) ? await import(pathToFileURL(passesFile).href) : null;
const ort = await import('onnxruntime-node');

const declared = onnx.declaredInputs(file)[0];
let shape = declared.dims.map((d) => (typeof d === 'number' ? d : null));
if (size) {
  const s = Number(size);
  shape = shape[3] === 3 ? [1, s, s, 3] : [1, 3, s, s];
} else if (shape.some((d) => d == null)) {
  console.error(`the input ${declared.name} has dynamic dimensions: give --size`);
  process.exit(2);
}
const count = shape.reduce((a, b) => a * b, 1);
const data = Float32Array.from({ length: count }, (_, i) => ((i * 37) % 255) / 255);

const loaded = onnx.loadOnnx(file, { inputShapes: { [declared.name]: shape } });
const graph = passes?.optimizeForInference ? passes.optimizeForInference(loaded, { fuseActivations: true }) : loaded;
const inputName = graph.values[graph.inputs[0]].name;
const feeds = { [inputName]: new api.Tensor(shape, data) };

const native = await api.compile(graph, { threads });
const ortSession = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
const ortFeeds = { [ortSession.inputNames[0]]: new ort.Tensor('float32', data, shape) };

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// Wall ms, and the process's CPU ms over the same run in cpuMs (on a loaded machine, CPU time at
// --threads 1 measures the work itself, unaffected by waiting for a core; at more threads it also
// counts spinning workers).
const cpuMs = { native: [], ort: [] };
const time = async (f, into) => {
  const c = process.cpuUsage();
  const t = process.hrtime.bigint();
  await f();
  const wall = Number(process.hrtime.bigint() - t) / 1e6;
  const u = process.cpuUsage(c);
  into.push((u.user + u.system) / 1e3);
  return wall;
};
for (let i = 0; i < 2; ++i) {
  await native.run(feeds);
  await ortSession.run(ortFeeds);
}
const nativeMs = [];
const ortMs = [];
// Blocks, not single alternating runs: each runtime's worker threads spin a while after a run and
// would steal the cores from the other one's next run.
for (let round = 0; round < 3; ++round) {
  for (let i = 0; i < Math.ceil(runs / 3); ++i) nativeMs.push(await time(() => native.run(feeds), cpuMs.native));
  for (let i = 0; i < Math.ceil(runs / 3); ++i) ortMs.push(await time(() => ortSession.run(ortFeeds), cpuMs.ort));
}
native.dispose();
await ortSession.release?.();

const profiled = await api.compile(graph, { threads, profile: true });
for (let i = 0; i < runs; ++i) await profiled.run(feeds);
const nodes = profiled.profile();
profiled.dispose();

const byOp = new Map();
for (const n of nodes) {
  const e = byOp.get(n.op) ?? { op: n.op, ms: 0, count: 0 };
  e.ms += n.ms;
  e.count += 1;
  byOp.set(n.op, e);
}
const fmt = (x) => x.toFixed(3).padStart(9);
const nMed = median(nativeMs);
const oMed = median(ortMs);
console.log(`${path.basename(file)} input ${JSON.stringify(shape)} threads ${threads} runs ${runs}`);
console.log(`native median ${nMed.toFixed(3)} ms   ort median ${oMed.toFixed(3)} ms   ratio ${(nMed / oMed).toFixed(3)}`);
const nCpu = median(cpuMs.native);
const oCpu = median(cpuMs.ort);
console.log(`cpu time: native median ${nCpu.toFixed(3)} ms   ort median ${oCpu.toFixed(3)} ms   ratio ${(nCpu / oCpu).toFixed(3)}`);
const nMin = Math.min(...cpuMs.native);
const oMin = Math.min(...cpuMs.ort);
console.log(`cpu time: native min    ${nMin.toFixed(3)} ms   ort min    ${oMin.toFixed(3)} ms   ratio ${(nMin / oMin).toFixed(3)}`);
console.log('\nper op type (profiled session, mean ms per run):');
const profTotal = nodes.reduce((a, n) => a + n.ms, 0);
for (const e of [...byOp.values()].sort((a, b) => b.ms - a.ms))
  console.log(`  ${e.op.padEnd(24)} ${fmt(e.ms)} ms  ${String(e.count).padStart(4)} nodes  ${((100 * e.ms) / profTotal).toFixed(1).padStart(5)}%`);
console.log(`  ${'total'.padEnd(24)} ${fmt(profTotal)} ms`);
if (nodesShown > 0) {
  // The slowest nodes with their Conv2D geometry, the usual targets.
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  console.log(`\nslowest ${nodesShown} nodes:`);
  for (const n of nodes.slice(0, nodesShown)) {
    const gn = byName.get(n.name);
    let what = '';
    if (gn) {
      const ins = gn.inputs.map((id) => (id == null || id < 0 ? '-' : JSON.stringify(graph.values[id]?.shape ?? '?')));
      const a = gn.attrs ?? {};
      const extra = ['strides', 'group', 'pads', 'activation'].filter((k) => a[k] != null).map((k) => `${k}=${JSON.stringify(a[k])}`);
      what = `${ins.join(' ')} ${extra.join(' ')}`;
    }
    console.log(`  ${fmt(n.ms)} ms  ${n.op.padEnd(14)} ${n.name.slice(0, 40).padEnd(40)} ${what}`);
  }
}
