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

describe('image passes copy only what they use', () => {
  it('pasting one face of a large crops tensor copies that crop, not the tensor (video batches of 128 held 12.9 GB)', async () => {
    const { Tensor } = await import('../lib/graph/tensor.js');
    const { pasteCrops } = await import('../lib/face/paste.js');
    const size = 512, count = 48; // 151 MB of crops: a video batch's, pasted frame by frame with pasteCrops
    const crops = new Tensor([count, 3, size, size]);
    crops.data.fill(0.5);
    const frame = { data: new Uint8Array(640 * 480 * 3).fill(100), width: 640, height: 480 };
    const s = 200 / size;
    const matrix: [number, number, number, number, number, number] = [1 / s, 0, -220 / s, 0, 1 / s, -140 / s]; // image -> crop: a 200 px square at (220, 140)
    const faces = [{ crop: 30, matrix }];
    // Warm-up (the pool thread, the addon), then the resident memory just after the call, while the pass holds its copies.
    await pasteCrops(frame, crops, faces);
    const before = process.memoryUsage().rss;
    const pending = pasteCrops(frame, crops, faces);
    const grown = process.memoryUsage().rss - before;
    const out = await pending;
    expect(grown).toBeLessThan(40e6); // one crop is 3 MB; the whole tensor 151 MB
    // The face came out: the pasted square is the crop's grey (0.5 -> 128) where the frame was 100.
    const at = (x: number, y: number) => out.data[(y * 640 + x) * 3];
    expect(at(320, 240)).toBe(128);
    expect(at(10, 10)).toBe(100);
  });
});

describe('in-place pastes write back only their faces', () => {
  it('two pastes into one frame at once both land, and a pixel the app writes meanwhile elsewhere stays', async () => {
    const { pasteFaces } = await import('../lib/face/paste.js');
    const { Tensor } = await import('../lib/graph/tensor.js');
    const W = 96, H = 32, S = 16;
    const frame = { data: new Uint8Array(W * H * 3), width: W, height: H };
    const white = new Tensor([1, 3, S, S]);
    white.data.fill(1);
    const at = (x: number): [number, number, number, number, number, number] => [1, 0, -x, 0, 1, -8]; // image -> crop: the crop at (x, 8)
    const first = pasteFaces(frame, white, [at(8)], { inPlace: true });
    const second = pasteFaces(frame, white, [at(64)], { inPlace: true });
    frame.data[40 * 3] = 77; // pixel (40, 0): far from both faces
    const [a, b] = await Promise.all([first, second]);
    const px = (x: number, y: number) => frame.data[(y * W + x) * 3];
    // (With the whole frame copied back, the second paste's copy erased the first face and the app's pixel.)
    expect([a.data === frame.data, b.data === frame.data, px(16, 16), px(72, 16), px(40, 0)]).toEqual([true, true, 255, 255, 77]);
  });
});
