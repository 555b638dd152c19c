import { access, constants } from 'node:fs/promises';

/** Error codes every facestyle error carries in `code`. */
export type ErrorCode =
  | 'ERR_FACESTYLE_ARGUMENT'
  | 'ERR_FACESTYLE_SHAPE'
  | 'ERR_FACESTYLE_FORMAT'
  | 'ERR_FACESTYLE_UNSUPPORTED'
  | 'ERR_FACESTYLE_OUT_OF_MEMORY'
  | 'ERR_FACESTYLE_DISPOSED'
  | 'ERR_FACESTYLE_CUDA'
  | 'ERR_FACESTYLE_NUMERIC'
  | 'ERR_FACESTYLE_NOT_FOUND'
  /** A run stopped by its AbortSignal (Ctrl-C in the CLI): not a failure of the input. */
  | 'ERR_FACESTYLE_ABORTED'
  | 'ERR_FACESTYLE_NATIVE'
  | 'ERR_FACESTYLE_INTERNAL';

/**
 * The one error class of the package. `e instanceof FacestyleError` holds for every error that carries an
 * ERR_FACESTYLE_* code (isFacestyleError), not only those made by this constructor: the native addon's
 * errors (plain Errors with the same codes, made in C++) and those of another copy of this module (a
 * second install, a bundler's duplicate) are facestyle errors too, and one `instanceof` catches them all.
 */
export class FacestyleError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FacestyleError';
    this.code = code;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isFacestyleError(value);
  }
}

/** How V8 says a typed array or buffer could not be allocated (a RangeError). */
const JS_ALLOCATION_FAILED = /array buffer allocation failed|invalid (typed )?array length|invalid array buffer length/i;

/**
 * `e` as ERR_FACESTYLE_OUT_OF_MEMORY when it is V8's RangeError for a typed array or buffer it could not
 * allocate (a huge image decoded and copied on the JS side), saying what was being done; otherwise `e`.
 */
export function asOutOfMemory(e: unknown, what: string, hint = 'try a smaller image, or a higher --limit-input-pixels only with the memory for it'): unknown {
  if (e instanceof RangeError && JS_ALLOCATION_FAILED.test(e.message))
    return new FacestyleError('ERR_FACESTYLE_OUT_OF_MEMORY', `Out of memory ${what}: ${e.message} (${hint})`, { cause: e });
  return e;
}

/**
 * A file-system error met reading `what` (e.g. "Frame folder 'x'"), as ERR_FACESTYLE_NOT_FOUND saying
 * whether it is missing or may not be read; null for any other error (the caller keeps its own).
 */
export function readError(e: unknown, what: string): FacestyleError | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `${what} not found`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM') return new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `${what} cannot be read: permission denied`, { cause: e });
  return null;
}

/** Why the file `file` cannot be opened for reading (readError), or null when it can. */
export async function unreadableFile(file: string, what: string): Promise<FacestyleError | null> {
  return access(file, constants.R_OK).then(
    () => null,
    (e: unknown) => readError(e, what),
  );
}

export const argumentError = (message: string) => new FacestyleError('ERR_FACESTYLE_ARGUMENT', message);
export const shapeError = (message: string) => new FacestyleError('ERR_FACESTYLE_SHAPE', message);
export const formatError = (message: string, cause?: unknown) => new FacestyleError('ERR_FACESTYLE_FORMAT', message, { cause });
export const unsupportedError = (message: string) => new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', message);

/** True for any error with an ERR_FACESTYLE_* code, native or not. */
export function isFacestyleError(e: unknown): e is Error & { code: ErrorCode } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && (e as unknown as { code: string }).code.startsWith('ERR_FACESTYLE_');
}
