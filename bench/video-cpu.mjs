#!/usr/bin/env node
// Where the CPU time of the video pipeline goes: one stylizeVideo run on a clip with the shipped model,
// reporting CPU milliseconds per frame for each thread group of this process (the JS main thread, the
// native compute thread and its OpenMP team, libuv pool threads, onnxruntime, V8 helpers), for the
// ffmpeg children, and the main thread's JS self time per function from the V8 sampling profiler
// (grouped into pipeline stages). Used to find what to move off the JS thread (lib/video/README.md).
//
//   node bench/video-cpu.mjs [--dist DIR] [--frames N] [--runs N] [--top N] [clip ...]
//
// DIR is lib/ compiled by tsc (default bench/out/dist; `node bench/run.mjs --only video` makes it). The
// addon is FACESTYLE_ADDON, else build/Release/facestyle.node.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pipelineDetector, pipelineModel, sharedData } from './pipeline.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = { dist: path.join(root, 'bench', 'out', 'dist'), frames: 60, runs: 2, top: 15, clips: [] };
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--dist') opt.dist = path.resolve(args[++i]);
  else if (args[i] === '--frames') opt.frames = Number(args[++i]);
  else if (args[i] === '--runs') opt.runs = Number(args[++i]);
  else if (args[i] === '--top') opt.top = Number(args[++i]);
  else opt.clips.push(path.resolve(args[i]));
}
if (!opt.clips.length) opt.clips = ['short_hamilton_clip.mp4', '908.mp4'].map((f) => path.join(sharedData(root), 'video', f));
process.env.FACESTYLE_ADDON ??= path.join(root, 'build', 'Release', 'facestyle.node');

const TICK = 10; // ms per clock tick in /proc (USER_HZ is 100 on Linux)

/** CPU ms per thread name of this process, from /proc (utime + stime, clock ticks of 10 ms). */
function threadTimes() {
  const out = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * TICK;
      let name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      if (Number(tid) === process.pid) name = 'main (JS)';
      out.set(`${tid}`, { name, ms });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Thread name -> group. The compute thread is an unnamed std::thread (comm "node"), as are its OpenMP workers. */
function group(name) {
  if (name === 'main (JS)') return name;
  if (/libuv-worker/.test(name)) return 'libuv pool';
  if (/V8|DelayedTask|Platform/.test(name)) return 'V8 helpers (GC, compiler)';
  if (name === 'node') return 'native threads (model + warp on the compute thread and its OpenMP team, onnxruntime detection)';
  return `other: ${name}`;
}

function diffGroups(a, b) {
  const g = new Map();
  for (const [tid, { name, ms }] of b) {
    const before = a.get(tid)?.ms ?? 0;
    const k = group(name);
    g.set(k, (g.get(k) ?? 0) + ms - before);
  }
  return g;
}

// Stage of a JS function, by name and file (the profile's self time is grouped by these).
function stageOf(fn, url) {
  const file = url.split('/').slice(-2).join('/');
  if (/regionTensor|alignFaces|warpAffine|warpSession/.test(fn) || /face\/align/.test(file)) return 'align';
  if (/paste|cropRegion|cachedMask|featherMask/i.test(fn) || /face\/paste/.test(file)) return 'paste';
  if (/video\/stylizer/.test(file)) return `stylizer.ts ${fn || '(anonymous)'}`;
  if (/detect|tracker|one-euro/.test(file)) return 'detect + track';
  if (/ffmpeg|frames/.test(file)) return 'ffmpeg pipes';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (/runtime\/session|native/.test(file)) return 'session run (JS side)';
  if (/onnxruntime/.test(url)) return 'onnxruntime (JS side)';
  return 'other JS';
}

function summarize(profile) {
  const self = new Map();
  const byFn = new Map();
  const dt = new Map();
  const ids = profile.samples;
  for (let i = 0; i < ids.length; ++i) dt.set(ids[i], (dt.get(ids[i]) ?? 0) + profile.timeDeltas[i] / 1000);
  // Built-ins (TypedArray set/map/fill, Buffer copies) have no url: their time goes to the nearest JS
  // caller that has one, so "paste" includes the copies paste makes.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owner = (n) => {
    let m = n;
    while (m && !m.callFrame.url && parent.has(m.id)) m = byId.get(parent.get(m.id));
    return m && m.callFrame.url ? m : n;
  };
  for (const node of profile.nodes) {
    const ms = dt.get(node.id) ?? 0;
    if (!ms) continue;
    const special = /^\(/.test(node.callFrame.functionName);
    const n = special ? node : owner(node);
    const { functionName: fn, url, lineNumber } = n.callFrame;
    const st = stageOf(fn, url);
    self.set(st, (self.get(st) ?? 0) + ms);
    const key = `${fn || '(anonymous)'} ${url ? `${url.split('/').slice(-2).join('/')}:${lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + ms);
  }
  return { self, byFn };
}

const api = await import(pathToFileURL(path.join(opt.dist, 'index.js')).href);
// Children (ffmpeg) CPU ms, counted once they have been waited for (lib/video/measure.ts).
const { childrenCpuMs: childrenMs } = await import(pathToFileURL(path.join(opt.dist, 'video', 'measure.js')).href);
const fmt = (m, frames) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${(v / frames).toFixed(2).padStart(7)}  ${k}`).join('\n');

for (const clip of opt.clips) {
  if (!existsSync(clip)) {
    console.log(`${clip}: missing`);
    continue;
  }
  const stylizer = await api.createVideoStylizer({ model: pipelineModel(root), detector: pipelineDetector(root), size: 256 });
  const tmp = path.join(os.tmpdir(), `facestyle-cpu-${process.pid}.mp4`);
  const options = { stylizer, batch: 4, maxFrames: opt.frames };
  await api.stylizeVideo(clip, tmp, options); // warm-up: sessions compiled, caches filled
  const inspector = new Session();
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 250 });
  for (let r = 0; r < opt.runs; ++r) {
    const t0 = threadTimes(), c0 = childrenMs(), w0 = performance.now();
    await inspector.post('Profiler.start');
    const res = await api.stylizeVideo(clip, tmp, options);
    const { profile } = await inspector.post('Profiler.stop');
    const wall = performance.now() - w0;
    const groups = diffGroups(t0, threadTimes());
    groups.set('ffmpeg children (ffprobe, decoder, encoder)', childrenMs() - c0);
    const n = res.frames;
    const { self, byFn } = summarize(profile);
    const top = new Map([...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, opt.top));
    console.log(`\n${path.basename(clip)} run ${r + 1}: ${n} frames, ${res.faces} faces, ${(n / (wall / 1000)).toFixed(1)} fps, wall ${(wall / n).toFixed(1)} ms/frame, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`CPU ms per frame by thread group (10 ms ticks):\n${fmt(groups, n)}`);
    console.log(`main-thread JS self time, ms per frame, by stage (sampled):\n${fmt(self, n)}`);
    console.log(`top functions, ms per frame:\n${fmt(top, n)}`);
  }
  inspector.disconnect();
  await stylizer.dispose?.();
  await import('node:fs/promises').then((f) => f.rm(tmp, { force: true }));
}
