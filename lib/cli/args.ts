// Option values as typed on the command line, checked: what every command shares.
import { isFacestyleError } from '../errors.js';
import * as is from '../is.js';

/** `--name`'s value as a number (undefined when not given); anything else, an empty string included, is ERR_FACESTYLE_ARGUMENT naming the flag and what was typed. */
export function optionalNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw is.invalid(`--${name}`, 'a number', v);
  return n;
}

/**
 * Runs `body`, and where it rejects with an ERR_FACESTYLE_ARGUMENT that names an API option ("... for
 * strength but received 2"), names the command-line flag instead ("... for --strength ..."): the library
 * checks the values, the user typed the flags. `flags` maps API option names to flags.
 */
export async function withFlagNames<T>(flags: Readonly<Record<string, string>>, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (isFacestyleError(e) && e.code === 'ERR_FACESTYLE_ARGUMENT') {
      const m = /^(Expected .*? for )(\S+)( but received .*)$/s.exec(e.message);
      if (m && Object.hasOwn(flags, m[2])) e.message = `${m[1]}${flags[m[2]]}${m[3]}`;
    }
    throw e;
  }
}
