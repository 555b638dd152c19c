// Writing a file whole or not at all: into a hidden temp file beside the target, renamed over it when
// complete. A failed write removes its temp file and leaves an existing target as it was; a killed process
// leaves at most a hidden temp file, which removePendingTempFiles() deletes from a signal handler. Used by
// every writer of the package (images, safetensors, ONNX); the video encoder keeps its own (it streams).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FacestyleError, formatError } from './errors.js';

/** Temp files being written now. */
const pending = new Set<string>();

/** Removes the temp files of writes in progress (the CLI calls it when interrupted). Synchronous. */
export function removePendingTempFiles(): void {
  for (const f of pending) fs.rmSync(f, { force: true });
  pending.clear();
}

const isDirectory = (p: string): boolean => {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false; // a part of the path is a file
  }
};

/** A failed write as a coded error naming the file: a vanished folder, a folder in the way, or an I/O error. */
function writeError(file: string, dir: string, e: unknown): FacestyleError {
  if (e instanceof FacestyleError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}': the folder '${dir}' does not exist`, { cause: e });
  if (code === 'EISDIR') return new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot write '${file}': it is a folder`, { cause: e });
  return formatError(`Could not write '${file}': ${(e as Error).message}`, e);
}

/**
 * The target's folder, checked (ERR_FACESTYLE_NOT_FOUND when missing, unless createFolder makes it;
 * ERR_FACESTYLE_ARGUMENT when the target is a folder), and a fresh temp name beside the target.
 */
function prepare(file: string, createFolder: boolean): { dir: string; temp: string } {
  const dir = path.dirname(path.resolve(file));
  if (createFolder) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOENT')
        throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}': the folder '${dir}' does not exist and cannot be created (a part of its path is a file)`, { cause: e });
      throw writeError(file, dir, e);
    }
  } else if (!isDirectory(dir)) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}': the folder '${dir}' does not exist`);
  if (isDirectory(file)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot write '${file}': it is a folder`);
  return { dir, temp: path.join(dir, `.${path.basename(file)}.partial-${process.pid}-${randomBytes(4).toString('hex')}.tmp`) };
}

/** Writes `file` through `write(temp)` (which creates the temp file) and a rename; see the file comment. */
export async function writeFileWhole(file: string, write: (temp: string) => Promise<unknown>, options: { createFolder?: boolean } = {}): Promise<void> {
  const { dir, temp } = prepare(file, options.createFolder ?? false);
  pending.add(temp);
  try {
    await write(temp);
    await fs.promises.rename(temp, file);
  } catch (e) {
    await fs.promises.rm(temp, { force: true }).catch(() => {});
    throw writeError(file, dir, e);
  } finally {
    pending.delete(temp);
  }
}

/** writeFileWhole on the calling thread; `bytes()` is made after the target is checked. */
export function writeFileWholeSync(file: string, bytes: () => Uint8Array): void {
  const { dir, temp } = prepare(file, false);
  try {
    fs.writeFileSync(temp, bytes());
    fs.renameSync(temp, file);
  } catch (e) {
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // nothing more to do; the write's own error is the one to report
    }
    throw writeError(file, dir, e);
  }
}
