// lib/files.ts: whole-or-nothing writes and samePath.
import fs, { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { makeDirs, removePendingTempFiles, removeStaleTempFiles, samePath, writeFileWhole, writeFileWholeSync } from '../lib/files.js';
import { spawnSync } from 'node:child_process';

const tmp = mkdtempSync(path.join(tmpdir(), 'facestyle-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('writeFileWhole', () => {
  it('writes nothing while the bytes are being made, then the whole file under its name', async () => {
    const dir = mkdtempSync(path.join(tmp, 'w-'));
    const file = path.join(dir, 'out.bin');
    let release!: (b: Uint8Array) => void;
    const made = new Promise<Uint8Array>((r) => (release = r));
    const writing = writeFileWhole(file, () => made);
    await new Promise((r) => setTimeout(r, 20));
    // An encode in progress has left no trace in the folder: a stop now would leave nothing behind.
    expect(readdirSync(dir)).toEqual([]);
    removePendingTempFiles();
    release(new Uint8Array([1, 2, 3]));
    await writing;
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
  });

  it('a failing encode leaves an existing file as it was, and no temp file', async () => {
    const dir = mkdtempSync(path.join(tmp, 'f-'));
    const file = path.join(dir, 'keep.bin');
    writeFileSync(file, 'old');
    await expect(writeFileWhole(file, async () => Promise.reject(new Error('encoder broke')))).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('encoder broke') });
    expect(readdirSync(dir)).toEqual(['keep.bin']);
    expect(readFileSync(file, 'utf8')).toBe('old');
  });

  it('refuses a missing folder and a folder as the target before making the bytes', async () => {
    let made = 0;
    const bytes = async () => (++made, new Uint8Array(1));
    await expect(writeFileWhole(path.join(tmp, 'nope', 'x.bin'), bytes)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND' });
    await expect(writeFileWhole(tmp, bytes)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT' });
    expect(made).toBe(0);
  });

  it('refuses a pipe as the target, also through a symlink, and leaves it in place (the rename replaced such files: /dev/null, as root)', async (ctx) => {
    const dir = mkdtempSync(path.join(tmp, 'fifo-'));
    const fifo = path.join(dir, 'pipe.png');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return ctx.skip('mkfifo is not available here');
    symlinkSync(fifo, path.join(dir, 'link.png'));
    let made = 0;
    const bytes = async () => (++made, new Uint8Array(1));
    for (const target of [fifo, path.join(dir, 'link.png')])
      await expect(writeFileWhole(target, bytes)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('a device, pipe or socket') });
    expect(() => writeFileWholeSync(fifo, () => new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT' }));
    expect(made).toBe(0);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(fs.lstatSync(path.join(dir, 'link.png')).isSymbolicLink()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['link.png', 'pipe.png']);
    // (Not tried on /dev/null: a regression would replace the machine's device when the tests run as root.)
  });
});

describe('makeDirs', () => {
  it('makes the missing folders and returns the first one made, undefined when nothing was missing', () => {
    const base = mkdtempSync(path.join(tmp, 'd-'));
    expect(makeDirs(path.join(base, 'a', 'b', 'c'))).toBe(path.join(base, 'a'));
    expect(fs.statSync(path.join(base, 'a', 'b', 'c')).isDirectory()).toBe(true);
    expect(makeDirs(path.join(base, 'a', 'b'))).toBeUndefined();
    writeFileSync(path.join(base, 'f'), 'x');
    expect(() => makeDirs(path.join(base, 'f', 'g'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => makeDirs(path.join(base, 'f'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });

  it.skipIf(!fs.existsSync('/proc/self'))('throws where mkdir answers ENOENT under an existing folder (/proc), where the recursive mkdir of Node 20 loops for ever (skipped without /proc)', () => {
    // In a child with a timeout: the old code never returns, not even to a signal handler.
    const script = `import('${new URL('../lib/files.ts', import.meta.url).pathname.replace(/\.ts$/, '.js').replace('/lib/', '/dist/')}').then((m) => { try { m.makeDirs('/proc/facestyle-x/y'); console.log('made'); } catch (e) { console.log(e.code); } })`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe('ENOENT');
  });
});

describe('samePath', () => {
  const dir = path.join(tmp, 'same');
  mkdirSync(dir, { recursive: true });
  const real = path.join(dir, 'real.jpg');
  writeFileSync(real, 'x');
  writeFileSync(path.join(dir, 'other.jpg'), 'x');
  symlinkSync(real, path.join(dir, 'link.jpg'));
  linkSync(real, path.join(dir, 'hard.jpg'));
  symlinkSync(dir, path.join(tmp, 'same-link'));

  it('sees one file through symlinks, hard links and relative paths', () => {
    expect(samePath(path.join(dir, 'link.jpg'), real)).toBe(true);
    expect(samePath(path.join(dir, 'hard.jpg'), real)).toBe(true);
    expect(samePath(path.join(tmp, 'same-link', 'real.jpg'), real)).toBe(true);
    expect(samePath(path.join(tmp, 'same-link'), dir)).toBe(true);
    expect(samePath(path.relative(process.cwd(), real), real)).toBe(true);
    // A file that does not exist yet, inside a linked folder.
    expect(samePath(path.join(tmp, 'same-link', 'new.jpg'), path.join(dir, 'new.jpg'))).toBe(true);
  });

  it('tells different files apart, even with the same contents', () => {
    expect(samePath(path.join(dir, 'other.jpg'), real)).toBe(false);
    expect(samePath(path.join(dir, 'new.jpg'), real)).toBe(false);
    expect(samePath(dir, real)).toBe(false);
  });
});

describe('removeStaleTempFiles', () => {
  it("removes the temp files of killed writes (their process is gone), never a live process's, nor other files", async () => {
    const dir = mkdtempSync(path.join(tmp, 'stale-'));
    // A pid that has certainly ended: a child that ran and exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const alive = process.ppid; // the test runner's parent: running
    const names = [
      `.out.onnx.partial-${dead}-0a1b2c3d.tmp`, // writeFileWhole's, from a killed export: stale
      `.out.onnx.partial-${alive}-0a1b2c3d.tmp`, // a write in progress elsewhere: kept
      `.out.onnx.partial-${process.pid}-0a1b2c3d.tmp`, // this process's own: kept
      `.other.onnx.partial-${dead}-0a1b2c3d.tmp`, // another file's: kept
      `.out.onnx.old-${dead}-0a1b2c3d`, // a swapped-aside old output: user data, kept
      'out.onnx',
    ];
    for (const n of names) writeFileSync(path.join(dir, n), 'x');
    await writeFileWhole(path.join(dir, 'out.onnx'), async () => new Uint8Array([7]));
    expect(readdirSync(dir).sort()).toEqual(names.slice(1).sort());
    expect([...readFileSync(path.join(dir, 'out.onnx'))]).toEqual([7]);
    // The video encoder's temp names drop the extension before '.partial' (ffmpeg needs it last).
    writeFileSync(path.join(dir, `.clip.partial-${dead}-00ff00ff.mp4`), 'x');
    mkdirSync(path.join(dir, `.frames.partial-${dead}-00ff00ff`));
    expect(removeStaleTempFiles(path.join(dir, 'clip.mp4'), 'clip')).toEqual([`.clip.partial-${dead}-00ff00ff.mp4`]);
    expect(removeStaleTempFiles(path.join(dir, 'frames'))).toEqual([`.frames.partial-${dead}-00ff00ff`]);
    expect(removeStaleTempFiles(path.join(dir, 'missing-folder', 'x.png'))).toEqual([]);
  });
});

describe('writeFileWhole into a folder of many outputs', () => {
  it('lists the folder for stale temp files once, at its first write, not at every write', async () => {
    const dir = mkdtempSync(path.join(tmp, 'once-'));
    const listings = vi.spyOn(fs, 'readdirSync');
    for (let i = 0; i < 5; ++i) await writeFileWhole(path.join(dir, `img${i}.png`), async () => new Uint8Array([i]));
    expect(listings.mock.calls.filter(([d]) => path.resolve(String(d)) === dir)).toHaveLength(1);
    listings.mockRestore();
    expect(readdirSync(dir).sort()).toEqual(['img0.png', 'img1.png', 'img2.png', 'img3.png', 'img4.png']);
  });
});
