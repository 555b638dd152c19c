// The package as others load it: the ESM entry, the CommonJS entry, and the files npm would publish.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkgUrl = new URL('../package.json', import.meta.url);
const pkg = JSON.parse(readFileSync(pkgUrl, 'utf8')) as { exports: Record<string, Record<string, string>>; files: string[]; bin: Record<string, string> };

describe('package entry points', () => {
  it('import "facestyle" gives the API', async () => {
    const m = await import('facestyle');
    expect(typeof m.stylizeFile).toBe('function');
    expect(typeof m.compile).toBe('function');
  });

  it('require("facestyle") gives the same API where Node can require() an ES module, and says how to import it where it cannot', () => {
    // A require() from inside the package resolves its own name through "exports" (self-reference).
    const require = createRequire(pkgUrl);
    const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
    if (canRequireEsm) {
      const m = require('facestyle') as { stylizeFile?: unknown; compile?: unknown };
      expect(typeof m.stylizeFile).toBe('function');
      expect(typeof m.compile).toBe('function');
    } else {
      expect(() => require('facestyle')).toThrow(expect.objectContaining({ code: 'ERR_REQUIRE_ESM', message: expect.stringContaining("await import('facestyle')") }));
    }
  });

  it('where require() of ES modules is off, the CommonJS entry says how to import it instead', () => {
    // Node 20.19+ can turn it off (as older Node is): the message, not Node's "No exports main defined".
    const script = `try { require(${JSON.stringify(new URL('../cjs/index.cjs', import.meta.url).pathname)}); console.log('loaded') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`;
    const r = spawnSync(process.execPath, ['--no-experimental-require-module', '-e', script], { encoding: 'utf8' });
    if (r.status !== 0 && /bad option/.test(r.stderr)) {
      // This Node predates the flag, so it cannot require() ES modules at all: the test above took that branch.
      expect((process.features as { require_module?: boolean }).require_module).not.toBe(true);
      return;
    }
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    expect(out.code).toBe('ERR_REQUIRE_ESM');
    expect(out.message).toContain("await import('facestyle')");
  });

  it('every file the exports and bin name is in a folder npm publishes ("files")', () => {
    const targets = [...Object.values(pkg.exports['.']), ...Object.values(pkg.bin)];
    for (const t of targets) {
      const top = t.replace(/^\.\//, '').split('/')[0];
      expect(pkg.files, t).toContain(top);
    }
  });
});

describe('typings', () => {
  it('a TypeScript app type-checks against the published typings with skipLibCheck off and only @types/node', () => {
    // onnx-proto's typings use protobufjs' global Long, which an app listing only "types": ["node"] did not
    // load: 'Cannot find name Long' from inside node_modules. dist/onnx/*.d.ts now reference it.
    const dir = mkdtempSync(path.join(tmpdir(), 'facestyle-typings-'));
    const root = fileURLToPath(new URL('..', import.meta.url));
    writeFileSync(path.join(dir, 'main.ts'), [
      "import { FacestyleError, compile, stylizeFile, type FaceStylizerOptions } from 'facestyle';",
      "const options: FaceStylizerOptions = { faces: 2, threads: 1 };",
      "const result = await stylizeFile('a.jpg', 'b.jpg', options);",
      "const n: number = result.faces.length;",
      'console.log(n, FacestyleError, compile);',
      '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], paths: { facestyle: [path.join(root, 'dist', 'index.d.ts')] } },
      files: ['main.ts'],
    }));
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }');
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    // And the check can fail: a wrong option type is reported.
    writeFileSync(path.join(dir, 'main.ts'), "import { stylizeFile } from 'facestyle';\nawait stylizeFile('a.jpg', 'b.jpg', { threads: 'two' });\n");
    const bad = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/main\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  });
});
