// Loads the native addon once. If it cannot be loaded, one clear error lists the causes and fixes.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FacestyleError } from './errors.js';

export interface NativeSessionHandle {
  /** With `outputs` (one array per graph output, exactly its size) the run writes into them and returns them. */
  run(feeds: Float32Array[], outputs?: Float32Array[]): Promise<Float32Array[]>;
  runSync(feeds: Float32Array[], outputs?: Float32Array[]): Float32Array[];
  dispose(): void;
  readValue(name: string): Float32Array;
  writeValue(name: string, data: Float32Array): void;
  profile(): { runs: number; steps: { node: number; seconds: number }[] };
  info(): { arenaBytes: number; largestLiveSetBytes: number; paramBytes: number; threads: number; device: string; order: number[] };
}

export interface NativeCapabilities {
  version: string;
  simd: 'scalar' | 'avx2' | 'avx512';
  simdDetected: 'scalar' | 'avx2' | 'avx512';
  threads: number;
  openmp: boolean;
  cuda: { compiled: boolean; runtimeVersion: string; error: string; devices: { name: string; totalMemory: number; freeMemory: number; computeCapability: number }[] };
  ops: { name: string; cpu: boolean; cuda: boolean }[];
}

export interface NativeGraph {
  values: { name: string; kind: string; shape: number[]; data?: Float32Array }[];
  nodes: { name: string; op: string; attrs: Record<string, unknown>; inputs: number[]; outputs: number[] }[];
  inputs: number[];
  outputs: number[];
  updates?: [number, number][];
}

export interface NativeAddon {
  compile(graph: NativeGraph, options: { device?: string; threads?: number; reuseBuffers?: boolean; profile?: boolean }): Promise<NativeSessionHandle>;
  capabilities(): NativeCapabilities;
  /** A temp output removed (and `pid` killed) if this environment goes away first (native/napi/teardown.h). */
  registerTeardown?(path: string, isFolder: boolean, pid: number): number;
  unregisterTeardown?(id: number): void;
}

/** The package root (works from lib/ under vitest and from dist/ when installed). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let addon: NativeAddon | undefined;
/** Addons loaded in this thread, by file (shared by every copy of this module). */
const ADDON_CACHE = Symbol.for('facestyle.loadedAddons');

export function loadNative(): NativeAddon {
  if (addon) return addon;
  // FACESTYLE_ADDON, when set, is the only candidate: a wrong path is an error, not a silent fall back
  // to another build (which would give results of a build the user did not ask for).
  const chosen = process.env.FACESTYLE_ADDON;
  const candidates = chosen ? [path.resolve(chosen)] : [path.join(packageRoot, 'build', 'Release', 'facestyle.node'), path.join(packageRoot, 'build', 'facestyle.node')];
  // OpenMP threads wait passively between parallel regions unless the user chose otherwise. libgomp's
  // default spins first, which on a machine with anything else running (the JS thread, onnxruntime,
  // sharp, ffmpeg, another process) let a spinning worker hold the core its master needed: runs of a
  // 1 ms model stalled at ~150 ms. libgomp reads this when it is loaded with the addon, just below.
  // On a dedicated machine OMP_WAIT_POLICY=active is faster (small models ~1.5x; see README).
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.OMP_WAIT_POLICY = 'passive';
  const errors: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) {
      errors.push(`${file}: not found`);
      continue;
    }
    try {
      // process.dlopen, not require(): only a native module loads (a JavaScript file at this path is
      // refused, never run). Like require's cache, one load per file and thread: a second copy of this
      // module (another module graph, e.g. a test runner's) reuses it instead of initialising it again.
      const cache = ((globalThis as Record<symbol, Map<string, NativeAddon>>)[ADDON_CACHE] ??= new Map());
      let loaded = cache.get(file);
      if (!loaded) {
        const mod = { exports: {} as unknown };
        process.dlopen(mod, file);
        loaded = mod.exports as NativeAddon;
        // Another package's addon (onnxruntime's, sharp's) loads too, and failed later as "capabilities is
        // not a function": what the package calls must be there.
        const missing = ['capabilities', 'compile'].filter((k) => typeof (loaded as unknown as Record<string, unknown>)[k] !== 'function');
        if (missing.length) throw new Error(`not the facestyle addon (it has no ${missing.join(', ')} function)`);
        cache.set(file, loaded);
      }
      addon = loaded;
      return addon;
    } catch (e) {
      errors.push(`${file}: ${(e as Error).message}`);
    }
  }
  throw new FacestyleError(
    'ERR_FACESTYLE_NATIVE',
    `The facestyle native addon could not be loaded.\n  Tried:\n    ${errors.join('\n    ')}\n` +
      `  Causes and fixes:\n` +
      `    - it was never built: run \`npm install\` (or \`npm run build\`) in ${packageRoot}; it needs cmake >= 3.18 and g++/clang++\n` +
      `    - it was built for another Node ABI or platform: delete build/ and run \`npm run build\`\n` +
      (chosen ? `    - FACESTYLE_ADDON=${chosen} is set: point it at a built facestyle.node, or unset it to use build/Release` : `    - a custom build elsewhere: set FACESTYLE_ADDON=/path/to/facestyle.node`),
  );
}
