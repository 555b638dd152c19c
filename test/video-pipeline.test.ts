// The frame pipeline (stylizeFrames / stylizeFrameStream) with a fake stylizer: order, pass-through,
// batching, bounded memory, early exit, errors.
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../lib/face/types.js';
import { stylizeFrameStream, stylizeFrames } from '../lib/video/pipeline.js';
import { adaptFaceStylizer, type FrameFaces, type FrameStylizer, type StylizeSteps } from '../lib/video/stylizer.js';
import { FakeStylizer, detectSquare, invertBoxes, squareFrame } from './video-helpers.js';

/** Frames with a square moving right; every 4th frame has no square (no face). */
function makeFrames(n: number): RgbImage[] {
  return Array.from({ length: n }, (_, i) => (i % 4 === 3 ? squareFrame(96, 64, 0, 0, 0) : squareFrame(96, 64, 10 + i, 20, 16)));
}

/**
 * A source of `count` small frames with a face (endless by default) that records how many frames it
 * produced and whether it was closed (its finally block ran); `frames()` starts a new pass over it.
 */
function trackedSource(count = Infinity) {
  const state = { produced: 0, closed: false };
  async function* frames() {
    try {
      for (let i = 0; i < count; ++i) {
        ++state.produced;
        yield squareFrame(48, 32, 5, 5, 10);
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, frames };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe('stylizeFrames', () => {
  it('stylizes the faces of every frame, in order, and passes face-less frames through untouched', async () => {
    const frames = makeFrames(23);
    const copies = frames.map((f) => Buffer.from(f.data));
    const stylizer = new FakeStylizer();
    const out = await collect(stylizeFrames(frames, { stylizer, batch: 3, smoothing: false }));
    expect(out).toHaveLength(23);
    out.forEach((o, i) => {
      if (i % 4 === 3) {
        // No face: the very same frame, bytes unchanged.
        expect(o).toBe(frames[i]);
        expect(Buffer.compare(Buffer.from(o.data), copies[i])).toBe(0);
      } else {
        const expected = invertBoxes(frames[i], detectSquare(frames[i]));
        expect(Buffer.compare(Buffer.from(o.data), Buffer.from(expected.data))).toBe(0);
      }
    });
    // Inputs are never written to.
    frames.forEach((f, i) => expect(Buffer.compare(Buffer.from(f.data), copies[i])).toBe(0));
    // Batches of at most 3 faces, covering all 18 face frames; the user's stylizer is not disposed.
    expect(Math.max(...stylizer.batches)).toBeLessThanOrEqual(3);
    expect(stylizer.batches.reduce((a, b) => a + b, 0)).toBe(18);
    expect(stylizer.batches.filter((b) => b === 3).length).toBeGreaterThanOrEqual(5);
    expect(stylizer.disposed).toBe(false);
  });

  it('reports faces per frame with stable track ids and smoothed landmarks', async () => {
    const frames = Array.from({ length: 10 }, (_, i) => squareFrame(96, 64, 10 + 3 * i, 20, 16));
    const items = await collect(stylizeFrameStream(frames, { stylizer: new FakeStylizer(), fps: 30 }));
    expect(items.map((it) => it.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Set(items.map((it) => it.faces[0].trackId)).size).toBe(1);
    // The raw box moves 3 px per frame; the smoothed one lags behind it once it moves.
    const raw = detectSquare(frames[9])[0].box[0];
    expect(items[0].faces[0].box[0]).toBe(10);
    expect(items[9].faces[0].box[0]).toBeLessThan(raw);
    expect(items[9].faces[0].box[0]).toBeGreaterThan(items[1].faces[0].box[0]);
  });

  it('keeps memory bounded: the source runs at most a few queues ahead of a slow consumer', async () => {
    const { state, frames } = trackedSource(120);
    let consumed = 0;
    let maxAhead = 0;
    for await (const _ of stylizeFrames(frames(), { stylizer: new FakeStylizer(), batch: 2, queueSize: 4 })) {
      ++consumed;
      maxAhead = Math.max(maxAhead, state.produced - consumed);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(consumed).toBe(120);
    expect(state.closed).toBe(true);
    // read-ahead (4) + detect queue (4) + a stylize batch (<= 4 frames) + output queue (4) + one frame in each stage's hands.
    expect(maxAhead).toBeLessThanOrEqual(20);
  });

  it('holds at most maxInFlight frames from the source to a consumer that stops taking them (the queues together held 13 x batch)', async () => {
    for (const [batch, maxInFlight, bound] of [[64, undefined, 6 * 64 + 8], [4, 6, 6], [16, undefined, 6 * 16 + 8]] as const) {
      const { state, frames } = trackedSource();
      const stream = stylizeFrames(frames(), { stylizer: new FakeStylizer(), batch, maxInFlight });
      expect((await stream.next()).done).toBe(false); // one frame taken, then the consumer idles
      await new Promise((r) => setTimeout(r, 400)); // (part batches flush after 100 ms without new frames)
      // The frame the consumer holds was given back when it asked again; it has not: it still counts.
      expect(state.produced, `batch ${batch}`).toBeLessThanOrEqual(bound);
      expect(state.produced, `batch ${batch}`).toBeGreaterThanOrEqual(Math.min(bound, batch));
      await stream.return(undefined);
      expect(state.closed).toBe(true);
    }
    await expect(collect(stylizeFrames(makeFrames(2), { stylizer: new FakeStylizer(), maxInFlight: 0 }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('maxInFlight') });
    // A budget of one frame still gets every frame through (the batch stage's idle flush moves a part batch on).
    expect(await collect(stylizeFrames(makeFrames(5), { stylizer: new FakeStylizer(), batch: 4, maxInFlight: 1 }))).toHaveLength(5);
  });

  it('a frame rate over 1000 (a high-speed camera) is taken as the time base', async () => {
    expect(await collect(stylizeFrames(makeFrames(3), { stylizer: new FakeStylizer(), fps: 1200 }))).toHaveLength(3);
  });

  it('overlaps detection and stylization: frames are detected while a batch is being stylized', async () => {
    // Fakes that wait (detection 20 ms per frame, stylization 80 ms per batch of 4) and count which
    // calls start while the other stage is busy: run in series, no detection would start during a
    // stylization. The check is on what overlapped, not on elapsed time.
    const stylizer = new FakeStylizer(detectSquare, 80);
    const detect = stylizer.detect.bind(stylizer);
    const stylize = stylizer.stylize.bind(stylizer);
    let stylizing = 0;
    let detectsDuringStylize = 0;
    stylizer.detect = async (f) => {
      if (stylizing > 0) ++detectsDuringStylize;
      await new Promise((r) => setTimeout(r, 20));
      return detect(f);
    };
    stylizer.stylize = async (items) => {
      ++stylizing;
      try {
        return await stylize(items);
      } finally {
        --stylizing;
      }
    };
    const frames = Array.from({ length: 40 }, () => squareFrame(48, 32, 5, 5, 10));
    const out = await collect(stylizeFrames(frames, { stylizer, batch: 4 }));
    expect(out).toHaveLength(40);
    // Overlapped, most detections after the first batch run during some stylization (27 of 40 measured).
    expect(detectsDuringStylize).toBeGreaterThanOrEqual(10);
  });

  it('closes the source when the consumer stops early, and honours maxFrames', async () => {
    const { state, frames } = trackedSource();
    let n = 0;
    for await (const _ of stylizeFrames(frames(), { stylizer: new FakeStylizer(), queueSize: 2, batch: 1 })) if (++n === 5) break;
    expect(state.closed).toBe(true);
    expect(state.produced).toBeLessThan(20);

    state.closed = false;
    const out = await collect(stylizeFrames(frames(), { stylizer: new FakeStylizer(), maxFrames: 7 }));
    expect(out).toHaveLength(7);
    expect(state.closed).toBe(true);
  });

  it('rejects with the stylizer error and stops reading the source', async () => {
    const { state, frames } = trackedSource(1000);
    const stylizer = new FakeStylizer();
    const real = stylizer.stylize.bind(stylizer);
    let calls = 0;
    stylizer.stylize = async (items) => {
      if (++calls === 3) throw Object.assign(new Error('engine exploded'), { code: 'ERR_FACESTYLE_NATIVE' });
      return real(items);
    };
    let got = 0;
    const run = async () => {
      for await (const _ of stylizeFrames(frames(), { stylizer, batch: 1 })) ++got;
    };
    await expect(run()).rejects.toThrow('engine exploded');
    expect(got).toBeLessThanOrEqual(2);
    // A stylizer returning the wrong number of frames is caught too: the caller's stylizer, so an argument
    // error saying what stylize() must return (INTERNAL is for this package's own bugs).
    stylizer.stylize = async () => [];
    await expect(collect(stylizeFrames(frames(), { stylizer, batch: 1 }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('one frame per item') });
    expect(state.closed).toBe(true);
  });

  it('rejects with the abort reason when the signal fires', async () => {
    const ac = new AbortController();
    const reason = new Error('stop now');
    let n = 0;
    const run = async () => {
      for await (const _ of stylizeFrames(makeFrames(200), { stylizer: new FakeStylizer(), signal: ac.signal })) if (++n === 3) ac.abort(reason);
    };
    await expect(run()).rejects.toBe(reason);
    expect(n).toBeLessThan(10);
  });

  it('a live source that stalls: the frames it gave come out (a part batch is not held back), and an abort ends the run', async () => {
    // Three frames, then a next() that never settles (a camera that stopped sending).
    const state = { closed: false };
    async function* stalls() {
      try {
        for (let i = 0; i < 3; ++i) yield squareFrame(48, 32, 5, 5, 10);
        await new Promise(() => {});
      } finally {
        state.closed = true;
      }
    }
    const ac = new AbortController();
    const reason = new Error('camera gone');
    let got = 0;
    const run = async () => {
      for await (const _ of stylizeFrames(stalls(), { stylizer: new FakeStylizer(), batch: 4, signal: ac.signal })) if (++got === 3) ac.abort(reason);
    };
    // Without the part-batch flush the three frames never come out and nothing aborts: this would time out.
    await expect(run()).rejects.toBe(reason);
    expect(got).toBe(3);
    // The source is stuck inside its own await, so it cannot be closed yet (an async generator runs its
    // finally only once that await settles).
    expect(state.closed).toBe(false);
  });

  it('a source whose return() throws, closed after a stop that did not wait for it, is no unhandled rejection', async () => {
    let calls = 0;
    let returned = 0;
    const source: AsyncIterable<RgbImage> = {
      [Symbol.asyncIterator]: () => ({
        // One frame, then a next() that settles only after the stop.
        next: () => (++calls === 1 ? Promise.resolve({ done: false, value: squareFrame(48, 32, 5, 5, 10) }) : new Promise((r) => setTimeout(() => r({ done: false, value: squareFrame(48, 32, 5, 5, 10) }), 200))),
        return: () => {
          ++returned;
          throw new Error('return() threw synchronously');
        },
      }),
    };
    const ac = new AbortController();
    const reason = new Error('stop');
    const run = async () => {
      for await (const _ of stylizeFrames(source, { stylizer: new FakeStylizer(), batch: 1, signal: ac.signal })) ac.abort(reason);
    };
    await expect(run()).rejects.toBe(reason);
    // The stalled next() settles later; the read stage then closes the source (whose return() throws): caught.
    await new Promise((r) => setTimeout(r, 400));
    expect(returned).toBe(1);
  });

  it('rejects bad frames and bad options with coded errors', async () => {
    const bad = [{ data: new Uint8Array(10), width: 4, height: 4 }];
    await expect(collect(stylizeFrames(bad, { stylizer: new FakeStylizer() }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE' });
    await expect(collect(stylizeFrames([{ width: 1 } as unknown as RgbImage], { stylizer: new FakeStylizer() }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    for (const opts of [{ batch: 0 }, { every: -1 }, { smoothing: 'yes' }, { smoothing: { beta: -1 } }, { faces: 1.5 }, { stylizer: {} }, { strength: 2 }, { signal: 'x' }, { smoothing: { minCutoff: Number.NaN } }, { maxFrames: 1e300 }, { maxFrames: 0 }]) {
      await expect(collect(stylizeFrames(makeFrames(2), { stylizer: new FakeStylizer(), ...(opts as object) }))).rejects.toMatchObject({
        code: 'ERR_FACESTYLE_ARGUMENT',
        message: expect.stringMatching(/^Expected .* but received/),
      });
    }
    await expect(collect(stylizeFrames(42 as unknown as RgbImage[], { stylizer: new FakeStylizer() }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });

  it('stylizes at most `faces` faces per frame, the largest first', async () => {
    const two = squareFrame(120, 60, 5, 5, 10);
    const big = squareFrame(120, 60, 60, 10, 30);
    const frame: RgbImage = { data: two.data.map((v, i) => Math.max(v, big.data[i])), width: 120, height: 60 };
    const detector = () => [
      { box: [5, 5, 10, 10] as [number, number, number, number], score: 1, landmarks: detectSquare(two)[0].landmarks },
      { box: [60, 10, 30, 30] as [number, number, number, number], score: 1, landmarks: detectSquare(big)[0].landmarks },
    ];
    const items = await collect(stylizeFrameStream([frame], { stylizer: new FakeStylizer(detector), faces: 1 }));
    expect(items[0].faces).toHaveLength(1);
    expect(items[0].faces[0].box[2]).toBe(30);
    // The photo API's names work here too: 'largest' is 1, 'all' is every face.
    const largest = await collect(stylizeFrameStream([frame], { stylizer: new FakeStylizer(detector), faces: 'largest' }));
    expect(largest[0].faces.map((f) => f.box[2])).toEqual([30]);
    const all = await collect(stylizeFrameStream([frame], { stylizer: new FakeStylizer(detector), faces: 'all' }));
    expect(all[0].faces).toHaveLength(2);
    await expect(collect(stylizeFrameStream([frame], { stylizer: new FakeStylizer(detector), faces: 'some' as never }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining("'all', 'largest' or a whole number") });
  });
});

describe('stylizers with steps (align / model / paste)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * Fake steps that wait (align 20 ms, model 40 ms, paste 20 ms per batch), log their calls and
   * record which steps were ever in flight at the same time (`overlaps`, e.g. 'align+model').
   */
  function stepFake(log: string[] = [], overlaps = new Set<string>()): Omit<FrameStylizer, 'steps'> & { steps: StylizeSteps<FrameFaces[], FrameFaces[]> } {
    const active = new Set<string>();
    const timed = async <T>(name: string, ms: number, result: () => T): Promise<T> => {
      active.add(name);
      try {
        await sleep(ms);
        for (const other of active) if (other !== name) overlaps.add([name, other].sort().join('+'));
        return result();
      } finally {
        active.delete(name);
      }
    };
    const steps: StylizeSteps<FrameFaces[], FrameFaces[]> = {
      align: async (items) => (log.push(`align:${items.length}`), timed('align', 20, () => items)),
      model: async (items) => (log.push('model'), timed('model', 40, () => items)),
      paste: async (items) => (log.push('paste'), timed('paste', 20, () => items.map((it) => invertBoxes(it.frame, it.faces)))),
    };
    return {
      detect: async (f) => detectSquare(f),
      stylize: async () => Promise.reject(new Error('stylize() called although the stylizer has steps')),
      steps,
    };
  }

  it('runs the steps as overlapping stages: the next batch is aligned while the model runs', async () => {
    const log: string[] = [];
    const overlaps = new Set<string>();
    const frames = makeFrames(40); // 30 frames with a face: 8 batches of <= 4 faces, plus face-less frames
    const out = await collect(stylizeFrames(frames, { stylizer: stepFake(log, overlaps), batch: 4, smoothing: false }));
    expect(out).toHaveLength(40);
    out.forEach((o, i) => {
      if (i % 4 === 3) expect(o).toBe(frames[i]);
      else expect(Buffer.compare(Buffer.from(o.data), Buffer.from(invertBoxes(frames[i], detectSquare(frames[i])).data))).toBe(0);
    });
    const batches = log.filter((l) => l === 'model').length;
    expect(batches).toBeGreaterThanOrEqual(8);
    expect(log.filter((l) => l === 'paste').length).toBe(batches);
    // Every one of the 30 frames with a face went through the align step exactly once.
    const aligned = log.filter((l) => l.startsWith('align:')).map((l) => Number(l.slice('align:'.length)));
    expect(aligned).toHaveLength(batches);
    expect(Math.max(...aligned)).toBeLessThanOrEqual(4);
    expect(aligned.reduce((a, b) => a + b, 0)).toBe(30);
    // Run in series, no two steps would ever be in flight together.
    expect(overlaps.has('align+model')).toBe(true);
    expect(overlaps.has('model+paste')).toBe(true);
  });

  it('stops promptly on abort while steps are in flight, and leaves no step running', async () => {
    const log: string[] = [];
    const ac = new AbortController();
    const reason = new Error('stop now');
    let n = 0;
    const run = async () => {
      for await (const _ of stylizeFrames(makeFrames(200), { stylizer: stepFake(log), batch: 2, signal: ac.signal })) if (++n === 3) ac.abort(reason);
    };
    await expect(run()).rejects.toBe(reason);
    // 200 frames (150 with a face) would take 75 model calls; the stop lets only the batches already
    // in the stages finish.
    expect(log.filter((l) => l === 'model').length).toBeLessThanOrEqual(8);
    const calls = log.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(log.length).toBe(calls); // nothing started after the stream ended
  });

  it('stops on a failing step with its error and closes the source', async () => {
    const { state, frames } = trackedSource(1000);
    const stylizer = stepFake();
    let calls = 0;
    const model = stylizer.steps.model;
    stylizer.steps.model = async (a) => {
      if (++calls === 3) throw Object.assign(new Error('model step exploded'), { code: 'ERR_FACESTYLE_NATIVE' });
      return model(a);
    };
    await expect(collect(stylizeFrames(frames(), { stylizer, batch: 1 }))).rejects.toThrow('model step exploded');
    expect(state.closed).toBe(true);
    // A paste step returning the wrong number of frames is caught too.
    const short = stepFake();
    short.steps.paste = async () => [];
    await expect(collect(stylizeFrames(makeFrames(8), { stylizer: short, batch: 2 }))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
  });
});

describe('adaptFaceStylizer', () => {
  it('calls stylizeFaces frame by frame in order, or the batched form when there is one', async () => {
    const frames = [squareFrame(48, 32, 5, 5, 10), squareFrame(48, 32, 20, 5, 10)];
    const calls: string[] = [];
    const perFrame = {
      detect: async (f: RgbImage) => detectSquare(f),
      stylizeFaces: async (f: RgbImage, faces: ReturnType<typeof detectSquare>) => (calls.push(`one:${faces[0].box[0]}`), invertBoxes(f, faces)),
    };
    const items = frames.map((frame) => ({ frame, faces: detectSquare(frame) }));
    const out = await adaptFaceStylizer(perFrame).stylize(items);
    expect(calls).toEqual(['one:5', 'one:20']);
    expect(Buffer.compare(Buffer.from(out[1].data), Buffer.from(invertBoxes(frames[1], items[1].faces).data))).toBe(0);
    const batched = { ...perFrame, stylizeFacesBatch: async (its: typeof items) => (calls.push(`batch:${its.length}`), its.map((it) => it.frame)) };
    await adaptFaceStylizer(batched).stylize(items);
    expect(calls.at(-1)).toBe('batch:2');
  });
});
