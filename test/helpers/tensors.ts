import { Tensor } from '../../lib/graph/tensor.js';

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  worst: number;
  message: string;
}

/** |actual - expected| <= atol + rtol * |expected| everywhere (NaN never passes). */
export function compareClose(actual: Tensor, expected: Tensor, atol: number, rtol: number): CloseReport {
  if (actual.shape.join(',') !== expected.shape.join(','))
    return { ok: false, maxAbs: Infinity, worst: -1, message: `shape [${actual.shape}] != [${expected.shape}]` };
  let maxAbs = 0;
  let worst = -1;
  let bad = 0;
  for (let i = 0; i < actual.size; ++i) {
    const a = actual.data[i];
    const e = expected.data[i];
    const d = Math.abs(a - e);
    const okHere = d <= atol + rtol * Math.abs(e) || (Number.isNaN(a) && Number.isNaN(e)) || (a === e);
    if (!okHere) {
      ++bad;
      if (!(d <= maxAbs)) {
        maxAbs = Number.isNaN(d) ? Infinity : d;
        worst = i;
      }
    } else if (d > maxAbs) maxAbs = d;
  }
  const message = bad ? `${bad} of ${actual.size} elements off; worst at ${worst}: ${actual.data[worst]} vs ${expected.data[worst]}` : 'ok';
  return { ok: bad === 0, maxAbs, worst, message };
}
