// Output paths of stylizeVideo: frame folders are written into a hidden temp sibling and renamed at the
// end (like video files), an existing output folder is refused unless `overwrite`, and a run stopped half
// way (AbortSignal, a throwing onProgress, a failing stylizer) leaves nothing under the output name and no
// temp leftovers. Frame folder in, frame folder out: no ffmpeg needed, except for the one video case.
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ffmpegFileArg } from '../lib/video/ffmpeg.js';
import { stylizeVideo } from '../lib/video/pipeline.js';
import { FakeStylizer, centreFace, ffprobeStreams, hasFfmpeg, shared, sharedPresent, describeNeeding } from './video-helpers.js';

// Every process the library spawns, recorded (spawn itself is the real one): the decoder tests below
// check that the decoder was really started and what ended it.
const spawned = vi.hoisted(() => [] as ChildProcess[]);
vi.mock('node:child_process', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:child_process')>();
  const spawn = (...args: Parameters<typeof real.spawn>) => {
    const child = real.spawn(...args);
    spawned.push(child);
    return child;
  };
  return { ...real, spawn };
});

const tmp = mkdtempSync(path.join(os.tmpdir(), 'facestyle-video-out-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FRAMES = shared('frames', 'vtoonify_908');

/** A fresh folder to write into; everything in it is listed by the checks below. */
const fresh = () => mkdtempSync(path.join(tmp, 'run-'));
const frameNames = (n: number) => Array.from({ length: n }, (_, i) => `frame_${String(i + 1).padStart(6, '0')}.png`);

describeNeeding({ shared: true }, 'frame folder output', () => {
  it('is written into a hidden temp folder while running and renamed at the end', async () => {
    const dir = fresh();
    const target = path.join(dir, 'out');
    const seen: string[][] = [];
    const r = await stylizeVideo(FRAMES, `${target}/`, {
      stylizer: new FakeStylizer(centreFace),
      maxFrames: 6,
      onProgress: (p) => {
        if (p.frames === 3) seen.push(readdirSync(dir));
      },
    });
    expect(r.frames).toBe(6);
    // Half way: no `out`, only the temp sibling (what a killed run would leave), holding the frames so far.
    expect(seen).toHaveLength(1);
    expect(seen[0]).toHaveLength(1);
    expect(seen[0][0]).toMatch(/^\.out\.partial-\d+-[0-9a-f]{8}$/);
    // At the end: exactly the output folder with its six frames.
    expect(readdirSync(dir)).toEqual(['out']);
    expect(readdirSync(target).sort()).toEqual(frameNames(6));
  });

  for (const how of ['an AbortSignal', 'a throwing onProgress', 'an async onProgress that rejects', 'a failing stylizer'] as const) {
    it(`leaves no folder and no temp files when stopped by ${how}`, async () => {
      const dir = fresh();
      const ac = new AbortController();
      const stylizer = new FakeStylizer(centreFace);
      if (how === 'a failing stylizer') {
        const real = stylizer.stylize.bind(stylizer);
        let calls = 0;
        stylizer.stylize = async (items) => {
          if (++calls === 4) throw new Error('model crashed');
          return real(items);
        };
      }
      const written: number[] = [];
      const run = stylizeVideo(FRAMES, path.join(dir, 'out') + path.sep, {
        stylizer,
        batch: 2,
        signal: ac.signal,
        onProgress:
          how === 'an async onProgress that rejects'
            ? async (p) => {
                // (Its rejection was never handled: the process ended with exit code 1, a temp file left.)
                await new Promise((r) => setTimeout(r, 1));
                written.push(p.frames);
                if (p.frames === 4) throw new Error('progress callback failed');
              }
            : (p) => {
                written.push(p.frames);
                if (p.frames === 4 && how === 'an AbortSignal') ac.abort(new Error('user pressed ctrl-c'));
                if (p.frames === 4 && how === 'a throwing onProgress') throw new Error('progress callback failed');
              },
      });
      await expect(run).rejects.toThrow(how === 'an AbortSignal' ? 'user pressed ctrl-c' : how === 'a failing stylizer' ? 'model crashed' : 'progress callback failed');
      // Frames had been written into the temp folder before the stop (the fake stylizer runs ahead of the writer)...
      expect(written.length).toBeGreaterThanOrEqual(how === 'a failing stylizer' ? 1 : 4);
      // ...and all of it is gone: no output, no hidden temp folder.
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('refuses an existing non-empty output folder before any work, and leaves it as it was', async () => {
    const dir = fresh();
    const target = path.join(dir, 'out');
    mkdirSync(target);
    for (const n of frameNames(3)) writeFileSync(path.join(target, n), 'old');
    const stylizer = new FakeStylizer(centreFace);
    await expect(stylizeVideo(FRAMES, target, { stylizer, maxFrames: 2 })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_ARGUMENT',
      message: expect.stringMatching(/already exists and is not empty.*overwrite/),
    });
    expect(stylizer.detectCalls).toHaveLength(0);
    expect(readdirSync(target).sort()).toEqual(frameNames(3));
    expect(readFileSync(path.join(target, 'frame_000001.png'), 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['out']);
  });

  it('with overwrite replaces a folder of frames whole: no stale frames from a longer earlier run', async () => {
    const dir = fresh();
    const target = path.join(dir, 'out');
    mkdirSync(target);
    for (const n of frameNames(9)) writeFileSync(path.join(target, n), 'old');
    const r = await stylizeVideo(FRAMES, target, { stylizer: new FakeStylizer(centreFace), maxFrames: 4, overwrite: true });
    expect(r.frames).toBe(4);
    expect(readdirSync(target).sort()).toEqual(frameNames(4));
    // New PNGs, not the old text files; no moved-aside or temp folder left behind.
    expect(readFileSync(path.join(target, 'frame_000001.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(readdirSync(dir)).toEqual(['out']);
  });

  it('never replaces a folder holding anything but frames, even with overwrite', async () => {
    const dir = fresh();
    const target = path.join(dir, 'photos');
    mkdirSync(target);
    writeFileSync(path.join(target, 'holiday.jpg'), 'precious');
    writeFileSync(path.join(target, 'frame_000001.png'), 'old');
    await expect(stylizeVideo(FRAMES, target, { stylizer: new FakeStylizer(centreFace), maxFrames: 2, overwrite: true })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_ARGUMENT',
      message: expect.stringContaining('holiday.jpg'),
    });
    expect(readdirSync(target).sort()).toEqual(['frame_000001.png', 'holiday.jpg']);
    expect(readdirSync(dir)).toEqual(['photos']);
  });

  it('writes into an existing empty folder without overwrite', async () => {
    const dir = fresh();
    const target = path.join(dir, 'empty');
    mkdirSync(target);
    await stylizeVideo(FRAMES, target, { stylizer: new FakeStylizer(centreFace), maxFrames: 2 });
    expect(readdirSync(target).sort()).toEqual(frameNames(2));
    expect(readdirSync(dir)).toEqual(['empty']);
  });

  it('stops on a corrupt frame image with ERR_FACESTYLE_FORMAT and leaves no output', async () => {
    const dir = fresh();
    const input = path.join(dir, 'in');
    mkdirSync(input);
    const first = readdirSync(FRAMES).filter((n) => n.endsWith('.jpg')).sort()[0];
    const good = readFileSync(path.join(FRAMES, first));
    writeFileSync(path.join(input, 'f_1.jpg'), good);
    writeFileSync(path.join(input, 'f_2.jpg'), good);
    writeFileSync(path.join(input, 'f_3.jpg'), good.subarray(0, 400)); // cut short
    await expect(stylizeVideo(input, path.join(dir, 'out/'), { stylizer: new FakeStylizer(centreFace) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    expect(readdirSync(dir)).toEqual(['in']);
  });

  it('rejects a folder output inside a missing folder, and a file in the way, with coded errors', async () => {
    const dir = fresh();
    await expect(stylizeVideo(FRAMES, path.join(dir, 'no', 'such', 'out/'), { stylizer: new FakeStylizer(centreFace) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    writeFileSync(path.join(dir, 'file'), 'x');
    await expect(stylizeVideo(FRAMES, path.join(dir, 'file') + '/', { stylizer: new FakeStylizer(centreFace) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(stylizeVideo(FRAMES, path.join(dir, 'out/'), { stylizer: new FakeStylizer(centreFace), overwrite: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect(readdirSync(dir)).toEqual(['file']);
  });
});

describeNeeding({ shared: true, ffmpeg: true }, 'video file output', () => {
  it('a throwing onProgress leaves no file and no temp file; an existing output is kept', async () => {
    const dir = fresh();
    const target = path.join(dir, 'out.mp4');
    writeFileSync(target, 'old');
    const run = stylizeVideo(shared('video', '908.mp4'), target, {
      stylizer: new FakeStylizer(centreFace),
      onProgress: (p) => {
        if (p.frames === 10) throw new Error('progress callback failed');
      },
    });
    await expect(run).rejects.toThrow('progress callback failed');
    expect(readdirSync(dir)).toEqual(['out.mp4']);
    expect(readFileSync(target, 'utf8')).toBe('old');
    // A successful run replaces it.
    await stylizeVideo(shared('video', '908.mp4'), target, { stylizer: new FakeStylizer(centreFace), maxFrames: 5 });
    expect(existsSync(target) && readFileSync(target).length).toBeGreaterThan(1000);
    expect(readdirSync(dir)).toEqual(['out.mp4']);
  });

  it('an already aborted signal or options that are not an object: rejected before any process starts', async () => {
    const dir = fresh();
    const before = spawned.length;
    const reason = new Error('aborted before the start');
    await expect(stylizeVideo(shared('video', '908.mp4'), path.join(dir, 'a.mp4'), { stylizer: new FakeStylizer(centreFace), signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    for (const options of [null, 'fast'])
      await expect(stylizeVideo(shared('video', '908.mp4'), path.join(dir, 'a.mp4'), options as never)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for options') });
    expect(spawned.length).toBe(before);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('maxFrames cuts the copied audio too when the container does not count its frames (MKV)', async () => {
    const dir = fresh();
    const mkv = path.join(dir, 'clip.mkv');
    // 3 s of short_hamilton_clip (29.97 fps, AAC sound), remuxed: MKV streams carry no frame count.
    const made = spawnSync('ffmpeg', ['-v', 'error', '-i', shared('video', 'short_hamilton_clip.mp4'), '-t', '3', '-c', 'copy', mkv]);
    expect(made.status, made.stderr?.toString()).toBe(0);
    const target = path.join(dir, 'out.mp4');
    const r = await stylizeVideo(mkv, target, { stylizer: new FakeStylizer(centreFace), maxFrames: 30 });
    expect(r.frames).toBe(30);
    const streams = ffprobeStreams(target);
    const audio = streams.find((st) => st.codec_type === 'audio');
    const video = streams.find((st) => st.codec_type === 'video');
    expect(audio, 'the sound is kept').toBeDefined();
    // 30 frames are 1.0 s, after the video's start offset (the remux starts the video at a key frame, 0.84 s
    // into the sound): the sound ends with them (it ran the whole 3 s before).
    expect(Number(video!.duration)).toBeCloseTo(1.0, 1);
    const videoEnd = Number(video!.start_time) + Number(video!.duration);
    expect(Math.abs(Number(audio!.duration) - videoEnd)).toBeLessThan(0.1);
    expect(Number(audio!.duration)).toBeLessThan(2.5);
  });
});

/** Names of this process's child processes (Linux ps). */
function childCommands(): string[] {
  const r = spawnSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'ps');
}

describeNeeding({ shared: true, ffmpeg: true, linux: true }, 'the decoder started beside the probe', () => {
  it('is killed when the probe fails or the run fails before reading it', async () => {
    const dir = fresh();
    const decodersOf = (file: string) => spawned.filter((c) => c.spawnargs.includes('rawvideo') && c.spawnargs.includes('pipe:1') && c.spawnargs.includes(ffmpegFileArg(file)));
    const ended = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())));

    const text = path.join(dir, 'text.mp4');
    writeFileSync(text, 'not a video at all\n');
    spawned.length = 0;
    await expect(stylizeVideo(text, path.join(dir, 'out.mp4'), { stylizer: new FakeStylizer(centreFace) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    // A decoder was started beside the probe; it has ended (killed, or failed on the text by itself).
    const [textDecoder, ...moreText] = decodersOf(text);
    expect(textDecoder, 'no decoder was started for text.mp4').toBeDefined();
    expect(moreText).toEqual([]);
    await ended(textDecoder);

    // A model that does not exist: the run fails after probing, before the first frame is read.
    const video = shared('video', '908.mp4');
    spawned.length = 0;
    await expect(stylizeVideo(video, path.join(dir, 'out.mp4'), { model: path.join(dir, 'no-model.onnx') })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('no-model.onnx') });
    // The decoder of 908.mp4 was started and, never read, blocks on its full pipe: it cannot end on its
    // own, so a SIGKILL exit shows it was running and was killed.
    const [decoder, ...more] = decodersOf(video);
    expect(decoder, 'no decoder was started for 908.mp4').toBeDefined();
    expect(more).toEqual([]);
    await ended(decoder);
    expect(decoder.signalCode).toBe('SIGKILL');
    expect(decoder.exitCode).toBeNull();
    // Every ffmpeg process the runs started has ended, and none is left among our children.
    await Promise.all(spawned.map(ended));
    expect(childCommands().filter((c) => c.includes('ffmpeg'))).toEqual([]);
    expect(readdirSync(dir)).toEqual(['text.mp4']);
  });

  it('the encoder, started before the first frame is stylized, is stopped and its temp file removed when the stylizer fails', async () => {
    const dir = fresh();
    class FailingStylizer extends FakeStylizer {
      override async stylize(): Promise<never> {
        // The encoder was started right after the probe: two ffmpeg processes (decoder, encoder) by now.
        seen.push(childCommands().filter((c) => c.includes('ffmpeg')).length);
        throw new Error('model failed');
      }
    }
    const seen: number[] = [];
    await expect(stylizeVideo(shared('video', '908.mp4'), path.join(dir, 'out.mp4'), { stylizer: new FailingStylizer(centreFace) })).rejects.toThrow('model failed');
    await new Promise((r) => setTimeout(r, 200));
    expect(seen[0]).toBe(2);
    expect(childCommands().filter((c) => c.includes('ffmpeg'))).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });
});

