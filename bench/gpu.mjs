#!/usr/bin/env node
// GPU benchmark (issue 8): the light generator on the native CUDA backend against the same network in
// PyTorch (bench/torch_generator.py), on the accelerator machine, in one run, as ratios.
//   node bench/gpu.mjs [--device cuda|cpu] [--card models/comic-light.json] [--iters 20] [--python python3]
// Steps: (1) parity: the native and PyTorch models get the same input; the max abs difference of their outputs
// is reported (and must be small, or the timings compare different functions); (2) inference, batch 1 and 16,
// at 256 and 512; (3) one training step at batch 16, 256 (forward, L1, backward, AdamW, EMA: the step graph of
// lib/train with every other loss off). Writes bench/gpu-report.json and bench/GPU-REPORT.md.
// Needs a built addon with CUDA for --device cuda (FACESTYLE_CUDA=ON) and dist/ (npm run build:ts).
// --device cpu runs the same comparison on CPU: how the script itself is tested on machines without a GPU.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const device = opt('device', 'cuda');
const card = path.resolve(opt('card', path.join(root, 'models/comic-light.json')));
const iters = Number(opt('iters', '20'));
const python = opt('python', 'python3');
const sizes = opt('sizes', '256,512').split(',').map(Number);
const batches = opt('batches', '1,16').split(',').map(Number);
const trainBatch = Number(opt('train-batch', '16'));
const trainSize = Number(opt('train-size', '256'));
const out = opt('out', path.join(root, 'bench'));

const fs = await import(path.join(root, 'dist/index.js'));
const { buildStepGraph } = await import(path.join(root, 'dist/train/index.js'));
const caps = fs.capabilities();
if (device === 'cuda' && !(caps.cuda?.compiled && caps.cuda?.devices?.length)) {
  console.error(`bench/gpu.mjs: no usable CUDA device (capabilities: ${JSON.stringify(caps.cuda)}); build with FACESTYLE_CUDA=ON on a machine with a GPU`);
  process.exit(2);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function medianMs(fn, warmup = 3) {
  for (let i = 0; i < warmup; ++i) await fn();
  const t = [];
  for (let i = 0; i < iters; ++i) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}
function torch(extra) {
  const r = spawnSync(python, [path.join(root, 'bench/torch_generator.py'), '--card', card, '--device', device, ...extra], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`torch_generator.py ${extra.join(' ')} failed (${r.status ?? r.error?.message}):\n${r.stderr}`);
  return r.stdout;
}

const report = { date: new Date().toISOString(), device, card: path.relative(root, card), capabilities: caps, iters, parity: [], rows: [] };

// (1) parity
const tmp = mkdtempSync(path.join(os.tmpdir(), 'facestyle-gpu-'));
try {
  for (const size of sizes) {
    const { graph } = await fs.loadGenerator(card, { size });
    const session = await fs.compile(graph, { device });
    const x = fs.Tensor.random([1, 3, size, size], 7 + size);
    const y = (await session.run({ image: x })).stylized;
    session.dispose();
    writeFileSync(path.join(tmp, 'in.bin'), Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
    torch(['--parity', path.join(tmp, 'in.bin'), path.join(tmp, 'out.bin'), '--size', String(size)]);
    const b = readFileSync(path.join(tmp, 'out.bin'));
    const t = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    let maxAbs = 0;
    for (let i = 0; i < t.length; ++i) maxAbs = Math.max(maxAbs, Math.abs(t[i] - y.data[i]));
    report.parity.push({ size, maxAbs, elements: t.length });
    console.log(`parity ${size}: max |native - torch| = ${maxAbs.toExponential(2)}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const worst = Math.max(...report.parity.map((p) => p.maxAbs));
// TF32 convs (either side) change outputs in the 3rd-4th digit; beyond 5e-2 the two are not the same network.
if (!(worst < 5e-2)) {
  console.error(`bench/gpu.mjs: the native and PyTorch generators disagree (max abs ${worst}); timings would compare different networks`);
  process.exit(1);
}

// (2) + (3) PyTorch timings first (one process), then native.
const torchRun = JSON.parse(torch(['--bench', '--iters', String(iters), '--train-batch', String(trainBatch), '--train-size', String(trainSize), '--sizes', sizes.join(','), '--batches', batches.join(',')]).trim().split('\n').pop());
report.torch = { version: torchRun.torch, gpu: torchRun.gpu ?? null, cudnnAllowTf32: torchRun.cudnnAllowTf32 ?? null };
for (const size of sizes)
  for (const batch of batches) {
    const { graph } = await fs.loadGenerator(card, { size, batch });
    const session = await fs.compile(fs.optimizeForInference(graph, { fusePool: device === 'cpu', fusePointwiseDepthwise: device === 'cpu' }), { device });
    const x = fs.Tensor.random([batch, 3, size, size], 11);
    const nativeMs = await medianMs(() => session.run({ image: x }));
    session.dispose();
    const t = torchRun.rows.find((r) => r.kind === 'inference' && r.size === size && r.batch === batch);
    report.rows.push({ kind: 'inference', size, batch, nativeMs, torchMs: t?.torchMs ?? null, ratio: t ? nativeMs / t.torchMs : null });
  }
{
  const cardJson = JSON.parse(readFileSync(card, 'utf8'));
  const cfg = fs.trainConfig({ batch: trainBatch, crop: trainSize, device, lr: 1e-3, generator: cardJson.generator, losses: { l1: 1, color: 0, edge: 0, tv: 0, adv: 0, fm: 0 } });
  const step = buildStepGraph(cfg);
  const session = await fs.compile(step.graph, { device });
  const feeds = {
    photo: fs.Tensor.random([trainBatch, 3, trainSize, trainSize], 3),
    target: fs.Tensor.random([trainBatch, 3, trainSize, trainSize], 5),
    'opt.scalars': new fs.Tensor([3], new Float32Array([1e-3, 0.1, 0.01])),
    'ema.decay': new fs.Tensor([1], new Float32Array([0.995])),
  };
  const nativeMs = await medianMs(() => session.run(feeds));
  session.dispose();
  const t = torchRun.rows.find((r) => r.kind === 'train-step');
  report.rows.push({ kind: 'train-step', size: trainSize, batch: trainBatch, nativeMs, torchMs: t.torchMs, ratio: nativeMs / t.torchMs });
}

writeFileSync(path.join(out, device === 'cuda' ? 'gpu-report.json' : 'gpu-report-cpu.json'), JSON.stringify(report, null, 2) + '\n');
const md = [
  '# facestyle GPU benchmark: native CUDA vs PyTorch eager',
  '',
  `${report.date} · device ${device}${report.torch.gpu ? ` (${report.torch.gpu})` : ''} · PyTorch ${report.torch.version} · median of ${iters}`,
  '',
  `Parity (same input, max abs difference of the outputs): ${report.parity.map((p) => `${p.size}: ${p.maxAbs.toExponential(2)}`).join(', ')}`,
  '',
  '| kind | size | batch | native ms | PyTorch ms | ratio |',
  '|---|---|---|---|---|---|',
  ...report.rows.map((r) => `| ${r.kind} | ${r.size} | ${r.batch} | ${r.nativeMs.toFixed(3)} | ${r.torchMs?.toFixed(3) ?? '-'} | ${r.ratio?.toFixed(2) ?? '-'} |`),
  '',
  'ratio = native / PyTorch: below 1 means the native engine is faster. Target (issue 8): <= 1 for inference and the training step.',
  '',
].join('\n');
writeFileSync(path.join(out, device === 'cuda' ? 'GPU-REPORT.md' : 'GPU-REPORT-cpu.md'), md);
console.log(md);
