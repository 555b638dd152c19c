// measureVideoFps: the numbers the benchmark reports (pipeline fps, stylize-stage fps, efficiency).
import { describe, expect, it } from 'vitest';
import { measureVideoFps } from '../lib/video/measure.js';
import { FakeStylizer, centreFace, hasFfmpeg, shared, sharedPresent } from './video-helpers.js';

describe.skipIf(!sharedPresent || !hasFfmpeg)('measureVideoFps', () => {
  it('measures a slow stylize stage and a pipeline that cannot beat it', async () => {
    // 100 ms per call of 4 faces: the stage alone runs at about 40 fps; everything else is cheap.
    const stylizer = new FakeStylizer(centreFace, 100);
    const r = await measureVideoFps(shared('video', '908.mp4'), { stylizer, maxFrames: 32, batch: 4 });
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
  });
});
