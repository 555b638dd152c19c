// The CLI as users run it (from dist/, built by `npm test`'s tsc step).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';

const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('facestyle CLI', () => {
  // dist/ is the package's own build (npm test runs tsc first): missing is an error, not a reason to skip.
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with \`npx tsc -p .\` (npm test does) before running this file`);
  });

  it('prints help listing the commands', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const cmd of ['stylize', 'capabilities']) expect(r.stdout).toContain(cmd);
  });

  it('reports capabilities as JSON', () => {
    const r = run('capabilities', '--json');
    expect(r.status).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(['scalar', 'avx2', 'avx512']).toContain(c.simd);
    expect(c.threads).toBeGreaterThan(0);
    expect(typeof c.cuda.compiled).toBe('boolean');
    expect(c.gpu).toBe(c.cuda.compiled && c.cuda.devices.length > 0);
  });

  it('honours FACESTYLE_SIMD to lower the SIMD level', () => {
    const r = spawnSync(process.execPath, [cli, 'capabilities', '--json'], { encoding: 'utf8', env: { ...process.env, FACESTYLE_SIMD: 'scalar' } });
    expect(JSON.parse(r.stdout).simd).toBe('scalar');
  });

  it('a FACESTYLE_ADDON that does not exist is ERR_FACESTYLE_NATIVE naming it, not a silent fall back to build/Release', () => {
    const r = spawnSync(process.execPath, [cli, 'capabilities', '--json'], { encoding: 'utf8', env: { ...process.env, FACESTYLE_ADDON: '/nonexistent/facestyle.node' } });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('ERR_FACESTYLE_NATIVE');
    expect(r.stderr).toContain('/nonexistent/facestyle.node');
    expect(r.stderr).not.toContain('build/Release/facestyle.node: not found');
  });

  it('output into a pipe closed early (`| true`) ends quietly with 0, not an EPIPE stack trace and exit 1', () => {
    for (const args of ['capabilities --json', '--help', 'info models/comic-light.json --json']) {
      // The reader exits at once; node is still starting, so its first write finds the pipe closed.
      const r = spawnSync('bash', ['-c', `"${process.execPath}" "${cli}" ${args} | true; echo "status \${PIPESTATUS[0]}"`], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname });
      expect(r.stdout.trim(), args).toBe('status 0');
      expect(r.stderr, args).not.toMatch(/EPIPE|Error/);
    }
  });

  it("FACESTYLE_ADDON pointing at another package's addon (onnxruntime's) is ERR_FACESTYLE_NATIVE, not a TypeError later", () => {
    const ort = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node');
    expect(existsSync(ort), ort).toBe(true);
    const r = spawnSync(process.execPath, [cli, 'capabilities', '--json'], { encoding: 'utf8', env: { ...process.env, FACESTYLE_ADDON: ort } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('ERR_FACESTYLE_NATIVE');
    expect(r.stderr).toContain('not the facestyle addon (it has no capabilities, compile function)');
    expect(r.stderr).not.toContain('TypeError');
  });

  it('FACESTYLE_ADDON pointing at a JavaScript file is refused without running it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'facestyle-addon-'));
    try {
      const marker = path.join(dir, 'ran');
      const js = path.join(dir, 'addon.js'); // require() would run a .js file; dlopen refuses it
      writeFileSync(js, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = {};`);
      const r = spawnSync(process.execPath, [cli, 'capabilities', '--json'], { encoding: 'utf8', env: { ...process.env, FACESTYLE_ADDON: js } });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('ERR_FACESTYLE_NATIVE');
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // `npx facestyle` in a checkout runs the bin file itself (its shebang), so it must be executable
  // (scripts/bin-mode.mjs after tsc; tsc alone writes 0644).
  it('runs as an executable, the way npx starts it', () => {
    const r = spawnSync(cli, ['--help'], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('stylize');
  });

  it('--version is this package\'s own, not the calling project\'s (npm_package_version)', () => {
    const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;
    const r = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8', env: { ...process.env, npm_package_version: '9.9.9-other' } });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(own);
  });

  it('fails with a usage error, exit 2 like every error, on an unknown command, an unknown option or a missing one', () => {
    const r = run('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command/i);
    const opt = run('capabilities', '--bogus');
    expect(opt.status).toBe(2);
    expect(opt.stderr).toMatch(/unknown option/i);
    expect(run('stylize', 'x.jpg').status).toBe(2); // -o is required
    expect(run('--version').status).toBe(0);
  });
});

describe('--help', () => {
  it('every command states its defaults the same way, "(default: 1)", never quoted', () => {
    for (const command of ['stylize', 'video', 'train', 'export', 'check', 'info']) {
      const r = run(command, '--help');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout, command).not.toMatch(/\(default: "/);
      expect(r.stdout, command).not.toMatch(/\(default \d/);
    }
    // Defaults kept as typed text (stylize) and those written in the text (video) read alike.
    expect(run('stylize', '--help').stdout).toMatch(/--strength <x>\s+blend weight of the stylized face, 0\.\.1 \(default: 1\)/);
    expect(run('video', '--help').stdout).toMatch(/--batch <n>\s+faces per model call \(default: 4\)/);
  });

  it('marks the options a command cannot run without "(required)", and only those', () => {
    const required: Record<string, string[]> = { stylize: ['-o, --output'], video: ['-o, --output'], train: ['--pairs', '--out'], export: ['--onnx'], check: [], info: [] };
    for (const [command, flags] of Object.entries(required)) {
      // Option entries: a line starting "  -", with its wrapped continuation lines.
      const entries: string[] = [];
      for (const line of run(command, '--help').stdout.split('\n'))
        if (/^ {2}-/.test(line)) entries.push(line.trim());
        else if (/^ {3,}\S/.test(line) && entries.length) entries[entries.length - 1] += ` ${line.trim()}`;
      const marked = entries.filter((e) => e.endsWith('(required)')).map((e) => e.split(' <')[0]);
      expect(marked, command).toEqual(flags);
    }
  });
});
