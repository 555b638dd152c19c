#!/usr/bin/env node
// Builds the native addon and the C++ kernel tests with cmake-js (run by `npm install`).
// FACESTYLE_CUDA=AUTO|ON|OFF and FACESTYLE_CUDA_ARCHS="75;80;..." pass through to CMake.
// Without CMake (no `cmake` on PATH) it builds the CPU-only addon from binding.gyp with npm's own node-gyp
// instead (no CUDA, no C++ test executables); FACESTYLE_BUILD_WITH=cmake|node-gyp chooses.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { nodeGypRebuild } from './node-gyp.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const how = process.env.FACESTYLE_BUILD_WITH || (spawnSync('cmake', ['--version']).status === 0 ? 'cmake' : 'node-gyp');
if (how !== 'cmake' && how !== 'node-gyp') {
  console.error(`facestyle: FACESTYLE_BUILD_WITH must be cmake or node-gyp, not '${how}'`);
  process.exit(2);
}
if (how === 'node-gyp') {
  if (!process.env.FACESTYLE_BUILD_WITH) console.error('facestyle: cmake not found: building the CPU-only addon with node-gyp (no CUDA, no C++ tests; install cmake >= 3.18 for those).');
  const status = nodeGypRebuild(root);
  if (status !== 0) console.error('\nfacestyle: node-gyp could not build the addon. It needs python3, make and a C++17 compiler (g++ or clang++); or install cmake >= 3.18.');
  process.exit(status);
}
const require = createRequire(import.meta.url);
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--out', process.env.FACESTYLE_BUILD_DIR || 'build'];
if (process.env.FACESTYLE_CUDA) args.push(`--CDFACESTYLE_CUDA=${process.env.FACESTYLE_CUDA}`);
if (process.env.FACESTYLE_CUDA_ARCHS) args.push(`--CDFACESTYLE_CUDA_ARCHS=${process.env.FACESTYLE_CUDA_ARCHS}`);
const env = { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: String(process.env.CMAKE_BUILD_PARALLEL_LEVEL || availableParallelism()) };
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
if (result.status !== 0) {
  console.error('\nfacestyle: building the native addon failed. It needs cmake >= 3.18 and a C++17 compiler (g++ or clang++).');
  console.error('Without CMake, FACESTYLE_BUILD_WITH=node-gyp npm install builds the CPU-only addon with node-gyp (see binding.gyp).');
  process.exit(result.status ?? 1);
}
