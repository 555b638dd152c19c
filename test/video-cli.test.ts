// `facestyle video`: progress formatting, the command with a fake stylizer (fast), and once with the real
// detector + AnimeGANv3 model on a few frames.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { capabilities } from '../lib/capabilities.js';
import { formatDuration, formatProgress, registerVideoCommand, runVideoCommand } from '../lib/cli/video.js';
import { describeShared, sharedData } from './helpers/shared.js';
import { FakeStylizer, centreFace, ffprobeStreams, hasFfmpeg } from './video-helpers.js';

const shared = (...parts: string[]) => sharedData(path.join(...parts));
/** The video command needs ffmpeg/ffprobe (optional: video only); without them these tests skip, saying so. */
const needsFfmpeg = (title: string) => (hasFfmpeg ? title : `${title} (skipped: ffmpeg/ffprobe not on PATH)`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'facestyle-video-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(tty = false) {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s), isTTY: tty } } };
}

describe('video command output', () => {
  it('formats durations and the progress line', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(125.4)).toBe('2:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--:--');
    const line = formatProgress({ frames: 50, total: 200, faces: 60, elapsed: 5, speed: 10, fps: 10, eta: 15 }, 8);
    expect(line).toBe('[##------] 50/200 frames  10.0 fps  ETA 0:15  faces 60');
    expect(formatProgress({ frames: 7, total: 0, faces: 0, elapsed: 1, speed: 7, fps: 7, eta: NaN })).toBe('7 frames  7.0 fps  ETA --:--  faces 0');
  });

  it('registers `video` with its options', () => {
    const program = new Command();
    registerVideoCommand(program);
    const cmd = program.commands.find((c) => c.name() === 'video')!;
    const flags = cmd.options.map((o) => o.long);
    for (const f of ['--output', '--model', '--size', '--batch', '--every', '--strength', '--json', '--max-frames', '--no-smoothing', '--no-strict', '--overwrite', '--crf', '--preset']) expect(flags).toContain(f);
  });

  it('(review) --min-cutoff / --beta with --no-smoothing are refused, bad values included (they were ignored unread)', async () => {
    const c = capture(false);
    for (const extra of [{ beta: '-1' }, { minCutoff: 'abc' }, { beta: '0.5' }])
      await expect(runVideoCommand(path.join(tmp, 'never-read.mp4'), { output: path.join(tmp, 'never.mp4'), smoothing: false, ...extra }, { ...c.io, stylizer: new FakeStylizer() })).rejects.toMatchObject({
        code: 'ERR_FACESTYLE_ARGUMENT',
        message: expect.stringMatching(/--(min-cutoff|beta) sets the landmark smoothing that --no-smoothing turns off/),
      });
    expect(existsSync(path.join(tmp, 'never.mp4'))).toBe(false);
  });
});

describeShared('video command runs', () => {
  it.skipIf(!hasFfmpeg)(needsFfmpeg('prints JSON and logs progress every 10% when stderr is not a terminal'), async () => {
    const c = capture(false);
    const target = path.join(tmp, 'cli.mp4');
    await runVideoCommand(shared('video', '651.mp4'), { output: target, json: true, batch: '3', every: '2' }, { ...c.io, stylizer: new FakeStylizer(centreFace) });
    const json = JSON.parse(c.out.join(''));
    expect(json).toMatchObject({ output: target, frames: 62, faces: 62, width: 392, height: 360, fps: 24, hasAudio: false });
    expect(Number(ffprobeStreams(target)[0].nb_frames)).toBe(62);
    // --json keeps stderr quiet when it is not a terminal.
    expect(c.err).toEqual([]);
    const plain = capture(false);
    await runVideoCommand(shared('video', '651.mp4'), { output: path.join(tmp, 'cli2.mp4') }, { ...plain.io, stylizer: new FakeStylizer(centreFace) });
    expect(plain.err).toHaveLength(10);
    expect(plain.err.at(-1)).toMatch(/^\[#+\] 62\/62 frames .* fps {2}ETA 0:00 {2}faces 62\n$/);
    expect(plain.out.join('')).toMatch(/62 frames \(62 with faces, 62 faces\) in \S+, [\d.]+ fps overall \(start-up and the encoder's finish included\)/);
  });

  it.skipIf(!hasFfmpeg)(needsFfmpeg('logs a line at the start and every 10 s when the container does not say how many frames (MKV)'), async () => {
    const mkv = path.join(tmp, 'count-unknown.mkv');
    const made = spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', shared('video', '908.mp4'), '-c', 'copy', mkv]);
    expect(made.status).toBe(0);
    const c = capture(false);
    await runVideoCommand(mkv, { output: path.join(tmp, 'count-unknown-out.mkv') }, { ...c.io, stylizer: new FakeStylizer(centreFace) });
    // (It logged nothing at all until the summary: the 10% steps need a total.) A 39-frame run takes
    // well under 10 s, so one line: the first frame's.
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/^1 frames {2}[\d.]+ fps {2}ETA --:-- {2}faces 1\n$/);
  });

  it.skipIf(!hasFfmpeg)(needsFfmpeg('redraws one line on a terminal'), async () => {
    const c = capture(true);
    await runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'tty.mp4') }, { ...c.io, stylizer: new FakeStylizer(centreFace) });
    expect(c.err.length).toBeGreaterThan(0);
    expect(c.err.slice(0, -1).every((s) => s.startsWith('\r'))).toBe(true);
    expect(c.err.at(-2)).toContain('39/39 frames');
    expect(c.err.at(-1)).toBe('\n');
  });

  it.skipIf(!hasFfmpeg)(needsFfmpeg('rejects bad numbers and a missing output folder with coded errors'), async () => {
    const c = capture();
    await expect(runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'x.mp4'), batch: 'many' }, { ...c.io, stylizer: new FakeStylizer() })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_ARGUMENT',
      message: "Expected a number for --batch but received 'many'",
    });
    await expect(runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'x.mp4'), every: '0' }, { ...c.io, stylizer: new FakeStylizer() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    // Values the library checks are reported under the flag the user typed (they named API options).
    for (const [key, flag, value] of [['engine', '--engine', 'foo'], ['detectorEngine', '--detector-engine', 'y'], ['strength', '--strength', '2'], ['size', '--size', '-3'], ['minCutoff', '--min-cutoff', '-1'], ['crf', '--crf', '99'], ['preset', '--preset', 'quick'], ['threads', '--threads', '-1'], ['threshold', '--threshold', '2']])
      await expect(runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'x.mp4'), [key]: value }, { ...c.io, stylizer: key === 'engine' || key === 'detectorEngine' || key === 'size' ? undefined : new FakeStylizer() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(`for ${flag} but`) });
    // --faces 0 meant 'all' (the API's spelling); on the command line leaving it out means all, 0 is refused.
    for (const faces of ['0', '-1', '1.5', 'most'])
      await expect(runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'x.mp4'), faces }, { ...c.io, stylizer: new FakeStylizer() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--faces') });
    // The names the API takes work as flag values too.
    for (const faces of ['largest', 'all'])
      expect((await runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, `faces-${faces}.mp4`), faces, maxFrames: '2' }, { ...c.io, stylizer: new FakeStylizer() })).frames).toBe(2);
    // A missing output folder is made (the API refuses one); a run that fails removes what it made; a path
    // through a file is NOT_FOUND.
    await expect(runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'made', 'deep', 'x.mp4'), every: '0' }, { ...c.io, stylizer: new FakeStylizer() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect(existsSync(path.join(tmp, 'made'))).toBe(false);
    await runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'made', 'deep', 'x.mp4'), maxFrames: '3' }, { ...c.io, stylizer: new FakeStylizer() });
    expect(readdirSync(path.join(tmp, 'made', 'deep'))).toEqual(['x.mp4']);
    await runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'made', 'frames') + path.sep, maxFrames: '2' }, { ...c.io, stylizer: new FakeStylizer() });
    expect(readdirSync(path.join(tmp, 'made', 'frames'))).toHaveLength(2);
    await expect(runVideoCommand(shared('video', '908.mp4'), { output: path.join(tmp, 'made', 'deep', 'x.mp4', 'y.mp4') }, { ...c.io, stylizer: new FakeStylizer() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('a part of its path is a file') });
  });

  it.skipIf(!hasFfmpeg)(needsFfmpeg('replaces an existing frame folder only with --overwrite'), async () => {
    const c = capture();
    const target = path.join(tmp, 'frames-out');
    const run = (overwrite?: boolean) => runVideoCommand(shared('video', '908.mp4'), { output: `${target}/`, maxFrames: '3', overwrite }, { ...c.io, stylizer: new FakeStylizer(centreFace) });
    await run();
    expect(readdirSync(target)).toHaveLength(3);
    await expect(run()).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('--overwrite') });
    await run(true);
    expect(readdirSync(target).sort()).toEqual(['frame_000001.png', 'frame_000002.png', 'frame_000003.png']);
  });
});

const MODEL = shared('models', 'stylization', 'animeganv3_tiny_cute.onnx');
const DETECTOR = shared('models', 'detection', 'yunet_s_dynamic.onnx');

describeShared('video command with the real stylizer', () => {
  it.skipIf(!hasFfmpeg)(needsFfmpeg('stylizes the first frames of 908.mp4 with YuNet + AnimeGANv3 (onnxruntime)'), async () => {
    // Alignment and paste-back run on the addon's WarpAffine kernel: the repository builds it, so an addon
    // without it is stale and this fails (an addon that does not load at all throws its own coded error).
    expect(capabilities().ops.some((o) => o.name === 'WarpAffine' && o.cpu), 'the loaded addon has no CPU WarpAffine kernel: rebuild it (npm run build)').toBe(true);
    const c = capture();
    const target = path.join(tmp, 'real.mp4');
    await runVideoCommand(shared('video', '908.mp4'), { output: target, model: MODEL, detector: DETECTOR, engine: 'onnxruntime', size: '256', maxFrames: '6', batch: '3', json: true }, c.io);
    const json = JSON.parse(c.out.join(''));
    expect(json).toMatchObject({ frames: 6, framesWithFaces: 6, faces: 6 });
    const v = ffprobeStreams(target)[0];
    expect([Number(v.nb_frames), v.width, v.height]).toEqual([6, 392, 360]);
  });
});

describeShared('video command on a damaged video', () => {
  it.skipIf(!hasFfmpeg)(needsFfmpeg('refuses it by default; --no-strict (strict: false) stylizes what decodes'), async () => {
    // Bytes overwritten 30% into 529.mp4 (300 frames): ffmpeg still gives every frame, and reports the damage.
    const bytes = Buffer.from(readFileSync(shared('video', '529.mp4')));
    const at = Math.floor(bytes.length * 0.3);
    for (let i = 0; i < 4096; ++i) bytes[at + i] = (i * 37) & 255;
    const damaged = path.join(tmp, 'band.mp4');
    writeFileSync(damaged, bytes);
    const strictOut = path.join(tmp, 'band-strict.mp4');
    await expect(runVideoCommand(damaged, { output: strictOut, maxFrames: '120', json: true }, { ...capture(false).io, stylizer: new FakeStylizer(centreFace) })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_FORMAT',
      message: expect.stringContaining('corrupt or truncated'),
    });
    expect(existsSync(strictOut)).toBe(false);
    const c = capture(false);
    const target = path.join(tmp, 'band-lenient.mp4');
    await runVideoCommand(damaged, { output: target, maxFrames: '120', json: true, strict: false }, { ...c.io, stylizer: new FakeStylizer(centreFace) });
    expect(JSON.parse(c.out.join(''))).toMatchObject({ output: target, frames: 120 });
    expect(Number(ffprobeStreams(target)[0].nb_frames)).toBe(120);
  });
});

// The CLI as users run it, stopped by a signal mid-run: exit 128 + the signal's number, the encoder stopped
// and its hidden temp file removed, nothing under the output name.
const cliFile = new URL('../dist/cli/main.js', import.meta.url).pathname;
describeShared('video command stopped by a signal', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it.skipIf(!hasFfmpeg)(needsFfmpeg(`${signal}: exit ${code}, no output and no temp file left`), async () => {
      // dist/ is the package's own build (npm test runs tsc first): missing is an error, not a reason to skip.
      expect(existsSync(cliFile), `${cliFile} is missing: build it with \`npx tsc -p .\` (npm test does)`).toBe(true);
      const dir = mkdtempSync(path.join(tmp, `sig-${signal}-`));
      const child = spawn(process.execPath, [cliFile, 'video', shared('video', 'short_hamilton_clip.mp4'), '-o', path.join(dir, 'h.mp4'), '--detector', DETECTOR], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      // Wait until the encoder has started writing its temp file, then signal.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !readdirSync(dir).some((f) => f.includes('.partial'))) await new Promise((r) => setTimeout(r, 50));
      expect(readdirSync(dir).some((f) => f.includes('.partial'))).toBe(true);
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(stderr).toContain('interrupted');
      expect(readdirSync(dir)).toEqual([]);
    }, 90_000);
  }
});
