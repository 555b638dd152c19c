// The error a call throws or a promise rejects with, for asserting its code and message; one that does not fail fails the test.
import { expect } from 'vitest';

export type Coded = Error & { code?: string };

export function caught(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected an error but none was thrown');
}

export async function rejected(fn: () => Promise<unknown>): Promise<Coded> {
  try {
    await fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a rejection but the promise resolved');
}

/** A FacestyleError with this code whose message holds every fragment. */
export function expectCoded(e: Coded, code: string, ...fragments: string[]): void {
  expect(e).toBeInstanceOf(Error);
  expect(e.name, e.message).toBe('FacestyleError');
  expect(e.code, e.message).toBe(code);
  for (const f of fragments) expect(e.message).toContain(f);
}
