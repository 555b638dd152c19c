// stylizeVideo end to end through ffmpeg on ../shared/data/video (fake stylizer: fast): the output keeps
// the input's frames, size, rate, duration and audio; bad inputs fail with codes and leave nothing behind.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeVideo, ffmpegPaths, probeVideo, startDecode } from '../lib/video/ffmpeg.js';
import { stylizeVideo } from '../lib/video/pipeline.js';
import { FakeStylizer, centreFace, ffprobeStreams, hasFfmpeg, shared, sharedMissingMessage, sharedPresent, skipShared, describeNeeding } from './video-helpers.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'facestyle-video-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const out = (name: string) => path.join(tmp, name);
/** Files in the temp folder other than the given ones (a leftover .partial file would show here). */
const leftovers = (dir = tmp) => readdirSync(dir).filter((n) => n.includes('.partial'));

describe('video test data', () => {
  it.skipIf(skipShared)('is present at ../shared/data', () => {
    if (!sharedPresent) throw new Error(sharedMissingMessage);
    expect(existsSync(shared('video', '908.mp4'))).toBe(true);
  });
  it('has ffmpeg and ffprobe installed', () => {
    expect(hasFfmpeg, 'ffmpeg/ffprobe not on PATH: apt-get install ffmpeg').toBe(true);
  });
});

describeNeeding({ shared: true, ffmpeg: true }, 'stylizeVideo on real video', () => {
  it('keeps frame count, resolution, frame rate, duration and the audio stream (short_hamilton_clip)', async () => {
    const input = shared('video', 'short_hamilton_clip.mp4');
    const target = out('hamilton.mp4');
    const stylizer = new FakeStylizer(centreFace);
    const progress: number[] = [];
    const r = await stylizeVideo(input, target, { stylizer, batch: 8, onProgress: (p) => progress.push(p.frames) });
    const [vin, ain] = [ffprobeStreams(input).find((s) => s.codec_type === 'video')!, ffprobeStreams(input).find((s) => s.codec_type === 'audio')!];
    const streams = ffprobeStreams(target);
    const vout = streams.find((s) => s.codec_type === 'video')!;
    const aout = streams.find((s) => s.codec_type === 'audio');
    expect(vout.nb_frames).toBe(vin.nb_frames);
    expect(Number(vin.nb_frames)).toBe(275);
    expect([vout.width, vout.height]).toEqual([vin.width, vin.height]);
    expect(vout.r_frame_rate).toBe(vin.r_frame_rate);
    expect(Number(vout.duration)).toBeCloseTo(Number(vin.duration), 2);
    // Audio copied, not re-encoded: same codec, same packet count, video still starts after the audio as before.
    expect(aout?.codec_name).toBe(ain.codec_name);
    expect(aout?.nb_frames).toBe(ain.nb_frames);
    const offsetIn = Number(vin.start_time) - Number(ain.start_time);
    const offsetOut = Number(vout.start_time) - Number(aout!.start_time);
    expect(Math.abs(offsetOut - offsetIn)).toBeLessThan(1 / 29.97);
    expect(r).toMatchObject({ frames: 275, framesWithFaces: 275, faces: 275, width: 640, height: 360, hasAudio: true });
    expect(progress).toHaveLength(275);
    expect(progress.at(-1)).toBe(275);
    expect(leftovers()).toEqual([]);
  });

  it('writes no audio stream for a clip without one, and changes the face region only', async () => {
    const input = shared('video', '908.mp4');
    const target = out('908.mp4');
    await stylizeVideo(input, target, { stylizer: new FakeStylizer(centreFace) });
    const vin = ffprobeStreams(input)[0];
    const streams = ffprobeStreams(target);
    expect(streams.map((s) => s.codec_type)).toEqual(['video']);
    expect([streams[0].nb_frames, streams[0].width, streams[0].height, streams[0].r_frame_rate]).toEqual([vin.nb_frames, vin.width, vin.height, vin.r_frame_rate]);
    // Compare decoded frame 10: inside the centre box inverted, far corner unchanged (up to codec noise).
    const frameAt = async (file: string, k: number) => {
      let i = 0;
      for await (const f of decodeVideo(await probeVideo(file), { maxFrames: k + 1 })) if (i++ === k) return f;
      throw new Error('no frame');
    };
    const [a, b] = [await frameAt(input, 10), await frameAt(target, 10)];
    const px = (f: typeof a, x: number, y: number) => f.data[(y * f.width + x) * 3];
    const cx = Math.round(a.width / 2), cy = Math.round(a.height / 2);
    expect(Math.abs(px(b, cx, cy) - (255 - px(a, cx, cy)))).toBeLessThan(20);
    expect(Math.abs(px(b, 5, 5) - px(a, 5, 5))).toBeLessThan(12);
  });

  it('decodes MPEG-4 Part 2 and stops after maxFrames with the audio cut to match', async () => {
    const r = await stylizeVideo(shared('video', '529.mp4'), out('529.mkv'), { stylizer: new FakeStylizer(centreFace), maxFrames: 30 });
    expect(r.frames).toBe(30);
    const v = ffprobeStreams(out('529.mkv'))[0];
    expect([Number(v.nb_frames), v.width, v.height]).toEqual([30, 400, 368]);
    const h = await stylizeVideo(shared('video', 'short_hamilton_clip.mp4'), out('hamilton30.mp4'), { stylizer: new FakeStylizer(centreFace), maxFrames: 30 });
    expect(h.frames).toBe(30);
    const a = ffprobeStreams(out('hamilton30.mp4')).find((s) => s.codec_type === 'audio')!;
    // Video ends at 0.84 s offset + 30 frames / 29.97 = 1.85 s: the audio ends there too, not at 10 s.
    expect(Number(a.duration)).toBeLessThan(2.5);
  });

  it('passes a face-less video through: every decoded frame equals the input frame', async () => {
    // A synthetic clip of flat colour (a "video with no faces") made with ffmpeg's lavfi source.
    const input = out('noface.mp4');
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=12:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', input]);
    const target = out('noface-frames/');
    const r = await stylizeVideo(input, target, { stylizer: new FakeStylizer(() => []) });
    expect(r).toMatchObject({ frames: 12, faces: 0, framesWithFaces: 0 });
    const files = readdirSync(target).sort();
    expect(files).toHaveLength(12);
    expect(files[0]).toBe('frame_000001.png');
    // Frame folder out is lossless PNG: bytes equal the decoded input's.
    const sharp = (await import('sharp')).default;
    let i = 0;
    for await (const f of decodeVideo(await probeVideo(input))) {
      const png = await sharp(path.join(target, files[i++])).raw().toBuffer();
      expect(Buffer.compare(png, Buffer.from(f.data))).toBe(0);
    }
    // The 1 s clip at 12 fps decodes to 12 frames, each compared above.
    expect(i).toBe(12);
  });

  it('a video with audio into a frame folder reports no audio kept (a folder holds only the frames)', async () => {
    const target = out('hamilton-frames/');
    const r = await stylizeVideo(shared('video', 'short_hamilton_clip.mp4'), target, { stylizer: new FakeStylizer(centreFace), maxFrames: 3 });
    expect(r).toMatchObject({ frames: 3, hasAudio: false });
    expect(readdirSync(target).sort()).toEqual(['frame_000001.png', 'frame_000002.png', 'frame_000003.png']);
  });

  it('goes from a frame folder to a frame folder (no ffmpeg needed), creating the last folder level', async () => {
    const target = out('folder-out/');
    const totals: number[] = [];
    const speeds: number[] = [];
    const r = await stylizeVideo(shared('frames', 'vtoonify_908'), target, {
      stylizer: new FakeStylizer(centreFace),
      maxFrames: 5,
      onProgress: (p) => {
        totals.push(p.total);
        speeds.push(p.speed);
        expect(p.fps).toBe(p.speed); // the deprecated name of the same figure
        expect(p.speed).toBeCloseTo(p.frames / p.elapsed, 6);
      },
    });
    expect(r.frames).toBe(5);
    // Progress knows the total of a folder too (it said 0, 'unknown'): its frames, here cut at maxFrames.
    expect(totals).toEqual([5, 5, 5, 5, 5]);
    expect(speeds.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
    const files = readdirSync(target).sort();
    expect(files).toEqual(['frame_000001.png', 'frame_000002.png', 'frame_000003.png', 'frame_000004.png', 'frame_000005.png']);
    const sharp = (await import('sharp')).default;
    const meta = await sharp(path.join(target, files[0])).metadata();
    expect([meta.width, meta.height]).toEqual([r.width, r.height]);
  });

  it('re-encodes audio an MP4 cannot hold (PCM) and copies it into MKV', async () => {
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=1', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'pcm_s16le', out('pcm.mov')]);
    await stylizeVideo(out('pcm.mov'), out('pcm-out.mp4'), { stylizer: new FakeStylizer(centreFace) });
    expect(ffprobeStreams(out('pcm-out.mp4')).map((s) => `${s.codec_type}:${s.codec_name}`)).toEqual(['video:h264', 'audio:aac']);
    await stylizeVideo(out('pcm.mov'), out('pcm-out.mkv'), { stylizer: new FakeStylizer(centreFace) });
    expect(ffprobeStreams(out('pcm-out.mkv')).map((s) => `${s.codec_type}:${s.codec_name}`)).toEqual(['video:h264', 'audio:pcm_s16le']);
  });

  it('handles a sideways (rotated) phone video and an odd frame size', async () => {
    // Stored 160x120 with a 90 degree display rotation: decoded and written upright, 120x160.
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out('flat.mp4')]);
    await runFfmpeg(['-v', 'error', '-i', out('flat.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', out('rot.mp4')]);
    const r = await stylizeVideo(out('rot.mp4'), out('rot-out.mp4'), { stylizer: new FakeStylizer(centreFace) });
    expect([r.frames, r.width, r.height]).toEqual([10, 120, 160]);
    const v = ffprobeStreams(out('rot-out.mp4'))[0];
    expect([Number(v.nb_frames), v.width, v.height]).toEqual([10, 120, 160]);
    // 161x121 cannot be 4:2:0; it is kept at its size with full chroma.
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=1', '-vf', 'scale=161:121', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', out('odd.mp4')]);
    await stylizeVideo(out('odd.mp4'), out('odd-out.mp4'), { stylizer: new FakeStylizer(centreFace) });
    const o = ffprobeStreams(out('odd-out.mp4'))[0];
    expect([Number(o.nb_frames), o.width, o.height]).toEqual([10, 161, 121]);
  });

  it('loses no frame of a clip that ffmpeg decodes completely before anything reads it', async () => {
    // 5 frames of 64x64 (60 KB of RGB): the decoder writes them all into the pipe and exits while a run
    // would still be probing and loading the model. Node drops an unread stdout when its process exits,
    // and this clip came out as "no decodable frames".
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=10', '-frames:v', '5', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', out('tiny.mp4')]);
    const started = startDecode(out('tiny.mp4'));
    await new Promise((resolve) => (started.child.exitCode !== null ? resolve(null) : started.child.once('exit', resolve)));
    expect(started.child.exitCode).toBe(0);
    const frames = [];
    for await (const f of decodeVideo(await probeVideo(out('tiny.mp4')), { started })) frames.push(f);
    expect(frames.map((f) => [f.width, f.height, f.data.length])).toEqual(Array(5).fill([64, 64, 64 * 64 * 3]));
    // The same through the whole pipeline.
    expect((await stylizeVideo(out('tiny.mp4'), out('tiny-out.mp4'), { stylizer: new FakeStylizer(() => []) })).frames).toBe(5);
  });

  it('takes file names that ffmpeg would read as a protocol or an option ("10:30 clip.mp4", "-take.mp4")', async () => {
    const dir = mkdtempSync(path.join(tmp, 'names-'));
    writeFileSync(path.join(dir, '10:30 clip.mp4'), readFileSync(shared('video', '908.mp4')));
    writeFileSync(path.join(dir, '-take.mp4'), readFileSync(shared('video', '908.mp4')));
    const cwd = process.cwd();
    process.chdir(dir); // relative names, as a shell would pass them
    try {
      expect((await probeVideo('-take.mp4')).frameCount).toBe(39);
      const r = await stylizeVideo('10:30 clip.mp4', '11:31 styled.mp4', { stylizer: new FakeStylizer(centreFace), maxFrames: 3 });
      expect(r.frames).toBe(3);
      expect(Number(ffprobeStreams(path.join(dir, '11:31 styled.mp4'))[0].nb_frames)).toBe(3);
      await stylizeVideo('-take.mp4', '-styled.mp4', { stylizer: new FakeStylizer(centreFace), maxFrames: 2 });
      expect(Number(ffprobeStreams(path.join(dir, '-styled.mp4'))[0].nb_frames)).toBe(2);
    } finally {
      process.chdir(cwd);
    }
    expect(leftovers(dir)).toEqual([]);
  });

  it('re-encodes only the audio tracks an MP4 cannot hold (AAC + PCM in a .mov -> AAC copied + PCM as AAC)', async () => {
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=1', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-f', 'lavfi', '-i', 'sine=frequency=880:duration=1',
      '-map', '0:v', '-map', '1:a', '-map', '2:a', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a:0', 'aac', '-c:a:1', 'pcm_s16le', out('two-audio.mov')]);
    expect((await probeVideo(out('two-audio.mov'))).audioCodecs).toEqual(['aac', 'pcm_s16le']);
    await stylizeVideo(out('two-audio.mov'), out('two-audio.mp4'), { stylizer: new FakeStylizer(centreFace) });
    const streams = ffprobeStreams(out('two-audio.mp4')).map((s) => `${s.codec_type}:${s.codec_name}`);
    expect(streams).toEqual(['video:h264', 'audio:aac', 'audio:aac']);
    // The AAC track was copied, not re-encoded: the same packets.
    const packets = (file: string, stream: string) =>
      spawnSync('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=size', '-of', 'csv=p=0', file], { encoding: 'utf8' }).stdout;
    expect(packets(out('two-audio.mp4'), 'a:0')).toBe(packets(out('two-audio.mov'), 'a:0'));
  });

  it("keeps an anamorphic video's pixel shape and a BT.709 video's colour tags and colours", async () => {
    // Stored 160x120 with 2:1 pixels (displayed 320x120), BT.709 limited range, tagged so.
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=1', '-vf', 'setsar=2/1,scale=out_color_matrix=bt709:out_range=tv',
      '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv', '-c:v', 'libx264', '-crf', '12', '-pix_fmt', 'yuv420p', out('hd.mp4')]);
    const info = await probeVideo(out('hd.mp4'));
    expect(info.sampleAspect).toEqual({ num: 2, den: 1 });
    expect(info.color).toEqual({ space: 'bt709', primaries: 'bt709', transfer: 'bt709', range: 'tv' });
    await stylizeVideo(out('hd.mp4'), out('hd-out.mp4'), { stylizer: new FakeStylizer(() => []), crf: 12 });
    const [vin, vout] = [ffprobeStreams(out('hd.mp4'))[0], ffprobeStreams(out('hd-out.mp4'))[0]];
    const look = (s: typeof vin) => [s.sample_aspect_ratio, s.color_space, s.color_primaries, s.color_transfer, s.color_range];
    expect(look(vout)).toEqual(['2:1', 'bt709', 'bt709', 'bt709', 'tv']);
    expect(look(vout)).toEqual(look(vin));
    // Decoded as tagged, the face-less output has the input's colours (BT.601 coefficients without tags
    // were off by several levels on this pattern's saturated bars).
    const rgb = async (file: string) => {
      for await (const f of decodeVideo(await probeVideo(file), { maxFrames: 1 })) return f.data;
      throw new Error('no frame');
    };
    const [a, b] = [await rgb(out('hd.mp4')), await rgb(out('hd-out.mp4'))];
    let sum = 0;
    for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
    expect(sum / a.length).toBeLessThan(2);
  });

  it('reads a frame folder (vtoonify_908 JPEGs) into a video at the given frame rate', async () => {
    const dir = shared('frames', 'vtoonify_908');
    const n = readdirSync(dir).filter((f) => f.endsWith('.jpg')).length;
    const totals = new Set<number>();
    const r = await stylizeVideo(dir, out('frames908.mp4'), { stylizer: new FakeStylizer(centreFace), fps: 15, onProgress: (p) => void totals.add(p.total) });
    const v = ffprobeStreams(out('frames908.mp4'))[0];
    expect(r.frames).toBe(n);
    expect([...totals]).toEqual([n]);
    expect(Number(v.nb_frames)).toBe(n);
    expect(v.r_frame_rate).toBe('15/1');
    expect(Number(v.duration)).toBeCloseTo(n / 15, 2);
  });
});

describeNeeding({ shared: true, ffmpeg: true }, 'stylizeVideo on bad input', () => {
  const fake = () => new FakeStylizer(centreFace);

  it('rejects a truncated video and a corrupt one with ERR_FACESTYLE_FORMAT and leaves no output', async () => {
    const bytes = readFileSync(shared('video', '908.mp4'));
    // moov at the end (as shipped): cutting the file loses the index.
    writeFileSync(out('cut.mp4'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expect(stylizeVideo(out('cut.mp4'), out('cut-out.mp4'), { stylizer: fake() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
    // moov first (faststart): the header survives, the frames do not; found while decoding.
    await runFfmpeg(['-v', 'error', '-i', shared('video', '908.mp4'), '-c', 'copy', '-movflags', '+faststart', out('fast.mp4')]);
    const fast = readFileSync(out('fast.mp4'));
    writeFileSync(out('fastcut.mp4'), fast.subarray(0, Math.floor(fast.length * 0.6)));
    await expect(stylizeVideo(out('fastcut.mp4'), out('fastcut-out.mp4'), { stylizer: fake() })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_FORMAT',
      message: expect.stringMatching(/corrupt or truncated: decoded \d+ of 39 frames/),
    });
    for (const f of ['cut-out.mp4', 'fastcut-out.mp4']) expect(existsSync(out(f))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('a corrupt video is refused with a frame limit too (the decoder must end on its own for its checks to run)', async () => {
    // Bytes overwritten 30% into 529.mp4 (300 frames): ffmpeg still gives every frame, and reports the damage.
    const bytes = Buffer.from(readFileSync(shared('video', '529.mp4')));
    const at = Math.floor(bytes.length * 0.3);
    for (let i = 0; i < 4096; ++i) bytes[at + i] = (i * 37) & 255;
    writeFileSync(out('band.mp4'), bytes);
    for (const maxFrames of [undefined, 200])
      await expect(stylizeVideo(out('band.mp4'), out(`band-${maxFrames}.mp4`), { stylizer: fake(), maxFrames })).rejects.toMatchObject({
        code: 'ERR_FACESTYLE_FORMAT',
        message: expect.stringContaining('corrupt or truncated'),
      });
    expect(leftovers()).toEqual([]);
  });

  it('rejects a file that is not a video, and a missing input', async () => {
    writeFileSync(out('text.mp4'), 'this is not a video\n');
    await expect(stylizeVideo(out('text.mp4'), out('text-out.mp4'), { stylizer: fake() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('Not a readable video') });
    // An audio-only file has no video stream.
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', out('tone.m4a')]);
    await expect(stylizeVideo(out('tone.m4a'), out('tone-out.mp4'), { stylizer: fake() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('No video stream') });
    await expect(stylizeVideo(out('nope.mp4'), out('nope-out.mp4'), { stylizer: fake() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    // A raw MJPEG stream (an IP camera's .mjpeg) is read by the same demuxer as a JPEG, and is a video.
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=5:duration=1', '-c:v', 'mjpeg', '-f', 'mjpeg', out('cam.mjpeg')]);
    expect(await probeVideo(out('cam.mjpeg'))).toMatchObject({ width: 64, height: 48 });
    // A still image is a one-frame "video" to ffmpeg: refused, not written out as a 1-frame clip.
    for (const still of ['face_recognition/biden.jpg', 'face_recognition/alex-lacamoire.png']) {
      const name = path.basename(still);
      await expect(stylizeVideo(shared('faces', 'whole', still), out(`${name}.mp4`), { stylizer: fake() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('is a still image') });
      expect(existsSync(out(`${name}.mp4`))).toBe(false);
    }
    // A still GIF too (its demuxer is 'gif': it was stylized as a 1-frame, 10 fps video); an animated GIF is a video.
    await runFfmpeg(['-v', 'error', '-i', shared('faces', 'whole', 'face_recognition/biden.jpg'), '-vf', 'scale=64:-2', out('still.gif')]);
    await expect(stylizeVideo(out('still.gif'), out('still-gif.mp4'), { stylizer: fake() })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('is a still image (gif)') });
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=5:duration=1', out('moving.gif')]);
    expect(await probeVideo(out('moving.gif'))).toMatchObject({ width: 64, height: 48 });
    // A device is named as one (it was called a directory).
    if (existsSync('/dev/null')) await expect(probeVideo('/dev/null')).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('a device, pipe or socket') });
  });

  it('refuses an output that is a pipe (named .mp4) before any work, and leaves the pipe in place', async (ctx) => {
    const fifo = out('pipe-out.mp4');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return ctx.skip('mkfifo is not available here');
    const stylizer = fake();
    await expect(stylizeVideo(shared('video', '908.mp4'), fifo, { stylizer })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('a device, pipe or socket') });
    expect(stylizer.detectCalls).toHaveLength(0);
    expect(statSync(fifo).isFIFO()).toBe(true);
    rmSync(fifo);
  });

  it('decodeVideo refuses sizes no video has and options it does not take, before starting ffmpeg (Buffer.allocUnsafe failed uncoded)', async () => {
    const info = await probeVideo(shared('video', '651.mp4'));
    for (const bad of [{ width: 1e6, height: 1e6 }, { width: 0 }, { height: 2.5 }, { width: Number.NaN }])
      await expect(decodeVideo({ ...info, ...bad }).next()).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    await expect(decodeVideo(info, { bogus: 1 } as never).next()).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('bogus') });
    await expect(decodeVideo(null as never).next()).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect(() => startDecode(shared('video', '651.mp4'), { bogus: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    expect(() => startDecode(shared('video', '651.mp4'), { maxFrames: 'x' as never })).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    // A good call still decodes.
    const frames = decodeVideo(info, { maxFrames: 1 });
    const first = await frames.next();
    await frames.return(undefined);
    expect(first.value?.width).toBe(info.width);
  });

  it('rejects an output in a missing folder before doing any work', async () => {
    const stylizer = fake();
    const target = path.join(tmp, 'missing', 'dir', 'out.mp4');
    await expect(stylizeVideo(shared('video', '908.mp4'), target, { stylizer })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: expect.stringContaining('Output folder does not exist') });
    expect(stylizer.detectCalls).toHaveLength(0);
    expect(existsSync(path.join(tmp, 'missing'))).toBe(false);
    await expect(stylizeVideo(shared('video', '908.mp4'), out('x.gif'), { stylizer })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    // Encoder settings too: a preset x264 lacks failed inside ffmpeg once frames flowed, as FORMAT (bad input).
    await expect(stylizeVideo(shared('video', '908.mp4'), out('p.mp4'), { stylizer, preset: 'bogus' as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining("for preset but received 'bogus'") });
    await expect(stylizeVideo(shared('video', '908.mp4'), out('p.mp4'), { stylizer, codec: 5 as never })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('for codec') });
    // crf / preset are x264's: with another codec they were dropped in silence.
    for (const extra of [{ crf: 20 }, { preset: 'fast' as const }])
      await expect(stylizeVideo(shared('video', '908.mp4'), out('p.mp4'), { stylizer, codec: 'mpeg4', ...extra })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining("is an option of libx264, and codec is 'mpeg4'") });
    expect(stylizer.detectCalls).toHaveLength(0);
    expect(existsSync(out('p.mp4'))).toBe(false);
  });

  it('refuses a frame rate for a video input (it keeps its own; the rate was silently ignored) before any work', async () => {
    const stylizer = fake();
    await expect(stylizeVideo(shared('video', '908.mp4'), out('rate.mp4'), { stylizer, fps: 10 })).rejects.toMatchObject({
      code: 'ERR_FACESTYLE_ARGUMENT',
      message: expect.stringContaining('applies to a frame folder input only'),
    });
    expect(stylizer.detectCalls).toHaveLength(0);
    expect(existsSync(out('rate.mp4'))).toBe(false);
  });

  it('says how to install ffmpeg when it is missing (FACESTYLE_FFMPEG pointing nowhere)', async () => {
    const saved = process.env.FACESTYLE_FFMPEG;
    process.env.FACESTYLE_FFMPEG = path.join(tmp, 'no-such-dir', 'ffmpeg');
    try {
      expect(ffmpegPaths().ffprobe).toBe(path.join(tmp, 'no-such-dir', 'ffprobe'));
      const err = await stylizeVideo(shared('video', '908.mp4'), out('noffmpeg.mp4'), { stylizer: fake() }).catch((e) => e);
      expect(err.code).toBe('ERR_FACESTYLE_NOT_FOUND');
      expect(err.message).toMatch(/ffmpeg was not found/);
      expect(err.message).toMatch(/apt-get install ffmpeg/);
      expect(err.message).toMatch(/FACESTYLE_FFMPEG/);
    } finally {
      if (saved === undefined) delete process.env.FACESTYLE_FFMPEG;
      else process.env.FACESTYLE_FFMPEG = saved;
    }
  });

  it('a failure half-way (stylizer error or abort) removes the temp file and never creates the output', async () => {
    const stylizer = fake();
    let calls = 0;
    const real = stylizer.stylize.bind(stylizer);
    stylizer.stylize = async (items) => {
      if (++calls === 4) throw new Error('model crashed');
      return real(items);
    };
    // An existing output is not touched by a failed run either.
    writeFileSync(out('keep.mp4'), 'old');
    await expect(stylizeVideo(shared('video', 'short_hamilton_clip.mp4'), out('keep.mp4'), { stylizer, batch: 2 })).rejects.toThrow('model crashed');
    expect(readFileSync(out('keep.mp4'), 'utf8')).toBe('old');
    const ac = new AbortController();
    const run = stylizeVideo(shared('video', 'short_hamilton_clip.mp4'), out('aborted.mp4'), {
      stylizer: fake(),
      signal: ac.signal,
      onProgress: (p) => p.frames === 20 && ac.abort(new Error('user pressed ctrl-c')),
    });
    await expect(run).rejects.toThrow('user pressed ctrl-c');
    expect(existsSync(out('aborted.mp4'))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('while running, nothing exists under the output name: only a hidden temp file (what a kill would leave)', async () => {
    const dir = mkdtempSync(path.join(tmp, 'kill-'));
    const target = path.join(dir, 'out.mp4');
    const seen: Array<{ output: boolean; partial: string[] }> = [];
    await stylizeVideo(shared('video', '908.mp4'), target, {
      stylizer: fake(),
      onProgress: (p) => {
        if (p.frames === 20) seen.push({ output: existsSync(target), partial: readdirSync(dir).filter((n) => n.includes('.partial')) });
      },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0].output).toBe(false);
    expect(seen[0].partial).toHaveLength(1);
    expect(seen[0].partial[0]).toMatch(/^\.out\.partial-\d+-[0-9a-f]+\.mp4$/);
    // After the run: the output is there and the temp file is gone.
    expect(readdirSync(dir)).toEqual(['out.mp4']);
    expect(statSync(target).size).toBeGreaterThan(1000);
  });
});

function runFfmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('ffmpeg', ['-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg ${args.join(' ')}: ${err}`))));
  });
}

