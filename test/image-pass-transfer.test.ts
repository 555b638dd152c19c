// The native image passes (alignFaces, pasteFaces: native/napi/image_ops.cc) run on a libuv pool thread.
// They once read and wrote the caller's buffers there in place, so a buffer transferred to a worker (and
// freed) while a pass was pending crashed the process (SIGSEGV) or read freed memory. They now work on
// copies made at the call; test/helpers/transfer-during-pass.mjs makes the race certain (one pool thread,
// kept busy) and checks the results against the same calls on buffers left alone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const script = new URL('./helpers/transfer-during-pass.mjs', import.meta.url).pathname;
const dist = new URL('../dist/index.js', import.meta.url).pathname;

describe('image passes and transferred buffers', () => {
  it('a frame or crops transferred away while alignFaces / pasteFaces is pending: the same result, no crash', () => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build it with \`npx tsc -p .\` (npm test does)`);
    const r = spawnSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ align: { detached: true, same: true }, paste: { detached: true, same: true } });
  }, 150_000);
});
