// Writing a file whole or not at all: the bytes are made in memory first (an image encode, which can take
// seconds, writes nothing), then written into a hidden temp file beside the target and renamed over it. A
// failed write removes its temp file and leaves an existing target as it was; a killed process leaves at
// most a hidden temp file, which removePendingTempFiles() deletes from a signal handler (and a stop that
// comes during the encode leaves nothing: no JavaScript runs after the handler's exit to write the bytes).
// Used by every writer of the package (images, safetensors, ONNX); the video encoder keeps its own (it
// streams). samePath tells whether two paths name one file, through symlinks and hard links.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { FacestyleError, formatError } from './errors.js';
import { loadNative } from './native.js';

/** Temp files being written now. */
const pending = new Set<string>();

/** Removes the temp files of writes in progress (the CLI calls it when interrupted). Synchronous. */
export function removePendingTempFiles(): void {
  for (const f of pending) fs.rmSync(f, { force: true });
  pending.clear();
}

/** Whether `p` is a folder (false when missing, or when a part of its path is a file). */
export const isDirectory = (p: string): boolean => {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false; // a part of the path is a file
  }
};

/**
 * fs.mkdirSync(dir, { recursive: true }), without its endless loop: Node 20's recursive mkdir spins for
 * ever (the event loop blocked, so not even a signal handler runs) where mkdir answers ENOENT although the
 * parent exists, as /proc and some FUSE file systems do. Here the missing folders are found by stat, then
 * made one by one with a plain mkdir, whose error is thrown as it is (ENOENT, EACCES, ENOTDIR, ...).
 * Returns the first folder made (undefined when `dir` already existed), as the recursive form does.
 */
export function makeDirs(dir: string): string | undefined {
  const missing: string[] = [];
  for (let cur = path.resolve(dir); ; ) {
    const st = fs.statSync(cur, { throwIfNoEntry: false }); // ENOTDIR (a part is a file) is thrown
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}' ('${cur}' is a file)`), { code: 'ENOTDIR', syscall: 'mkdir', path: cur });
      break;
    }
    const parent = path.dirname(cur);
    missing.unshift(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      // Made meanwhile by someone else: fine, as with the recursive form.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(d)) throw e;
    }
  }
  return missing[0];
}

/** Whether process `pid` is gone (signal 0 probes it; EPERM means it exists under another user). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A hidden temp file or folder of a write: `.<stem>.partial-<pid>-<hex>`, then nothing or `.<more>`. */
const TEMP_NAME = /^\.(.+)\.partial-(\d+)-[0-9a-f]+(\..*)?$/;

/**
 * Per folder, the temp files of other processes found at a listing, by stem: a folder of many outputs
 * (a stylized photo folder) is listed once, not at every write into it (10,000 files: 4.8 ms a write).
 */
const tempFilesByFolder = new Map<string, Map<string, string[]>>();

function listTempFiles(dir: string): Map<string, string[]> {
  const byStem = new Map<string, string[]>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    // a folder that cannot be listed is left alone
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || Number(m[2]) === process.pid) continue;
    byStem.set(m[1], [...(byStem.get(m[1]) ?? []), name]);
  }
  tempFilesByFolder.set(dir, byStem);
  return byStem;
}

/**
 * Removes the hidden temp files (`.<stem>.partial-<pid>-<hex>...`) that writes of `file` left beside it
 * when their process was killed (SIGKILL, a crash: no handler could run). Only files of processes that
 * no longer exist are removed, never those of a write in progress. `stem` is the name the temp files
 * start with (the file's name, or without its extension for the video encoder's). The folder is listed
 * now, or with `listed: true` only at this process's first write into it (writeFileWhole: temp files a
 * run killed later leaves wait for the next process). Best effort: a folder that cannot be listed is left
 * alone. Returns the names removed.
 */
export function removeStaleTempFiles(file: string, stem = path.basename(file), options: { listed?: boolean } = {}): string[] {
  const dir = path.dirname(path.resolve(file));
  const byStem = (options.listed && tempFilesByFolder.get(dir)) || listTempFiles(dir);
  const removed: string[] = [];
  const left = (byStem.get(stem) ?? []).filter((name) => {
    if (!processGone(Number(TEMP_NAME.exec(name)![2]))) return true;
    try {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
      return false;
    } catch {
      return true; // best effort
    }
  });
  if (left.length) byStem.set(stem, left);
  else byStem.delete(stem);
  return removed;
}

/**
 * A failed write as a coded error naming the file. The file system's refusals are the path's problem, not
 * the data's: a missing folder, a folder that exists but takes no new file (ENOENT from a virtual file system
 * such as /proc), no permission or a read-only file system are ERR_FACESTYLE_NOT_FOUND, as permission
 * problems are when reading (errors.ts readError); a full disk or quota (ENOSPC, EDQUOT) is
 * ERR_FACESTYLE_OUT_OF_MEMORY: storage ran out, and freeing some is the fix, as with memory; the target being
 * a folder or a name too long is ERR_FACESTYLE_ARGUMENT. Any other errno is ERR_FACESTYLE_NOT_FOUND with
 * its message (an I/O error is no fault of the bytes written); an error from making the bytes (an encoder)
 * stays ERR_FACESTYLE_FORMAT. Exported for tests (a read-only folder cannot be made as root).
 */
export function writeError(file: string, dir: string, e: unknown): FacestyleError {
  if (e instanceof FacestyleError) return e;
  const errno = e as NodeJS.ErrnoException;
  const code = typeof errno?.code === 'string' ? errno.code : undefined;
  const fsError = code !== undefined && typeof errno.syscall === 'string';
  const notFound = (why: string) => new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}': ${why}`, { cause: e });
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    if (!isDirectory(dir)) return notFound(`the folder '${dir}' does not exist`);
    return notFound(`the folder '${dir}' exists but would not take the file (a virtual file system such as /proc takes none): ${errno.message}`);
  }
  if (code === 'EISDIR') return new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot write '${file}': it is a folder`, { cause: e });
  if (code === 'ENAMETOOLONG') return new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot write '${file}': the name is too long for the file system`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM') return notFound(`permission denied (this process may not write into '${dir}' or over the file: ${errno.message})`);
  if (code === 'EROFS') return notFound(`the folder '${dir}' is on a read-only file system`);
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new FacestyleError('ERR_FACESTYLE_OUT_OF_MEMORY', `Cannot write '${file}': no space left on the device (${code === 'EDQUOT' ? 'disk quota exceeded' : 'disk full'}; free some space in '${dir}'): ${errno.message}`, { cause: e });
  if (fsError) return notFound(errno.message);
  return formatError(`Could not write '${file}': ${(e as Error)?.message ?? String(e)}`, e);
}

/**
 * Refuses (ERR_FACESTYLE_ARGUMENT) a write target that exists and is not a regular file, through symlinks: a
 * folder, or a device, pipe or socket, which the rename that ends a whole write would replace (as root, an
 * output of /dev/null replaced the device with a file). A missing target, or one whose path cannot be
 * followed, passes: the folder checks report that.
 */
export function checkWriteTarget(file: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file, { throwIfNoEntry: false });
  } catch {
    return;
  }
  if (!st || st.isFile()) return;
  if (st.isDirectory()) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot write '${file}': it is a folder`);
  throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot write '${file}': it is a device, pipe or socket, not a regular file (writing it whole would replace it)`);
}

/**
 * The target's folder, checked (ERR_FACESTYLE_NOT_FOUND when missing, unless createFolder makes it;
 * ERR_FACESTYLE_ARGUMENT when the target is a folder, a device, pipe or socket: checkWriteTarget), and a
 * fresh temp name beside the target.
 */
function prepare(file: string, createFolder: boolean): { dir: string; temp: string } {
  const dir = path.dirname(path.resolve(file));
  if (createFolder) {
    try {
      makeDirs(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOENT')
        throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}': the folder '${dir}' does not exist and cannot be created (a part of its path is a file)`, { cause: e });
      throw writeError(file, dir, e);
    }
  } else if (!isDirectory(dir)) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}': the folder '${dir}' does not exist`);
  checkWriteTarget(file);
  removeStaleTempFiles(file, path.basename(file), { listed: true });
  return { dir, temp: path.join(dir, `.${path.basename(file)}.partial-${process.pid}-${randomBytes(4).toString('hex')}.tmp`) };
}

/** Writes `bytes()` to `file` through a temp file and a rename; see the file comment. */
export async function writeFileWhole(file: string, bytes: () => Promise<Uint8Array>, options: { createFolder?: boolean } = {}): Promise<void> {
  const { dir, temp } = prepare(file, options.createFolder ?? false);
  let data: Uint8Array;
  try {
    data = await bytes();
  } catch (e) {
    throw writeError(file, dir, e);
  }
  pending.add(temp);
  try {
    await fs.promises.writeFile(temp, data);
    await fs.promises.rename(temp, file);
  } catch (e) {
    await fs.promises.rm(temp, { force: true }).catch(() => {});
    throw writeError(file, dir, e);
  } finally {
    pending.delete(temp);
  }
}

/** The real path of `p`, or of its nearest existing parent joined with the rest when `p` does not exist yet. */
function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(cur), ...rest);
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.unshift(path.basename(cur));
      cur = parent;
    }
  }
}

/**
 * Whether a model path names a facestyle generator (what lib/nn's loadGenerator reads) rather than an ONNX
 * file: a folder (a training run), a model card (.json) or weights / a checkpoint (.safetensors). Here, not
 * in lib/nn, so that lib/face can ask without loading lib/nn.
 */
export function isGeneratorSource(file: string): boolean {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json' || ext === '.safetensors') return true;
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Removes `dir` (and its sub-folders) when no file lies anywhere below it; no-op for undefined. Best effort. */
export function removeIfNoFiles(dir: string | undefined): void {
  if (!dir) return;
  const hasFiles = (d: string): boolean => fs.readdirSync(d, { withFileTypes: true }).some((e) => !e.isDirectory() || hasFiles(path.join(d, e.name)));
  try {
    if (!hasFiles(dir)) fs.rmSync(dir, { recursive: true });
  } catch {
    // best effort: the run's own error (or result) is what the user needs to see
  }
}

/**
 * Makes `dir` (and its parents) when it is missing, returning the first folder it created (undefined when
 * none was needed), for removeIfNoFiles should the command fail. A path through a file is
 * ERR_FACESTYLE_NOT_FOUND naming `dir` as given.
 */
export function makeFolder(dir: string): string | undefined {
  try {
    return makeDirs(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Cannot create the output folder '${dir}': ${code === 'EEXIST' || code === 'ENOTDIR' ? 'a part of its path is a file' : (e as Error).message}`, { cause: e });
  }
}

/** makeFolder for the folder `file` goes into (the CLI commands' outputs: `-o runs/x/out.mp4` works as `-o out.png` does). */
export const makeParentFolder = (file: string): string | undefined => makeFolder(path.dirname(path.resolve(file)));

/**
 * True when `a` and `b` name the same file or folder: the same path once symlinks are followed, or (both
 * existing) the same device and inode, which also catches hard links. Used to refuse writing over an input.
 */
export function samePath(a: string, b: string): boolean {
  if (realPathOf(a) === realPathOf(b)) return true;
  try {
    const [sa, sb] = [fs.statSync(a, { throwIfNoEntry: false }), fs.statSync(b, { throwIfNoEntry: false })];
    return !!sa && !!sb && sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** writeFileWhole on the calling thread; `bytes()` is made after the target is checked. */
export function writeFileWholeSync(file: string, bytes: () => Uint8Array): void {
  const { dir, temp } = prepare(file, false);
  pending.add(temp);
  try {
    fs.writeFileSync(temp, bytes());
    fs.renameSync(temp, file);
    pending.delete(temp);
  } catch (e) {
    pending.delete(temp);
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // nothing more to do; the write's own error is the one to report
    }
    throw writeError(file, dir, e);
  }
}

/**
 * In a worker_thread, `temp` (a file or folder being written, by child process `pid` when one writes it) is
 * registered with the addon for its environment's teardown (native/napi/teardown.h): worker.terminate() runs
 * no more JavaScript, so the run's own cleanup would never remove it (a terminated stylizeVideo left its
 * hidden .partial- file, finished by ffmpeg once its input closed). Returns the function that unregisters it,
 * to call once the run has removed or renamed `temp`. On the main thread (whose exit the process cleanup
 * handles) and without the addon, nothing is registered.
 */
export function removeAtTeardown(temp: string, folder: boolean, pid = 0): () => void {
  if (!temp && !pid) return () => {};
  if (isMainThread) return () => {};
  try {
    const addon = loadNative();
    const id = addon.registerTeardown?.(temp, folder, pid);
    return id === undefined ? () => {} : () => addon.unregisterTeardown?.(id);
  } catch {
    return () => {};
  }
}

/**
 * removeAtTeardown for a child process that writes no file (the decoder ffmpeg): in a worker_thread
 * terminated mid-run it is killed and reaped at the environment's teardown rather than left running, or as
 * a zombie once its output pipe closes. Returns the function that unregisters it (call it when it exits).
 */
export const killAtTeardown = (pid: number | undefined): (() => void) => (pid ? removeAtTeardown('', false, pid) : () => {});
