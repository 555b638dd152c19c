// `facestyle train` and `facestyle export` as users run them (from dist/, built by `npm test`'s
// tsc step; FACESTYLE_CLI points elsewhere).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressLine } from '../lib/cli/train.js';

const cli = process.env.FACESTYLE_CLI ?? new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const root = mkdtempSync(path.join(os.tmpdir(), 'facestyle-train-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('progress line', () => {
  it('shows the bar, step/total, loss terms, steps/s and ETA', () => {
    const line = progressLine({ step: 50, loss: 0.25, terms: { l1: 0.2 }, lr: 1e-3, stepsPerSecond: 5 }, 100, 10);
    expect(line).toBe('[#####.....] 50/100 loss 0.2500 (l1 0.2000) 5.00 steps/s ETA 10s');
  });
});

/** Two pairs `0.png`, `1.png` of size x size stripes (pattern `mul` + pair index), the toon side `toon(value)` of the photo's. */
async function pairsFolder(name: string, size: number, mul: number, toon: (v: number) => number): Promise<string> {
  const pairs = path.join(root, name);
  for (const side of ['photo', 'toon']) mkdirSync(path.join(pairs, side), { recursive: true });
  for (let k = 0; k < 2; ++k) {
    const raw = Buffer.alloc(size * size * 3).map((_, i) => (i * (k + mul)) % 256);
    const png = (data: Buffer, side: string) => sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(pairs, side, `${k}.png`));
    await png(raw, 'photo');
    await png(raw.map(toon), 'toon');
  }
  return pairs;
}

describe('facestyle train / export', () => {
  // dist/ is the package's own build (npm test runs tsc first): missing is an error, not a reason to skip.
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with \`npx tsc -p .\` (npm test does), or point FACESTYLE_CLI at a built main.js`);
  });

  it('trains on a pairs folder, writes the run files, exports ONNX', async () => {
    const pairs = await pairsFolder('pairs', 32, 2, (v) => v >> 1);
    const out = path.join(root, 'run');
    const r = run('train', '--pairs', pairs, '--out', out, '--size', '32', '--crop', '16', '--batch', '1', '--steps', '4', '--width', '0.25', '--res-blocks', '1', '--holdout', '1.png', '--sample-every', '2', '--threads', '1');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).steps).toBe(4);
    expect(r.stderr).toMatch(/4\/4 loss/);
    for (const f of ['checkpoint.safetensors', 'generator.safetensors', 'model.json', 'loss.png', 'samples-final.png', 'samples-000002.png']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const grid = await sharp(path.join(out, 'samples-final.png')).metadata();
    expect([grid.width, grid.height]).toEqual([96, 32]); // input | target | output, one validation pair
    // Into a folder that does not exist yet: made, as stylize and video make theirs.
    const onnx = path.join(root, 'exported', 'g.onnx');
    const e = run('export', out, '--onnx', onnx, '--size', '32');
    expect(e.status, e.stderr).toBe(0);
    expect(readFileSync(onnx).length).toBeGreaterThan(1000);
    // --onnx must name an .onnx file: a slip onto the run's own checkpoint leaves it intact.
    const ckpt = path.join(out, 'checkpoint.safetensors');
    const before = readFileSync(ckpt);
    const slip = run('export', ckpt, '--onnx', ckpt, '--size', '32');
    expect(slip.status).toBe(2);
    expect(slip.stderr).toContain('[ERR_FACESTYLE_ARGUMENT]');
    expect(Buffer.compare(readFileSync(ckpt), before)).toBe(0);
    // A non-number opset is named as typed (it was 'received NaN').
    const opset = run('export', out, '--onnx', path.join(root, 'exported', 'h.onnx'), '--opset', 'abc');
    expect(opset.status).toBe(2);
    expect(opset.stderr).toContain("Expected a number for --opset but received 'abc'");
  });

  it('without --holdout: the loss curve and sample grids of the first training pairs are still written, logged as training figures', async () => {
    const pairs = await pairsFolder('pairs-all', 16, 3, (v) => v);
    const out = path.join(root, 'run-all');
    // --lr below the schedule's default floor (1e-4): the floor follows it (a built-in --lr-min of 1e-4 refused the run).
    const r = run('train', '--pairs', pairs, '--out', out, '--size', '16', '--crop', '16', '--batch', '1', '--steps', '2', '--width', '0.25', '--res-blocks', '1', '--sample-every', '1', '--threads', '1', '--lr', '5e-5');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).config).toMatchObject({ lr: 5e-5, lrMin: 5e-5 });
    for (const f of ['loss.png', 'samples-000001.png', 'samples-final.png']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const grid = await sharp(path.join(out, 'samples-final.png')).metadata();
    expect([grid.width, grid.height]).toEqual([48, 32]); // input | target | output, both training pairs
    expect(r.stderr).toMatch(/sample @2: on 2 training pairs \(no --holdout\)/);
    expect(r.stderr).not.toMatch(/eval @|val L1/);
  });

  it('numbers are read as typed in decimal: hex, an empty value and an integer past 2^53 are refused, naming the flag', () => {
    for (const [flag, value, says] of [
      ['--lr', '0x10', "Expected a number for --lr but received '0x10'"],
      ['--lr', '', "Expected a number for --lr but received ''"],
      ['--steps', '1e300', "Expected non-negative integer for --steps but received '1e300'"],
      ['--batch', '0b10', "Expected non-negative integer for --batch but received '0b10'"],
    ]) {
      const r = run('train', '--pairs', root, '--out', path.join(root, 'never'), flag, value);
      expect(r.status, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toContain(says);
      expect(r.stderr).toContain('[ERR_FACESTYLE_ARGUMENT]');
    }
    expect(existsSync(path.join(root, 'never'))).toBe(false);
  });

  it('bad input: an empty pairs folder fails with a coded error naming it', () => {
    const empty = path.join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    const r = run('train', '--pairs', empty, '--out', path.join(root, 'x'), '--steps', '1');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('[ERR_FACESTYLE_ARGUMENT]');
    expect(r.stderr).toContain(empty);
  });
});
