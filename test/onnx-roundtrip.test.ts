// Round trip for every op in the registry: one-node graph (from the op table) -> exportOnnx ->
// onnxruntime-node, and -> loadOnnx -> native; both agree with the TS reference. New ops are
// covered as soon as they have an op-table row; ops without one, or without an ONNX equivalent,
// are skipped with the reason in the test name.
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { Tensor } from '../lib/graph/tensor.js';
import { exportOnnxBuffer, exportableOps } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { checkParity, compareOutput, loadOrt } from '../lib/onnx/parity.js';
import { decodeModel, DT } from '../lib/onnx/proto.js';
import { getOp, hasOp, listOps, normalizeAttrs } from '../lib/ops/index.js';
import { compile } from '../lib/runtime/session.js';
import type { InputSpec, OpCase } from './ops/case.js';
import { allCases } from './ops/table.js';
import { compareClose } from './helpers/tensors.js';

const spec = (s: number[] | InputSpec): InputSpec => (Array.isArray(s) ? { shape: s } : s);

function makeInputs(c: OpCase, seed: number): (Tensor | null)[] {
  return c.inputs.map((s, i) => {
    if (s === null) return null;
    const sp = spec(s);
    if (sp.data) return new Tensor(sp.shape, sp.data);
    const [lo, hi] = sp.range ?? [-1, 1];
    return Tensor.random(sp.shape, seed * 31 + i, lo, hi);
  });
}

/** The one-node graph of a case: fed inputs are graph inputs, `constant` ones are parameters. */
function caseGraph(c: OpCase, inputs: (Tensor | null)[]): { graph: Graph; feeds: Record<string, Tensor>; outs: number } {
  const g = new GraphBuilder(`${c.op}_${c.label.replace(/\W+/g, '_')}`);
  const feeds: Record<string, Tensor> = {};
  const syms: (Sym | null)[] = inputs.map((t, i) => {
    if (!t) return null;
    const s = c.inputs[i];
    if (s && !Array.isArray(s) && s.constant) return g.param(`w${i}`, t.shape, t);
    feeds[`in${i}`] = t;
    return g.input(`in${i}`, t.shape);
  });
  const outs = g.op(c.op, syms, c.attrs ?? {}, 'node');
  outs.forEach((o, i) => g.output(o, `out${i}`));
  return { graph: g.build(), feeds, outs: outs.length };
}

async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor('float32', t.data, t.shape);
    const res = await session.run(ortFeeds);
    return session.outputNames.map((n) => new Tensor(res[n].dims as number[], Float32Array.from(res[n].data as Float32Array)));
  } finally {
    await session.release();
  }
}

async function runNative(graph: Graph, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  const session = await compile(graph, { threads: 1 });
  try {
    const r = await session.run(feeds);
    return graph.outputs.map((id) => r[graph.values[id].name]);
  } finally {
    session.dispose();
  }
}

/** Every case of an op through both engines at one opset; returns failure messages. */
async function roundTrip(c: OpCase, k: number, requested: number): Promise<void> {
  // Reshape's allowzero exists from opset 14 on.
  const opset = c.attrs?.allowzero && requested < 14 ? 14 : requested;
  const inputs = makeInputs(c, k + 1);
  const attrs = normalizeAttrs(getOp(c.op), c.attrs ?? {});
  const expected = getOp(c.op).reference(inputs, attrs);
  const { graph, feeds } = caseGraph(c, inputs);
  const bytes = exportOnnxBuffer(graph, { opset });
  const atol = c.atol ?? 1e-5;
  const rtol = c.rtol ?? 1e-4;

  // onnxruntime mishandles some empty tensors (Gemm with K = 0 returns C without beta), so cases
  // with a zero-size input check only the import path.
  const empty = inputs.some((t) => t !== null && t.size === 0);
  if (!empty) {
    const viaOrt = await runOrt(bytes, feeds);
    expect(viaOrt.length).toBe(expected.length);
    expected.forEach((e, i) => {
      const r = compareClose(viaOrt[i], e, atol, rtol);
      expect(r.ok, `onnxruntime vs reference, ${c.op} '${c.label}' opset ${opset} output ${i}: ${r.message}`).toBe(true);
    });
  }

  // The export declares a dynamic batch; load it at the case's sizes.
  const imported = loadOnnx(bytes, { inputShapes: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.shape])) });
  expect(imported.inputs.map((id) => imported.values[id].name)).toEqual(graph.inputs.map((id) => graph.values[id].name));
  const viaNative = await runNative(imported, feeds);
  expected.forEach((e, i) => {
    const r = compareClose(viaNative[i], e, atol, rtol);
    expect(r.ok, `import -> native vs reference, ${c.op} '${c.label}' opset ${opset} output ${i}: ${r.message}`).toBe(true);
  });
}

const exportable = new Set(exportableOps());
const casesOf = (op: string) => allCases.map((c, k) => ({ c, k })).filter((x) => x.c.op === op);

describe('ONNX round trip of every registered op (opset 13)', () => {
  for (const schema of listOps().sort((a, b) => a.name.localeCompare(b.name))) {
    const op = schema.name;
    if (!exportable.has(op)) {
      it.skip(`${op} (skipped: no ONNX equivalent)`, () => {});
      continue;
    }
    const cases = casesOf(op);
    if (cases.length === 0) {
      it.skip(`${op} (skipped: no op-table case yet)`, () => {});
      continue;
    }
    it(`${op}: ${cases.length} case(s)`, async () => {
      for (const { c, k } of cases) await roundTrip(c, k, 13);
    });
  }
});

// Ops whose ONNX form changes with the opset (attributes that became inputs, decompositions).
const OPSET_SENSITIVE = ['Resize', 'Split', 'Squeeze', 'Unsqueeze', 'ReduceSum', 'ReduceMean', 'Softmax', 'LayerNormalization', 'Clip', 'Pad', 'Reshape', 'Slice', 'GroupNormalization'];

describe('ONNX round trip at opsets 11 and 17', () => {
  for (const opset of [11, 17]) {
    for (const op of OPSET_SENSITIVE) {
      const cases = casesOf(op).filter(({ c }) => !(opset < 14 && c.attrs?.allowzero));
      if (!exportable.has(op) || cases.length === 0) {
        it.skip(`${op} opset ${opset} (skipped: ${exportable.has(op) ? 'no op-table case yet' : 'no ONNX equivalent'})`, () => {});
        continue;
      }
      it(`${op} opset ${opset}`, async () => {
        for (const { c, k } of cases) await roundTrip(c, k, opset);
      });
    }
  }
});

describe('ONNX export options', () => {
  function convGraph(): Graph {
    const g = new GraphBuilder('tiny', { seed: 3 });
    const x = g.input('image', [1, 3, 16, 16]);
    const y = g.relu(g.conv2d(x, { out: 32, kernel: 3, pad: 1, name: 'c1' }));
    g.output(g.conv2d(y, { out: 3, kernel: 3, pad: 1, name: 'c2' }), 'styled');
    return g.build();
  }

  it('names inputs/outputs, declares a dynamic batch and runs at batch 2 in onnxruntime', async () => {
    const graph = convGraph();
    const bytes = exportOnnxBuffer(graph);
    const model = decodeModel(bytes);
    expect(model.graph!.input!.map((i) => i.name)).toEqual(['image']);
    expect(model.graph!.output!.map((o) => o.name)).toEqual(['styled']);
    expect(model.graph!.input![0].type!.tensorType!.shape!.dim![0].dimParam).toBe('batch');
    const x2 = Tensor.random([2, 3, 16, 16], 5);
    const [out] = await runOrt(bytes, { image: x2 });
    expect(out.shape).toEqual([2, 3, 16, 16]);
    // Batch item 1 through ORT equals the native graph on that item alone.
    const one = new Tensor([1, 3, 16, 16], x2.data.slice(3 * 256));
    const [native] = await runNative(graph, { image: one });
    const r = compareClose(new Tensor([1, 3, 16, 16], out.data.slice(3 * 256)), native, 1e-5, 1e-4);
    expect(r.ok, r.message).toBe(true);
  });

  it.skipIf(!hasOp('Resize'))('a Resize given by sizes is written as exact scales, so the batch stays dynamic', async () => {
    const g = new GraphBuilder('up');
    const x = g.input('x', [1, 3, 4, 6]);
    g.output(g.op1('Resize', [x], { mode: 'nearest', sizes: [1, 3, 8, 9] }), 'y');
    const bytes = exportOnnxBuffer(g.build());
    const resize = decodeModel(bytes).graph!.node!.find((n) => n.opType === 'Resize')!;
    expect(resize.input!.length).toBe(3); // X, roi, scales: no sizes input
    const [out] = await runOrt(bytes, { x: Tensor.random([2, 3, 4, 6], 3) });
    expect(out.shape).toEqual([2, 3, 8, 9]);
  });

  it('dynamicSpatial declares height/width and the model runs at another size', async () => {
    const bytes = exportOnnxBuffer(convGraph(), { dynamicSpatial: true });
    const dims = decodeModel(bytes).graph!.input![0].type!.tensorType!.shape!.dim!;
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch', 3, 'height', 'width']);
    const [out] = await runOrt(bytes, { image: Tensor.random([1, 3, 24, 40], 2) });
    expect(out.shape).toEqual([1, 3, 24, 40]);
  });

  it('fp16 weights: FLOAT16 initializers, smaller file, float graph close to fp32', async () => {
    const graph = convGraph();
    const b32 = exportOnnxBuffer(graph);
    const b16 = exportOnnxBuffer(graph, { weights: 'fp16' });
    expect(b16.length).toBeLessThan(b32.length * 0.7);
    const m = decodeModel(b16);
    expect(m.graph!.initializer!.every((t) => t.dataType === DT.FLOAT16)).toBe(true);
    expect(m.graph!.input![0].type!.tensorType!.elemType).toBe(DT.FLOAT);
    const x = Tensor.random([1, 3, 16, 16], 9);
    const [a] = await runOrt(b32, { image: x });
    const [b] = await runOrt(b16, { image: x });
    const r = compareClose(b, a, 1e-2, 1e-2);
    expect(r.ok, r.message).toBe(true);
    // Not bit-identical: the weights really were rounded to half precision.
    expect(r.maxAbs).toBeGreaterThan(0);
    // And it imports back: the native engine on the fp16 file matches onnxruntime on it.
    const [n] = await runNative(loadOnnx(b16), { image: x });
    const r2 = compareClose(n, b, 1e-5, 1e-4);
    expect(r2.ok, r2.message).toBe(true);
  });

  it('checkParity on a Graph runs the graph natively and its export in onnxruntime', async () => {
    const graph = convGraph();
    const x = Tensor.random([1, 3, 16, 16], 12);
    const r = await checkParity(graph, { feeds: { image: x }, threads: 1 });
    expect(r.ok).toBe(true);
    expect(r.outputs.map((o) => [o.name, o.shape])).toEqual([['styled', [1, 3, 16, 16]]]);
    expect(r.outputs[0].maxAbsErr).toBeLessThan(1e-4);
  });

  it('compareOutput: errors, the worst element and the tolerance rule', () => {
    const ref = new Tensor([2, 3], [1, -2, 0, 0.5, 1e-7, 5]); // rms ~2.245
    const same = compareOutput('o', ref.clone(), ref, 1e-5, 1e-4);
    expect(same).toMatchObject({ ok: true, maxAbsErr: 0, maxRelErr: 0, failing: 0 });
    expect(same.rms).toBeCloseTo(Math.sqrt(30.25 / 6), 6);
    // [1,0] = 0.5 off by 2e-4: judged at the output's rms (tol 1e-5 + 1e-4 * 2.245), passes;
    // [1,2] = 5 off by 1e-3: tol 1e-5 + 5e-4, fails.
    const nat = ref.clone();
    nat.data[3] += 2e-4;
    nat.data[5] += 1e-3;
    const r = compareOutput('o', nat, ref, 1e-5, 1e-4);
    expect(r.failing).toBe(1);
    expect(r.ok).toBe(false);
    expect(r.worstAt).toEqual([1, 2]);
    expect(r.maxAbsErr).toBeCloseTo(1e-3, 6);
    expect(r.maxRelErr).toBeCloseTo(4e-4, 6);
    // Relative error uses a 1e-5 floor: 1e-6 off at a 1e-7 reference is 0.1, not 10.
    const tiny = ref.clone();
    tiny.data[4] += 1e-6;
    expect(compareOutput('o', tiny, ref, 1e-5, 1e-4).maxRelErr).toBeCloseTo(0.1, 3);
    // NaN on one side always fails.
    const nan = ref.clone();
    nan.data[0] = NaN;
    expect(compareOutput('o', nan, ref, 1, 1).ok).toBe(false);
    // NaN on both sides agrees, but a model that outputs NaN is not "ok": counted and failed.
    const both = ref.clone();
    both.data[1] = NaN;
    const nanRef = ref.clone();
    nanRef.data[1] = NaN;
    const r2 = compareOutput('o', both, nanRef, 1, 1);
    expect([r2.failing, r2.bothNaN, r2.ok]).toEqual([0, 1, false]);
    expect(compareOutput('o', ref.clone(), ref, 1, 1)).toMatchObject({ bothNaN: 0, ok: true });
  });

  it('parameters come back under their names, bit-exact in fp32 and half-rounded in fp16', () => {
    const graph = convGraph();
    const params = graph.values.filter((v) => v.kind === 'param');
    const back32 = loadOnnx(exportOnnxBuffer(graph));
    const back16 = loadOnnx(exportOnnxBuffer(graph, { weights: 'fp16' }));
    for (const p of params) {
      const a = back32.values.find((v) => v.name === p.name)!;
      expect(a.kind).toBe('param');
      expect(a.shape).toEqual(p.shape);
      expect(Array.from(a.data!)).toEqual(Array.from(p.data!));
      // fp16: a Cast of a FLOAT16 initializer, folded at load time into the rounded weight.
      const b = back16.values.find((v) => v.name === p.name)!;
      expect(b.kind).toBe('param');
      for (let i = 0; i < p.data!.length; ++i) {
        const x = p.data![i];
        expect(Math.abs(b.data![i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -24);
      }
    }
  });

  it.skipIf(!hasOp('WarpAffine'))('refuses ops without an ONNX equivalent with the list of them', () => {
    const g = new GraphBuilder('warp');
    const x = g.input('x', [1, 1, 4, 4]);
    const m = g.input('m', [1, 2, 3]);
    g.output(g.op1('WarpAffine', [x, m], { out_height: 4, out_width: 4 }), 'y');
    expect(() => exportOnnxBuffer(g.build())).toThrow(/WarpAffine x1/);
  });
});
