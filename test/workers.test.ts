// The addon in worker_threads: each worker is a Node environment of its own, and a JS object of one
// used from another aborts the whole process (V8: "Entering the V8 API without proper locking"); the
// sessions' class was once kept in a static, so the second environment to load the addon broke the
// first (exit 134). test/helpers/worker-sessions.mjs runs, in a node process of its own (from dist/):
// the main thread and two workers (run, runSync) compiling and running the same graph at once, and a
// third worker terminated in the middle of a run (KILL_MS after it starts), after which the main thread's
// session runs again.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeShared, sharedData } from './helpers/shared.js';

const script = new URL('./helpers/worker-sessions.mjs', import.meta.url).pathname;
const dist = new URL('../dist/index.js', import.meta.url).pathname;

describe('worker_threads', () => {
  it('sessions in workers and on the main thread at once give the same outputs; a worker killed mid-run leaves the process working', () => {
    // dist/ is the package's own build (npm test runs tsc first): missing is an error, not a reason to skip.
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build it with \`npx tsc -p .\` (npm test does)`);
    // The worker is killed 0, 15 and 40 ms after it starts running: before, during and between runs (a
    // task finishing while its worker stops once aborted the process one time in five).
    for (const killMs of [0, 15, 40]) {
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, KILL_MS: String(killMs) } });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out.values).toBe(8 * 96 * 96);
      expect(out.mainRunsAgree).toBe(0);
      // The same graph, weights (seeded), input and thread count: the same values in every environment.
      expect(out.run).toEqual({ code: 0, diff: 0 });
      expect(out.runSync).toEqual({ code: 0, diff: 0 });
      expect(out.kill.code).toBe(1); // worker.terminate()'s exit code
      expect(out.afterKill).toBe(0);
    }
  });

  it('the process outlives workers that were the only ones to load the addon, terminated mid-run', () => {
    // Node unloads an addon with the last environment that loaded it; the compute thread and the kernel
    // pools are process-wide and stay, so the addon is linked never to be unloaded (they once ran unmapped
    // code: SIGSEGV, 7 runs in 8 before). One worker runs MatMuls (on OpenMP's team), the next crops faces
    // (an image pass on a libuv thread, whose settling in a stopping worker ended in std::terminate every
    // time before); each is terminated mid-run.
    for (const killMs of [4, 12, 20]) {
      const r = spawnSync(process.execPath, [script, 'only-worker'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, KILL_MS: String(killMs) } });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ codes: [1, 1] });
    }
  });
});

describeShared('worker_threads: the photo detector', () => {
  it('defaults to the native engine in a worker (onnxruntime-node aborts the process when its worker is terminated mid-run), onnxruntime on the main thread; so does the PFLD landmark model, with the same points', () => {
    const model = sharedData('models/detection/yunet_s_dynamic.onnx');
    const r = spawnSync(process.execPath, [script, 'engines', model, sharedData('models/landmarks/pfld.onnx')], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, FACESTYLE_DETECTOR_ENGINE: '' } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out).toMatchObject({ main: { load: 'onnxruntime', shared: 'onnxruntime', landmarks: 'onnxruntime' }, worker: { load: 'native', shared: 'native', landmarks: 'native' } });
    // (The landmark model always ran on onnxruntime-node before: stylize() with FACESTYLE_LANDMARKS set in a
    // worker that was terminated mid-run aborted the process.) The two engines place the points alike.
    expect(out.main.points).toHaveLength(68);
    let worst = 0;
    for (let i = 0; i < 68; ++i) for (const k of [0, 1]) worst = Math.max(worst, Math.abs(out.main.points[i][k] - out.worker.points[i][k]));
    expect(worst).toBeLessThan(0.05);
  });
});

describeShared('worker_threads: a video run terminated mid-run', () => {
  const terminate = new URL('./helpers/worker-video-terminate.mjs', import.meta.url).pathname;
  const ffmpeg = !spawnSync('ffmpeg', ['-version']).error;
  it.skipIf(!ffmpeg)(`leaves no hidden temp file beside the output (the encoder finished it once its input closed), and no ffmpeg running or as a zombie (nobody reaped the killed ones)${ffmpeg ? '' : ' (skipped: no ffmpeg)'}`, () => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build it with \`npx tsc -p .\` (npm test does)`);
    const r = spawnSync(process.execPath, [terminate, sharedData('video/short_hamilton_clip.mp4'), sharedData('models/detection/yunet_s_dynamic.onnx')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ sawTemp: true, files: [], children: [] });
  }, 150_000);
});
