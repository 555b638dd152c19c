// Run by test/workers.test.ts in a node process of its own: a worker_thread runs stylizeVideo (the shipped
// model at 128 px, the detector given as argv[3]) on the clip argv[2] into a fresh folder, and is terminated
// once the encoder's hidden temp file exists. Prints one JSON line: the folder's files right after
// terminate() resolves, whether the temp file had appeared, and this process's child processes a moment
// later (name and state: a killed ffmpeg nobody reaped is a zombie, 'Z'). Loads the package from dist/.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-worker-video-'));
const dist = new URL('../../dist/index.js', import.meta.url).href;
const model = new URL('../../models/comic-light.json', import.meta.url).pathname;
const code = `
const { workerData } = require('node:worker_threads');
import(workerData.dist).then((api) => api.stylizeVideo(workerData.clip, workerData.out, { model: workerData.model, detector: workerData.detector, size: 128, threads: 1 }));
`;
const worker = new Worker(code, { eval: true, workerData: { dist, clip: process.argv[2], out: path.join(dir, 'out.mp4'), model, detector: process.argv[3] } });
worker.on('error', () => {});
let sawTemp = false;
for (let waited = 0; waited < 60_000 && !sawTemp; waited += 20) {
  await new Promise((r) => setTimeout(r, 20));
  sawTemp = readdirSync(dir).some((f) => f.includes('.partial-'));
}
// A little further into the run, so frames are being encoded.
await new Promise((r) => setTimeout(r, 300));
await worker.terminate();
const files = readdirSync(dir);
rmSync(dir, { recursive: true, force: true });
// /proc/<pid>/stat: "pid (comm) state ppid ...".
await new Promise((r) => setTimeout(r, 500));
const children = [];
if (existsSync('/proc/self/stat'))
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) === process.pid) children.push(`${p} ${stat.slice(stat.indexOf('(') + 1, close)} ${state}`);
  }
process.stdout.write(`${JSON.stringify({ sawTemp, files, children })}\n`);
