// The error a synchronous call throws, for asserting its code and message; a call that does not throw fails the test.
export type Coded = Error & { code?: string };

export function caught(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected an error but none was thrown');
}
