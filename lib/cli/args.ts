// Option values as typed on the command line, checked: what every command shares.
import { isFacestyleError } from '../errors.js';
import * as is from '../is.js';

/**
 * A number as typed, in decimal (an exponent allowed: 2e-3); NaN for anything else. Number() alone would
 * take '0x10' as 16, '0b1' as 1 and '' or ' ' as 0.
 */
export function decimal(v: string): number {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v) ? Number(v) : NaN;
}

/** `--name`'s value as a number (undefined when not given); anything else, an empty string included, is ERR_FACESTYLE_ARGUMENT naming the flag and what was typed. */
export function optionalNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = decimal(v);
  if (!Number.isFinite(n)) throw is.invalid(`--${name}`, 'a number', v);
  return n;
}

/**
 * `--faces`: 'all', 'largest' or a whole number of faces >= 1, the largest first (undefined when not given).
 * On the command line leaving the flag out means the command's default, so 0 (the API's 'all') is refused.
 */
export function facesFlag(v: string | undefined): 'all' | 'largest' | number | undefined {
  if (v === undefined) return undefined;
  if (v === 'all' || v === 'largest') return v;
  const n = decimal(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw is.invalid('--faces', "'all', 'largest' or a whole number of faces 1..1000", v);
  return n;
}

/**
 * Runs `body`, and where it rejects with an ERR_FACESTYLE_ARGUMENT that names API options ("... for
 * strength but received 2", "Expected crop divisible by 8", "(resBlocks)"), names the command-line flags
 * instead ("--strength", "--crop", "--res-blocks"): the library checks the values, the user typed the
 * flags. `flags` maps API option names to flags. Only whole names where the checks put them ("Expected
 * NAME", "for NAME", "(NAME)", "positive NAME") before "but received" are rewritten: what the user typed
 * stays as typed.
 */
export async function withFlagNames<T>(flags: Readonly<Record<string, string>>, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (isFacestyleError(e) && e.code === 'ERR_FACESTYLE_ARGUMENT') e.message = flagNamesIn(e.message, flags);
    throw e;
  }
}

/** `message` with each whole API option name before " but received" replaced by its flag (see withFlagNames). */
export function flagNamesIn(message: string, flags: Readonly<Record<string, string>>): string {
  const cut = message.indexOf(' but received ');
  const [head, tail] = cut < 0 ? [message, ''] : [message.slice(0, cut), message.slice(cut)];
  // Longest names first, so 'lrMin' is not read as 'lr' followed by 'Min'.
  const names = Object.keys(flags).sort((a, b) => b.length - a.length);
  const escape = (n: string) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Where the library's checks put an option's name: "Expected crop ...", "... for flip", "(resBlocks)",
  // "Expected positive lr", "a non-negative integer warmupSteps" (not a word like 'engine' elsewhere in a sentence).
  const pattern = new RegExp(`(?<=(?:^|Expected |for |positive |integer |number |\\())(${names.map(escape).join('|')})(?![\\w.-])`, 'g');
  return head.replace(pattern, (name) => flags[name]) + tail;
}
