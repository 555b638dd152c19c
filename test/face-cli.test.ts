// `facestyle stylize` through commander, in-process (stdout/stderr captured).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { registerStylizeCommand } from '../lib/cli/stylize.js';
import { ANIME, DETECTOR, PFLD, WHOLE } from './face-fixtures.js';
import { describeShared, sharedData } from './helpers/shared.js';

/** describeShared on Linux (the signal test reads /proc); elsewhere skipped with the reason in its name. */
const describeNeedingLinux = (name: string, fn: () => void) =>
  process.platform === 'linux' ? describeShared(name, fn) : describe.skip(`${name} (skipped: reads /proc, Linux only)`, fn);

const tmp = mkdtempSync(path.join(tmpdir(), 'facestyle-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = '', stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  const program = new Command().exitOverride();
  registerStylizeCommand(program);
  try {
    await program.parseAsync(['node', 'facestyle', 'stylize', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return { stdout, stderr, code: Number(process.exitCode ?? 0) };
}

const model = ['--model', ANIME, '--engine', 'onnxruntime', '--size', '128', '--detector', DETECTOR];

describeShared('facestyle stylize (CLI)', () => {
  it('a folder: bounded concurrency, progress, --json faces and timings, --debug images, failures reported', async () => {
    const input = path.join(tmp, 'in');
    mkdirSync(input);
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), path.join(input, 'a.jpg'));
    copyFileSync(path.join(WHOLE, 'face_recognition/two_people.jpg'), path.join(input, 'b.jpg'));
    writeFileSync(path.join(input, 'c.jpg'), 'not a jpeg');
    const out = path.join(tmp, 'out');
    const r = await cli(input, '-o', out, ...model, '--all-faces', '--json', '--debug', '--concurrency', '2');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { images: { input: string; faces?: unknown[]; timings?: Record<string, number>; code?: string }[] };
    expect(report.images.map((i) => path.basename(i.input))).toEqual(['a.jpg', 'b.jpg', 'c.jpg']);
    expect(report.images[0].faces).toHaveLength(1);
    expect(report.images[1].faces).toHaveLength(2);
    for (const i of report.images.slice(0, 2)) for (const k of ['detect', 'align', 'stylize', 'paste']) expect(i.timings![k]).toBeGreaterThan(0);
    expect(report.images[2].code).toBe('ERR_FACESTYLE_FORMAT');
    // Totals: the two stylized images' stage times summed (each rounded to 0.1 ms), and their count.
    const totals = (report as unknown as { totals: Record<string, number> }).totals;
    expect(totals.images).toBe(2);
    expect(totals).not.toHaveProperty('frames');
    for (const k of ['detect', 'align', 'stylize', 'paste']) expect(Math.abs(totals[k] - report.images[0].timings![k] - report.images[1].timings![k])).toBeLessThanOrEqual(0.15);
    for (const f of ['a.jpg', 'b.jpg', 'a.debug.jpg', 'b.debug.jpg']) expect(existsSync(path.join(out, f)), f).toBe(true);
    expect(existsSync(path.join(out, 'c.jpg'))).toBe(false);
    expect(r.stderr).toMatch(/3\/3/);
    const inMeta = await sharp(path.join(input, 'b.jpg')).metadata();
    const outMeta = await sharp(path.join(out, 'b.jpg')).metadata();
    expect([outMeta.width, outMeta.height]).toEqual([inMeta.width, inMeta.height]);
    // Without --json the run ends with its count (largest face only: one face an image).
    const plain = await cli(input, '-o', path.join(tmp, 'out-plain'), ...model);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(`2 of 3 image(s) written to ${path.join(tmp, 'out-plain')} (2 face(s)), 1 failed`);
  });

  it('an animated GIF: --json lists the same warning stylizeFile gives (the CLI said nothing before)', async () => {
    const [w, h] = [160, 200];
    const obama = path.join(WHOLE, 'face_recognition/obama.jpg');
    const frames = await Promise.all(['#f00', '#0f0'].map((c) => sharp(obama).resize(w, h).tint(c).raw().toBuffer()));
    const input = path.join(tmp, 'anim.gif');
    await sharp(Buffer.concat(frames), { raw: { width: w, height: h * 2, channels: 3, pageHeight: h } }).gif().toFile(input);
    const r = await cli(input, '-o', path.join(tmp, 'anim.out.gif'), '--json', ...model);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).images[0].warnings).toContain('The image is animated (2 frames): only its first frame is stylized and written');
  });

  it('a --compare picture the output format cannot hold fails the image with nothing written (its output was written first before)', async () => {
    const input = path.join(tmp, 'wide.png');
    await sharp({ create: { width: 8200, height: 48, channels: 3, background: { r: 90, g: 120, b: 200 } } }).png().toFile(input);
    const out = path.join(tmp, 'wide.out.webp');
    await expect(cli(input, '-o', out, '--compare', ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('too large for the WebP format') });
    expect(existsSync(out)).toBe(false);
    expect(existsSync(path.join(tmp, 'wide.out.compare.webp'))).toBe(false);
    // Without --compare the same image is written.
    expect((await cli(input, '-o', out, ...model)).code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('--aligned stylizes the whole crop without detection; the output format follows the extension', async () => {
    const out = path.join(tmp, 'aligned.png');
    const r = await cli(sharedData('faces/aligned/gfpgan/Adele_crop.png'), '-o', out, ...model.slice(0, 6), '--aligned', '--detector', '/nonexistent.onnx');
    expect(r.code).toBe(0);
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 512, 512]);
    // --mirror-average reaches the model: a mirrored input now gives exactly the mirrored output (up to
    // rounding to 8 bits), which the plain model does not. Crops at the model's size, so no resize (sharp's
    // upscale is not mirror-symmetric) comes between.
    const small = path.join(tmp, 'aligned-128.png');
    const flipped = path.join(tmp, 'aligned-128-flipped.png');
    await sharp(sharedData('faces/aligned/gfpgan/Adele_crop.png')).resize(128, 128).toFile(small);
    await sharp(small).flop().toFile(flipped);
    const run = async (input: string, name: string, ...extra: string[]) => {
      const o = path.join(tmp, name);
      expect((await cli(input, '-o', o, ...model.slice(0, 6), '--aligned', '--detector', '/nonexistent.onnx', ...extra)).code).toBe(0);
      return o;
    };
    const mismatch = async (a: string, b: string) => {
      const [x, y] = [await sharp(a).raw().toBuffer(), await sharp(b).flop().raw().toBuffer()];
      let worst = 0;
      for (let i = 0; i < x.length; ++i) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      return worst;
    };
    expect(await mismatch(await run(small, 'm1.png', '--mirror-average'), await run(flipped, 'm2.png', '--mirror-average'))).toBeLessThanOrEqual(1);
    expect(await mismatch(await run(small, 'p1.png'), await run(flipped, 'p2.png'))).toBeGreaterThan(8);
  });

  it('refused runs leave no folder behind; a file in the output path and an image-like folder name are coded errors', async () => {
    const base = mkdtempSync(path.join(tmp, 'refuse-'));
    const photo = path.join(WHOLE, 'face_recognition/obama.jpg');
    writeFileSync(path.join(base, 'text.txt'), 'not a folder');
    await expect(cli(photo, '-o', path.join(base, 'text.txt', 'x.jpg'), ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('a part of its path is a file') });
    await expect(cli(photo, '-o', path.join(base, 'newA', 'deep', 'x.jpg'), ...model, '--strength', '2')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(cli(path.join(WHOLE, 'face_recognition'), '-o', path.join(base, 'newB'), ...model, '--quality', '500')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(cli(path.join(WHOLE, 'face_recognition'), '-o', path.join(base, 'looks-like.jpg'), ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('named like an image file') });
    // A missing detector or landmark model: one error before any image (it was one per image of a folder,
    // exit 1), and the output folder made for the run is not left behind.
    await expect(cli(path.join(WHOLE, 'face_recognition'), '-o', path.join(base, 'newD'), ...model.slice(0, 6), '--detector', path.join(base, 'no-detector.onnx'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('no-detector.onnx') });
    await expect(cli(photo, '-o', path.join(base, 'newE', 'x.jpg'), ...model, '--landmarks', path.join(base, 'no-pfld.onnx'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('no-pfld.onnx') });
    // Option errors name the option as typed, not the API's name for it.
    await expect(cli(photo, '-o', path.join(base, 'newC', 'x.jpg'), ...model, '--threshold', '2')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for --threshold') });
    for (const [flag, value] of [['--strength', '2'], ['--engine', 'foo'], ['--template', 'x'], ['--device', 'gpu'], ['--detector-engine', 'y'], ['--threads', '-1'], ['--threads', '2.5']])
      await expect(cli(photo, '-o', path.join(base, 'newC', 'x.jpg'), ...model, flag, value)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(`for ${flag} `) });
    await expect(cli(photo, '-o', path.join(base, 'newC', 'x.jpg'), ...model, '--min-face', '-3')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for --min-face') });
    expect(readdirSync(base)).toEqual(['text.txt']);
  });

  it('refuses an output that is the input through a symlink or a hard link, and leaves the original as it was', async () => {
    const base = mkdtempSync(path.join(tmp, 'links-'));
    const real = path.join(base, 'real.jpg');
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), real);
    const before = readFileSync(real);
    symlinkSync(real, path.join(base, 'link.jpg'));
    linkSync(real, path.join(base, 'hard.jpg'));
    for (const [input, output] of [[path.join(base, 'link.jpg'), real], [real, path.join(base, 'link.jpg')], [path.join(base, 'hard.jpg'), real]])
      await expect(cli(input, '-o', output, ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('is the input file') });
    symlinkSync(base, path.join(tmp, 'links-dir'));
    await expect(cli(base, '-o', path.join(tmp, 'links-dir'), ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('is the input folder') });
    expect(Buffer.compare(readFileSync(real), before)).toBe(0);
  });

  it('refuses --debug / --compare pictures that would land on the input, and a folder whose outputs would clash', async () => {
    const base = mkdtempSync(path.join(tmp, 'beside-'));
    for (const tag of ['debug', 'compare']) {
      const input = path.join(base, `x.${tag}.jpg`);
      copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), input);
      const before = readFileSync(input);
      await expect(cli(input, '-o', path.join(base, 'x.jpg'), ...model, `--${tag}`)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('which is the input') });
      expect(Buffer.compare(readFileSync(input), before)).toBe(0);
    }
    expect(readdirSync(base).sort()).toEqual(['x.compare.jpg', 'x.debug.jpg']);
    // A folder holding x.jpg and x.debug.jpg: with --debug both would write out/x.debug.jpg.
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), path.join(base, 'x.jpg'));
    await expect(cli(base, '-o', path.join(tmp, 'beside-out'), ...model, '--debug')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('would write the same file') });
    expect(existsSync(path.join(tmp, 'beside-out'))).toBe(false);
  });

  it('(review) a folder where a --debug picture goes is refused before anything is written; a sub-folder named like an image is no input; a run where every image failed says so', async () => {
    const base = mkdtempSync(path.join(tmp, 'review-'));
    const input = path.join(base, 'face.jpg');
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), input);
    mkdirSync(path.join(base, 'out.debug.jpg'));
    await expect(cli(input, '-o', path.join(base, 'out.jpg'), ...model, '--debug')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('which is a folder') });
    expect(existsSync(path.join(base, 'out.jpg'))).toBe(false); // it was written before the failure
    // A folder input holding a sub-folder 'sub.png': one image, not two of which one fails.
    const folder = path.join(base, 'in');
    mkdirSync(path.join(folder, 'sub.png'), { recursive: true });
    copyFileSync(input, path.join(folder, 'a.jpg'));
    const r = await cli(folder, '-o', path.join(base, 'out1'), ...model);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`1 of 1 image(s) written to ${path.join(base, 'out1')}`);
    // Every image failed: not '0 of 1 image(s) written to <a folder that was removed again>'.
    const bad = path.join(base, 'bad');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'c.jpg'), 'not a jpeg');
    const f = await cli(bad, '-o', path.join(base, 'out2'), ...model);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/No image written: all 1 failed \(the folder .*out2 this run made was removed again\)/);
    expect(f.stderr).not.toMatch(/^\n/m); // no blank line before the failure line when not on a terminal
    expect(existsSync(path.join(base, 'out2'))).toBe(false);
  });

  it('--compare writes <output>.compare.<ext>: the input, a white gap, the result', async () => {
    const photo = path.join(WHOLE, 'face_recognition/obama.jpg');
    const out = path.join(tmp, 'obama.comic.png');
    expect((await cli(photo, '-o', out, ...model, '--compare')).code).toBe(0);
    const cmp = await sharp(path.join(tmp, 'obama.comic.compare.png')).raw().toBuffer({ resolveWithObject: true });
    const input = await sharp(photo).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const result = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width: w, height: h } = input.info;
    expect([cmp.info.width, cmp.info.height, cmp.info.channels]).toEqual([2 * w + 8, h, 3]);
    const row = (buf: Buffer, stride: number, y: number, x0: number, n: number) => buf.subarray((y * stride + x0) * 3, (y * stride + x0 + n) * 3);
    let leftDiff = 0, rightDiff = 0, gapNotWhite = 0, resultVsInput = 0;
    for (let y = 0; y < h; ++y) {
      leftDiff += Buffer.compare(row(cmp.data, 2 * w + 8, y, 0, w), row(input.data, w, y, 0, w)) === 0 ? 0 : 1;
      rightDiff += Buffer.compare(row(cmp.data, 2 * w + 8, y, w + 8, w), row(result.data, w, y, 0, w)) === 0 ? 0 : 1;
      gapNotWhite += row(cmp.data, 2 * w + 8, y, w, 8).some((v) => v !== 255) ? 1 : 0;
      resultVsInput += Buffer.compare(row(result.data, w, y, 0, w), row(input.data, w, y, 0, w)) === 0 ? 0 : 1;
    }
    expect([leftDiff, rightDiff, gapNotWhite]).toEqual([0, 0, 0]);
    // ...and the two halves differ (the face was stylized), so the check above could not pass by accident.
    expect(resultVsInput).toBeGreaterThan(h / 10);
  });

  it('refuses to overwrite its input; creates the output folder; --landmarks, --template and --quality', async () => {
    const input = path.join(tmp, 'inplace');
    mkdirSync(input);
    const photo = path.join(input, 'a.jpg');
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), photo);
    await expect(cli(input, '-o', input, ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringMatching(/overwritten/) });
    await expect(cli(photo, '-o', photo, ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(cli(photo, '-o', path.join(tmp, 'q.jpg'), ...model, '--quality', '0')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    for (const limit of ['-1', '0', '2.5'])
      await expect(cli(photo, '-o', path.join(tmp, 'q.jpg'), ...model, '--limit-input-pixels', limit)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--limit-input-pixels') });
    // A folder without images: a coded error, and no output folder made.
    const empty = path.join(tmp, 'no-images');
    mkdirSync(empty);
    await expect(cli(empty, '-o', path.join(tmp, 'empty-out'), ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('No images') });
    expect(existsSync(path.join(tmp, 'empty-out'))).toBe(false);
    await expect(cli(photo, '-o', path.join(tmp, 'q.jpg'), ...model, '--template', 'nope')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(cli(photo, '-o', path.join(tmp, 'q.jpg'), ...model, '--detector-engine', 'tpu')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--detector-engine') });
    // Each engine stylizes the photo (their detections agree within 0.5 px: test/face-detect.test.ts).
    for (const engine of ['native', 'onnxruntime']) {
      const r = await cli(photo, '-o', path.join(tmp, `e-${engine}.png`), ...model, '--detector-engine', engine, '--json');
      expect((JSON.parse(r.stdout) as { images: { faces: unknown[] }[] }).images[0].faces.length).toBeGreaterThan(0);
    }
    await expect(cli(photo, '-o', path.join(tmp, 'q.jpg'), ...model, '--landmarks', path.join(tmp, 'none.onnx'))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    // A nested output path that does not exist yet; lower quality gives a smaller file.
    const [hi, lo] = [path.join(tmp, 'new', 'deeper', 'hi.jpg'), path.join(tmp, 'new', 'deeper', 'lo.jpg')];
    expect((await cli(photo, '-o', hi, ...model, '--landmarks', PFLD, '--quality', '95')).code).toBe(0);
    expect((await cli(photo, '-o', lo, ...model, '--template', 'arcface', '--landmarks', 'off', '--quality', '30')).code).toBe(0);
    expect(statSync(lo).size).toBeLessThan(statSync(hi).size);
  });

  it('largest face only by default; --min-face; coded errors for a missing input and an unknown output format', async () => {
    const out = path.join(tmp, 'one.jpg');
    const r = await cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--json');
    expect(JSON.parse(r.stdout).images[0].faces).toHaveLength(1);
    // The 68 points are in the JSON when PFLD placed the crop (they were only drawn by --debug), and not without it.
    const with68 = JSON.parse((await cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--json', '--landmarks', PFLD)).stdout).images[0].faces[0];
    expect(with68.landmarks68).toHaveLength(68);
    expect(with68.landmarks68.every((p: number[]) => p.length === 2 && p.every(Number.isFinite))).toBe(true);
    expect(JSON.parse((await cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--json', '--landmarks', 'off')).stdout).images[0].faces[0].landmarks68).toBeUndefined();
    // --faces N | all | largest, as the API's faces; --all-faces is --faces all.
    const two = await cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--json', '--faces', '2');
    expect(JSON.parse(two.stdout).images[0].faces).toHaveLength(2);
    const all = await cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--json', '--faces', 'all', '--all-faces');
    expect(JSON.parse(all.stdout).images[0].faces).toHaveLength(2);
    await expect(cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--faces', '1', '--all-faces')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('disagree') });
    await expect(cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--faces', '0')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--faces') });
    // --min-face drops faces smaller than the given side: here every face, so the photo is unchanged.
    const none = await cli(path.join(WHOLE, 'face_recognition/two_people.jpg'), '-o', out, ...model, '--json', '--all-faces', '--min-face', '5000');
    expect(JSON.parse(none.stdout).images[0].faces).toHaveLength(0);
    expect(JSON.parse(none.stdout).images[0].warnings[0]).toMatch(/no face/i);
    await expect(cli(path.join(tmp, 'missing.jpg'), '-o', out, ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    await expect(cli(path.join(WHOLE, 'face_recognition/obama.jpg'), '-o', path.join(tmp, 'x.bmpx'), ...model)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });
});

// The CLI as users run it, stopped while it works on a large image: it ends at once by the signal
// (a shell shows 128 + its number), with no output and no temp file, whatever stage it was in.
const cliFile = new URL('../dist/cli/main.js', import.meta.url).pathname;
/** CPU seconds a process has used (Linux /proc; user + system). */
const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
describeNeedingLinux('facestyle stylize (CLI) stopped by a signal', () => {
  it('SIGTERM while working: killed by SIGTERM, a message, no output, no temp file, no folder the run made', async () => {
    // dist/ is the package's own build (npm test runs tsc first): missing is an error, not a reason to skip.
    expect(existsSync(cliFile), `${cliFile} is missing: build it with \`npx tsc -p .\` (npm test does)`).toBe(true);
    const dir = mkdtempSync(path.join(tmp, 'kill-'));
    const input = path.join(dir, 'big.jpg');
    await sharp(path.join(WHOLE, 'face_recognition/obama.jpg')).resize(5000, 5000, { fit: 'fill' }).jpeg({ quality: 80 }).toFile(input);
    // Into folders that do not exist yet: the run makes them, and removes them again when stopped empty.
    const child = spawn(process.execPath, [cliFile, 'stylize', input, '-o', path.join(dir, 'made', 'deeper', 'big.avif'), ...model], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // Past start-up (modules and models loaded: about 0.5 CPU seconds) and into the image's work, which
    // takes several CPU seconds more (a 5000x5000 photo, AVIF output).
    const running = () => child.exitCode === null && child.signalCode === null;
    while (running() && cpuSeconds(child.pid!) < 1.5) await new Promise((r) => setTimeout(r, 20));
    expect(running(), `the run ended before the signal: ${stderr}`).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(stderr).toContain('interrupted (SIGTERM)');
    expect(readdirSync(dir)).toEqual(['big.jpg']);
  }, 90_000);
});
