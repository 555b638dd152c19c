#!/usr/bin/env node
// Runs the C++ kernel tests (ctest) of the build made by scripts/build-native.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const dir = process.env.FACESTYLE_BUILD_DIR || 'build';
if (!existsSync(`${dir}/CTestTestfile.cmake`)) {
  console.error(`facestyle: no C++ test build in ${dir}/; run npm install (or npm run build) first`);
  process.exit(1);
}
const r = spawnSync('ctest', ['--test-dir', dir, '--output-on-failure'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
