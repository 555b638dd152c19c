#!/usr/bin/env node
// Compiles bench/out/bench_native (native/test/bench_native.cc) straight from the few sources it needs
// with g++ (or $CXX): the SGEMM paths, the depthwise fast path, the peak-FLOP/s loops and capabilities.cc. It does not link the
// whole core library, so the benchmark builds even while unrelated kernels are mid-edit.
// Usage: node bench/build.mjs [--force]. Exported: buildBenchNative() -> { path } or { skipped }.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'bench', 'out');
const objDir = path.join(outDir, 'obj');
export const benchNativePath = path.join(outDir, 'bench_native');

const base = ['-std=c++17', '-O3', '-DNDEBUG', '-fopenmp', `-I${path.join(root, 'native/include')}`, `-I${path.join(root, 'native')}`];
const avx2 = ['-mavx2', '-mfma', '-mf16c'];
const avx512 = ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', ...avx2];
// The same ISA flags CMakeLists.txt gives files named *_avx2.cc / *_avx512.cc, and no others.
const sources = [
  ['native/cpu/sgemm.cc', []],
  ['native/cpu/sgemm_avx2.cc', avx2],
  ['native/cpu/sgemm_avx512.cc', avx512],
  ['native/cpu/row_dots.cc', []],
  ['native/cpu/row_dots_avx2.cc', avx2],
  ['native/cpu/row_dots_avx512.cc', avx512],
  ['native/cpu/peak_flops_avx2.cc', avx2],
  ['native/cpu/peak_flops_avx512.cc', avx512],
  ['native/cpu/conv_fast_depthwise.cc', []],
  ['native/cpu/conv_fast_depthwise_avx2.cc', avx2],
  ['native/cpu/conv_fast_depthwise_avx512.cc', avx512],
  ['native/runtime/capabilities.cc', []],
  ['native/test/bench_native.cc', []],
];
const headers = ['native/cpu/gemm.h', 'native/cpu/sgemm_packed.h', 'native/cpu/row_dots.h', 'native/cpu/row_dots_kernels.h', 'native/cpu/peak_flops.h', 'native/cpu/conv_fast.h', 'native/cpu/conv_fast_depthwise.h'];

function run(cmd, args) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => resolve({ code: -1, err: String(e) }));
    p.on('close', (code) => resolve({ code, err }));
  });
}

const mtime = (f) => statSync(path.join(root, f)).mtimeMs;

export async function buildBenchNative({ force = false } = {}) {
  if (process.arch !== 'x64') return { skipped: `bench_native needs x86-64 (this is ${process.arch})` };
  const cxx = process.env.CXX || 'g++';
  const newest = Math.max(...sources.map(([f]) => mtime(f)), ...headers.map(mtime));
  if (!force && existsSync(benchNativePath) && statSync(benchNativePath).mtimeMs > newest) return { path: benchNativePath };
  mkdirSync(objDir, { recursive: true });
  // Two at a time: CI and dev machines here have 2 cores.
  const objects = [];
  const queue = [...sources];
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const [src, flags] = s;
      const obj = path.join(objDir, path.basename(src).replace(/\.cc$/, '.o'));
      objects.push(obj);
      const r = await run(cxx, [...base, ...flags, '-c', path.join(root, src), '-o', obj]);
      if (r.code !== 0) throw new Error(`${cxx} failed on ${src}:\n${r.err}`);
    }
  };
  try {
    await Promise.all([worker(), worker()]);
    const r = await run(cxx, [...base, ...objects, '-o', benchNativePath]);
    if (r.code !== 0) throw new Error(`linking bench_native failed:\n${r.err}`);
  } catch (e) {
    return { skipped: `cannot build bench_native: ${e.message}` };
  }
  return { path: benchNativePath };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await buildBenchNative({ force: process.argv.includes('--force') });
  if (r.skipped) {
    console.error(r.skipped);
    process.exit(1);
  }
  console.log(r.path);
}
