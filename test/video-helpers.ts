// Helpers for the video tests: the shared data folder, ffprobe of outputs, and a cheap fake stylizer.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';
import type { Face, Landmarks5, RgbImage } from '../lib/face/types.js';
import type { FrameFaces, FrameStylizer } from '../lib/video/stylizer.js';
import { sharedRoot } from './helpers/shared.js';

/** ../shared/data beside the repository (or FACESTYLE_SHARED_DATA), as for every other suite. */
export const SHARED = sharedRoot;
export const sharedPresent = existsSync(SHARED);
/** True when shared-data tests should be skipped (folder missing and FACESTYLE_SKIP_SHARED=1). */
export const skipShared = !sharedPresent && process.env.FACESTYLE_SKIP_SHARED === '1';
/** Message for the test that fails when the data is missing and skipping was not asked for. */
export const sharedMissingMessage = `Test data not found at ${SHARED}: put the shared data folder beside the repository, or set FACESTYLE_SKIP_SHARED=1 to skip these tests`;
export const shared = (...p: string[]) => path.join(SHARED, ...p);

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  r_frame_rate: string;
  nb_frames?: string;
  duration?: string;
  start_time?: string;
  sample_aspect_ratio?: string;
  color_space?: string;
  color_primaries?: string;
  color_transfer?: string;
  color_range?: string;
}

/** ffprobe of a file's streams (independent of lib/video's own probe, so the tests check it too). */
export function ffprobeStreams(file: string): ProbedStream[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-print_format', 'json', '-show_streams', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe failed on ${file}: ${r.stderr}`);
  const streams = JSON.parse(r.stdout).streams as Array<ProbedStream & { nb_read_frames?: string }>;
  // Counted frames (-count_frames decodes everything) rather than the header's claim.
  return streams.map((s) => ({ ...s, nb_frames: s.nb_read_frames ?? s.nb_frames }));
}

export const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;

/**
 * describe() for suites that need the shared data, ffmpeg or Linux: skipped with the reason in the
 * suite's name when one is missing. (The 'video test data' tests in video-ffmpeg.test.ts fail when
 * the data or ffmpeg is missing, unless FACESTYLE_SKIP_SHARED=1, so a skip here never hides it.)
 */
export function describeNeeding(needs: { shared?: boolean; ffmpeg?: boolean; linux?: boolean }, name: string, fn: () => void): void {
  const reason =
    needs.shared && !sharedPresent
      ? `${SHARED} missing`
      : needs.ffmpeg && !hasFfmpeg
        ? 'ffmpeg/ffprobe not on PATH'
        : needs.linux && process.platform !== 'linux'
          ? 'needs Linux'
          : '';
  if (reason) describe.skip(`${name} (skipped: ${reason})`, fn);
  else describe(name, fn);
}

/** A synthetic frame: grey background with a bright square (the fake "face") at (x, y) of side s. */
export function squareFrame(width: number, height: number, x: number, y: number, s: number, shade = 40): RgbImage {
  const data = new Uint8Array(width * height * 3).fill(shade);
  for (let r = Math.max(0, y); r < Math.min(height, y + s); ++r) {
    for (let c = Math.max(0, x); c < Math.min(width, x + s); ++c) data.set([250, 250, 250], (r * width + c) * 3);
  }
  return { data, width, height };
}

/** Landmarks at fixed places inside a box (eyes, nose, mouth corners), like a frontal face. */
export function boxLandmarks(x: number, y: number, w: number, h: number): Landmarks5 {
  return [
    [x + 0.3 * w, y + 0.4 * h],
    [x + 0.7 * w, y + 0.4 * h],
    [x + 0.5 * w, y + 0.55 * h],
    [x + 0.35 * w, y + 0.75 * h],
    [x + 0.65 * w, y + 0.75 * h],
  ];
}

/** Finds the bright square of squareFrame(): its bounding box as one "face" (none if no bright pixel). */
export function detectSquare(frame: RgbImage): Face[] {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let r = 0; r < frame.height; ++r) {
    for (let c = 0; c < frame.width; ++c) {
      if (frame.data[(r * frame.width + c) * 3] >= 200) {
        x0 = Math.min(x0, c); y0 = Math.min(y0, r); x1 = Math.max(x1, c); y1 = Math.max(y1, r);
      }
    }
  }
  if (x1 < 0) return [];
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  return [{ box: [x0, y0, w, h], score: 1, landmarks: boxLandmarks(x0, y0, w, h) }];
}

/** Inverts the pixels inside each face box: cheap, deterministic, visibly different. */
export function invertBoxes(frame: RgbImage, faces: Face[]): RgbImage {
  const data = new Uint8Array(frame.data);
  for (const f of faces) {
    const [x, y, w, h] = f.box.map(Math.round);
    for (let r = Math.max(0, y); r < Math.min(frame.height, y + h); ++r) {
      for (let c = Math.max(0, x); c < Math.min(frame.width, x + w); ++c) {
        const i = (r * frame.width + c) * 3;
        data[i] = 255 - data[i]; data[i + 1] = 255 - data[i + 1]; data[i + 2] = 255 - data[i + 2];
      }
    }
  }
  return { data, width: frame.width, height: frame.height };
}

/** A fake stylizer that records what it was asked (batches, detector calls). */
export class FakeStylizer implements FrameStylizer {
  detectCalls: Array<{ width: number; height: number }> = [];
  batches: number[] = [];
  disposed = false;
  constructor(private readonly detector: (frame: RgbImage) => Face[] = detectSquare, private readonly delayMs = 0) {}
  async detect(frame: RgbImage): Promise<Face[]> {
    this.detectCalls.push({ width: frame.width, height: frame.height });
    return this.detector(frame);
  }
  async stylize(items: FrameFaces[]): Promise<RgbImage[]> {
    this.batches.push(items.reduce((n, it) => n + it.faces.length, 0));
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return items.map((it) => invertBoxes(it.frame, it.faces));
  }
  dispose(): void {
    this.disposed = true;
  }
}

/** A detector that claims one centred face in any image (for real video with the fake stylizer). */
export function centreFace(frame: RgbImage): Face[] {
  const s = Math.min(frame.width, frame.height) / 3;
  const x = frame.width / 2 - s / 2, y = frame.height / 2 - s / 2;
  return [{ box: [x, y, s, s], score: 1, landmarks: boxLandmarks(x, y, s, s) }];
}
