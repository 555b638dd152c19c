// Findings of a user walkthrough of `facestyle train` / `facestyle export` on the shared comic pairs
// (64 px, a few steps): the crop default, run cards that load, --init-from checked for NaN, Ctrl-C saying
// where to resume, refused runs leaving no folder and decoding nothing, --time-limit, sample steps, and
// exporting an .onnx. The CLI runs from dist/ (built by `npx tsc -p .`; FACESTYLE_CLI points elsewhere).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { capabilities } from '../lib/capabilities.js';
import { Tensor } from '../lib/graph/tensor.js';
import { loadGenerator } from '../lib/nn/load.js';
import { loadPairs } from '../lib/train/data.js';
import { runTraining } from '../lib/train/run.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../lib/train/safetensors.js';
import { Trainer, trainConfig } from '../lib/train/trainer.js';
import { describeShared, sharedData } from './helpers/shared.js';

const cli = process.env.FACESTYLE_CLI ?? new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const root = mkdtempSync(path.join(os.tmpdir(), 'facestyle-train-walk-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const pairs = sharedData('pairs/comic');
const HOLDOUT = 'StyleGanImg_1042_105_1.jpg';
/** The smallest useful run on the shared pairs (the crop given, so only finding 1 depends on its default). */
const tiny = ['--pairs', pairs, '--size', '64', '--crop', '64', '--threads', '2'];
/** The log line runTraining prints once the data is decoded. */
const DECODED = /^data: /m;

describeShared('train / export walkthrough (shared pairs/comic at 64 px)', () => {
  const r1 = path.join(root, 'r1');
  let first: ReturnType<typeof run>;
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with \`npx tsc -p .\`, or point FACESTYLE_CLI at a built main.js`);
    first = run('train', ...tiny, '--out', r1, '--steps', '3');
  });

  it('1. without --crop the crop is the size when that is below 128 (README), and the help says so', () => {
    // As in the walkthrough: no --crop, a size below the 128 crop default.
    const out = path.join(root, 'r-no-crop');
    const r = run('train', '--pairs', pairs, '--size', '64', '--threads', '2', '--out', out, '--steps', '3');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).config.crop).toBe(64);
    // The API's own default applies when the crop is passed as undefined (what the CLI passes without --crop).
    expect(trainConfig({ crop: undefined }).crop).toBe(128);
    expect(trainConfig({ crop: 32 }).crop).toBe(32);
    const help = run('train', '--help').stdout.replace(/\s+/g, ' ');
    expect(help).toContain('(default: 128, or the size when smaller)');
  });

  it('2. a run folder model.json names its weights (as models/*.json do), loads with loadGenerator and exports; a card without the field falls back to generator.safetensors', async () => {
    expect(first.status, first.stderr).toBe(0);
    const shipped = JSON.parse(readFileSync(path.resolve('models', 'comic-light.json'), 'utf8'));
    expect(shipped.weights).toBe('comic-light.safetensors');
    const card = JSON.parse(readFileSync(path.join(r1, 'model.json'), 'utf8'));
    expect(card.weights).toBe('generator.safetensors');
    // The weights loaded through the card are the run's generator.safetensors, tensor for tensor.
    const { tensors } = await readSafetensors(path.join(r1, 'generator.safetensors'));
    const sameAsRun = (g: Awaited<ReturnType<typeof loadGenerator>>['graph']) => {
      const params = g.values.filter((v) => v.kind === 'param');
      expect(params.length).toBe(tensors.size);
      for (const v of params) expect(Array.from(v.data!), v.name).toEqual(Array.from(tensors.get(v.name)!.data));
    };
    sameAsRun((await loadGenerator(path.join(r1, 'model.json'), { size: 64 })).graph);
    // A run folder written before cards named their weights: model.json without `weights`.
    const old = path.join(root, 'old-run');
    mkdirSync(old);
    copyFileSync(path.join(r1, 'generator.safetensors'), path.join(old, 'generator.safetensors'));
    const { weights: _, ...oldCard } = card;
    writeFileSync(path.join(old, 'model.json'), JSON.stringify(oldCard));
    sameAsRun((await loadGenerator(path.join(old, 'model.json'), { size: 64 })).graph);
    for (const source of [path.join(r1, 'model.json'), path.join(old, 'model.json')]) {
      const onnx = path.join(root, `${path.basename(path.dirname(source))}.onnx`);
      const e = run('export', source, '--onnx', onnx, '--size', '64');
      expect(e.status, e.stderr).toBe(0);
      // The exported file holds the run's weights: the first tensor's bytes appear in it.
      const head = tensors.get([...tensors.keys()].sort()[0])!.data;
      expect(readFileSync(onnx).includes(Buffer.from(head.buffer, head.byteOffset, head.byteLength))).toBe(true);
    }
  });

  it('3. --init-from weights holding a NaN: ERR_FACESTYLE_NUMERIC naming the tensor, before any data is decoded', async () => {
    expect(first.status, first.stderr).toBe(0);
    const { tensors, metadata } = await readSafetensors(path.join(r1, 'generator.safetensors'));
    const name = [...tensors.keys()].sort()[1];
    const t = tensors.get(name)!;
    const data = t.data.slice();
    data[3] = Number.NaN;
    const nan = path.join(root, 'nan.safetensors');
    await writeSafetensors(nan, new Map(tensors).set(name, new Tensor(t.shape, data)), metadata);
    const out = path.join(root, 'r3');
    const r = run('train', ...tiny, '--out', out, '--steps', '3', '--init-from', nan);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[ERR_FACESTYLE_NUMERIC]');
    expect(r.stderr).toContain(`'${name}'`);
    expect(r.stderr).not.toContain('Loss became');
    expect(r.stderr).not.toMatch(DECODED);
    expect(existsSync(out)).toBe(false);
  });

  /** Runs the CLI until `ready(stderr)` is true, then sends `signal`; resolves with the exit and stderr. */
  function interrupt(args: string[], ready: (stderr: string) => boolean, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child: ChildProcess = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      let sent = false;
      const guard = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`never ready to interrupt; stderr:\n${stderr}`));
      }, 15_000);
      const poll = setInterval(() => {
        if (!sent && ready(stderr)) {
          sent = true;
          child.kill(signal);
        }
      }, 50);
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('close', (code, sig) => {
        clearTimeout(guard);
        clearInterval(poll);
        resolve({ code, signal: sig, stderr });
      });
    });
  }

  it('4. SIGINT: exit 130 with one line saying the step and the checkpoint to --resume; the checkpoint is intact and resumes', async () => {
    const out = path.join(root, 'r4');
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const r = await interrupt(['train', ...tiny, '--out', out, '--steps', '100000', '--checkpoint-every', '5'], () => existsSync(ckpt), 'SIGINT');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(130);
    const lines = r.stderr.split(/[\r\n]/).filter((l) => /stopped/i.test(l));
    expect(lines.length, r.stderr).toBe(1);
    const m = /stopped at step (\d+); the last checkpoint \(step (\d+)\) is '([^']+)'.*--resume/.exec(lines[0]);
    expect(m, lines[0]).not.toBeNull();
    const [stopped, at, file] = [Number(m![1]), Number(m![2]), m![3]];
    expect(file).toBe(ckpt);
    expect(at % 5).toBe(0);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(stopped);
    expect(Number((await readSafetensorsMetadata(ckpt)).step)).toBe(at);
    expect(readdirSync(out).sort()).toEqual(['checkpoint.safetensors', 'config.json']); // no temp file left
    const resumed = run('train', ...tiny, '--out', out, '--steps', String(at + 2), '--checkpoint-every', '5', '--resume');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`at step ${at}`);
    expect(JSON.parse(resumed.stdout).steps).toBe(at + 2);
  });

  it('4. SIGTERM before any checkpoint: exit 143, the line says none was written', async () => {
    const out = path.join(root, 'r4-none');
    const r = await interrupt(['train', ...tiny, '--out', out, '--steps', '100000', '--checkpoint-every', '0'], (s) => /steps\/s/.test(s), 'SIGTERM');
    expect(r.code).toBe(143);
    const lines = r.stderr.split(/[\r\n]/).filter((l) => /stopped/i.test(l));
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(/stopped at step [1-9]\d*; no checkpoint was written/);
    expect(existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(false);
  });

  const refused: [string, string[], string, RegExp][] = [
    ['--init-from a missing file', ['--init-from', path.join(root, 'missing.safetensors')], 'ERR_FACESTYLE_NOT_FOUND', /missing\.safetensors/],
    ['--init-from weights of another architecture', ['--res-blocks', '1', '--init-from', path.join(root, 'r1', 'generator.safetensors')], 'ERR_FACESTYLE_FORMAT', /do not fit this generator/],
    ['all loss weights 0', ['--l1', '0', '--color', '0', '--edge', '0'], 'ERR_FACESTYLE_ARGUMENT', /positive weight/],
    ['--time-limit -1 (6.)', ['--time-limit', '-1'], 'ERR_FACESTYLE_ARGUMENT', /--time-limit/],
    // Values the library checks are named by the flag the user typed, not the API option.
    ['--crop 60', ['--crop', '60'], 'ERR_FACESTYLE_ARGUMENT', /Expected --crop divisible by 8 but received 60/],
    ['--res-blocks 100', ['--res-blocks', '100'], 'ERR_FACESTYLE_ARGUMENT', /\(--res-blocks\) in 0\.\.64 but received 100/],
    ['--ema 2', ['--ema', '2'], 'ERR_FACESTYLE_ARGUMENT', /Expected --ema in \[0, 1\) but received 2/],
    ['--warmup -1', ['--warmup', '-1'], 'ERR_FACESTYLE_ARGUMENT', /integer for --warmup but received '-1'/],
    // (review) A deadline past what a Date holds named the API option ('finite deadline ... Infinity').
    ['--time-limit 1e305', ['--time-limit', '1e305'], 'ERR_FACESTYLE_ARGUMENT', /at most 1e9 minutes for --time-limit/],
    // (review) A raw ENAMETOOLONG without a code.
    ['an --out name over 255 bytes', ['--out', path.join(root, 'x'.repeat(300), 'run')], 'ERR_FACESTYLE_ARGUMENT', /too long for the file system/],
  ];
  for (const [what, args, code, message] of refused)
    it(`5. refused before decoding, no run folder left: ${what}`, () => {
      expect(first.status, first.stderr).toBe(0); // r1's weights are one of the cases
      const given = args.indexOf('--out');
      const out = given >= 0 ? args[given + 1] : path.join(root, `refused-${what.replace(/\W+/g, '-')}`);
      const r = run('train', ...tiny, '--out', out, '--steps', '3', ...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`[${code}]`);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(DECODED);
      expect(existsSync(out)).toBe(false);
    });

  it.skipIf(capabilities().gpu)('5. refused before decoding, no run folder left: --device cuda on a machine without CUDA (skipped where a CUDA device is present)', () => {
    const out = path.join(root, 'refused-cuda');
    const r = run('train', ...tiny, '--out', out, '--steps', '3', '--device', 'cuda');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[ERR_FACESTYLE_UNSUPPORTED]');
    expect(r.stderr).not.toMatch(DECODED);
    expect(existsSync(out)).toBe(false);
  });

  it('4. a stop before --overwrite replaced the previous run says that run is kept, and keeps it whole', async () => {
    // r1 holds a finished 3-step run (beforeAll). An already-fired signal stops right after decoding.
    const before = Object.fromEntries(readdirSync(r1).map((f) => [f, readFileSync(path.join(r1, f))]));
    const ac = new AbortController();
    const reason = new Error('user pressed stop');
    ac.abort(reason);
    const stopped = runTraining({ pairs, out: r1, size: 64, overwrite: true, signal: ac.signal, config: { crop: 64, steps: 3, threads: 2 } });
    // The class is part of the package's API (README): callers can tell a stop from a failure with instanceof.
    await expect(stopped).rejects.toBeInstanceOf((await import('../lib/index.js')).TrainingStoppedError);
    await expect(stopped).rejects.toMatchObject({
      name: 'TrainingStoppedError',
      code: 'ERR_FACESTYLE_ABORTED',
      cause: reason,
      message: expect.stringMatching(/before it replaced the previous run.*--resume continues that run/),
    });
    const after = Object.fromEntries(readdirSync(r1).map((f) => [f, readFileSync(path.join(r1, f))]));
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const f of Object.keys(before)) expect(Buffer.compare(after[f], before[f]), f).toBe(0);
  });

  it('runTraining: two runs into one folder at once are refused; bad callbacks and signals are coded errors before any folder', async () => {
    const out = path.join(root, 'twice');
    const config = { crop: 64, batch: 2, steps: 2, threads: 2 };
    const both = await Promise.allSettled([runTraining({ pairs, out, size: 64, config }), runTraining({ pairs, out, size: 64, config })]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('already writing into') });
    // onStep every reportEvery steps (default 10, and the last step): with 1, every step of a 4-step run.
    const steps: number[] = [];
    await runTraining({ pairs, out: path.join(root, 'every-step'), size: 64, config: { ...config, steps: 4 }, reportEvery: 1, onStep: (r) => steps.push(r.step) });
    expect(steps).toEqual([1, 2, 3, 4]);
    const other = path.join(root, 'bad-callbacks');
    await expect(runTraining({ pairs, out: other, size: 64, config, onStep: 5 as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('onStep') });
    for (const bad of ['abc', [1, 2], null]) await expect(runTraining({ pairs, out: other, size: 64, config: bad as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('config') });
    await expect(runTraining({ pairs, out: other, size: 64, config, signal: 'x' as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('signal') });
    expect(existsSync(other)).toBe(false);
  });

  it('5. --out under a file: a coded error naming the path, before decoding', () => {
    const file = path.join(root, 'a-file');
    writeFileSync(file, 'not a folder');
    const out = path.join(file, 'sub', 'run');
    const r = run('train', ...tiny, '--out', out, '--steps', '3');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\[ERR_FACESTYLE_(ARGUMENT|NOT_FOUND)\]/);
    expect(r.stderr).toContain(out);
    expect(r.stderr).not.toContain('ENOTDIR');
    expect(r.stderr).not.toMatch(DECODED);
  });

  it('6. --time-limit: the help says 0 is no limit', () => {
    expect(run('train', '--help').stdout.replace(/\s+/g, ' ')).toMatch(/--time-limit <minutes> [^-]*0: no limit/);
  });

  it('7. samples-000005.png shows the EMA weights of step 5, and each evaluation is logged once', async () => {
    const out = path.join(root, 'r7');
    const logs: string[] = [];
    const config = { crop: 64, batch: 2, steps: 10, warmupSteps: 0, threads: 2 };
    await runTraining({ pairs, out, size: 64, holdout: [HOLDOUT], sampleEvery: 5, checkpointEvery: 0, config, onLog: (l) => logs.push(l) });
    const evals = logs.filter((l) => l.startsWith('eval @')).map((l) => l.split(':')[0]);
    expect(evals).toEqual(['eval @5', 'eval @10']);
    // The reference: the same run trained to step 5 alone (batches and schedule are functions of seed and
    // step), its EMA generator run on the held-out photo.
    const data = await loadPairs(pairs, { size: 64, exclude: [HOLDOUT] });
    const validation = await loadPairs(pairs, { size: 64, only: [HOLDOUT] });
    const trainer = new Trainer(trainConfig(config), data, path.join(root, 'r7-ref'), validation);
    try {
      await trainer.train({ until: 5 });
      const want = (await trainer.evaluate()).outputs[0];
      const grid = await sharp(path.join(out, 'samples-000005.png')).extract({ left: 128, top: 0, width: 64, height: 64 }).removeAlpha().raw().toBuffer();
      let worst = 0;
      for (let c = 0; c < 3; ++c)
        for (let i = 0; i < 64 * 64; ++i) {
          const byte = Math.max(0, Math.min(255, Math.round((want[c * 64 * 64 + i] + 1) * 127.5)));
          worst = Math.max(worst, Math.abs(byte - grid[i * 3 + c]));
        }
      expect(worst).toBeLessThanOrEqual(1);
      // ...and not what two more steps give (the check can tell the steps apart).
      await trainer.train({ until: 7 });
      const later = (await trainer.evaluate()).outputs[0];
      let moved = 0;
      for (let c = 0; c < 3; ++c)
        for (let i = 0; i < 64 * 64; ++i) moved = Math.max(moved, Math.abs(Math.round((later[c * 64 * 64 + i] + 1) * 127.5) - grid[i * 3 + c]));
      expect(moved).toBeGreaterThan(1);
    } finally {
      trainer.dispose();
    }
  });

  it.skipIf(!existsSync('/proc/self'))('9. (review) --out under /proc: a coded error at once, not an endless loop in the folder creation (skipped without /proc)', () => {
    // Node's recursive mkdir spins for ever where mkdir answers ENOENT under an existing parent (/proc).
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [cli, 'train', ...tiny, '--out', '/proc/facestyle-run', '--steps', '2'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.signal, 'killed by the timeout: the run hung').toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\[ERR_FACESTYLE_(NOT_FOUND|ARGUMENT)\]/);
    expect(r.stderr).toContain('/proc/facestyle-run');
    expect(Date.now() - t0).toBeLessThan(90_000);
  });

  it('9. (review) a resume rewrites config.json, loss.png and the samples through a temp file and a rename, never in place', async () => {
    // A run killed while config.json was rewritten in place left it empty, and the run could never be
    // resumed. Whole writes replace the file (a new inode); the old one, held here by a hard link, is
    // left as it was, as a killed write would leave it.
    const out = path.join(root, 'r9-whole');
    const config = { crop: 64, batch: 2, steps: 2, threads: 2 };
    await runTraining({ pairs, out, size: 64, config });
    const names = ['config.json', 'loss.png', 'samples-final.png'];
    const before = new Map(names.map((f) => [f, readFileSync(path.join(out, f))]));
    for (const f of names) linkSync(path.join(out, f), path.join(out, `${f}.old`));
    await runTraining({ pairs, out, size: 64, config: { ...config, steps: 3 }, resume: true });
    for (const f of names) {
      expect(statSync(path.join(out, f)).ino, f).not.toBe(statSync(path.join(out, `${f}.old`)).ino);
      expect(Buffer.compare(readFileSync(path.join(out, `${f}.old`)), before.get(f)!), f).toBe(0);
    }
    expect(readdirSync(out).filter((f) => f.includes('.partial-'))).toEqual([]);
    // The pairs folder is recorded as an absolute path: a resume from another working directory compares
    // the folder the run was trained on, not whatever a relative path names there.
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).pairs).toBe(path.resolve(pairs));
    expect(JSON.parse(readFileSync(path.join(out, 'model.json'), 'utf8')).training.pairs).toBe(path.resolve(pairs));
  });

  it('9. (review) --out naming the pairs folder, or a folder holding files a run writes but no checkpoint: refused, nothing changed', async () => {
    // Side-by-side pairs: the run's PNGs (loss.png is 640x320, exactly 2:1) would have become pairs.
    const sbs = path.join(root, 'r9-sbs');
    mkdirSync(sbs);
    const src = sharedData('pairs/cartoon_nc');
    for (const f of readdirSync(src).filter((n) => n.endsWith('.jpg')).slice(0, 2)) copyFileSync(path.join(src, f), path.join(sbs, f));
    const listing = readdirSync(sbs).sort();
    const config = { crop: 64, batch: 2, steps: 2, threads: 2 };
    await expect(runTraining({ pairs: sbs, out: sbs, size: 64, config })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('pairs folder') });
    await expect(runTraining({ pairs, out: path.join(pairs, 'photo'), size: 64, config })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('image folders') });
    expect(readdirSync(sbs).sort()).toEqual(listing);
    // A folder with a config.json of the user's (no checkpoint): kept, unless --overwrite.
    const mine = path.join(root, 'r9-mine');
    mkdirSync(mine);
    writeFileSync(path.join(mine, 'config.json'), '{"mine": true}');
    await expect(runTraining({ pairs, out: mine, size: 64, config })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringMatching(/config\.json.*no checkpoint.*--overwrite/) });
    expect(readFileSync(path.join(mine, 'config.json'), 'utf8')).toBe('{"mine": true}');
    await runTraining({ pairs, out: mine, size: 64, config, overwrite: true });
    expect(JSON.parse(readFileSync(path.join(mine, 'config.json'), 'utf8')).config.steps).toBe(2);
  });

  it('9. (review) a checkpoint without its config entry, and a holdout of every pair: messages that say so', async () => {
    const ckpt = path.join(root, 'r9-noconfig.safetensors');
    await writeSafetensors(ckpt, new Map([['ema.g.x', new Tensor([1], new Float32Array([0]))]]), { format: 'facestyle-train-checkpoint', step: '1' });
    const r = run('export', ckpt, '--onnx', path.join(root, 'r9.onnx'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[ERR_FACESTYLE_FORMAT]');
    expect(r.stderr).toMatch(/has no 'config' entry/);
    expect(r.stderr).not.toMatch(/undefined/);
    const sbs = path.join(root, 'r9-sbs');
    const all = readdirSync(sbs).filter((n) => n.endsWith('.jpg'));
    await expect(loadPairs(sbs, { size: 64, exclude: all })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringMatching(/has 2 pairs.*leave none/) });
  });

  it("9. (review) --init-from takes a shipped model's name, as --model does: the weights its card names", async () => {
    const card = JSON.parse(readFileSync(new URL('../models/comic-light.json', import.meta.url), 'utf8'));
    const logs: string[] = [];
    const out = path.join(root, 'r9-init-name');
    await runTraining({ pairs, out, size: 64, initFrom: 'comic-light', config: { crop: 64, batch: 2, steps: 1, threads: 2, generator: card.generator }, onLog: (l) => logs.push(l) });
    expect(logs.some((l) => l.startsWith('initialised the generator from comic-light'))).toBe(true);
    // With the default architecture the same weights do not fit: the file was read (not 'not found').
    await expect(runTraining({ pairs, out: path.join(root, 'r9-init-default'), size: 64, initFrom: 'comic-light', config: { crop: 64, steps: 1 } })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
  });

  it('8. export of an .onnx: ERR_FACESTYLE_ARGUMENT naming what export accepts, not a JSON parse error', () => {
    const onnx = sharedData('models/stylization/animeganv3_tiny_cute.onnx');
    const target = path.join(root, 'x.onnx');
    const r = run('export', onnx, '--onnx', target);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[ERR_FACESTYLE_ARGUMENT]');
    for (const accepted of ['run folder', 'checkpoint', '.safetensors', '.json']) expect(r.stderr).toContain(accepted);
    expect(r.stderr).not.toMatch(/not JSON|Unexpected token/);
    expect(existsSync(target)).toBe(false);
  });
});
