// ffmpeg and ffprobe as child processes: probe a video, decode it to raw RGB frames over a pipe, encode
// raw RGB frames from a pipe. The system ffmpeg is used (FACESTYLE_FFMPEG / FACESTYLE_FFPROBE override
// the paths); nothing is bundled or downloaded.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FacestyleError, formatError, unreadableFile } from '../errors.js';
import { killAtTeardown, removeAtTeardown, removeStaleTempFiles, samePath } from '../files.js';
import type { RgbImage } from '../face/types.js';
import * as is from '../is.js';

export interface FfmpegPaths {
  ffmpeg: string;
  ffprobe: string;
}

const INSTALL_HINT =
  'Install ffmpeg (Debian/Ubuntu: `apt-get install ffmpeg`; macOS: `brew install ffmpeg`; Windows: `winget install ffmpeg`) ' +
  'or set FACESTYLE_FFMPEG to the ffmpeg executable (ffprobe is looked for next to it, or set FACESTYLE_FFPROBE).';

/** Where ffmpeg and ffprobe are: FACESTYLE_FFMPEG / FACESTYLE_FFPROBE, else ffprobe next to an overridden ffmpeg, else PATH. */
export function ffmpegPaths(env: NodeJS.ProcessEnv = process.env): FfmpegPaths {
  const ffmpeg = env.FACESTYLE_FFMPEG || 'ffmpeg';
  if (env.FACESTYLE_FFPROBE) return { ffmpeg, ffprobe: env.FACESTYLE_FFPROBE };
  // An ffmpeg given by path brings its own ffprobe (same folder, same naming: ffmpeg.exe -> ffprobe.exe).
  const base = path.basename(ffmpeg);
  const probeBase = /ffmpeg/i.test(base) ? base.replace(/ffmpeg/i, 'ffprobe') : 'ffprobe';
  const ffprobe = path.dirname(ffmpeg) === '.' && !/[\\/]/.test(ffmpeg) ? probeBase : path.join(path.dirname(ffmpeg), probeBase);
  return { ffmpeg, ffprobe };
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Keeps the last `limit` characters of a stream (ffmpeg's stderr can be long; the end says why it stopped). */
export class Tail {
  text = '';
  constructor(private readonly limit = 8192) {}
  add(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }
}

function missingToolError(tool: string, file: string, cause: unknown): FacestyleError {
  return new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `${tool} was not found (tried '${file}'). ${INSTALL_HINT}`, { cause });
}

function isSpawnMissing(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR';
}

/**
 * A file name as ffmpeg and ffprobe must get it. They read `name:rest` as a protocol (`10:30 clip.mp4` is
 * protocol '10') and a leading '-' as an option; an absolute path behind the file protocol is neither.
 */
export function ffmpegFileArg(file: string): string {
  return `file:${path.resolve(file)}`;
}

/** Runs a tool to completion, collecting its output; a missing executable is a coded error with install help. */
function runTool(tool: 'ffmpeg' | 'ffprobe', file: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      reject(isSpawnMissing(e) ? missingToolError(tool, file, e) : e);
      return;
    }
    const out: Buffer[] = [];
    const err = new Tail();
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.add(c));
    child.on('error', (e) => reject(isSpawnMissing(e) ? missingToolError(tool, file, e) : e));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: err.text }));
  });
}

const checked = new Map<string, Promise<void>>();

/** Resolves when ffmpeg and ffprobe both run (`-version`); otherwise a coded error saying how to install them. Cached per path. */
export function checkFfmpeg(paths: FfmpegPaths = ffmpegPaths()): Promise<void> {
  const key = `${paths.ffmpeg}\0${paths.ffprobe}`;
  let p = checked.get(key);
  if (!p) {
    p = (async () => {
      for (const tool of ['ffmpeg', 'ffprobe'] as const) {
        const r = await runTool(tool, paths[tool], ['-version']);
        if (r.code !== 0) throw missingToolError(tool, paths[tool], new Error(r.stderr.trim()));
      }
    })();
    p.catch(() => checked.delete(key)); // a later call may find it installed
    checked.set(key, p);
  }
  return p;
}

export interface VideoInfo {
  file: string;
  width: number;
  height: number;
  /** Frame rate as a fraction (ffmpeg's r_frame_rate, e.g. 2997/100). */
  frameRate: { num: number; den: number };
  /** Frame rate as a number. */
  fps: number;
  /** Frames in the video stream when the container says (0 when unknown). */
  frameCount: number;
  /** Seconds of the video stream (0 when unknown). */
  duration: number;
  /** Seconds from the file's first timestamp to the first video frame: kept so audio stays in sync. */
  videoOffset: number;
  codec: string;
  hasAudio: boolean;
  /** Codec of the first audio stream (null without audio). */
  audioCodec: string | null;
  /** Codecs of every audio stream, in order (empty without audio). */
  audioCodecs: string[];
  /** Shape of one pixel (sample_aspect_ratio; 1:1 when the file does not say): an anamorphic video keeps it. */
  sampleAspect: { num: number; den: number };
  /** How the stream's colours are described, in ffmpeg's names (null: not tagged); the output is converted and tagged the same way. */
  color: VideoColor;
}

export interface VideoColor {
  /** YCbCr matrix, e.g. 'bt709', 'smpte170m', 'bt2020nc'. */
  space: string | null;
  primaries: string | null;
  transfer: string | null;
  /** 'tv' (limited) or 'pc' (full). */
  range: string | null;
}

function parseRate(text: unknown): { num: number; den: number } | null {
  if (typeof text !== 'string') return null;
  const [n, d] = text.split('/').map(Number);
  if (!(n > 0) || !(d > 0)) return null;
  return { num: n, den: d };
}

async function statFile(file: string, what: string) {
  try {
    return await fsp.stat(file);
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `${what} not found: ${file}`, { cause: e });
  }
}

/** Display rotation in degrees from ffprobe's display matrix side data, or the older `rotate` tag. */
function videoRotation(stream: Record<string, unknown>): number {
  const side = (stream.side_data_list as Array<Record<string, unknown>> | undefined)?.find((d) => d.rotation !== undefined);
  const value = side ? Number(side.rotation) : Number((stream.tags as Record<string, unknown> | undefined)?.rotate ?? 0);
  return Number.isFinite(value) ? Math.round(value) : 0;
}

/** ffprobe of the first video stream (and whether there is audio). Not a video -> ERR_FACESTYLE_FORMAT. */
export async function probeVideo(file: string, paths: FfmpegPaths = ffmpegPaths()): Promise<VideoInfo> {
  const st = await statFile(file, 'Video file');
  if (!st.isFile()) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Expected a video file but received ${st.isDirectory() ? 'a directory' : 'a device, pipe or socket'}: ${file}`);
  await checkFfmpeg(paths);
  const r = await runTool('ffprobe', paths.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ffmpegFileArg(file)]);
  let json: { streams?: Array<Record<string, unknown>>; format?: Record<string, unknown> } = {};
  try {
    json = JSON.parse(r.stdout || '{}');
  } catch {
    /* handled below: no streams */
  }
  const why = r.stderr.trim().split('\n').slice(-2).join(' ');
  if (r.code !== 0 || !json.format) throw (await unreadableFile(file, `Video file '${file}'`)) ?? formatError(`Not a readable video: ${file}${why ? ` (ffprobe: ${why})` : ''}`);
  const streams = json.streams ?? [];
  // ffmpeg reads a still image as a one-frame "video" (image2, png_pipe, ..., a still GIF): not what a video run is for.
  // The same demuxers also read real streams (an IP camera's .mjpeg is jpeg_pipe), so only one packet
  // (counted without decoding) makes it a still image.
  const container = String(json.format.format_name ?? '');
  if (/^image2$|_pipe$|^gif$/.test(container)) {
    const c = await runTool('ffprobe', paths.ffprobe, ['-v', 'error', '-count_packets', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', ffmpegFileArg(file)]);
    if (c.code === 0 && Number(c.stdout.trim()) <= 1)
      throw formatError(`'${file}' is a still image (${container}), not a video: stylize it with \`facestyle stylize\` (stylizeFile), or give a folder of frames`);
  }
  // Cover art in an audio file is a 'video' stream with attached_pic: not a video.
  const video = streams.find((s) => s.codec_type === 'video' && !(s.disposition as Record<string, number> | undefined)?.attached_pic);
  if (!video) throw formatError(`No video stream in ${file}${streams.length ? ` (streams: ${streams.map((s) => s.codec_type).join(', ')})` : ''}`);
  // ffmpeg decodes upright (autorotate): a phone video stored sideways comes out with width and height swapped.
  const rotation = videoRotation(video);
  const swap = Math.abs(rotation) % 180 === 90;
  const width = Number(swap ? video.height : video.width);
  const height = Number(swap ? video.width : video.height);
  if (!(width > 0) || !(height > 0)) throw formatError(`Video stream of ${file} has no frame size (corrupt header?)`);
  const frameRate = parseRate(video.r_frame_rate) ?? parseRate(video.avg_frame_rate);
  if (!frameRate) throw formatError(`Video stream of ${file} has no frame rate`);
  const audioStreams = streams.filter((s) => s.codec_type === 'audio');
  const audio = audioStreams[0];
  const num = (v: unknown) => (Number.isFinite(Number(v)) ? Number(v) : 0);
  const [sarNum, sarDen] = String(video.sample_aspect_ratio ?? '').split(':').map(Number);
  const sampleAspect = sarNum > 0 && sarDen > 0 ? { num: sarNum, den: sarDen } : { num: 1, den: 1 };
  const fileStart = num(json.format.start_time);
  return {
    file,
    width,
    height,
    frameRate,
    fps: frameRate.num / frameRate.den,
    frameCount: Math.max(0, Math.round(num(video.nb_frames))),
    duration: num(video.duration) || num(json.format.duration),
    videoOffset: Math.max(0, num(video.start_time) - fileStart),
    codec: String(video.codec_name ?? 'unknown'),
    hasAudio: !!audio,
    audioCodec: audio ? String(audio.codec_name ?? 'unknown') : null,
    audioCodecs: audioStreams.map((s) => String(s.codec_name ?? 'unknown')),
    sampleAspect: swap ? { num: sampleAspect.den, den: sampleAspect.num } : sampleAspect,
    color: {
      space: colorTag(video.color_space),
      primaries: colorTag(video.color_primaries),
      transfer: colorTag(video.color_transfer),
      range: colorTag(video.color_range),
    },
  };
}

/** A colour tag as ffprobe prints it, or null when the stream does not say (absent, 'unknown', 'unspecified'). */
function colorTag(value: unknown): string | null {
  return typeof value === 'string' && /^[\w.-]+$/.test(value) && value !== 'unknown' && value !== 'unspecified' && value !== 'reserved' ? value : null;
}

/** swscale's name (scale filter's out_color_matrix) for a stream's YCbCr matrix, or null for one it has no coefficients for. */
const SWSCALE_MATRIX: Record<string, string> = { bt709: 'bt709', smpte170m: 'smpte170m', bt470bg: 'bt470', fcc: 'fcc', smpte240m: 'smpte240m', bt2020nc: 'bt2020', bt2020c: 'bt2020' };

/**
 * Encoder arguments that keep the source's look: its pixel shape (setsar) and its colours. ffmpeg decoded
 * the source to RGB with the source's own matrix and range (swscale's BT.601 / limited when untagged), so
 * the frames go back to YCbCr the same way and carry the same tags: an HD video tagged BT.709 no longer
 * comes back as untagged BT.601 (a shift of up to ~10 levels on saturated colours, in players that assume
 * BT.709 for HD). An untagged source keeps the defaults, as before.
 */
export function encoderLookArgs(sampleAspect: { num: number; den: number } | undefined, color: VideoColor | undefined): string[] {
  const filters: string[] = [];
  const matrix = color?.space ? SWSCALE_MATRIX[color.space] : undefined;
  const range = color?.range === 'pc' || color?.range === 'tv' ? color.range : undefined;
  if (matrix || range) filters.push(`scale=out_color_matrix=${matrix ?? 'bt601'}:out_range=${range ?? 'tv'}`);
  if (sampleAspect && sampleAspect.num !== sampleAspect.den) filters.push(`setsar=${sampleAspect.num}/${sampleAspect.den}`);
  const args = filters.length ? ['-vf', filters.join(',')] : [];
  if (color?.space && matrix) args.push('-colorspace', color.space);
  if (color?.primaries) args.push('-color_primaries', color.primaries);
  if (color?.transfer) args.push('-color_trc', color.transfer);
  if (range) args.push('-color_range', range);
  return args;
}

/** ffmpeg's non-empty stderr lines (at -v error, each one reports damage). */
function decodeErrors(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** The largest width or height decodeVideo takes (H.264 and HEVC stop at 16384; so does ffmpeg's own limit for most codecs). */
export const MAX_VIDEO_SIDE = 32768;

const DECODE_OPTION_KEYS = ['maxFrames', 'signal', 'strict', 'paths', 'started'];

export interface DecodeOptions {
  /** Stop after this many frames. */
  maxFrames?: number;
  /** Aborting kills ffmpeg. */
  signal?: AbortSignal;
  /**
   * Fail on damage (default true): decoder errors become ERR_FACESTYLE_FORMAT once decoding ends (the
   * pipeline then removes its partial output). false: yield whatever decodes.
   */
  strict?: boolean;
  paths?: FfmpegPaths;
}

/**
 * Threads for the ffmpeg decoder and encoder: a quarter of the cores, at least one. Decoding and
 * encoding are a small part of the work (a few ms per frame against tens for the model), and every extra
 * thread competes with the stylizer's threads: on a 2-core machine a preempted model thread stalls the
 * whole parallel layer. Frame threads would also delay the first decoded frame and the last encoded one.
 */
export function ffmpegThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 4));
}

/** An ffmpeg decoder process already started on a file (startDecode), whose frames decodeVideo() reads. */
export interface StartedDecode {
  readonly file: string;
  readonly maxFrames: number | undefined;
  readonly child: ChildProcess;
  readonly stderr: Tail;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: unknown }>;
  /** Kills the process (e.g. when probing says the file is not a video). */
  kill(): void;
}

/**
 * Starts decoding `file` to raw rgb24 on stdout without knowing its size yet: the pipe holds the first
 * bytes until decodeVideo() reads them. Starting it together with probeVideo() hides ffmpeg's start-up
 * behind ffprobe's (both are a process start, tens of ms, more on a busy machine).
 */
export function startDecode(file: string, options: Pick<DecodeOptions, 'maxFrames' | 'paths'> = {}): StartedDecode {
  if (!is.string(file)) throw is.invalid('file', 'a video file path', file);
  is.knownOptions('startDecode', options, ['maxFrames', 'paths']);
  if (options.maxFrames !== undefined) is.integerInRange('maxFrames', options.maxFrames, 1, Number.MAX_SAFE_INTEGER);
  const paths = options.paths ?? ffmpegPaths();
  const args = ['-v', 'error', '-nostdin', '-threads', String(ffmpegThreads()), '-i', ffmpegFileArg(file), '-map', '0:v:0', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24'];
  if (options.maxFrames !== undefined) args.push('-frames:v', String(options.maxFrames));
  args.push('pipe:1');
  const child = spawn(paths.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Node drains and drops a child's stdout that nobody listens to when the child exits: a short or small
  // clip (every raw frame fitting in the pipe) could be decoded entirely, and lost, while ffprobe and the
  // model load. A 'readable' listener marks the stream as used; it still reads nothing (decodeVideo does),
  // so the pipe's backpressure keeps pausing ffmpeg as before.
  child.stdout!.on('readable', () => {});
  const stderr = new Tail();
  child.stderr!.on('data', (c: Buffer) => stderr.add(c));
  // In a worker terminated mid-run: killed and reaped at its teardown (lib/files.ts killAtTeardown).
  const forget = killAtTeardown(child.pid);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: unknown }>((resolve) => {
    child.on('error', (e) => {
      forget();
      resolve({ code: null, signal: null, spawnError: isSpawnMissing(e) ? missingToolError('ffmpeg', paths.ffmpeg, e) : e });
    });
    child.on('close', (code, signal) => {
      forget();
      resolve({ code, signal, spawnError: null });
    });
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { file, maxFrames: options.maxFrames, child, stderr, exited, kill };
}

/**
 * Decodes the first video stream to RGB frames (one ffmpeg process, raw rgb24 over stdout). Frames are
 * yielded as they arrive; the pipe's backpressure pauses ffmpeg while the consumer is busy. `started`
 * is a decoder from startDecode() on the same file (and maxFrames) to read instead of starting one.
 */
export async function* decodeVideo(info: VideoInfo, options: DecodeOptions & { started?: StartedDecode } = {}): AsyncGenerator<RgbImage, void, undefined> {
  is.knownOptions('decodeVideo', options, DECODE_OPTION_KEYS);
  if (!is.object(info) || !is.string(info.file)) throw is.invalid('info', 'a VideoInfo from probeVideo ({file, width, height, ...})', info);
  // The frame buffer is width x height x 3 bytes: sizes no video has would fail inside Buffer.allocUnsafe.
  is.integerInRange('info.width', info.width, 1, MAX_VIDEO_SIDE);
  is.integerInRange('info.height', info.height, 1, MAX_VIDEO_SIDE);
  if (options.started && (options.started.file !== info.file || options.started.maxFrames !== options.maxFrames)) {
    options.started.kill();
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `The started decoder is for ${options.started.file} (maxFrames ${options.started.maxFrames}), not ${info.file} (maxFrames ${options.maxFrames})`);
  }
  const decoder = options.started ?? startDecode(info.file, { maxFrames: options.maxFrames, paths: options.paths });
  const { child, stderr } = decoder;
  const { width, height } = info;
  const frameBytes = width * height * 3;
  const onAbort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // A signal that fired before the listener was added (while the decoder started) fires no more.
  if (options.signal?.aborted) onAbort();
  let count = 0;
  try {
    let frame = Buffer.allocUnsafe(frameBytes);
    let filled = 0;
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - offset);
        chunk.copy(frame, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === frameBytes) {
          const done = frame;
          frame = Buffer.allocUnsafe(frameBytes);
          filled = 0;
          ++count;
          yield { data: done, width, height };
        }
      }
    }
    const { code, signal, spawnError } = await decoder.exited;
    if (options.signal?.aborted) throw options.signal.reason ?? new FacestyleError('ERR_FACESTYLE_ABORTED', 'Decoding was aborted');
    if (spawnError) throw spawnError;
    const errors = decodeErrors(stderr.text);
    const why = errors.slice(-3).join(' | ');
    if (code !== 0) throw formatError(`Could not decode ${info.file}: ffmpeg exited with ${code ?? signal}${why ? ` (${why})` : ''}`);
    if (filled !== 0) throw formatError(`Could not decode ${info.file}: the last frame is incomplete (${filled} of ${frameBytes} bytes)`);
    if (options.strict !== false) {
      // Damage shows as decoder errors (a cut file ends with "partial file"). Fewer frames than the header
      // lists WITHOUT errors is not damage: an MP4 edit list can legitimately hide frames.
      const expected = info.frameCount > 0 ? Math.min(info.frameCount, options.maxFrames ?? Infinity) : 0;
      if (errors.length > 0) {
        throw formatError(`Video ${info.file} is corrupt or truncated: decoded ${count}${expected ? ` of ${expected}` : ''} frames${why ? ` (ffmpeg: ${why})` : ''}`);
      }
      if (count === 0) throw formatError(`Video ${info.file} has no decodable frames`);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    decoder.kill();
  }
}

/** Containers we write, and the codecs that go in them. */
const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.mov', '.mkv'] as const;

export function isVideoPath(file: string): boolean {
  return (VIDEO_EXTENSIONS as readonly string[]).includes(path.extname(file).toLowerCase());
}

/** Audio codecs ffmpeg's MP4/MOV muxer takes as they are. */
const MP4_AUDIO = new Set(['aac', 'mp3', 'alac', 'ac3', 'eac3']);

export interface EncoderOptions {
  width: number;
  height: number;
  frameRate: { num: number; den: number };
  /** Copy the audio stream(s) of this file into the output (when it has any). */
  audioFrom?: string;
  /** Codec of the source's audio (VideoInfo.audioCodec): decides whether it can be copied into the container. */
  audioCodec?: string | null;
  /** Codecs of each of the source's audio streams (VideoInfo.audioCodecs): each stream is copied or re-encoded on its own. Overrides audioCodec. */
  audioCodecs?: string[];
  /** Pixel shape of the source (VideoInfo.sampleAspect), kept in the output. */
  sampleAspect?: { num: number; den: number };
  /** Colour description of the source (VideoInfo.color): the frames are converted and tagged the same way. */
  color?: VideoColor;
  /** Seconds to delay the video against the audio (VideoInfo.videoOffset of the source). */
  videoOffset?: number;
  /** Cut the output at this many seconds (used when only the first frames are stylized, so audio ends with them). */
  maxDuration?: number;
  /** Encoder (default libx264). */
  codec?: string;
  /** x264 constant rate factor (default 18: visually lossless). */
  crf?: number;
  /** x264 preset (default 'veryfast'). */
  preset?: string;
  paths?: FfmpegPaths;
}

/**
 * Encodes RGB frames written to it into a video file. Everything goes to a temp file beside the output
 * and is renamed only by finish(): a killed or failed run never leaves a half-written file under the
 * output name. abort() (or a failed finish) removes the temp file.
 */
export class VideoEncoder {
  readonly output: string;
  readonly tempFile: string;
  private readonly child: ChildProcess;
  private readonly stderr = new Tail();
  private readonly frameBytes: number;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private failure: unknown = null;
  private closed = false;
  /** Unregisters the temp file from the worker teardown cleanup (removeAtTeardown). */
  private readonly forgetTemp: () => void;
  frames = 0;

  constructor(output: string, private readonly options: EncoderOptions) {
    const paths = options.paths ?? ffmpegPaths();
    this.output = output;
    const ext = path.extname(output);
    // Hidden, unique, same folder (so the final rename is atomic) and same extension (ffmpeg picks the container from it).
    removeStaleTempFiles(output, path.basename(output, ext)); // left by runs into the same output that were killed
    this.tempFile = path.join(path.dirname(output), `.${path.basename(output, ext)}.partial-${process.pid}-${randomBytes(4).toString('hex')}${ext}`);
    this.frameBytes = options.width * options.height * 3;
    const { width, height, frameRate } = options;
    const args = ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', `${frameRate.num}/${frameRate.den}`];
    if (options.videoOffset && options.videoOffset > 0) args.push('-itsoffset', options.videoOffset.toFixed(6));
    args.push('-i', 'pipe:0');
    if (options.audioFrom) {
      // Copy the sound as it is; only audio the MP4/MOV family cannot hold (e.g. PCM, Vorbis) is re-encoded
      // to AAC, stream by stream (a .mov with an AAC track and a PCM track keeps the first as it is).
      const mp4 = /\.(mp4|m4v|mov)$/i.test(ext);
      const copyable = (codec: string | null | undefined) => !mp4 || !codec || MP4_AUDIO.has(codec);
      const codecs = options.audioCodecs ?? [options.audioCodec];
      args.push('-i', ffmpegFileArg(options.audioFrom), '-map', '0:v:0', '-map', '1:a?');
      if (codecs.every(copyable)) args.push('-c:a', 'copy');
      else codecs.forEach((c, i) => args.push(`-c:a:${i}`, ...(copyable(c) ? ['copy'] : ['aac', `-b:a:${i}`, '192k'])));
    }
    else args.push('-map', '0:v:0');
    const codec = options.codec ?? 'libx264';
    // yuv420p plays everywhere but needs even sizes; odd sizes keep full chroma instead of being cropped.
    const pixFmt = width % 2 === 0 && height % 2 === 0 ? 'yuv420p' : 'yuv444p';
    // passthrough: one output frame per input frame (no duplicates to fill the audio offset).
    args.push('-fps_mode:v', 'passthrough', ...encoderLookArgs(options.sampleAspect, options.color), '-c:v', codec, '-pix_fmt', pixFmt);
    if (codec === 'libx264') args.push('-preset', options.preset ?? 'veryfast', '-crf', String(options.crf ?? 18));
    args.push('-threads', String(ffmpegThreads()));
    if (/\.(mp4|m4v|mov)$/i.test(ext)) args.push('-movflags', '+faststart');
    if (options.maxDuration && options.maxDuration > 0) args.push('-t', options.maxDuration.toFixed(6));
    args.push(ffmpegFileArg(this.tempFile));
    this.child = spawn(paths.ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.forgetTemp = removeAtTeardown(this.tempFile, false, this.child.pid ?? 0);
    this.child.stderr!.on('data', (c: Buffer) => this.stderr.add(c));
    // A dead ffmpeg makes stdin writes fail with EPIPE: remember it, report ffmpeg's own words in finish().
    this.child.stdin!.on('error', (e) => {
      this.failure ??= e;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.failure = isSpawnMissing(e) ? missingToolError('ffmpeg', paths.ffmpeg, e) : e;
        resolve({ code: null, signal: null });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Writes one frame, waiting while ffmpeg's pipe is full. */
  async write(frame: RgbImage): Promise<void> {
    if (this.closed) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', 'write() after finish() or abort()');
    if (frame.width !== this.options.width || frame.height !== this.options.height || frame.data.length !== this.frameBytes) {
      throw new FacestyleError('ERR_FACESTYLE_SHAPE', `Expected a ${this.options.width}x${this.options.height} RGB frame but received ${frame.width}x${frame.height} with ${frame.data.length} bytes`);
    }
    if (this.failure || this.child.exitCode !== null) throw await this.error('ffmpeg stopped while encoding');
    const stdin = this.child.stdin!;
    const ok = stdin.write(frame.data);
    ++this.frames;
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          this.child.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        this.child.on('close', done);
      });
    }
  }

  /** Ends the stream, waits for ffmpeg, renames the temp file to the output. Returns the output path. */
  async finish(): Promise<string> {
    if (this.closed) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', 'finish() called twice');
    this.closed = true;
    this.child.stdin!.end();
    const { code, signal } = await this.exited;
    try {
      if (this.failure || code !== 0) throw await this.error(`ffmpeg exited with ${code ?? signal}`);
      await fsp.rename(this.tempFile, this.output);
      return this.output;
    } catch (e) {
      await fsp.rm(this.tempFile, { force: true });
      throw e;
    } finally {
      this.forgetTemp();
    }
  }

  /** Stops ffmpeg and removes the temp file; the output name is never touched. Safe to call twice. */
  async abort(): Promise<void> {
    this.closed = true;
    this.child.stdin!.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    await fsp.rm(this.tempFile, { force: true });
    this.forgetTemp();
  }

  private async error(what: string): Promise<Error> {
    if (this.failure instanceof FacestyleError) return this.failure;
    // Let ffmpeg finish writing its reason before quoting it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    const why = this.stderr.text.trim().split('\n').slice(-3).join(' | ');
    const code = /unknown encoder|encoder not found|not supported|could not find tag/i.test(why) ? 'ERR_FACESTYLE_UNSUPPORTED' : 'ERR_FACESTYLE_FORMAT';
    return new FacestyleError(code, `Could not encode ${this.output}: ${what}${why ? ` (ffmpeg: ${why})` : ''}`, { cause: this.failure ?? undefined });
  }
}

/** The output's folder must exist (checked before any work); the output itself may not be the input. */
export async function checkOutputPath(output: string, input?: string): Promise<void> {
  const dir = path.dirname(path.resolve(output));
  let st;
  try {
    st = await fsp.stat(dir);
  } catch (e) {
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Output folder does not exist: ${dir} (create it first)`, { cause: e });
  }
  if (!st.isDirectory()) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Output folder is not a folder: ${dir}`);
  if (input && samePath(input, output)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Output must differ from the input: ${output}`);
}
