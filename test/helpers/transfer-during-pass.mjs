// Run by test/image-pass-transfer.test.ts in a node process of its own (a crash takes only that process
// down): alignFaces and pasteFaces each called on a large frame whose buffer (or the crops' buffer) is
// then transferred away and freed while the native pass waits on a busy libuv pool (UV_THREADPOOL_SIZE=1,
// one long pbkdf2 ahead of it). The passes read their own copies, so each must give what the same call
// gives on buffers left alone. Prints one JSON line. Loads the package from dist/ (npm test's tsc step).
import crypto from 'node:crypto';

const api = await import(new URL('../../dist/index.js', import.meta.url).href);
const W = 3000, H = 2000;
const frame = () => ({ data: Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 7) & 255), width: W, height: H });
const face = { box: [1400, 900, 400, 400], score: 1, landmarks: [[1520, 1050], [1680, 1050], [1600, 1130], [1530, 1210], [1670, 1210]] };
const busy = () => new Promise((r) => crypto.pbkdf2('x', 'y', 200000, 32, 'sha512', r));
const transferAway = (buffer) => {
  structuredClone(buffer, { transfer: [buffer] });
  globalThis.gc?.();
};
const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

const report = {};
// alignFaces: the frame goes away while the pass is queued.
const reference = await api.alignFaces(frame(), [face], { size: 128 });
let f = frame();
let wait = busy();
let p = api.alignFaces(f, [face], { size: 128 });
transferAway(f.data.buffer);
await wait;
const aligned = await p;
report.align = { detached: f.data.byteLength === 0, same: sameBytes(aligned.crops.data, reference.crops.data) };

// pasteFaces: the crops go away while the pass is queued.
const crops = () => new api.Tensor([1, 3, 128, 128], Float32Array.from({ length: 3 * 128 * 128 }, (_, i) => (i % 97) / 97));
const pastedReference = await api.pasteFaces(frame(), crops(), reference.matrices);
const c = crops();
wait = busy();
p = api.pasteFaces(frame(), c, reference.matrices);
transferAway(c.data.buffer);
await wait;
const pasted = await p;
report.paste = { detached: c.data.byteLength === 0, same: sameBytes(pasted.data, pastedReference.data) };
process.stdout.write(`${JSON.stringify(report)}\n`);
