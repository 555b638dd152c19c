// Argument validation at the public edge (sharp's lib/is.js style): one helper set, one message form,
// "Expected <what> for <name> but received <value>".
import { argumentError } from './errors.js';

export const defined = (v: unknown): boolean => v !== undefined && v !== null;
export const object = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const number = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const integer = (v: unknown): v is number => Number.isInteger(v);
export const string = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
export const bool = (v: unknown): v is boolean => typeof v === 'boolean';
export const inRange = (v: number, lo: number, hi: number): boolean => v >= lo && v <= hi;
export const inArray = <T>(v: unknown, list: readonly T[]): v is T => list.includes(v as T);

export function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v instanceof Float32Array) return `Float32Array(${v.length})`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  if (Array.isArray(v)) return v.length > 8 ? `array(${v.length})` : `[${v.map(describe).join(',')}]`;
  if (typeof v === 'object' && v !== null) return v.constructor?.name ?? 'object';
  return String(v);
}

/** The error for a bad argument: "Expected <expected> for <name> but received <actual>". */
export function invalid(name: string, expected: string, actual: unknown): Error {
  return argumentError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

export function positiveInteger(name: string, v: unknown): number {
  if (!integer(v) || v <= 0) throw invalid(name, 'positive integer', v);
  return v;
}

/** 'between 1 and 16', or '>= 1' when the top is only a technical cap (no more than the safe integers / infinity). */
const rangeText = (lo: number, hi: number) => (hi >= Number.MAX_SAFE_INTEGER ? `>= ${lo}` : `between ${lo} and ${hi}`);

export function integerInRange(name: string, v: unknown, lo: number, hi: number): number {
  if (!integer(v) || !inRange(v, lo, hi)) throw invalid(name, `integer ${rangeText(lo, hi)}`, v);
  return v;
}

/** A `threads` option: CPU threads, 0 (also when undefined) for every hardware thread, at most 1024. */
export function threadCount(v: unknown): number {
  return v === undefined ? 0 : integerInRange('threads', v, 0, 1024);
}

export function numberInRange(name: string, v: unknown, lo: number, hi: number): number {
  if (!number(v) || !inRange(v, lo, hi)) throw invalid(name, `number ${rangeText(lo, hi)}`, v);
  return v;
}

export function trueOrFalse(name: string, v: unknown): boolean {
  if (!bool(v)) throw invalid(name, 'true or false', v);
  return v;
}

export function oneOf<T extends string>(name: string, v: unknown, list: readonly T[]): T {
  if (!inArray(v, list)) throw invalid(name, `one of ${list.map((x) => `'${x}'`).join(', ')}`, v);
  return v as T;
}

/** Edit distance between two short strings, case ignored: insertions, deletions, substitutions and swaps of neighbours ('fsp' -> 'fps' is 1). */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; ++i)
    for (let j = 1; j <= b.length; ++j) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/**
 * Every key of an options type T, spelled out: `optionKeys<T>()(['a', 'b'])` does not compile when the list
 * misses a key of T (or names one T lacks), so a check of unknown keys cannot fall behind the type.
 */
export function optionKeys<T>() {
  // Each key once: lists spread from others ('limitInputPixels' in both the detector's and the stylizer's)
  // were listed twice in "Unknown option ... (it takes: ...)".
  return <const K extends readonly (keyof T & string)[]>(keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : { missingKeys: Exclude<keyof T, K[number]> })): K =>
    [...new Set(keys)] as unknown as K;
}

/** The entries of `options` under `keys` (the options a function passes on to another that takes fewer). */
export function pickOptions<T extends object, K extends keyof T>(options: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (k in options) out[k] = options[k];
  return out;
}

/**
 * ERR_FACESTYLE_ARGUMENT when `options` is not an object ("Expected an object for options"), or for a key of
 * it that `what` does not take (a misspelt option was dropped without a word), naming the closest known
 * key when one is near. Keys whose value is undefined are let through (`{ ...defaults, size: undefined }`
 * asks for the default).
 */
export function knownOptions(what: string, options: unknown, keys: readonly string[]): asserts options is object {
  if (!object(options)) throw invalid('options', 'an object', options);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || keys.includes(key)) continue;
    const near = keys.map((k) => ({ k, d: editDistance(key, k) })).sort((x, y) => x.d - y.d)[0];
    const hint = near && near.d <= Math.max(1, Math.floor(key.length / 3)) ? `; did you mean '${near.k}'?` : '';
    throw argumentError(`Unknown option '${key}' for ${what}${hint} (it takes: ${[...keys].sort().join(', ')})`);
  }
}
