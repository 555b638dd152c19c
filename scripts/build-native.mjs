#!/usr/bin/env node
// Builds the native addon and the C++ kernel tests with cmake-js (run by `npm install`).
// FACESTYLE_CUDA=AUTO|ON|OFF and FACESTYLE_CUDA_ARCHS="75;80;..." pass through to CMake.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--out', process.env.FACESTYLE_BUILD_DIR || 'build'];
if (process.env.FACESTYLE_CUDA) args.push(`--CDFACESTYLE_CUDA=${process.env.FACESTYLE_CUDA}`);
if (process.env.FACESTYLE_CUDA_ARCHS) args.push(`--CDFACESTYLE_CUDA_ARCHS=${process.env.FACESTYLE_CUDA_ARCHS}`);
const env = { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: String(process.env.CMAKE_BUILD_PARALLEL_LEVEL || availableParallelism()) };
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
if (result.status !== 0) {
  console.error('\nfacestyle: building the native addon failed. It needs cmake >= 3.18 and a C++17 compiler (g++ or clang++).');
  console.error('Without CMake, node-gyp can build the CPU-only addon: npx node-gyp rebuild (see binding.gyp).');
  process.exit(result.status ?? 1);
}
