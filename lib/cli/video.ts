// `facestyle video <in> -o <out>`: stylize every face of a video (or a frame folder), with a progress bar.
import type { Command } from 'commander';
import { FacestyleError, argumentError } from '../errors.js';
import { facesFlag, optionalNumber, withFlagNames } from './args.js';
import { STOP_SIGNALS, type StopSignal, whileStopSignals } from './signals.js';
import { makeParentFolder, removeIfNoFiles } from '../files.js';
import { stylizeVideo, type StylizeVideoOptions, type StylizeVideoResult, type VideoProgress } from '../video/pipeline.js';

export interface VideoCliOptions {
  output: string;
  detectorEngine?: string;
  model?: string;
  size?: string;
  batch?: string;
  every?: string;
  strength?: string;
  mirrorAverage?: boolean;
  faces?: string;
  maxFrames?: string;
  fps?: string;
  engine?: string;
  device?: string;
  detector?: string;
  smoothing?: boolean;
  strict?: boolean;
  minCutoff?: string;
  beta?: string;
  crf?: string;
  preset?: string;
  overwrite?: boolean;
  threshold?: string;
  threads?: string;
  json?: boolean;
}

/** Where the command writes; tests pass their own, and may bring a stylizer. */
export interface VideoCliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  signal?: AbortSignal;
  stylizer?: StylizeVideoOptions['stylizer'];
}

const num = optionalNumber;

/** m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One progress line: bar (when the total is known), frames, fps, ETA. */
export function formatProgress(p: VideoProgress, width = 24): string {
  const frames = p.total > 0 ? `${p.frames}/${p.total} frames` : `${p.frames} frames`;
  const bar = p.total > 0 ? `[${'#'.repeat(Math.round((Math.min(p.frames, p.total) / p.total) * width)).padEnd(width, '-')}] ` : '';
  return `${bar}${frames}  ${p.speed.toFixed(1)} fps  ETA ${formatDuration(p.eta)}  faces ${p.faces}`;
}

/** stylizeVideo's option names -> this command's flags, for error messages. */
const VIDEO_FLAGS = {
  size: '--size',
  batch: '--batch',
  every: '--every',
  strength: '--strength',
  maxFrames: '--max-frames',
  fps: '--fps',
  engine: '--engine',
  device: '--device',
  detectorEngine: '--detector-engine',
  'smoothing.minCutoff': '--min-cutoff',
  'smoothing.beta': '--beta',
  crf: '--crf',
  preset: '--preset',
  scoreThreshold: '--threshold',
  threads: '--threads',
} as const;

/** Seconds between progress lines in a log when the frame count is unknown. */
const LOG_EVERY_MS = 10_000;

/** Runs the command: stylizes, draws progress on stderr, prints the summary (or JSON) on stdout. */
export async function runVideoCommand(input: string, o: VideoCliOptions, io: VideoCliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<StylizeVideoResult> {
  // Smoothing settings with --no-smoothing were ignored unread, bad values included: refused instead.
  if (o.smoothing === false && (o.minCutoff !== undefined || o.beta !== undefined))
    throw argumentError(`${o.minCutoff !== undefined ? '--min-cutoff' : '--beta'} sets the landmark smoothing that --no-smoothing turns off: pass one or the other`);
  const smoothing = o.smoothing === false ? false : { ...(o.minCutoff !== undefined ? { minCutoff: num('min-cutoff', o.minCutoff) } : {}), ...(o.beta !== undefined ? { beta: num('beta', o.beta) } : {}) };
  const tty = io.stderr.isTTY === true;
  let lastDraw = 0;
  let lastLine = '';
  const onProgress = (p: VideoProgress) => {
    const now = performance.now();
    // A TTY redraws one line at most ~10 times a second; a log gets a line every 10% of the frames.
    if (tty) {
      if (now - lastDraw < 100 && p.frames !== p.total) return;
      lastDraw = now;
      lastLine = formatProgress(p);
      io.stderr.write(`\r${lastLine}\x1b[K`);
    } else if (!o.json && p.total > 0 && (p.frames === p.total || Math.floor((p.frames * 10) / p.total) !== Math.floor(((p.frames - 1) * 10) / p.total))) {
      io.stderr.write(formatProgress(p) + '\n');
    } else if (!o.json && p.total === 0 && (lastDraw === 0 || now - lastDraw >= LOG_EVERY_MS)) {
      // A container that does not say how many frames it holds (MKV, WebM, TS): a line every 10 s.
      lastDraw = now;
      io.stderr.write(formatProgress(p) + '\n');
    }
  };
  // A missing output folder is made (as stylize and export do; the API itself refuses one), and removed
  // again if the run fails or is stopped. For a folder of frames (ending with /) that is its parent.
  const made = makeParentFolder(/[\\/]$/.test(o.output) ? o.output.replace(/[\\/]+$/, '') : o.output);
  try {
    const result = await withFlagNames(VIDEO_FLAGS, () => stylizeVideo(input, o.output, {
      stylizer: io.stylizer,
      model: o.model,
      size: num('size', o.size),
      batch: num('batch', o.batch),
      every: num('every', o.every),
      strength: num('strength', o.strength),
      mirrorAverage: o.mirrorAverage === true,
      // The API takes 0 as 'all faces'; on the command line, leaving --faces out means all.
      faces: facesFlag(o.faces),
      maxFrames: num('max-frames', o.maxFrames),
      fps: num('fps', o.fps),
      engine: o.engine as StylizeVideoOptions['engine'],
      device: o.device as StylizeVideoOptions['device'],
      detector: o.detector,
      detectorEngine: o.detectorEngine as StylizeVideoOptions['detectorEngine'],
      scoreThreshold: num('threshold', o.threshold),
      threads: num('threads', o.threads),
      smoothing,
      crf: num('crf', o.crf),
      preset: o.preset as StylizeVideoOptions['preset'],
      overwrite: o.overwrite === true,
      strict: o.strict !== false,
      signal: io.signal,
      onProgress,
    }));
    if (tty && lastLine) io.stderr.write('\n');
    if (o.json) io.stdout.write(JSON.stringify({ ...result, seconds: round(result.seconds), speed: round(result.speed) }, null, 2) + '\n');
    else io.stdout.write(`${result.output}: ${result.frames} frames (${result.framesWithFaces} with faces, ${result.faces} faces) in ${formatDuration(result.seconds)}, ${result.speed.toFixed(1)} fps overall (start-up and the encoder's finish included)${result.hasAudio ? ', audio kept' : ''}\n`);
    return result;
  } catch (e) {
    if (tty && lastLine) io.stderr.write('\n');
    removeIfNoFiles(made);
    throw e;
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

export function registerVideoCommand(program: Command): void {
  program
    .command('video')
    .description('Stylize every face of a video (or a folder of frames); keeps size, frame rate, duration and audio')
    .argument('<input>', 'video file, or a folder of frame images')
    .requiredOption('-o, --output <path>', 'output video (.mp4 .mov .mkv .m4v; a missing folder is made) or a folder ending with /')
    .option('--model <file>', 'style model: .onnx, model card .json or .safetensors or the name of a shipped model such as comic-light (default: the shipped model)')
    .option('--size <n>', 'aligned face crop size (default: the model\'s)')
    .option('--batch <n>', 'faces per model call (default: 4)')
    .option('--every <n>', 'full-frame face detection every N frames; faces are re-found near their last place in between (default: 5)')
    .option('--strength <x>', '0..1 blend of the stylized face over the original (default: 1)')
    .option('--mirror-average', 'also stylize each face mirrored and average the two: a little closer to the style, twice the model time')
    .option('--faces <n|all|largest>', 'at most N faces per frame, the largest first (default: all)')
    .option('--max-frames <n>', 'stop after N frames')
    .option('--fps <n>', 'frame rate when the input is a frame folder (default: 25)')
    .option('--engine <name>', 'how .onnx models run: native or onnxruntime')
    .option('--device <name>', 'cpu or cuda')
    .option('--detector <file>', 'YuNet face detector .onnx')
    .option('--detector-engine <name>', 'where the face detector runs: native (default, or FACESTYLE_DETECTOR_ENGINE), onnxruntime or auto')
    .option('--threshold <x>', 'face detection score threshold 0..1 (default: 0.5)')
    .option('--threads <n>', 'CPU threads for the detector and model, 0 for all (default: 0; ffmpeg has its own)')
    .option('--no-smoothing', 'do not smooth landmarks over time')
    .option('--min-cutoff <hz>', 'One-Euro smoothing: cutoff at rest, lower = steadier (default: 0.3)')
    .option('--beta <x>', 'One-Euro smoothing: speed coefficient, higher = less lag (default: 0.2)')
    .option('--crf <n>', 'x264 quality 0..51, lower = better (default: 18)')
    .option('--preset <name>', 'x264 speed: ultrafast .. veryslow; faster = less CPU, larger file (default: veryfast)')
    .option('--no-strict', 'stylize whatever decodes of a damaged (corrupt or truncated) video instead of failing')
    .option('--overwrite', 'replace an existing, non-empty output folder of frames (video files are always replaced)')
    .option('--json', 'print the result as JSON')
    .action(async (input: string, opts: VideoCliOptions) => {
      // Ctrl-C, kill (SIGTERM) or a closed terminal (SIGHUP): stop cleanly so the encoder is stopped and the
      // temp file removed (a second signal of the same kind kills at once). Exit 128 + the signal's number.
      const ac = new AbortController();
      let caught: StopSignal = 'SIGINT';
      const onSignal = (name: StopSignal) => {
        if (!ac.signal.aborted) caught = name;
        ac.abort(new FacestyleError('ERR_FACESTYLE_ABORTED', `Interrupted (${name})`));
      };
      try {
        await whileStopSignals(onSignal, () => runVideoCommand(input, opts, { stdout: process.stdout, stderr: process.stderr, signal: ac.signal }));
      } catch (e) {
        if (!ac.signal.aborted) throw e;
        process.stderr.write(`facestyle: interrupted (${caught}); no output written\n`);
        process.exitCode = STOP_SIGNALS[caught];
      }
    });
}
