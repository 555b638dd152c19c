// measureVideoFps: the numbers the benchmark reports (pipeline fps, stylize-stage fps, efficiency).
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../lib/face/types.js';
import { measureVideoFps } from '../lib/video/measure.js';
import type { FrameFaces, StylizeSteps } from '../lib/video/stylizer.js';
import { FakeStylizer, centreFace, hasFfmpeg, shared, sharedPresent, describeNeeding } from './video-helpers.js';

describeNeeding({ shared: true, ffmpeg: true }, 'measureVideoFps', () => {
  it('measures a slow stylize stage and a pipeline that cannot beat it', async () => {
    // 100 ms per call of 4 faces: the stage alone runs at about 40 fps; everything else is cheap.
    const stylizer = new FakeStylizer(centreFace, 100);
    const r = await measureVideoFps(shared('video', '908.mp4'), { stylizer, maxFrames: 32, batch: 4, repeats: 2 }); // (repeats is not passed on to stylizeVideo, which refuses it)
    expect(r).toMatchObject({ frames: 32, faces: 32 });
    expect(r.stylizeFps).toBeGreaterThan(20);
    expect(r.stylizeFps).toBeLessThan(41);
    expect(r.efficiency).toBeCloseTo(r.pipelineFps / r.stylizeFps, 12);
    // A pipeline is never faster than its slowest stage. (How close it gets depends on the machine's load:
    // the overlap itself is tested with timed fakes in video-pipeline.test.ts.)
    expect(r.efficiency).toBeLessThan(1.1);
    expect(r.efficiency).toBeGreaterThan(0);
    // Warm-up + (stage alone + pipeline) x 2 repeats: 1 + 2 x (8 + 8) calls.
    expect(stylizer.batches).toHaveLength(33);
    expect(stylizer.disposed).toBe(false);
    // No steps: there is no model-alone figure.
    expect(r.modelFps).toBeNull();
    expect(r.modelEfficiency).toBeNull();
    // CPU: the fake stage sleeps, so it keeps no core busy; the pipeline ran ffprobe, a decoder and an
    // encoder (tens of ms of CPU each to start), all counted as its work beyond the stage.
    if (process.platform !== 'linux') return expect(r.cpu).toBeNull();
    const cpu = r.cpu!;
    expect(cpu.cores).toBeGreaterThanOrEqual(1);
    expect(cpu.stageCores).toBeGreaterThanOrEqual(0);
    expect(cpu.stageCores).toBeLessThan(0.5);
    expect(cpu.ffmpegCpuMsPerFrame).toBeGreaterThan(0);
    expect(cpu.otherCpuMsPerFrame).toBeGreaterThan(cpu.ffmpegCpuMsPerFrame); // plus this process's own decode / detect / encode work
    expect(cpu.pipelineCores).toBeGreaterThan(0);
    expect(cpu.pipelineCores).toBeLessThanOrEqual(cpu.cores * 1.05); // (CPU clock ticks of 10 ms)
    // The bound is the efficiency scaled to every core busy, so never below the efficiency measured.
    expect(cpu.efficiencyBound).toBeCloseTo((r.efficiency * cpu.cores) / cpu.pipelineCores, 10);
    expect(cpu.efficiencyBound).toBeGreaterThanOrEqual(r.efficiency * 0.95);
  });

  it('with steps, reports the model alone as the ceiling the overlapped pipeline approaches', async () => {
    // Timed fake steps: align 50 ms, model 100 ms, paste 50 ms per batch of 4 faces (10 batches for the 39
    // frames). The stage alone takes 200 ms per batch (at most 20 fps), the model alone 100 ms (at most
    // 40 fps); the pipeline overlaps them, and pays ffprobe / ffmpeg start-up once.
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const fake = new FakeStylizer(centreFace);
    const steps: StylizeSteps<FrameFaces[], FrameFaces[]> = {
      align: async (items) => (await sleep(50), items),
      model: async (items) => (await sleep(100), items),
      paste: async (items) => (await sleep(50), items.map((it) => it.frame)),
    };
    const stylizer = { detect: (f: RgbImage) => fake.detect(f), stylize: async (items: FrameFaces[]) => steps.paste(await steps.model(await steps.align(items))), steps };
    const r = await measureVideoFps(shared('video', '908.mp4'), { stylizer, batch: 4, repeats: 1 });
    expect(r.frames).toBe(39);
    expect(r.stylizeFps).toBeGreaterThan(14);
    expect(r.stylizeFps).toBeLessThan(20);
    expect(r.modelFps!).toBeGreaterThan(1.6 * r.stylizeFps);
    expect(r.modelFps!).toBeLessThan(40);
    expect(r.modelEfficiency).toBeCloseTo(r.pipelineFps / r.modelFps!, 12);
    // Overlapped, the pipeline beats the stage run step after step (in series it would take longer than
    // the stage alone: 2 s plus start-up), yet never the model alone.
    expect(r.efficiency).toBeGreaterThan(1);
    expect(r.modelEfficiency!).toBeLessThan(1.05);
  });
});

describe('measureVideoFps options', () => {
  it('refuses counts that would measure nothing before decoding anything (repeats 0 reported 0 fps)', async () => {
    const stylizer = new FakeStylizer(centreFace);
    // every / smoothing were refused only by the pipeline run at the end, after decoding and tracking.
    for (const [options, named] of [[{ repeats: 0 }, 'repeats'], [{ repeats: 'x' }, 'repeats'], [{ maxFrames: 0 }, 'maxFrames'], [{ batch: 1.5 }, 'batch'], [{ every: 0 }, 'every'], [{ smoothing: { beta: -1 } }, 'smoothing.beta']] as const)
      await expect(measureVideoFps('/nonexistent.mp4', { stylizer, ...options } as never)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining(`for ${named} but`) });
    await expect(measureVideoFps('/nonexistent.mp4', null as never)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect(stylizer.batches).toHaveLength(0);
  });
});

describeNeeding({ shared: true, ffmpeg: true }, 'measureVideoFps stopped by its signal', () => {
  it('rejects with the reason soon after an abort in any phase (it ran on to the end, 7-11 s, before)', async () => {
    // 150 ms a batch: the whole measurement of 60 frames takes several seconds; aborted at 300 ms.
    const stylizer = new FakeStylizer(centreFace, 150);
    const stop = new AbortController();
    const reason = new Error('stopped by the test');
    setTimeout(() => stop.abort(reason), 300);
    const t0 = performance.now();
    await expect(measureVideoFps(shared('video', '908.mp4'), { stylizer, maxFrames: 39, batch: 1, repeats: 2, signal: stop.signal })).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(3000); // ~0.8 s here; the whole measurement takes over 6 s
    const ran = stylizer.batches.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(stylizer.batches.length).toBe(ran); // nothing more runs after the rejection
  });
});

describeNeeding({ shared: true, ffmpeg: true }, 'measureVideoFps on a clip without faces', () => {
  it('says there is nothing to measure (the stage fps came out as frames / ~0 s: 6 million)', async () => {
    const stylizer = new FakeStylizer(() => []);
    await expect(measureVideoFps(shared('video', '908.mp4'), { stylizer, maxFrames: 8 })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('No face in the first 8 frames') });
  });
});
