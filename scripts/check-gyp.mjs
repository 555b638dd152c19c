#!/usr/bin/env node
// Proves binding.gyp builds the CPU addon with node-gyp (for people without CMake), in a scratch
// copy so it never touches the cmake-js build in build/. Loads the result and runs a tiny graph.
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { nodeGypRebuild } from './node-gyp.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-gyp-'));
try {
  for (const f of ['binding.gyp', 'package.json', 'native', 'scripts']) cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const status = nodeGypRebuild(dir);
  if (status !== 0) throw new Error(`node-gyp rebuild failed with ${status}`);
  const addon = createRequire(import.meta.url)(path.join(dir, 'build', 'Release', 'facestyle.node'));
  const caps = addon.capabilities();
  const cpuOps = caps.ops.filter((o) => o.cpu).length;
  if (cpuOps < 3) throw new Error(`node-gyp addon registers only ${cpuOps} CPU kernels`);
  console.log(`node-gyp build OK: simd ${caps.simd}, ${cpuOps} CPU kernels`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
