// Runs npm's own node-gyp (no download: npm ships it, and this Node's headers are used when its install
// prefix has them) in `cwd`: the CPU-only build of binding.gyp, for machines without CMake. Used by
// build-native.mjs (npm install without cmake) and check-gyp.mjs (CI proves binding.gyp still builds).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The node-gyp script npm uses for its lifecycle scripts, or the one in this Node's npm. */
export function nodeGypScript() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  return path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

/** `node-gyp rebuild` in cwd; returns the exit status (non-zero when node-gyp is missing too). */
export function nodeGypRebuild(cwd) {
  const gyp = nodeGypScript();
  if (!existsSync(gyp)) {
    console.error(`facestyle: node-gyp not found (looked for ${gyp})`);
    return 1;
  }
  const prefix = process.env.npm_config_nodedir || path.join(path.dirname(process.execPath), '..');
  const args = [gyp, 'rebuild', '-j', String(os.availableParallelism())];
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  return spawnSync(process.execPath, args, { cwd, stdio: 'inherit' }).status ?? 1;
}
