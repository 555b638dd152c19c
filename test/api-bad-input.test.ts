// Bad input to the public file and tensor APIs: Tensor (constructor and factories), safetensors read/write,
// exportOnnx and saveTensorImage. Each case is a FacestyleError with the exact code and a message naming
// what was received; a failed write leaves no temp file in the folder and an existing target unchanged.
import fs, { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { GraphBuilder } from '../lib/graph/builder.js';
import { Tensor } from '../lib/graph/tensor.js';
import { saveTensorImage } from '../lib/image/io.js';
import { exportOnnx } from '../lib/onnx/export.js';
import { readSafetensors, writeSafetensors } from '../lib/train/safetensors.js';
import { type Coded, caught, expectCoded, rejected } from './helpers/errors.js';



const root = mkdtempSync(path.join(os.tmpdir(), 'facestyle-api-bad-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
});
let n = 0;
/** A fresh empty folder per case, so its listing shows exactly what a write left behind. */
const folder = () => {
  const d = path.join(root, `case-${++n}`);
  mkdirSync(d);
  return d;
};
const listing = (dir: string) => readdirSync(dir).sort();
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
const eisdir = (p: string) => Object.assign(new Error(`EISDIR: illegal operation on a directory, rename -> '${p}'`), { code: 'EISDIR' });

const tiny = () => new Map([['w', new Tensor([2, 2], [1, 2, 3, 4])]]);

describe('Tensor', () => {
  it('new Tensor(null) / new Tensor() / a non-array shape: ERR_FACESTYLE_ARGUMENT naming what was received', () => {
    const T = Tensor as unknown as new (...a: unknown[]) => Tensor;
    expectCoded(caught(() => new T(null)), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', 'received null');
    expectCoded(caught(() => new T()), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', 'received undefined');
    expectCoded(caught(() => new T('23')), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', "'23'");
    expectCoded(caught(() => new T([2, '3'])), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', "[2,'3']");
    expectCoded(caught(() => new T({ length: 1, 0: 2 })), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape');
  });

  it('negative, fractional, NaN and unsafe dimensions are ERR_FACESTYLE_SHAPE naming the shape (as in the graph builder)', () => {
    expectCoded(caught(() => new Tensor([2, -1])), 'ERR_FACESTYLE_SHAPE', 'non-negative integer', '[2,-1]');
    expectCoded(caught(() => new Tensor([1.5])), 'ERR_FACESTYLE_SHAPE', '[1.5]');
    expectCoded(caught(() => new Tensor([Number.NaN])), 'ERR_FACESTYLE_SHAPE', '[NaN]');
    // 2^60 x 0 has zero elements but the first dimension is not a safe integer.
    expectCoded(caught(() => new Tensor([2 ** 60, 0])), 'ERR_FACESTYLE_SHAPE', 'non-negative integer');
  });

  it("new Tensor([2], 'ab') and other non-array data: ERR_FACESTYLE_ARGUMENT naming the value", () => {
    const bad = (d: unknown) => caught(() => new Tensor([2], d as Float32Array));
    expectCoded(bad('ab'), 'ERR_FACESTYLE_ARGUMENT', 'tensor data', "'ab'");
    expectCoded(bad(null), 'ERR_FACESTYLE_ARGUMENT', 'tensor data', 'null');
    expectCoded(bad(7), 'ERR_FACESTYLE_ARGUMENT', 'tensor data', '7');
    expectCoded(bad({}), 'ERR_FACESTYLE_ARGUMENT', 'tensor data', 'Object');
    expectCoded(bad(new BigInt64Array(2)), 'ERR_FACESTYLE_ARGUMENT', 'tensor data', 'BigInt64Array(2)');
    expectCoded(bad(['a', 'b']), 'ERR_FACESTYLE_ARGUMENT', 'tensor data[0]', "'a'");
    expectCoded(bad([1, undefined]), 'ERR_FACESTYLE_ARGUMENT', 'tensor data[1]', 'undefined');
  });

  it('data of the wrong size: ERR_FACESTYLE_SHAPE with both counts', () => {
    expectCoded(caught(() => new Tensor([2], [1, 2, 3])), 'ERR_FACESTYLE_SHAPE', '[2]', 'needs 2 values', 'received 3');
    expectCoded(caught(() => new Tensor([2, 2], new Float32Array(3))), 'ERR_FACESTYLE_SHAPE', '[2,2]', 'needs 4', 'received 3');
    expectCoded(caught(() => new Tensor([3], new Uint8Array(2))), 'ERR_FACESTYLE_SHAPE', 'needs 3', 'received 2');
    expectCoded(caught(() => new Tensor([1, 2]).reshape([3])), 'ERR_FACESTYLE_SHAPE', 'needs 3', 'received 2');
  });

  it('every supported data form still works: Float32Array shared, arrays, typed arrays and array-likes copied', () => {
    const f = new Float32Array([1, 2, 3, 4]);
    const t = new Tensor([2, 2], f);
    expect(t.data).toBe(f);
    expect(Array.from(new Tensor([3], [1, -2.5, Number.NaN]).data)).toEqual([1, -2.5, Number.NaN]);
    expect(Array.from(new Tensor([2], new Float64Array([0.5, 8])).data)).toEqual([0.5, 8]);
    expect(Array.from(new Tensor([2], Buffer.from([3, 255])).data)).toEqual([3, 255]);
    expect(Array.from(new Tensor([2], { length: 2, 0: 4, 1: 5 }).data)).toEqual([4, 5]);
    expect(Array.from(new Tensor([], [9]).data)).toEqual([9]);
    expect(new Tensor([2, 0, 3]).size).toBe(0);
    expect(Array.from(new Tensor([2, 1]).data)).toEqual([0, 0]);
  });

  it("Tensor.random([2], 'x') and other bad factory arguments: ERR_FACESTYLE_ARGUMENT naming the value", () => {
    const R = Tensor.random as (...a: unknown[]) => Tensor;
    const F = Tensor.fill as (...a: unknown[]) => Tensor;
    expectCoded(caught(() => R([2], 'x')), 'ERR_FACESTYLE_ARGUMENT', 'seed', "'x'");
    expectCoded(caught(() => R([2], Number.NaN)), 'ERR_FACESTYLE_ARGUMENT', 'seed', 'NaN');
    expectCoded(caught(() => R([2], Number.POSITIVE_INFINITY)), 'ERR_FACESTYLE_ARGUMENT', 'seed', 'Infinity');
    expectCoded(caught(() => R([2], 1, 'a')), 'ERR_FACESTYLE_ARGUMENT', 'lo', "'a'");
    expectCoded(caught(() => R([2], 1, 0, null)), 'ERR_FACESTYLE_ARGUMENT', 'hi', 'null');
    expectCoded(caught(() => R(null)), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', 'null');
    expectCoded(caught(() => F(undefined, 1)), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', 'undefined');
    expectCoded(caught(() => F([2], 'x')), 'ERR_FACESTYLE_ARGUMENT', 'fill value', "'x'");
    expectCoded(caught(() => (Tensor.zeros as (s: unknown) => Tensor)(5)), 'ERR_FACESTYLE_ARGUMENT', 'tensor shape', '5');
    // The good forms: reproducible, in range, NaN fill allowed.
    expect(Array.from(Tensor.random([4], 3, 2, 5).data)).toEqual(Array.from(Tensor.random([4], 3, 2, 5).data));
    expect(Tensor.random([64], 3, 2, 5).data.every((v) => v >= 2 && v < 5)).toBe(true);
    expect(Tensor.fill([2], Number.NaN).data.every(Number.isNaN)).toBe(true);
  });
});

describe('readSafetensors / writeSafetensors', () => {
  it('readSafetensors(null): ERR_FACESTYLE_ARGUMENT naming null', async () => {
    expectCoded(await rejected(() => readSafetensors(null as unknown as string)), 'ERR_FACESTYLE_ARGUMENT', 'received null');
    expectCoded(await rejected(() => readSafetensors('' as string)), 'ERR_FACESTYLE_ARGUMENT', "received ''");
  });

  it('readSafetensors(<a folder>): ERR_FACESTYLE_ARGUMENT naming it', async () => {
    const dir = folder();
    expectCoded(await rejected(() => readSafetensors(dir)), 'ERR_FACESTYLE_ARGUMENT', dir, 'folder');
  });

  it('readSafetensors(<missing file>): ERR_FACESTYLE_NOT_FOUND naming it (also through a file)', async () => {
    const dir = folder();
    const missing = path.join(dir, 'nope.safetensors');
    expectCoded(await rejected(() => readSafetensors(missing)), 'ERR_FACESTYLE_NOT_FOUND', missing);
    writeFileSync(path.join(dir, 'plain'), 'x');
    const through = path.join(dir, 'plain', 'w.safetensors');
    expectCoded(await rejected(() => readSafetensors(through)), 'ERR_FACESTYLE_NOT_FOUND', through);
  });

  it('writeSafetensors(file, {a:1}): ERR_FACESTYLE_ARGUMENT, nothing written', async () => {
    const dir = folder();
    const file = path.join(dir, 'w.safetensors');
    const e = await rejected(() => writeSafetensors(file, { a: 1 } as unknown as Map<string, Tensor>));
    expectCoded(e, 'ERR_FACESTYLE_ARGUMENT', 'tensors', 'Map', 'received Object');
    expect(listing(dir)).toEqual([]);
  });

  it("writeSafetensors(file, new Map([['a', 5]])): ERR_FACESTYLE_ARGUMENT naming the entry; bad metadata names its key", async () => {
    const dir = folder();
    const file = path.join(dir, 'w.safetensors');
    const e = await rejected(() => writeSafetensors(file, new Map([['a', 5]]) as unknown as Map<string, Tensor>));
    expectCoded(e, 'ERR_FACESTYLE_ARGUMENT', "tensor 'a'", 'received 5');
    const m = await rejected(() => writeSafetensors(file, tiny(), { step: 3 } as unknown as Record<string, string>));
    expectCoded(m, 'ERR_FACESTYLE_ARGUMENT', "metadata 'step'", 'received 3');
    const k = await rejected(() => writeSafetensors(file, new Map([['__metadata__', new Tensor([1])]])));
    expectCoded(k, 'ERR_FACESTYLE_ARGUMENT', '__metadata__');
    expect(listing(dir)).toEqual([]);
  });

  it('writing into a folder that cannot exist (a part of the path is a file): ERR_FACESTYLE_NOT_FOUND naming the folder', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'plain'), 'x');
    const sub = path.join(dir, 'plain', 'sub');
    const e = await rejected(() => writeSafetensors(path.join(sub, 'w.safetensors'), tiny()));
    expectCoded(e, 'ERR_FACESTYLE_NOT_FOUND', `'${sub}'`);
    expect(listing(dir)).toEqual(['plain']);
    expect(readFileSync(path.join(dir, 'plain'), 'utf8')).toBe('x');
  });

  it('writing onto a folder: ERR_FACESTYLE_ARGUMENT, no temp file left', async () => {
    const dir = folder();
    const target = path.join(dir, 'adir');
    mkdirSync(target);
    expectCoded(await rejected(() => writeSafetensors(target, tiny())), 'ERR_FACESTYLE_ARGUMENT', target, 'folder');
    expect(listing(dir)).toEqual(['adir']);
    expect(statSync(target).isDirectory()).toBe(true);
  });

  it('a write that fails half-way or a failed rename removes the temp file and keeps the existing target', async () => {
    const dir = folder();
    const file = path.join(dir, 'w.safetensors');
    await writeSafetensors(file, tiny(), { v: 'old' });
    expect(listing(dir)).toEqual(['w.safetensors']);
    const before = readFileSync(file);
    const realWrite = fs.promises.writeFile;
    const write = vi.spyOn(fs.promises, 'writeFile').mockImplementation(async (p, data) => {
      await realWrite(p, (data as Buffer).subarray(0, 10)); // a partial temp file, then the disk is full
      throw enospc();
    });
    const e = await rejected(() => writeSafetensors(file, new Map([['w', new Tensor([3], [7, 8, 9])]]), { v: 'new' }));
    expect(write).toHaveBeenCalledTimes(1);
    expect(String(write.mock.calls[0][0])).toContain('.tmp');
    expectCoded(e, 'ERR_FACESTYLE_OUT_OF_MEMORY', file, 'no space left on the device', 'ENOSPC');
    expect(listing(dir)).toEqual(['w.safetensors']);
    expect(readFileSync(file).equals(before)).toBe(true);
    write.mockRestore();

    // The target turned into a folder between the check and the rename.
    const rename = vi.spyOn(fs.promises, 'rename').mockRejectedValue(eisdir(file));
    const r = await rejected(() => writeSafetensors(file, new Map([['w', new Tensor([1], [1])]]), { v: 'new' }));
    expect(rename).toHaveBeenCalledTimes(1);
    expectCoded(r, 'ERR_FACESTYLE_ARGUMENT', file, 'folder');
    expect(listing(dir)).toEqual(['w.safetensors']);
    expect(readFileSync(file).equals(before)).toBe(true);
    rename.mockRestore();

    // And a good write replaces it, leaving only the target.
    await writeSafetensors(file, new Map([['w', new Tensor([3], [7, 8, 9])]]), { v: 'new' });
    expect(listing(dir)).toEqual(['w.safetensors']);
    const back = await readSafetensors(file);
    expect(back.metadata.v).toBe('new');
    expect(Array.from(back.tensors.get('w')!.data)).toEqual([7, 8, 9]);
  });
});

describe('a failed write names its real cause, not the format (writeError)', () => {
  // A folder made read-only (chmod 0o555) stops no one running as root, as the tests here do: the errno
  // mapping is tested on synthetic errors, the ENOENT of a folder that exists on a real one (/proc).
  const errno = (code: string, syscall = 'open') => Object.assign(new Error(`${code}: the system said no, ${syscall} '/out/.a.png.partial-1-ab.tmp'`), { code, syscall, errno: -1 });
  it('permission, read-only and no-space errors: ERR_FACESTYLE_NOT_FOUND / _OUT_OF_MEMORY saying so (ERR_FACESTYLE_FORMAT before)', async () => {
    const { writeError } = await import('../lib/files.js');
    const dir = folder();
    const file = path.join(dir, 'a.png');
    for (const code of ['EACCES', 'EPERM']) expectCoded(writeError(file, dir, errno(code)), 'ERR_FACESTYLE_NOT_FOUND', `Cannot write '${file}'`, 'permission denied', code);
    expectCoded(writeError(file, dir, errno('EROFS')), 'ERR_FACESTYLE_NOT_FOUND', 'read-only file system', dir);
    expectCoded(writeError(file, dir, errno('ENOSPC', 'write')), 'ERR_FACESTYLE_OUT_OF_MEMORY', 'no space left on the device', 'disk full', 'ENOSPC');
    expectCoded(writeError(file, dir, errno('EDQUOT', 'write')), 'ERR_FACESTYLE_OUT_OF_MEMORY', 'disk quota exceeded');
    expectCoded(writeError(file, dir, errno('EIO', 'write')), 'ERR_FACESTYLE_NOT_FOUND', 'EIO');
    expectCoded(writeError(file, dir, errno('ENAMETOOLONG')), 'ERR_FACESTYLE_ARGUMENT', 'name is too long');
    // An encoder's own failure (not the file system's) still blames the data.
    expectCoded(writeError(file, dir, new Error('encoder broke')), 'ERR_FACESTYLE_FORMAT', 'encoder broke');
  });

  it("ENOENT: 'the folder does not exist' only when it does not", async () => {
    const { writeError } = await import('../lib/files.js');
    const missing = path.join(root, 'no-such-folder');
    expect(writeError(path.join(missing, 'a.png'), missing, errno('ENOENT')).message).toBe(`Cannot write '${path.join(missing, 'a.png')}': the folder '${missing}' does not exist`);
    const dir = folder();
    const e = writeError(path.join(dir, 'a.png'), dir, errno('ENOENT'));
    expectCoded(e, 'ERR_FACESTYLE_NOT_FOUND', `the folder '${dir}' exists but would not take the file`, 'ENOENT');
    expect(e.message).not.toContain('does not exist');
  });

  it.runIf(process.platform === 'linux' && fs.existsSync('/proc/self'))("a write into /proc (a virtual file system: ENOENT, the folder exists) does not say '/proc' is missing", async () => {
    const e = await rejected(() => saveTensorImage(Tensor.fill([1, 3, 2, 2], 0.5), '/proc/facestyle-test.png'));
    expectCoded(e, 'ERR_FACESTYLE_NOT_FOUND', "Cannot write '/proc/facestyle-test.png'", "the folder '/proc' exists");
    expect(e.message).not.toContain('does not exist');
  });
});

describe('exportOnnx', () => {
  const graph = () => {
    const g = new GraphBuilder('tiny');
    g.output(g.op1('Relu', [g.input('x', [1, 2])]), 'y');
    return g.build();
  };

  it('into a missing folder: ERR_FACESTYLE_NOT_FOUND naming the folder (also through a file)', () => {
    const dir = folder();
    const missing = path.join(dir, 'no-such');
    expectCoded(caught(() => exportOnnx(graph(), path.join(missing, 'm.onnx'))), 'ERR_FACESTYLE_NOT_FOUND', `'${missing}'`);
    writeFileSync(path.join(dir, 'plain'), 'x');
    const through = path.join(dir, 'plain');
    expectCoded(caught(() => exportOnnx(graph(), path.join(through, 'm.onnx'))), 'ERR_FACESTYLE_NOT_FOUND', `'${through}'`);
    expect(listing(dir)).toEqual(['plain']);
  });

  it('onto a folder: ERR_FACESTYLE_ARGUMENT, no temp file left', () => {
    const dir = folder();
    const target = path.join(dir, 'm.onnx');
    mkdirSync(target);
    expectCoded(caught(() => exportOnnx(graph(), target)), 'ERR_FACESTYLE_ARGUMENT', target, 'folder');
    expect(listing(dir)).toEqual(['m.onnx']);
    expect(statSync(target).isDirectory()).toBe(true);
  });

  it('a write that fails half-way or a failed rename removes the temp file and keeps the existing model', () => {
    const dir = folder();
    const file = path.join(dir, 'm.onnx');
    writeFileSync(file, 'the old model');
    const realWrite = fs.writeFileSync;
    const write = vi.spyOn(fs, 'writeFileSync').mockImplementation((p, data) => {
      realWrite(p as string, (data as Uint8Array).subarray(0, 5));
      throw enospc();
    });
    const e = caught(() => exportOnnx(graph(), file));
    expect(write).toHaveBeenCalledTimes(1);
    expect(String(write.mock.calls[0][0])).toContain('.tmp');
    expectCoded(e, 'ERR_FACESTYLE_OUT_OF_MEMORY', file, 'no space left on the device', 'ENOSPC');
    expect(listing(dir)).toEqual(['m.onnx']);
    expect(readFileSync(file, 'utf8')).toBe('the old model');
    write.mockRestore();

    const rename = vi.spyOn(fs, 'renameSync').mockImplementation(() => {
      throw eisdir(file);
    });
    const r = caught(() => exportOnnx(graph(), file));
    expect(rename).toHaveBeenCalledTimes(1);
    expectCoded(r, 'ERR_FACESTYLE_ARGUMENT', file, 'folder');
    expect(listing(dir)).toEqual(['m.onnx']);
    expect(readFileSync(file, 'utf8')).toBe('the old model');
    rename.mockRestore();

    exportOnnx(graph(), file);
    expect(listing(dir)).toEqual(['m.onnx']);
    expect(readFileSync(file).length).toBeGreaterThan(20);
    expect(readFileSync(file, 'utf8')).not.toBe('the old model');
  });
});

describe('saveTensorImage', () => {
  const image = () => Tensor.fill([1, 3, 2, 3], 0.5);

  it('into a missing folder: ERR_FACESTYLE_NOT_FOUND naming the folder', async () => {
    const dir = folder();
    const missing = path.join(dir, 'no-such');
    expectCoded(await rejected(() => saveTensorImage(image(), path.join(missing, 'a.png'))), 'ERR_FACESTYLE_NOT_FOUND', `'${missing}'`);
    expect(listing(dir)).toEqual([]);
  });

  it("an unsupported extension like '.xyz': ERR_FACESTYLE_ARGUMENT naming the file and listing the supported ones", async () => {
    const dir = folder();
    const file = path.join(dir, 'a.xyz');
    expectCoded(await rejected(() => saveTensorImage(image(), file)), 'ERR_FACESTYLE_ARGUMENT', file, '.png', '.jpg', '.webp', '.tiff');
    expectCoded(await rejected(() => saveTensorImage(image(), path.join(dir, 'noext'))), 'ERR_FACESTYLE_ARGUMENT', 'noext', '.png');
    expectCoded(await rejected(() => saveTensorImage(image(), null as unknown as string)), 'ERR_FACESTYLE_ARGUMENT', 'received null');
    expectCoded(await rejected(() => saveTensorImage({} as Tensor, path.join(dir, 'a.png'))), 'ERR_FACESTYLE_ARGUMENT', 'Tensor', 'received Object');
    expect(listing(dir)).toEqual([]);
  });

  it('onto a folder: ERR_FACESTYLE_ARGUMENT, nothing left behind', async () => {
    const dir = folder();
    const target = path.join(dir, 'a.png');
    mkdirSync(target);
    expectCoded(await rejected(() => saveTensorImage(image(), target)), 'ERR_FACESTYLE_ARGUMENT', target, 'folder');
    expect(listing(dir)).toEqual(['a.png']);
  });

  it('writes through a temp file: the format follows the extension, and a failed rename removes the temp and keeps the old image', async () => {
    const dir = folder();
    const file = path.join(dir, 'a.JPG');
    await saveTensorImage(image(), file);
    expect(listing(dir)).toEqual(['a.JPG']);
    expect((await sharp(file).metadata()).format).toBe('jpeg');
    const png = path.join(dir, 'b.png');
    await saveTensorImage(image(), png);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 3, 2]);
    const before = readFileSync(png);

    const rename = vi.spyOn(fs.promises, 'rename').mockRejectedValue(enospc());
    const e = await rejected(() => saveTensorImage(Tensor.fill([1, 3, 4, 4], 0.1), png));
    expect(rename).toHaveBeenCalledTimes(1);
    const tempName = String(rename.mock.calls[0][0]);
    expect(path.dirname(tempName)).toBe(dir);
    expect(path.basename(tempName)).toContain('.tmp');
    expectCoded(e, 'ERR_FACESTYLE_OUT_OF_MEMORY', png, 'no space left on the device');
    expect(listing(dir)).toEqual(['a.JPG', 'b.png']);
    expect(readFileSync(png).equals(before)).toBe(true);
  });
});

describe('frames, crops, generators (a second walkthrough of the API)', () => {
  it('an RgbImage alpha of the wrong length or type: ERR_FACESTYLE_ARGUMENT (it was dropped silently)', async () => {
    const { checkRgbImage } = await import('../lib/face/image.js');
    const image = { data: new Uint8Array(4 * 3 * 3), width: 4, height: 3 };
    expect(checkRgbImage({ ...image, alpha: new Uint8Array(12) })).toBeTruthy();
    for (const alpha of [new Uint8Array(5), 'x', new Float32Array(12)])
      expectCoded(caught(() => checkRgbImage({ ...image, alpha } as never)), 'ERR_FACESTYLE_ARGUMENT', 'image.alpha', 'width*height');
  });

  it('readFrameFolder with a negative or fractional maxFrames: ERR_FACESTYLE_ARGUMENT', async () => {
    const { readFrameFolder } = await import('../lib/video/frames.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-frames-'));
    try {
      for (const maxFrames of [-1, 1.5]) expectCoded(await rejected(() => readFrameFolder(dir, { maxFrames }).next()), 'ERR_FACESTYLE_ARGUMENT', 'maxFrames');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("loadGenerator's size and batch: named as given ('64' was reported as 6), batch 0 refused", async () => {
    const { loadGenerator } = await import('../lib/nn/load.js');
    const card = new URL('../models/comic-light.json', import.meta.url).pathname;
    expectCoded(await rejected(() => loadGenerator(card, { size: '64' as never })), 'ERR_FACESTYLE_ARGUMENT', '"64"');
    expectCoded(await rejected(() => loadGenerator(card, { size: -8 })), 'ERR_FACESTYLE_ARGUMENT', '-8');
    expectCoded(await rejected(() => loadGenerator(card, { size: 64, batch: 0 })), 'ERR_FACESTYLE_ARGUMENT', 'batch', '0');
    const { graph } = await loadGenerator(card, { size: 64, batch: 2 });
    expect(graph.values[graph.inputs[0]].shape).toEqual([2, 3, 64, 64]);
  });

  it('FaceStylizer.stylizeCrops with something other than [N,3,size,size] crops: ERR_FACESTYLE_ARGUMENT (a TypeError before)', async () => {
    const { createFaceStylizer } = await import('../lib/face/stylize.js');
    const stylizer = await createFaceStylizer({ size: 64, detector: '/nonexistent.onnx' });
    try {
      expectCoded(await rejected(() => stylizer.stylizeCrops(new Float32Array(3 * 64 * 64) as never)), 'ERR_FACESTYLE_ARGUMENT', 'crops', '[N,3,64,64]');
      expectCoded(await rejected(() => stylizer.stylizeCrops(new Tensor([1, 3, 32, 32]))), 'ERR_FACESTYLE_ARGUMENT', '[1,3,32,32]');
      const y = await stylizer.stylizeCrops(new Tensor([1, 3, 64, 64], new Float32Array(3 * 64 * 64).fill(0.5)));
      expect(y.shape).toEqual([1, 3, 64, 64]);
      // A NaN in the caller's crops is named as theirs (crop and element), not blamed on the model.
      const bad = new Float32Array(2 * 3 * 64 * 64).fill(0.5);
      bad[3 * 64 * 64 + 5] = Number.NaN;
      const e = await rejected(() => stylizer.stylizeCrops(new Tensor([2, 3, 64, 64], bad)));
      expectCoded(e, 'ERR_FACESTYLE_NUMERIC', 'crops holds NaN', 'crop 2 of 2, element 5');
      expect((e as Error).message).not.toMatch(/model|[Gg]enerator/);
    } finally {
      await stylizer.dispose();
    }
    // Disposed: every call says so about the stylizer (detect() still ran; others spoke of "the session").
    const frame = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 };
    for (const call of [() => stylizer.detect(frame), () => stylizer.stylizeFrame(frame), () => stylizer.stylizeAligned(frame), () => stylizer.stylizeCrops(new Tensor([1, 3, 64, 64])), () => stylizer.prepare()])
      expectCoded(await rejected(call), 'ERR_FACESTYLE_DISPOSED', 'FaceStylizer was disposed');
  });

  it('checkParity with a feed for an input the model lacks names the feeds (it spoke of inputShapes)', async () => {
    const { checkParity } = await import('../lib/onnx/parity.js');
    const { exportOnnxBuffer } = await import('../lib/onnx/export.js');
    const g = new GraphBuilder('p', { seed: 1 });
    g.output(g.relu(g.input('x', [1, 2, 4, 4])), 'y');
    const bytes = exportOnnxBuffer(g.build());
    expectCoded(await rejected(() => checkParity(bytes, { feeds: { nope: new Tensor([1, 2, 4, 4]) } })), 'ERR_FACESTYLE_ARGUMENT', 'feeds', "'nope'", 'x');
    // A seed that is not a whole number was replaced by 1 without a word.
    expectCoded(await rejected(() => checkParity(bytes, { seed: 'x' as never })), 'ERR_FACESTYLE_ARGUMENT', "for seed but received 'x'");
  });
});

describe('options that must be what they say (a second walkthrough of the API)', () => {
  it("booleans must be booleans ('no' is truthy), trainConfig takes an object and a whole-number seed", async () => {
    const { compile } = await import('../lib/runtime/session.js');
    const { trainConfig } = await import('../lib/train/trainer.js');
    const { stylize } = await import('../lib/face/stylize.js');
    const { stylizeVideo } = await import('../lib/video/pipeline.js');
    const g = new GraphBuilder('b', { seed: 1 });
    g.output(g.relu(g.input('x', [1, 4])), 'y');
    for (const k of ['reuseBuffers', 'profile']) expectCoded(await rejected(() => compile(g.build(), { [k]: 'no' })), 'ERR_FACESTYLE_ARGUMENT', k);
    const s = await compile(g.build(), { reuseBuffers: false, profile: true });
    s.dispose();
    for (const bad of ['x', [1], null]) expectCoded(caught(() => trainConfig(bad as never)), 'ERR_FACESTYLE_ARGUMENT', 'training options');
    for (const seed of [Number.NaN, 1.5]) expectCoded(caught(() => trainConfig({ seed })), 'ERR_FACESTYLE_ARGUMENT', 'seed');
    expect(trainConfig({ seed: 7 }).seed).toBe(7);
    const image = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 };
    expectCoded(await rejected(() => stylize(image, { aligned: 'yes' as never })), 'ERR_FACESTYLE_ARGUMENT', 'aligned');
    expectCoded(await rejected(() => stylizeVideo('in.mp4', 'out.mp4', { strict: 'no' as never })), 'ERR_FACESTYLE_ARGUMENT', 'strict');
  });
});

describe('the frame API checks what it is given (a frame-API review)', () => {
  it('LandmarkModel.load of a non-path, refine of non-faces, a generator of an unusable size or returning no Tensor: coded errors', async () => {
    const { LandmarkModel } = await import('../lib/face/detect.js');
    const { createFaceStylizer } = await import('../lib/face/stylize.js');
    // 123, false or {} loaded the default model.
    for (const bad of [123, false, {}]) expectCoded(await rejected(() => LandmarkModel.load(bad as never)), 'ERR_FACESTYLE_ARGUMENT', 'landmark model');
    const image = { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 };
    const lm = Object.create(LandmarkModel.prototype) as InstanceType<typeof LandmarkModel>; // refine checks before it runs anything
    for (const [faces, named] of [[null, 'faces'], [['x'], 'faces[0].box'], [[{ box: [0, 0, Number.NaN, 4], landmarks: [] }], 'faces[0].box']] as const)
      expectCoded(await rejected(() => lm.refine(image, faces as never)), 'ERR_FACESTYLE_ARGUMENT', named);
    // A generator of size 0 or 100000 was taken, and its first frame failed naming a size option never set.
    for (const size of [0, 3, 100000]) expectCoded(await rejected(() => createFaceStylizer({ model: { size, run: async (x: Tensor) => x, dispose: async () => {} } as never })), 'ERR_FACESTYLE_ARGUMENT', "generator's size");
    // A generator returning undefined failed as a TypeError.
    const { checkGeneratorOutput } = await import('../lib/face/stylize.js');
    for (const y of [undefined, new Float32Array(3)]) expectCoded(caught(() => checkGeneratorOutput([1, 3, 16, 16], y as never, 'mine')), 'ERR_FACESTYLE_SHAPE', "Generator 'mine' returned", 'not a Tensor');
    // A side over 2^20 passed the image check and failed in native code as "width ... 1048577.000000".
    const { checkRgbImage } = await import('../lib/face/image.js');
    expectCoded(caught(() => checkRgbImage({ data: new Uint8Array(1048577 * 2 * 3), width: 1048577, height: 2 })), 'ERR_FACESTYLE_ARGUMENT', '1048577x2', 'at most 1048576');
    // One matrix where an array of them is due: named as such (it said "matrices holds 6").
    const { pasteFaces } = await import('../lib/face/paste.js');
    expectCoded(await rejected(() => pasteFaces(image, new Tensor([1, 3, 8, 8]), [1, 0, 0, 0, 1, 0] as never)), 'ERR_FACESTYLE_ARGUMENT', 'matrices is one matrix', '[matrix] for one crop');
  });
});

describe('GraphBuilder checks what it is given (an engine review)', () => {
  it("refuses unknown options, a non-boolean bias, 'same' padding it cannot keep, and an output name already taken", () => {
    expectCoded(caught(() => new GraphBuilder('g', { sed: 5 } as never)), 'ERR_FACESTYLE_ARGUMENT', "Unknown option 'sed' for GraphBuilder", "did you mean 'seed'");
    const g = new GraphBuilder('g', { seed: 1 });
    const x = g.input('x', [1, 3, 8, 8]);
    // 'padding' was ignored (a 6x6 output), 'no' was a truthy bias.
    expectCoded(caught(() => g.conv2d(x, { out: 4, kernel: 3, padding: 1 } as never)), 'ERR_FACESTYLE_ARGUMENT', "Unknown option 'padding' for conv2d", 'it takes: bias, dilation, groups, kernel, name, out, pad, stride');
    expectCoded(caught(() => g.conv2d(x, { out: 4, kernel: 3, bias: 'no' as never })), 'ERR_FACESTYLE_ARGUMENT', 'bias');
    // 'same' with an even kernel gave 7x7 from 8x8.
    expectCoded(caught(() => g.conv2d(x, { out: 4, kernel: 2, pad: 'same' })), 'ERR_FACESTYLE_ARGUMENT', "pad 'same' needs stride 1 and an odd kernel");
    expectCoded(caught(() => g.conv2d(x, { out: 4, kernel: 3, pad: 'same', stride: 2 })), 'ERR_FACESTYLE_ARGUMENT', "pad 'same'");
    const y = g.conv2d(x, { out: 4, kernel: 3, pad: 'same', dilation: 2 });
    expect(y.shape).toEqual([1, 4, 8, 8]);
    // An output named like the input came back under 'x_'.
    expectCoded(caught(() => g.output(y, 'x')), 'ERR_FACESTYLE_ARGUMENT', "Output name 'x' is already the name of another value");
    expect(g.output(y, 'y').name).toBe('y');
  });
});

describe('image, warp, mask and drawing helpers check their arguments (a third walkthrough)', () => {
  const notRead = path.join(root, 'never-read.png'); // size checks come before the file is opened
  it('imageToTensor / tensorToImage: sizes checked before decoding, ranges, enums and empty images are coded', async () => {
    const { imageToTensor, tensorToImage } = await import('../lib/image/io.js');
    const png = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
    // Too large for a tensor: refused before anything is decoded or resized (the path need not exist).
    for (const size of [100000, [30000, 30000] as [number, number]]) expectCoded(await rejected(() => imageToTensor(notRead, { size })), 'ERR_FACESTYLE_SHAPE', 'too large');
    for (const [opts, named] of [
      [{ range: [Number.NaN, 1] }, 'range'],
      [{ range: [1, 1] }, 'range'],
      [{ range: 'abc' }, 'range'],
      [{ fit: 'zoom' }, 'fit'],
      [{ channels: 'gbr' }, 'channels'],
      [{ limitInputPixels: -1 }, 'limitInputPixels'],
      [{ size: [4] }, 'size'],
    ] as [object, string][])
      expectCoded(await rejected(() => imageToTensor(png, opts as never)), 'ERR_FACESTYLE_ARGUMENT', named);
    const t = await imageToTensor(png, { range: [-1, 1], channels: 'bgr' });
    expect(t.shape).toEqual([1, 3, 4, 6]);
    expect(t.data[0]).toBeCloseTo(30 / 127.5 - 1, 5); // bgr: blue first
    expectCoded(await rejected(() => tensorToImage(t, { format: 'bmp' as never })), 'ERR_FACESTYLE_ARGUMENT', 'format');
    expectCoded(await rejected(() => tensorToImage(t, { range: [0, 0] })), 'ERR_FACESTYLE_ARGUMENT', 'range');
    expectCoded(await rejected(() => tensorToImage(new Tensor([1, 3, 0, 0], new Float32Array(0)))), 'ERR_FACESTYLE_SHAPE', '1x1');
    expect((await sharp(await tensorToImage(t, { range: [-1, 1], channels: 'bgr', format: 'webp' })).metadata()).format).toBe('webp');
    // Every format the package writes, 'jpg' taken for 'jpeg'; limitInputPixels 0 is "no limit", as in sharp.
    for (const [format, read] of [['jpg', 'jpeg'], ['tiff', 'tiff'], ['gif', 'gif']] as const)
      expect((await sharp(await tensorToImage(t, { range: [-1, 1], format })).metadata()).format).toBe(read);
    expect((await imageToTensor(png, { limitInputPixels: 0 })).shape).toEqual([1, 3, 4, 6]);
  });

  it('warpAffine, featherMask, drawFaces and sideBySide: malformed matrices, sizes and faces are ERR_FACESTYLE_ARGUMENT / _SHAPE', async () => {
    const { warpAffine } = await import('../lib/face/warp.js');
    const { featherMask } = await import('../lib/face/paste.js');
    const { drawFaces, sideBySide } = await import('../lib/face/draw.js');
    const x = new Tensor([1, 3, 8, 8], new Float32Array(3 * 64).fill(0.5));
    for (const inverse of [[[1, 0]], [[1, 0, 0, 0, 1, 0, 0]], 'abc', [[1, 0, Number.NaN, 0, 1, 0]]])
      expectCoded(await rejected(() => warpAffine(x, inverse as never, 4, 4)), 'ERR_FACESTYLE_ARGUMENT', 'inverse');
    expectCoded(await rejected(() => warpAffine(x, [[1, 0, 0, 0, 1, 0]], 0, 4)), 'ERR_FACESTYLE_ARGUMENT', 'outH');
    expect((await warpAffine(x, [[1, 0, 0, 0, 1, 0]], 4, 4)).data[0]).toBeCloseTo(0.5, 6);
    expect((await warpAffine(x, [], 4, 4)).shape).toEqual([0, 3, 4, 4]);
    for (const size of [-5, 1e6, 2.5, Number.NaN]) expectCoded(caught(() => featherMask(size)), 'ERR_FACESTYLE_ARGUMENT', 'size');
    expectCoded(caught(() => featherMask(64, { blur: -1 })), 'ERR_FACESTYLE_ARGUMENT', 'blur');
    expect(featherMask(64).length).toBe(64 * 64);
    // A shape's knobs on the other shape were ignored; blur 0 blurred anyway; a mask of zeros came back silently.
    expectCoded(caught(() => featherMask(64, { blur: 5 })), 'ERR_FACESTYLE_ARGUMENT', "blur applies to shape 'square', and the shape is 'rounded'");
    expectCoded(caught(() => featherMask(64, { shape: 'square', inner: 0.5 })), 'ERR_FACESTYLE_ARGUMENT', "inner applies to shape 'rounded'");
    const sharp = featherMask(64, { shape: 'square', blur: 0, erode: 0 });
    expect([sharp[0], sharp[64 * 64 - 1], sharp[32 * 64 + 32]]).toEqual([1, 1, 1]);
    for (const o of [{ erode: 32 }, { blur: 64 }]) expectCoded(caught(() => featherMask(64, { shape: 'square', ...o })), 'ERR_FACESTYLE_ARGUMENT', 'leaves nothing of a 64-pixel crop');
    const image = { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4 };
    expectCoded(await rejected(() => drawFaces(image, null as never)), 'ERR_FACESTYLE_ARGUMENT', 'faces');
    expectCoded(await rejected(() => drawFaces(image, [{}] as never)), 'ERR_FACESTYLE_ARGUMENT', 'faces[0]');
    expectCoded(await rejected(() => drawFaces(image, [{ box: [0, 0, 2, 2], score: 1, landmarks: [[0, Number.NaN]] }] as never)), 'ERR_FACESTYLE_ARGUMENT', 'faces[0]');
    const drawn = await drawFaces(image, [{ box: [0, 0, 3, 3], score: 0.9, landmarks: [[1, 1]] }] as never);
    expect(drawn.data.some((v) => v > 0)).toBe(true);
    // A huge gap: refused before the strip is allocated (a RangeError before).
    expectCoded(await rejected(() => sideBySide([image, image], 1e9)), 'ERR_FACESTYLE_SHAPE', 'too large');
  });

  it('optimizeForInference, gradients, evaluateGenerator and new Trainer with null: ERR_FACESTYLE_ARGUMENT (TypeErrors before)', async () => {
    const { optimizeForInference } = await import('../lib/graph/passes/index.js');
    const { gradients } = await import('../lib/graph/autodiff.js');
    const { Trainer, evaluateGenerator, trainConfig } = await import('../lib/train/trainer.js');
    expectCoded(caught(() => optimizeForInference(null as never)), 'ERR_FACESTYLE_ARGUMENT', 'graph');
    expectCoded(caught(() => gradients(null as never, null as never, [])), 'ERR_FACESTYLE_ARGUMENT', 'GraphBuilder');
    expectCoded(await rejected(() => evaluateGenerator(null as never, null as never)), 'ERR_FACESTYLE_ARGUMENT', 'Session');
    expectCoded(caught(() => new Trainer(null as never, null as never, 'x')), 'ERR_FACESTYLE_ARGUMENT', 'config');
    expectCoded(caught(() => new Trainer(trainConfig({}), { pairs: 'no' } as never, 'x')), 'ERR_FACESTYLE_ARGUMENT', 'data');
  });
});

describe('out of memory in onnxruntime is reported as such', () => {
  it('ortRunError: allocation failures are ERR_FACESTYLE_OUT_OF_MEMORY, shape complaints _SHAPE, the rest _FORMAT', async () => {
    const { ortRunError } = await import('../lib/face/model.js');
    const err = (m: string) => ortRunError('m.onnx', [1, 3, 4096, 4096], new Error(m));
    expect(err('std::bad_alloc')).toMatchObject({ code: 'ERR_FACESTYLE_OUT_OF_MEMORY', message: expect.stringContaining('[1,3,4096,4096]') });
    expect(err('Failed to allocate memory for requested buffer of size 1234')).toMatchObject({ code: 'ERR_FACESTYLE_OUT_OF_MEMORY' });
    expect(err('Non-zero status code returned while running Add node. Attempting to broadcast an axis by a dimension other than 1')).toMatchObject({ code: 'ERR_FACESTYLE_SHAPE' });
    expect(err('Invalid rank for input')).toMatchObject({ code: 'ERR_FACESTYLE_FORMAT' });
  });
});

describe('malformed graphs, null arguments and broken weights are coded, not TypeErrors', () => {
  const small = () => {
    const g = new GraphBuilder('small');
    const x = g.input('x', [1, 2, 4, 4]);
    g.output(g.conv2d(x, { out: 3, kernel: 1 }));
    return g.build();
  };

  it('compile, optimizeForInference and exportOnnxBuffer refuse a null node, an out-of-range value id and null options', async () => {
    const { compile } = await import('../lib/runtime/session.js');
    const { optimizeForInference } = await import('../lib/graph/passes/index.js');
    const { exportOnnxBuffer } = await import('../lib/onnx/export.js');
    const nullNode = { ...small(), nodes: [null] } as never;
    const farInput = small();
    farInput.nodes[0].inputs[0] = 99;
    const farOutput = small();
    farOutput.outputs = [42];
    for (const [graph, fragment] of [
      [nullNode, 'nodes[0] is not a node'],
      [farInput, 'input 0 is 99, not a value id'],
      [farOutput, 'graph.outputs[0] is 42'],
    ] as const) {
      expectCoded(await rejected(() => compile(graph)), 'ERR_FACESTYLE_ARGUMENT', fragment);
      expectCoded(caught(() => optimizeForInference(graph)), 'ERR_FACESTYLE_ARGUMENT', fragment);
      expectCoded(caught(() => exportOnnxBuffer(graph)), 'ERR_FACESTYLE_ARGUMENT', fragment);
    }
    expectCoded(await rejected(() => compile(small(), null as never)), 'ERR_FACESTYLE_ARGUMENT', 'compile options');
    // The well-formed graph still compiles.
    const s = await compile(small());
    s.dispose();
  });

  it('GraphBuilder: a null or foreign value, null options or attributes name what was wrong', () => {
    const g = new GraphBuilder('b');
    const x = g.input('x', [1, 2, 4, 4]);
    expectCoded(caught(() => g.conv2d(null as never, { out: 1, kernel: 1 })), 'ERR_FACESTYLE_ARGUMENT', 'the input of conv2d');
    expectCoded(caught(() => g.conv2d(x, null as never)), 'ERR_FACESTYLE_ARGUMENT', 'conv2d options');
    expectCoded(caught(() => g.relu({ id: 7, name: 'elsewhere', shape: [1] })), 'ERR_FACESTYLE_ARGUMENT', 'input 0 of Relu');
    expectCoded(caught(() => g.op('Relu', null as never)), 'ERR_FACESTYLE_ARGUMENT', 'inputs of Relu');
    expectCoded(caught(() => g.op('Relu', [x], null as never)), 'ERR_FACESTYLE_ARGUMENT', 'attributes of Relu');
    expectCoded(caught(() => g.output(undefined as never)), 'ERR_FACESTYLE_ARGUMENT', 'the output');
    // Seeds: 'x' and 2^40 both became mulberry32's 0 (the same weights) without a word.
    expectCoded(caught(() => new GraphBuilder('s', { seed: 'x' as never })), 'ERR_FACESTYLE_ARGUMENT', "for seed but received 'x'");
    expectCoded(caught(() => new GraphBuilder('s', { seed: 1.5 })), 'ERR_FACESTYLE_ARGUMENT', 'seed');
    expectCoded(caught(() => new GraphBuilder('s', null as never)), 'ERR_FACESTYLE_ARGUMENT', 'options');
  });

  it('exportOnnxBuffer refuses weights that do not fill their shape (SHAPE) and NaN weights (NUMERIC), naming the tensor', async () => {
    const { exportOnnxBuffer } = await import('../lib/onnx/export.js');
    const short = small();
    const w = short.values.find((v) => v.kind === 'param')!;
    w.data = new Float32Array(1);
    expectCoded(caught(() => exportOnnxBuffer(short)), 'ERR_FACESTYLE_SHAPE', `'${w.name}'`, 'needs 6 values but holds 1');
    const nan = small();
    const wn = nan.values.find((v) => v.kind === 'param')!;
    wn.data![2] = Number.NaN;
    expectCoded(caught(() => exportOnnxBuffer(nan)), 'ERR_FACESTYLE_NUMERIC', `'${wn.name}' holds NaN (element 2)`);
    expect(exportOnnxBuffer(small()).length).toBeGreaterThan(50);
  });

  it('nms(null) and a threshold outside [0, 1] are ERR_FACESTYLE_ARGUMENT', async () => {
    const { nms } = await import('../lib/face/detect.js');
    expectCoded(caught(() => nms(null as never, 0.5)), 'ERR_FACESTYLE_ARGUMENT', 'faces');
    expectCoded(caught(() => nms([], Number.NaN)), 'ERR_FACESTYLE_ARGUMENT', 'threshold');
    expect(nms([], 0.5)).toEqual([]);
  });
});

describe('a JS allocation failure is ERR_FACESTYLE_OUT_OF_MEMORY', () => {
  it("asOutOfMemory codes V8's allocation RangeErrors and passes anything else through", async () => {
    const { asOutOfMemory } = await import('../lib/errors.js');
    for (const m of ['Array buffer allocation failed', 'Invalid typed array length: 99999999999', 'Invalid array buffer length']) {
      const e = asOutOfMemory(new RangeError(m), "stylizing 'big.png'") as Coded;
      expectCoded(e, 'ERR_FACESTYLE_OUT_OF_MEMORY', "Out of memory stylizing 'big.png'", m);
    }
    const other = new RangeError('Maximum call stack size exceeded');
    expect(asOutOfMemory(other, 'x')).toBe(other);
    const typeError = new TypeError('Array buffer allocation failed');
    expect(asOutOfMemory(typeError, 'x')).toBe(typeError);
  });
});

describe('range messages', () => {
  it("a range with no real top reads '>= lo', not 'between 1 and 9007199254740991'", async () => {
    const is = await import('../lib/is.js');
    expectCoded(caught(() => is.integerInRange('maxFrames', 0, 1, Number.MAX_SAFE_INTEGER)), 'ERR_FACESTYLE_ARGUMENT', 'Expected integer >= 1 for maxFrames but received 0');
    expectCoded(caught(() => is.numberInRange('rtol', -1, 0, Infinity)), 'ERR_FACESTYLE_ARGUMENT', 'Expected number >= 0 for rtol');
    expectCoded(caught(() => is.integerInRange('crf', 60, 0, 51)), 'ERR_FACESTYLE_ARGUMENT', 'integer between 0 and 51');
  });
});

describe('face functions: what they take, named as such (from an API review)', () => {
  it('stylize with a stylizer that is not one, detectFaces(5), pasteFaces strength 5: ERR_FACESTYLE_ARGUMENT in the library voice', async () => {
    const { stylize } = await import('../lib/face/stylize.js');
    const { detectFaces } = await import('../lib/face/detect.js');
    const { pasteFaces } = await import('../lib/face/paste.js');
    const image = { data: new Uint8Array(16 * 16 * 3), width: 16, height: 16 };
    // A TypeError ("stylizer.stylizeFrame is not a function") before.
    expectCoded(await rejected(() => stylize(image, { stylizer: 5 as never })), 'ERR_FACESTYLE_ARGUMENT', 'FaceStylizer', 'for stylizer but received 5');
    // The message listed paths and buffers only, though an RgbImage is taken too.
    expectCoded(await rejected(() => detectFaces(5 as never)), 'ERR_FACESTYLE_ARGUMENT', 'RgbImage', 'for image but received 5');
    // The native pass's own message before ("pasteBlend: expected strength in [0,1] but received 5.000000").
    const e = await rejected(() => pasteFaces(image, new Tensor([1, 3, 8, 8]), [[1, 0, 0, 0, 1, 0]], { strength: 5 }));
    expectCoded(e, 'ERR_FACESTYLE_ARGUMENT', 'Expected number between 0 and 1 for strength but received 5');
    expect(e.message).not.toContain('pasteBlend');
  });
});
