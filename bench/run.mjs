#!/usr/bin/env node
// `npm run bench`: measures this machine's peak fp32 FLOP/s, SGEMM, the generator's conv layers and every
// model against onnxruntime-node, all in one run, and writes bench/report.json and bench/REPORT.md.
// Keys are documented in bench/README.md.
//
//   node bench/run.mjs [--quick] [--threads N] [--only peak,gemm,depthwise,conv,models,faces,video] [--out DIR] [--no-tsc]
//
// The native engine is reached two ways: bench/out/bench_native (SGEMM and the peak loop, built by
// bench/build.mjs) and the addon through the TypeScript API compiled into bench/out/dist (conv layers and
// models). A part that cannot run says why in a `skipped` field instead of failing the whole run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Benchmark from 'benchmark';
import { buildBenchNative } from './build.mjs';
import { convFlops, convLayers, depthwiseLayers, generatorSizes, models } from './layers.mjs';
import { benchFaces, benchVideo, pipelineMarkdown, sharedData } from './pipeline.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The parts of a run, as --only names them. */
const PARTS = ['peak', 'gemm', 'depthwise', 'conv', 'models', 'faces', 'video'];

function parseArgs(argv) {
  const o = { quick: false, threads: 2, only: null, out: path.join(root, 'bench'), tsc: true };
  const fail = (message) => {
    console.error(message);
    process.exit(2);
  };
  // A flag's value: the next argument, which must be there and not be another flag.
  const value = (i, flag) => (i < argv.length && !argv[i].startsWith('--') ? argv[i] : fail(`${flag} needs a value`));
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--no-tsc') o.tsc = false;
    else if (a === '--threads') o.threads = Number(value(++i, '--threads'));
    else if (a === '--only') {
      const names = value(++i, '--only').split(',').map((n) => n.trim());
      // A misspelt part measured nothing and wrote an empty report (over bench/REPORT.md without --out).
      const unknown = names.filter((n) => !PARTS.includes(n));
      if (unknown.length) fail(`--only takes ${PARTS.join(', ')}; not ${unknown.map((n) => `'${n}'`).join(', ')}`);
      o.only = new Set(names);
    } else if (a === '--out') o.out = path.resolve(value(++i, '--out'));
    else if (a === '--help' || a === '-h') {
      console.log(`node bench/run.mjs [--quick] [--threads N] [--only ${PARTS.join(',')}] [--out DIR] [--no-tsc]`);
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.threads) || o.threads < 1) fail('--threads must be a positive integer');
  // The report's folder, made now: a path it cannot be (a file there) failed only after the whole run.
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    fail(`--out ${o.out}: cannot make that folder (${e.message})`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const want = (part) => !opts.only || opts.only.has(part);
const log = (...a) => console.error('[bench]', ...a);
const round = (x, d = 3) => (x == null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---- bench_native (peak + SGEMM) -------------------------------------------------------------------

function native(bin, args) {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  const line = (r.stdout || '').trim().split('\n').pop() || '{}';
  let json;
  try {
    json = JSON.parse(line);
  } catch {
    json = { error: `bench_native printed no JSON (exit ${r.status}): ${r.stderr}` };
  }
  return json;
}

// Best of a few peak measurements: the machine may be shared, and the peak is the rate when it is not.
function measurePeak(bin, isa, seconds) {
  const r = native(bin, ['peak', isa, String(opts.threads), String(seconds)]);
  return r.error ? null : r.gflops;
}

// ---- the addon through the TypeScript API ------------------------------------------------------------

async function loadApi() {
  const dist = path.join(root, 'bench', 'out', 'dist');
  if (opts.tsc || !existsSync(path.join(dist, 'index.js'))) {
    log('compiling lib/ into bench/out/dist (tsc) ...');
    // Type errors elsewhere do not stop the emit (noEmitOnError is off); the benchmark needs the JS only.
    spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', dist, '--declaration', 'false', '--sourceMap', 'false'], { stdio: 'ignore' });
  }
  if (!existsSync(path.join(dist, 'index.js'))) return { skipped: 'lib/ did not compile to bench/out/dist (run npx tsc -p tsconfig.json to see why)' };
  if (!process.env.FACESTYLE_ADDON) {
    const addon = path.join(root, process.env.FACESTYLE_BUILD_DIR || 'build', 'Release', 'facestyle.node');
    if (!existsSync(addon)) return { dist, skipped: `native addon not built (${path.relative(root, addon)}); run npm run build or set FACESTYLE_ADDON` };
    process.env.FACESTYLE_ADDON = addon;
  }
  try {
    const api = await import(pathToFileURL(path.join(dist, 'index.js')).href);
    api.capabilities(); // loads the addon now, so a broken build is reported once, here
    return { api, dist };
  } catch (e) {
    // dist stays usable for what needs no addon (the denormal flush of the onnxruntime rows).
    return { dist, skipped: `cannot load the native engine: ${e.message.split('\n')[0]}` };
  }
}

// Median seconds per call of an async function, timed with benchmark.js.
function timeAsync(name, fn, { maxTime = opts.quick ? 0.5 : 2, minSamples = opts.quick ? 3 : 8 } = {}) {
  return new Promise((resolve, reject) => {
    let failure = null;
    const bench = new Benchmark(name, {
      defer: true,
      maxTime,
      minSamples,
      fn: (deferred) => {
        fn().then(
          () => deferred.resolve(),
          (e) => {
            failure = e;
            bench.abort();
            deferred.resolve();
          },
        );
      },
    });
    bench.on('complete', () => {
      if (failure || bench.error) reject(failure || bench.error);
      else resolve(median(bench.stats.sample));
    });
    bench.run({ async: true });
  });
}

// The engines of one model row timed in alternating rounds (about 0.4 s each, 5 rounds; 2 with --quick),
// 20 ms apart so that the other engine's threads have stopped spinning or polling; per engine the median
// of its rounds' medians. This machine's two vCPUs switch every few seconds between behaving as two cores
// and as one core's two hyperthreads (a second thread gives 1.8-1.95x or ~1.15x); timing one engine for
// 2 s and then the other let the two land in different states, and single rows came out 0.7 or 1.6.
// entries: [{ name, fn }] (null: not timed). Returns median seconds (null for an entry not timed or that
// failed; its error in `errors`).
async function timeAlternating(entries) {
  const rounds = opts.quick ? 2 : 5;
  const per = entries.map(() => []);
  const errors = entries.map(() => null);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let r = 0; r < rounds; ++r)
    for (let i = 0; i < entries.length; ++i) {
      if (!entries[i] || errors[i]) continue;
      await sleep(20);
      try {
        per[i].push(await timeAsync(entries[i].name, entries[i].fn, { maxTime: (opts.quick ? 0.5 : 2) / rounds, minSamples: opts.quick ? 3 : 5 }));
      } catch (e) {
        errors[i] = e;
      }
    }
  return { seconds: per.map((xs, i) => (entries[i] && !errors[i] && xs.length ? median(xs) : null)), errors };
}

// An onnxruntime-node session on `source` (a file or an ONNX buffer) with the benchmark's threads, run
// once (released again if that run fails), and its timeAlternating entry.
async function ortEngine(ort, source, data, shape, name) {
  const session = await ort.InferenceSession.create(source, { intraOpNumThreads: opts.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  try {
    await session.run(feeds);
  } catch (e) {
    await session.release?.();
    throw e;
  }
  return { session, entry: { name, fn: () => session.run(feeds) } };
}

// The native session's timeAlternating entries: runSync (on the calling thread, as onnxruntime-node's
// run() executes) for nativeMs, and run() (the Promise that does not block the event loop) for
// nativeAsyncMs. Builds without runSync time run() for both.
function nativeEntries(session, feeds, name) {
  const asyncEntry = { name: `${name} run()`, fn: () => session.run(feeds) };
  if (typeof session.runSync !== 'function') return { nativeEntry: asyncEntry, nativeAsyncEntry: asyncEntry };
  return { nativeEntry: { name: `${name} runSync()`, fn: async () => session.runSync(feeds) }, nativeAsyncEntry: asyncEntry };
}

// The memory plan of a native session: the arena it reserved and the lower bound any plan has (MiB).
function arenaOf(session) {
  const i = session.info?.();
  if (!i) return {};
  return { peakActivationMB: round(i.peakActivationBytes / 2 ** 20), largestLiveSetMB: round(i.largestLiveSetBytes / 2 ** 20) };
}

// A model row's ortMs / nativeMs / nativeAsyncMs from timeAlternating; a failure during timing goes to `skipped`.
async function timeRowEngines(row, skipped, ortEntry, native, ortRawEntry = null) {
  const timed = await timeAlternating([ortEntry, native?.nativeEntry ?? null, native?.nativeAsyncEntry ?? null, ortRawEntry]);
  const ms = (k) => round(timed.seconds[k] != null ? timed.seconds[k] * 1e3 : null);
  row.ortMs = ms(0);
  row.nativeMs = ms(1);
  row.nativeAsyncMs = ms(2);
  if (ortRawEntry) row.ortRawMs = ms(3);
  if (timed.errors[0]) skipped.push(`ort: ${errText(timed.errors[0])}`);
  if (timed.errors[1]) skipped.push(`native: ${errText(timed.errors[1])}`);
  if (timed.errors[2] && !timed.errors[1]) skipped.push(`native run(): ${errText(timed.errors[2])}`);
}

const errText = (e) => String(e?.message ?? e).split('\n')[0];

// The conv layers to time: the Conv2D nodes of the project's light generator at 256x256 (lib/nn), one row
// per distinct configuration with `count` = how many the generator has; the static list in layers.mjs
// when lib/nn is not there.
async function convCases(apiInfo) {
  const file = path.join(apiInfo.dist, 'nn', 'generator.js');
  if (existsSync(file)) {
    try {
      const nn = await import(pathToFileURL(file).href);
      const graph = nn.generatorGraph(nn.generatorConfig(), { height: 256, width: 256 });
      const byKey = new Map();
      for (const node of graph.nodes) {
        if (node.op !== 'Conv2D') continue;
        const x = graph.values[node.inputs[0]].shape;
        const w = graph.values[node.inputs[1]].shape;
        const hasBias = node.inputs.length > 2 && node.inputs[2] >= 0;
        const key = JSON.stringify([x, w, node.attrs, hasBias]);
        const seen = byKey.get(key);
        if (seen) ++seen.count;
        else byKey.set(key, { name: node.name, x, w, attrs: node.attrs, hasBias, count: 1 });
      }
      if (byKey.size) return { source: 'lib/nn generatorGraph(generatorConfig(), 256x256)', cases: [...byKey.values()] };
    } catch (e) {
      log(`lib/nn generator unusable (${errText(e)}); using bench/layers.mjs`);
    }
  }
  return {
    source: 'bench/layers.mjs (static list)',
    cases: convLayers.map((l) => ({
      name: l.name,
      x: [1, l.cin, l.size, l.size],
      w: [l.cout, l.cin / (l.groups ?? 1), l.kernel, l.kernel],
      attrs: { strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad], dilations: [1, 1], group: l.groups ?? 1 },
      hasBias: true,
      count: 1,
    })),
  };
}

function convCaseFlops(c) {
  const [n, , h, w] = c.x;
  const [cout, cinPerGroup, kh, kw] = c.w;
  const [sh, sw] = c.attrs.strides ?? [1, 1];
  const [dh, dw] = c.attrs.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = c.attrs.pads ?? [0, 0, 0, 0];
  const oh = Math.floor((h + pt + pb - (dh * (kh - 1) + 1)) / sh) + 1;
  const ow = Math.floor((w + pl + pr - (dw * (kw - 1) + 1)) / sw) + 1;
  return 2 * n * cout * oh * ow * cinPerGroup * kh * kw;
}

async function benchConv(apiInfo, peak) {
  const api = apiInfo.api;
  const { source, cases } = await convCases(apiInfo);
  report.convSource = source;
  const rows = [];
  for (const c of cases) {
    const [cout, , kh, kw] = c.w;
    const row = {
      name: `${c.name} ${kh}x${kw}/${c.attrs.strides?.[0] ?? 1} ${c.x[1]}->${cout}${(c.attrs.group ?? 1) > 1 ? ` g${c.attrs.group}` : ''}`,
      size: c.x[2],
      input: c.x,
      weight: c.w,
      count: c.count,
      flops: convCaseFlops(c),
    };
    try {
      const g = new api.GraphBuilder('conv');
      const x = g.input('x', c.x);
      const w = g.param('w', c.w, 'he');
      const b = c.hasBias ? g.param('b', [cout], 'zeros') : null;
      g.output(g.op1('Conv2D', b ? [x, w, b] : [x, w], c.attrs, 'conv'), 'y');
      const session = await api.compile(g.build(), { threads: opts.threads });
      const n = c.x.reduce((p, q) => p * q, 1);
      const input = new api.Tensor(c.x, Float32Array.from({ length: n }, (_, i) => Math.sin(i)));
      await session.run({ x: input }); // warm-up: first touch of the arena and the packing buffers
      const s = await timeAsync(row.name, () => session.run({ x: input }));
      session.dispose();
      Object.assign(row, { nativeMs: round(s * 1e3), gflops: round(row.flops / s / 1e9), pctPeak: peak ? round((100 * row.flops) / s / 1e9 / peak, 1) : null });
      // The conv kernel alone: the same node timed inside the engine (compile({profile: true})), without
      // the input/output copies and the N-API hop that dominate the session.run rows of large planes.
      // The profile is a mean over every run so far; differencing it gives the mean of each group of
      // runs after the warm-up (first touch of the arena and scratch pages: 0.5 ms on a 4 MB output),
      // and the median of the group means, like the other medians here, discards the groups a busy
      // machine preempted.
      const profiled = await api.compile(g.build(), { threads: opts.threads, profile: true });
      const convTotalMs = (runs) => profiled.profile().find((p) => p.op === 'Conv2D').ms * runs;
      const warm = 3, groups = opts.quick ? 3 : 12, perGroup = 4;
      for (let i = 0; i < warm; ++i) await profiled.run({ x: input });
      const groupMs = [];
      let runs = warm, before = convTotalMs(runs);
      for (let k = 0; k < groups; ++k) {
        for (let i = 0; i < perGroup; ++i) await profiled.run({ x: input });
        runs += perGroup;
        const after = convTotalMs(runs);
        groupMs.push((after - before) / perGroup);
        before = after;
      }
      groupMs.sort((a, b) => a - b);
      const kernelS = groupMs[groupMs.length >> 1] / 1e3;
      profiled.dispose();
      Object.assign(row, { kernelMs: round(kernelS * 1e3), kernelGflops: round(row.flops / kernelS / 1e9), kernelPctPeak: peak ? round((100 * row.flops) / kernelS / 1e9 / peak, 1) : null });
      const [, cin] = c.x;
      if (kh === 3 && kw === 3 && (c.attrs.strides?.[0] ?? 1) === 1 && (c.attrs.group ?? 1) === 1 && cin >= 64 && cout >= 32) row.algorithm = 'winograd';
    } catch (e) {
      row.skipped = errText(e);
    }
    log('conv', JSON.stringify(row));
    rows.push(row);
  }
  return rows;
}

// lib/onnx (loadOnnx, declaredInputs, exportOnnxBuffer) from bench/out/dist, or null while it is absent.
// A module of the compiled API (bench/out/dist) when it is there and loads, else null: a module that
// fails to load is the same as an absent one here.
async function distModule(dist, ...parts) {
  const file = dist && path.join(dist, ...parts);
  if (!file || !existsSync(file)) return null;
  try {
    return await import(pathToFileURL(file).href);
  } catch {
    return null;
  }
}

async function findOnnx(dist) {
  const m = await distModule(dist, 'onnx', 'index.js');
  return typeof m?.loadOnnx === 'function' ? m : null;
}

async function findOptimize(dist) {
  const m = await distModule(dist, 'graph', 'passes', 'index.js');
  return typeof m?.optimizeForInference === 'function' ? (g) => m.optimizeForInference(g) : null;
}

// lib/onnx/denormal.js's withoutDenormalWeights (bytes -> flushed bytes or null) when it is there.
async function findFlushOnnx(dist) {
  const m = await distModule(dist, 'onnx', 'denormal.js');
  return typeof m?.withoutDenormalWeights === 'function' ? m.withoutDenormalWeights : null;
}

async function benchModels(apiInfo) {
  let ort = null;
  let ortSkip = null;
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    ortSkip = `onnxruntime-node not available: ${errText(e)}`;
  }
  const api = apiInfo.api;
  const onnx = api ? await findOnnx(apiInfo.dist) : null;
  const loadOnnx = onnx?.loadOnnx;
  // The (single) image input's name, from the model's declared inputs.
  const inputNameOf = (file) => onnx.declaredInputs(file)[0].name;
  // The inference folds of lib/graph/passes (BatchNorm / Pad / bias into Conv2D) when they are there.
  const optimize = api ? await findOptimize(apiInfo.dist) : null;
  report.nativePasses = optimize ? 'optimizeForInference' : null;
  const flushOnnx = await findFlushOnnx(apiInfo.dist);
  const nativeSkip = apiInfo.skipped ?? (loadOnnx && onnx.declaredInputs ? null : 'lib/onnx loadOnnx is not available yet');
  const dataDir = path.join(sharedData(root), 'models');
  const rows = [];
  for (const m of models) {
    if (opts.quick && !m.quick) continue;
    const file = path.join(dataDir, m.file);
    for (const size of opts.quick && m.quickSizes ? m.quickSizes : m.sizes) {
      const row = { name: path.basename(m.file, '.onnx'), size, nativeMs: null, ortMs: null, ratio: null, nativeAsyncMs: null };
      const skipped = [];
      if (!existsSync(file)) {
        row.skipped = `model file not found: ${file}`;
        rows.push(row);
        continue;
      }
      const shape = m.shape(size);
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => ((i * 37) % 255) / 255);
      // Both engines loaded (and run once), then timed in alternating rounds (timeAlternating).
      // onnxruntime gets the model as facestyle's own onnxruntime sessions do: denormal weights zeroed
      // (lib/onnx/denormal.ts; the native passes do the same). Where that changed the model, the file as
      // it is is timed too (ortRawMs): on many Intel cores denormal weights make every FMA slow.
      const flushedBytes = flushOnnx ? flushOnnx(readFileSync(file)) : null;
      let ortSession = null;
      let ortEntry = null;
      let ortRaw = null;
      if (ort) {
        try {
          ({ session: ortSession, entry: ortEntry } = await ortEngine(ort, flushedBytes ?? file, data, shape, `ort ${row.name}`));
          if (flushedBytes) ortRaw = await ortEngine(ort, file, data, shape, `ort ${row.name} (file as it is)`);
        } catch (e) {
          skipped.push(`ort: ${errText(e)}`);
        }
      } else skipped.push(ortSkip);
      let session = null;
      let native = null;
      if (loadOnnx) {
        try {
          const inputName = inputNameOf(file);
          const loaded = await loadOnnx(file, { inputShapes: { [inputName]: shape } });
          const graph = optimize ? optimize(loaded) : loaded;
          session = await api.compile(graph, { threads: opts.threads });
          const feeds = { [graph.values[graph.inputs[0]].name]: new api.Tensor(shape, data) };
          await session.run(feeds);
          native = nativeEntries(session, feeds, `native ${row.name}`);
          Object.assign(row, arenaOf(session));
        } catch (e) {
          skipped.push(`native: ${errText(e)}`);
        }
      } else skipped.push(`native: ${nativeSkip}`);
      await timeRowEngines(row, skipped, ortEntry, native, ortRaw?.entry);
      session?.dispose();
      await ortSession?.release?.();
      await ortRaw?.session?.release?.();
      if (row.nativeMs != null && row.ortMs != null) row.ratio = round(row.nativeMs / row.ortMs);
      if (skipped.length) row.skipped = skipped.join('; ');
      log('model', JSON.stringify(row));
      rows.push(row);
    }
  }
  // The project's own generator: the shipped model (models/comic-light.json, loaded with lib/nn's
  // loadGenerator), natively and through onnxruntime-node via lib/onnx's exporter.
  const genFile = apiInfo.dist && path.join(apiInfo.dist, 'nn', 'load.js');
  const genCard = path.join(root, 'models', 'comic-light.json');
  for (const size of opts.quick ? generatorSizes.slice(0, 1) : generatorSizes) {
    const row = { name: 'comic-light', size, nativeMs: null, ortMs: null, ratio: null, nativeAsyncMs: null };
    const skipped = [];
    if (!api) skipped.push(`native: ${apiInfo.skipped}`);
    else if (!genFile || !existsSync(genFile)) skipped.push('lib/nn/generator is not available yet');
    else {
      try {
        const nn = await import(pathToFileURL(genFile).href);
        const { graph } = await nn.loadGenerator(genCard, { size });
        const v = graph.values[graph.inputs[0]];
        const data = Float32Array.from({ length: v.shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i));
        let session = null;
        let native = null;
        try {
          // The same passes as for imported models (onnxruntime-node runs its own on the exported graph).
          session = await api.compile(optimize ? optimize(graph) : graph, { threads: opts.threads });
          const feeds = { [v.name]: new api.Tensor(v.shape, data) };
          await session.run(feeds);
          native = nativeEntries(session, feeds, 'generator');
          Object.assign(row, arenaOf(session));
        } catch (e) {
          skipped.push(`native: ${errText(e)}`);
        }
        let ortSession = null;
        let ortEntry = null;
        try {
          if (!ort) throw new Error(ortSkip);
          if (!onnx?.exportOnnxBuffer) throw new Error('lib/onnx exportOnnxBuffer is not available');
          ({ session: ortSession, entry: ortEntry } = await ortEngine(ort, onnx.exportOnnxBuffer(graph), data, v.shape, 'ort generator'));
        } catch (e) {
          skipped.push(`ort: ${errText(e)}`);
        }
        await timeRowEngines(row, skipped, ortEntry, native);
        session?.dispose();
        await ortSession?.release?.();
      } catch (e) {
        skipped.push(`generator: ${errText(e)}`);
      }
    }
    if (row.nativeMs != null && row.ortMs != null) row.ratio = round(row.nativeMs / row.ortMs);
    if (skipped.length) row.skipped = skipped.join('; ');
    log('model', JSON.stringify(row));
    rows.push(row);
  }
  return rows;
}

// ---- the report ---------------------------------------------------------------------------------------

function markdown(r) {
  const L = [];
  const cell = (v) => (v == null ? '-' : String(v));
  L.push('# facestyle benchmark', '');
  L.push(`${r.date} · ${r.machine.cpu} · ${r.machine.cores} cores · SIMD ${r.machine.simd} · threads ${r.threads}${r.quick ? ' · --quick' : ''}`, '');
  L.push(`Measured peak fp32: **${cell(r.peakGflops)} GFLOP/s** (${Object.entries(r.peak).map(([k, v]) => `${k} ${cell(v)}`).join(', ')}).`, '');
  L.push(`Load average (1 min) ${r.machine.loadAverage.start} at the start, ${r.machine.loadAverage.end} at the end. On a busy machine medians suffer first (a preempted thread stalls its team); the best-of columns show the uncontended rate.`, '');
  if (r.skipped.length) L.push(...r.skipped.map((s) => `- skipped: ${s}`), '');
  L.push('## SGEMM (C = A·B, row-major, fp32)', '', '| size | impl | median ms | GFLOP/s | % of peak | best GFLOP/s |', '|---|---|---|---|---|---|');
  for (const g of r.gemm) L.push(`| ${g.size}³ | ${g.impl} | ${cell(g.ms)} | ${cell(g.gflops)} | ${cell(g.pctPeak)} | ${cell(g.bestGflops)} |`);
  L.push('', '## Depthwise conv fast path (native/cpu/conv_fast.h, batch 1)', '', '| layer | impl | median ms | GFLOP/s | % of peak | best GFLOP/s |', '|---|---|---|---|---|---|');
  for (const d of r.depthwise) L.push(`| ${d.name} | ${d.impl} | ${cell(d.ms)} | ${cell(d.gflops)} | ${cell(d.pctPeak)} | ${cell(d.bestGflops)} |`);
  L.push('', `## Conv layers (light generator, batch 1, NCHW; from ${r.convSource ?? 'bench/layers.mjs'})`, '', '`ms` times a whole one-node session.run (input copied in and out, N-API hop included); `kernel ms` is the same node timed inside the engine (per-node profile after 3 warm-up runs: the median of the means of groups of 4 runs), which is what the kernel itself does. GFLOP counts direct convolution (2·M·OH·OW·C·kh·kw); Winograd layers do about 4x fewer multiplies, so their % of peak can exceed 100.', '', '| layer | input | count | GFLOP | ms | GFLOP/s | % of peak | kernel ms | kernel % of peak | note |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const c of r.conv) L.push(`| ${c.name} | ${c.size} | ${cell(c.count)} | ${round(c.flops / 1e9)} | ${cell(c.nativeMs)} | ${cell(c.gflops)} | ${cell(c.pctPeak)} | ${cell(c.kernelMs)} | ${cell(c.kernelPctPeak)} | ${c.skipped ? `skipped: ${c.skipped}` : c.algorithm === 'winograd' ? 'Winograd F(4x4,3x3)' : ''} |`);
  L.push('', '## Models: native engine vs onnxruntime-node (same threads; ratio < 1 means native is faster)', '', 'Both engines get the same weights: the model with its denormal weights set to 0, as facestyle\'s inference passes and its own onnxruntime sessions do (lib/graph/passes/denormal.ts, lib/onnx/denormal.ts); where that changed the model the note gives onnxruntime\'s time on the file as it is. `native ms` times `session.runSync()`, which runs on the calling thread as onnxruntime-node\'s `run()` does (inside `setImmediate`, blocking the event loop); `native run() ms` times the Promise API that keeps the event loop free (a hand-off to the compute thread and back). `arena MB`: the activation memory the native plan reserves (`peakActivationBytes`), against the largest set of values live at one step, the lower bound of any plan.', '', '| model | size | native ms | ort ms | ratio | native run() ms | arena MB | largest live MB | note |', '|---|---|---|---|---|---|---|---|---|');
  for (const m of r.models) {
    const notes = [m.ortRawMs != null ? `onnxruntime on the file as it is (denormal weights kept): ${cell(m.ortRawMs)} ms` : '', m.skipped ? `skipped: ${m.skipped}` : ''].filter(Boolean);
    L.push(`| ${m.name} | ${m.size} | ${cell(m.nativeMs)} | ${cell(m.ortMs)} | ${cell(m.ratio)} | ${cell(m.nativeAsyncMs)} | ${cell(m.peakActivationMB)} | ${cell(m.largestLiveSetMB)} | ${notes.join('; ')} |`);
  }
  L.push('');
  return L.join('\n');
}

const t0 = Date.now();
const report = {
  schema: 1,
  date: new Date().toISOString(),
  quick: opts.quick,
  threads: opts.threads,
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), arch: process.arch, simd: 'unknown', loadAverage: { start: round(os.loadavg()[0], 2), end: null } },
  peakGflops: null,
  peak: {},
  gemm: [],
  depthwise: [],
  convSource: null,
  conv: [],
  nativePasses: null,
  models: [],
  skipped: [],
};

const built = await buildBenchNative();
const bin = built.path;
if (built.skipped) report.skipped.push(`peak, gemm: ${built.skipped}`);
let isas = [];
if (bin) {
  const info = native(bin, ['info']);
  report.machine.simd = info.detected ?? 'unknown';
  isas = info.detected === 'avx512' ? ['avx2', 'avx512'] : info.detected === 'avx2' ? ['avx2'] : [];
  if (!isas.length) report.skipped.push('peak: no AVX2 on this CPU, so no FMA peak loop');
}

const peakSeconds = opts.quick ? 0.3 : 1;
const updatePeak = () => {
  for (const isa of isas) {
    const g = measurePeak(bin, isa, peakSeconds);
    if (g != null) report.peak[isa] = round(Math.max(report.peak[isa] ?? 0, g));
  }
  const all = Object.values(report.peak);
  report.peakGflops = all.length ? Math.max(...all) : null;
};
if (bin && (want('peak') || want('gemm') || want('depthwise') || want('conv'))) {
  updatePeak();
  log('peak GFLOP/s', JSON.stringify(report.peak));
}

if (bin && want('gemm')) {
  const impls = ['naive', 'scalar', ...isas];
  for (const size of [256, 512, 1024]) {
    for (const impl of impls) {
      const r = native(bin, ['gemm', impl, String(size), String(size), String(size), String(opts.threads), String(opts.quick ? 0.3 : 1)]);
      const row = { name: `sgemm ${size}^3`, size, impl, threads: opts.threads };
      if (r.error) row.skipped = r.error;
      else
        Object.assign(row, {
          ms: round(r.medianMs, 4),
          gflops: round(r.gflops, 1),
          pctPeak: report.peakGflops ? round((100 * r.gflops) / report.peakGflops, 1) : null,
          pctIsaPeak: report.peak[impl] ? round((100 * r.gflops) / report.peak[impl], 1) : null,
          bestMs: round(r.bestMs, 4),
          bestGflops: round(r.bestGflops, 1),
          reps: r.reps,
        });
      log('gemm', JSON.stringify(row));
      report.gemm.push(row);
    }
  }
  // Once more after the GEMMs: the peak is a best-of, and the machine may have been busy at the start.
  const before = report.peakGflops;
  updatePeak();
  if (report.peakGflops !== before)
    for (const g of report.gemm)
      if (g.gflops != null) {
        g.pctPeak = round((100 * g.gflops) / report.peakGflops, 1);
        g.pctIsaPeak = report.peak[g.impl] ? round((100 * g.gflops) / report.peak[g.impl], 1) : null;
      }
}

// The depthwise fast path (native/cpu/conv_fast.h) on MobileNet-style layers (as in YuNet / UltraFace).
if (bin && want('depthwise')) {
  for (const [c, size, k, stride] of depthwiseLayers) {
    for (const impl of ['scalar', ...isas]) {
      const r = native(bin, ['depthwise', impl, String(c), String(size), String(size), String(k), String(stride), String(opts.threads), String(opts.quick ? 0.2 : 0.5)]);
      const row = { name: `depthwise ${k}x${k}/${stride} c${c} @${size}`, c, size, k, stride, impl, threads: opts.threads };
      if (r.error) row.skipped = r.error;
      else
        Object.assign(row, {
          ms: round(r.medianMs, 4),
          gflops: round(r.gflops, 2),
          pctPeak: report.peakGflops ? round((100 * r.gflops) / report.peakGflops, 1) : null,
          bestMs: round(r.bestMs, 4),
          bestGflops: round((r.gflops * r.medianMs) / r.bestMs, 2),
        });
      log('depthwise', JSON.stringify(row));
      report.depthwise.push(row);
    }
  }
}

let apiInfo = { skipped: 'not requested' };
if (want('conv') || want('models') || want('faces') || want('video')) apiInfo = await loadApi();
// Whole parts (and the native half of the model rows) that cannot run without the engine, in `skipped` too.
if (apiInfo.skipped) {
  const parts = ['conv', 'faces', 'video'].filter(want).concat(want('models') ? ['models (native)'] : []);
  if (parts.length) report.skipped.push(`${parts.join(', ')}: ${apiInfo.skipped}`);
}
if (want('conv')) {
  if (apiInfo.skipped) report.conv = convLayers.map((l) => ({ name: l.name, size: l.size, flops: convFlops(l), skipped: apiInfo.skipped }));
  else report.conv = await benchConv(apiInfo, report.peakGflops);
}
if (want('models')) report.models = await benchModels(apiInfo);
if (want('faces')) report.faces = apiInfo.api ? await benchFaces(apiInfo.api, root, opts) : [{ name: 'faces', skipped: apiInfo.skipped }];
if (want('video')) report.video = apiInfo.api ? await benchVideo(apiInfo.api, root, opts) : [{ name: 'video', skipped: apiInfo.skipped }];
if (apiInfo.api) report.machine.engineSimd = apiInfo.api.capabilities().simd; // FACESTYLE_SIMD may lower it
report.seconds = round((Date.now() - t0) / 1000, 1);
report.machine.loadAverage.end = round(os.loadavg()[0], 2);

mkdirSync(opts.out, { recursive: true });
writeFileSync(path.join(opts.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(path.join(opts.out, 'REPORT.md'), `${markdown(report)}\n${pipelineMarkdown(report)}`);
log(`wrote ${path.join(opts.out, 'report.json')} and REPORT.md in ${report.seconds} s`);
