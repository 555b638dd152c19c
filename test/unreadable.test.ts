// Files and folders this process may not read are ERR_FACESTYLE_NOT_FOUND saying "permission denied"
// (they were a raw EACCES with no code, "unsupported image format", or "not found").
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { readError, unreadableFile } from '../lib/errors.js';
import { DETECTOR, WHOLE } from './face-fixtures.js';
import { describeShared, sharedData } from './helpers/shared.js';

describe('readError / unreadableFile', () => {
  it('maps missing and forbidden to NOT_FOUND with the reason, and leaves other errors to the caller', async () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(readError(errno('ENOENT'), "Folder 'a'")).toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: "Folder 'a' not found" });
    expect(readError(errno('ENOTDIR'), "Folder 'a'")).toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: "Folder 'a' not found" });
    for (const code of ['EACCES', 'EPERM']) expect(readError(errno(code), "Folder 'a'")).toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: "Folder 'a' cannot be read: permission denied" });
    expect(readError(errno('EIO'), 'x')).toBeNull();
    expect(readError(new Error('plain'), 'x')).toBeNull();
    expect(readError(null, 'x')).toBeNull();
    expect(await unreadableFile(path.join(tmpdir(), 'facestyle-no-such-file'), 'It')).toMatchObject({ code: 'ERR_FACESTYLE_NOT_FOUND', message: 'It not found' });
    expect(await unreadableFile(new URL(import.meta.url).pathname, 'It')).toBeNull();
  });
});

// chmod 000 does not stop root: as root the CLI runs as 'nobody' through setpriv (util-linux).
const root = process.getuid?.() === 0;
const cliFile = new URL('../dist/cli/main.js', import.meta.url).pathname;
const DROP = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'];
// As root: setpriv must exist, and 'nobody' must be able to reach the checkout (not under a 0700 home).
const whyNot = !root
  ? null
  : spawnSync('setpriv', ['--version']).status !== 0
    ? 'running as root without setpriv to drop to an unprivileged user'
    : spawnSync(DROP[0], [...DROP.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(cliFile)})`]).status !== 0
      ? "running as root, and the unprivileged user cannot read this checkout's dist/"
      : null;
const describeUnprivileged = whyNot === null ? describeShared : (name: string, fn: () => void) => describe.skip(`${name} (skipped: ${whyNot})`, fn);

describeUnprivileged('the CLI on unreadable inputs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'facestyle-unreadable-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]) => {
    const argv = [process.execPath, cliFile, ...args];
    const cmd = root ? [...DROP, ...argv] : argv;
    return spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env: { ...process.env, FACESTYLE_DETECTOR: DETECTOR } });
  };

  it('folders, images, models, weights, cards and videos that may not be read: exit 2, NOT_FOUND naming them, "permission denied", nothing written', () => {
    chmodSync(dir, 0o777);
    const folder = path.join(dir, 'in');
    mkdirSync(folder);
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), path.join(folder, 'a.jpg'));
    const file = path.join(dir, 'b.jpg');
    copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), file);
    chmodSync(folder, 0o000);
    chmodSync(file, 0o000);
    // Readable again whatever happens, so that afterAll can remove the folder when not running as root.
    onTestFinished(() => chmodSync(folder, 0o755));
    // A pairs folder whose one toon image may not be read, and model / weights / video files that may not be.
    const pairs = path.join(dir, 'pairs');
    for (const side of ['photo', 'toon']) {
      mkdirSync(path.join(pairs, side), { recursive: true });
      copyFileSync(path.join(WHOLE, 'face_recognition/obama.jpg'), path.join(pairs, side, 'a.jpg'));
    }
    const toon = path.join(pairs, 'toon', 'a.jpg');
    const onnxFile = path.join(dir, 'm.onnx');
    copyFileSync(DETECTOR, onnxFile);
    const weights = path.join(dir, 'w.safetensors');
    copyFileSync(path.resolve('models', 'comic-light.safetensors'), weights);
    const card = path.join(dir, 'card.json');
    copyFileSync(path.resolve('models', 'comic-light.json'), card);
    const video = path.join(dir, 'v.mp4');
    copyFileSync(sharedData('video/908.mp4'), video);
    for (const f of [toon, onnxFile, weights, card, video]) chmodSync(f, 0o000);
    const cases: [string[], string][] = [
      [['train', '--pairs', pairs, '--out', path.join(dir, 'run2'), '--steps', '1'], `Image '${toon}'`],
      [['info', onnxFile], `ONNX model '${onnxFile}'`],
      [['export', weights, '--onnx', path.join(dir, 'w.onnx')], `Safetensors file '${weights}'`],
      [['export', card, '--onnx', path.join(dir, 'c.onnx')], `Model card '${card}'`],
      [['video', video, '-o', path.join(dir, 'v.out.mp4')], `Video file '${video}'`],
      [['stylize', folder, '-o', path.join(dir, 'out')], `Input folder '${folder}'`],
      [['stylize', file, '-o', path.join(dir, 'b.out.png'), '--aligned'], `Image file '${file}'`],
      [['train', '--pairs', folder, '--out', path.join(dir, 'run'), '--steps', '1'], `Pairs folder '${folder}'`],
      [['video', folder, '-o', path.join(dir, 'frames-out') + path.sep], `Frame folder '${folder}'`],
    ];
    for (const [args, named] of cases) {
      const r = run(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`${named} cannot be read: permission denied [ERR_FACESTYLE_NOT_FOUND]`);
    }
    for (const out of ['out', 'b.out.png', 'run', 'frames-out', 'run2', 'w.onnx', 'c.onnx', 'v.out.mp4']) expect(existsSync(path.join(dir, out)), out).toBe(false);
  });
});
