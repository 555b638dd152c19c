// Run by test/workers.test.ts in a node process of its own (an abort takes only that process down):
// sessions compiled and run on the main thread and in worker_threads at the same time, runSync in a
// worker, and a worker terminated KILL_MS (default 20) ms after it starts its runs. Prints one JSON line;
// loads the package from dist/ (built by npm test's tsc step). With the argument only-worker, only
// workers load the addon; with engines <yunet.onnx>, it reports the photo detector's default engine on
// the main thread and in a worker.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const dist = new URL('../../dist/index.js', import.meta.url).href;
const SHAPE = [1, 8, 96, 96];

async function build(api, layers) {
  const g = new api.GraphBuilder('chain', { seed: 7 });
  let y = g.input('x', SHAPE);
  for (let i = 0; i < layers; ++i) y = g.op1('Tanh', [g.conv2d(y, { out: 8, kernel: 3, pad: 1 })]);
  g.output(y, 'y');
  return api.compile(g.build(), { threads: 2 });
}

// The photo detector's default engine on the calling thread, for the YuNet model argv[3].
async function detectorEngines() {
  const { FaceDetector, sharedDetector } = await import(new URL('../../dist/face/detect.js', import.meta.url).href);
  const loaded = await FaceDetector.load(process.argv[3]);
  const shared = await sharedDetector(process.argv[3]);
  await loaded.dispose();
  const engines = { load: loaded.engine, shared: shared.engine };
  // With a PFLD model as argv[4]: the landmark model's engine too, and its 68 points for one face of a
  // synthetic image (compared across the two threads by the test).
  if (process.argv[4]) {
    const { LandmarkModel } = await import(new URL('../../dist/face/detect.js', import.meta.url).href);
    const lm = await LandmarkModel.load(process.argv[4], { threads: 1 });
    const W = 160, H = 160;
    const data = Uint8Array.from({ length: W * H * 3 }, (_, i) => (((i / 3) % W) * 1.3 + Math.floor(i / 3 / W) * 0.7 + (i % 3) * 40) & 255);
    const [face] = await lm.refine({ data, width: W, height: H }, [{ box: [40, 40, 80, 80], score: 1, landmarks: [[65, 70], [95, 70], [80, 85], [68, 100], [92, 100]] }]);
    await lm.dispose();
    Object.assign(engines, { landmarks: lm.engine, points: face.landmarks68 });
  }
  return engines;
}

// This script in a worker with `data`; resolves with its exit code and the last message it posted. A
// worker that posts 'running' is terminated KILL_MS later.
function runWorker(data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: data, argv: process.argv.slice(2) });
    let result;
    w.on('message', (m) => {
      if (m === 'running') setTimeout(() => w.terminate(), Number(process.env.KILL_MS ?? 20));
      else result = m;
    });
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, result }));
  });
}

if (isMainThread && process.argv[2] === 'engines') {
  const inWorker = await runWorker({ engines: true });
  console.log(JSON.stringify({ main: await detectorEngines(), worker: inWorker.result }));
  process.exit(0); // (the shared detectors stay loaded)
} else if (!isMainThread && workerData.engines) {
  parentPort.postMessage(await detectorEngines());
  process.exit(0); // (ends this worker only; its shared detectors stay loaded)
} else if (isMainThread && process.argv[2] === 'only-worker') {
  // Only workers load the addon: one running MatMuls, then one cropping faces, each terminated mid-run. Node unloads
  // an addon with the last environment that loaded it, while the addon's process-wide threads (compute
  // thread, kernel pools) live on: the process must then keep running and exit cleanly.
  const codes = [(await runWorker({ matmul: true })).code, (await runWorker({ crops: true })).code];
  await new Promise((r) => setTimeout(r, 500)); // the process goes on while the addon's threads wind down
  console.log(JSON.stringify({ codes }));
} else if (isMainThread) {
  const api = await import(dist);
  const x = api.Tensor.random(SHAPE, 3);
  const session = await build(api, 6);
  // Two workers running and one killed mid-run, while the main thread runs the same graph.
  const pending = ['run', 'runSync', 'kill'].map((mode) => runWorker({ mode, x: x.data }));
  const mains = [];
  for (let i = 0; i < 5; ++i) mains.push(Array.from((await session.run({ x })).y.data));
  const [run, runSync, kill] = await Promise.all(pending);
  const after = Array.from((await session.run({ x })).y.data);
  session.dispose();
  const diff = (a, b) => (a && b && a.length === b.length ? Math.max(...a.map((v, i) => Math.abs(v - b[i]))) : Infinity);
  console.log(
    JSON.stringify({
      values: mains[0].length,
      mainRunsAgree: Math.max(...mains.map((m) => diff(m, mains[0]))),
      run: { code: run.code, diff: diff(run.result, mains[0]) },
      runSync: { code: runSync.code, diff: diff(runSync.result, mains[0]) },
      kill: { code: kill.code },
      afterKill: diff(after, mains[0]),
    }),
  );
} else if (workerData.matmul) {
  // MatMul runs on the SGEMM's OpenMP team, whose threads (in libgomp, loaded with the addon) keep
  // spinning a little after each run: unloading the addon under them crashed the process.
  const api = await import(dist);
  const g = new api.GraphBuilder('matmuls', { seed: 7 });
  const a = g.input('a', [512, 512]);
  let y = a;
  for (let i = 0; i < 8; ++i) y = g.op1('Tanh', [g.op1('MatMul', [y, a])]);
  g.output(y, 'y');
  const session = await api.compile(g.build(), { threads: 2 });
  const x = api.Tensor.random([512, 512], 1);
  parentPort.postMessage('running');
  for (;;) await session.run({ a: x });
} else if (workerData.crops) {
  // Face crops (an image pass on a libuv thread, napi/coded_worker.h) in a loop: its Promise settling in a
  // stopping environment once ended in std::terminate.
  const { cropFacesInto } = await import(new URL('../../dist/face/align.js', import.meta.url).href);
  const { Tensor } = await import(new URL('../../dist/graph/tensor.js', import.meta.url).href);
  const image = { width: 1280, height: 720, data: new Uint8Array(1280 * 720 * 3).fill(100) };
  const crops = new Tensor([8, 3, 256, 256]);
  const matrices = Array.from({ length: 8 }, (_, i) => [1.1, 0.1, 10 + i, -0.1, 1.1, 20]);
  parentPort.postMessage('running');
  for (;;) await cropFacesInto(image, matrices, crops, 0);
} else {
  const api = await import(dist);
  const x = new api.Tensor(SHAPE, workerData.x);
  if (workerData.mode === 'kill') {
    const slow = await build(api, 60);
    parentPort.postMessage('running');
    for (;;) await slow.run({ x });
  }
  const session = await build(api, 6);
  let out;
  for (let i = 0; i < 5; ++i) out = workerData.mode === 'runSync' ? session.runSync({ x }) : await session.run({ x });
  parentPort.postMessage(Array.from(out.y.data));
  session.dispose();
}
