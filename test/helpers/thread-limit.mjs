// Run by test/thread-limit.test.ts in a node process of its own: compiles the shipped generator at 1 and
// at 2 threads and runs each once (so the addon, the compute thread and the 1-thread buffers exist), prints
// `ready`, and waits for a line on stdin. Meanwhile the test lowers this process's address-space limit
// (prlimit --as) to just above what it uses, so no new thread can get its stack. Then the 2-thread session
// runs with runSync (on this thread) and run (on the compute thread), and one JSON line says how each went:
// { mode, diff } (largest difference from the 1-thread output) or { mode, code } (the error's code).
// Loads the package from dist/ (built by npm test's tsc step).
import { createInterface } from 'node:readline';

const api = await import(new URL('../../dist/index.js', import.meta.url).href);
const model = new URL('../../models/comic-light.json', import.meta.url).pathname;
const S = 64;
const generator = await api.loadGenerator(model, { size: S });
const name = generator.graph.values[generator.graph.inputs[0]].name;
const feeds = { [name]: new api.Tensor([1, 3, S, S], Float32Array.from({ length: 3 * S * S }, (_, i) => Math.sin(i * 0.37))) };
const one = await api.compile(generator.graph, { threads: 1 });
const reference = Object.values(one.runSync(feeds))[0].data;
await one.run(feeds);
const two = await api.compile(generator.graph, { threads: 2 });
process.stdout.write('ready\n');
await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));

const runs = [];
for (const mode of ['runSync', 'run']) {
  try {
    const out = Object.values(mode === 'runSync' ? two.runSync(feeds) : await two.run(feeds))[0].data;
    let diff = 0;
    for (let i = 0; i < out.length; ++i) diff = Math.max(diff, Math.abs(out[i] - reference[i]));
    runs.push({ mode, diff });
  } catch (e) {
    runs.push({ mode, code: e?.code ?? String(e) });
  }
}
process.stdout.write(`${JSON.stringify(runs)}\n`);
process.exit(0);
