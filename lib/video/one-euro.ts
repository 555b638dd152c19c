// One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose cutoff rises with speed.
// At rest it smooths hard (kills detector jitter); when the face moves it follows with little lag.
import type { Face, Landmarks5, Point } from '../face/types.js';
import * as is from '../is.js';

export interface OneEuroOptions {
  /** Cutoff frequency (Hz) at rest: lower = smoother but laggier when slow (default 0.3). */
  minCutoff?: number;
  /** Speed coefficient: how fast the cutoff rises with speed; higher = less lag when fast (default 0.2; FaceSmoother measures speed in inter-ocular distances per second). */
  beta?: number;
  /** Cutoff (Hz) of the filter on the derivative (default 0.5). */
  dCutoff?: number;
}

// Tuned on the single-face clips of ../shared/data/video and frames/vtoonify_651 (YuNet landmarks with
// lib/face's second detection pass, 15-30 fps): frame-to-frame landmark motion 0.41-0.44 of the raw
// detections' while the smoothed points stay within 0.07-0.08 inter-ocular distances of them on average.
// (0.5 / 0.3, tuned before the second pass made raw landmarks steadier, only reached 0.48-0.51.)
export const ONE_EURO_DEFAULTS: Required<OneEuroOptions> = { minCutoff: 0.3, beta: 0.2, dCutoff: 0.5 };

/** Smoothing factor of an exponential filter with cutoff `cutoff` Hz sampled every `dt` seconds. */
export function smoothingFactor(cutoff: number, dt: number): number {
  const tau = 1 / (2 * Math.PI * cutoff);
  return 1 / (1 + tau / dt);
}

/** One-Euro filter on one scalar signal. */
export class OneEuroFilter {
  readonly minCutoff: number;
  readonly beta: number;
  readonly dCutoff: number;
  private x: number | undefined;
  private dx = 0;
  private t: number | undefined;

  constructor(options: OneEuroOptions = {}) {
    this.minCutoff = options.minCutoff ?? ONE_EURO_DEFAULTS.minCutoff;
    this.beta = options.beta ?? ONE_EURO_DEFAULTS.beta;
    this.dCutoff = options.dCutoff ?? ONE_EURO_DEFAULTS.dCutoff;
    // NaN or a non-positive cutoff would turn every smoothed landmark into NaN.
    if (!(this.minCutoff > 0 && Number.isFinite(this.minCutoff))) throw is.invalid('minCutoff', 'a positive number (Hz)', options.minCutoff);
    if (!(this.beta >= 0 && Number.isFinite(this.beta))) throw is.invalid('beta', 'a number >= 0', options.beta);
    if (!(this.dCutoff > 0 && Number.isFinite(this.dCutoff))) throw is.invalid('dCutoff', 'a positive number (Hz)', options.dCutoff);
  }

  /** Filters sample `value` taken at time `t` (seconds, increasing). The first sample passes through. */
  filter(value: number, t: number): number {
    if (this.x === undefined || this.t === undefined) {
      this.x = value;
      this.t = t;
      return value;
    }
    // A repeated or backwards timestamp has no derivative: keep the current estimate.
    if (!(t > this.t)) return this.x;
    const dt = t - this.t;
    const rawDx = (value - this.x) / dt;
    this.dx += smoothingFactor(this.dCutoff, dt) * (rawDx - this.dx);
    const cutoff = this.minCutoff + this.beta * Math.abs(this.dx);
    this.x += smoothingFactor(cutoff, dt) * (value - this.x);
    this.t = t;
    return this.x;
  }

  reset(): void {
    this.x = undefined;
    this.t = undefined;
    this.dx = 0;
  }
}

/**
 * Smooths one face track: the 5 landmarks and the box, each coordinate its own One-Euro filter.
 * Coordinates are filtered in units of the face's inter-ocular distance (taken at the first sample),
 * so `beta` means the same for a small face in a 4K frame as for a large face in a 360p one.
 */
export class FaceSmoother {
  private readonly options: OneEuroOptions;
  private filters: OneEuroFilter[] = [];
  private scale = 1;

  constructor(options: OneEuroOptions = {}) {
    this.options = options;
  }

  smooth(face: Face, t: number): Face {
    const values = [...face.landmarks.flat(), ...face.box];
    if (this.filters.length === 0) {
      this.scale = Math.max(1, interOcularDistance(face.landmarks));
      this.filters = values.map(() => new OneEuroFilter(this.options));
    }
    const out = values.map((v, i) => this.filters[i].filter(v / this.scale, t) * this.scale);
    const landmarks = [0, 1, 2, 3, 4].map((k) => [out[2 * k], out[2 * k + 1]] as Point) as Landmarks5;
    const box: Face['box'] = [out[10], out[11], out[12], out[13]];
    return { ...face, box, landmarks };
  }
}

/** Distance between the two eye landmarks (the normaliser for landmark motion). */
export function interOcularDistance(landmarks: Landmarks5): number {
  return Math.hypot(landmarks[1][0] - landmarks[0][0], landmarks[1][1] - landmarks[0][1]);
}
