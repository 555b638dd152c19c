// Option values as typed on the command line, checked: what every command shares.
import * as is from '../is.js';

/** `--name`'s value as a number (undefined when not given); anything else, an empty string included, is ERR_FACESTYLE_ARGUMENT naming the flag and what was typed. */
export function optionalNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw is.invalid(`--${name}`, 'a number', v);
  return n;
}
