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
