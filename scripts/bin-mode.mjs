#!/usr/bin/env node
// Marks the package's bin files (package.json "bin") executable after tsc has written them: tsc creates
// files as 0644, and `npx facestyle` in a fresh checkout runs dist/cli/main.js directly (its shebang),
// which then fails with "Permission denied". npm sets the mode itself only when it installs the package
// as a dependency.
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
for (const rel of bins) {
  const file = path.join(root, rel);
  if (!existsSync(file)) {
    console.error(`bin-mode: ${rel} does not exist (was tsc run?)`);
    process.exit(1);
  }
  chmodSync(file, statSync(file).mode | 0o111);
}
