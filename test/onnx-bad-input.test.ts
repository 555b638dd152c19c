// Bad ONNX input: every failure is a coded error (ERR_FACESTYLE_*), never a crash. Plus a small
// fuzz test on mutated bytes of a real model (fixed seed).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFacestyleError } from '../lib/errors.js';
import { GraphBuilder } from '../lib/graph/builder.js';
import { Tensor, mulberry32 } from '../lib/graph/tensor.js';
import { exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { ortCrashReason } from '../lib/onnx/ort-guard.js';
import { checkParity } from '../lib/onnx/parity.js';
import { decodeModel, onnx } from '../lib/onnx/proto.js';
import { compile } from '../lib/runtime/session.js';
import { floatInit, int64Init, node, onnxModel, valueInfo } from './helpers/onnx-model.js';
import { describeShared, sharedData } from './helpers/shared.js';

/** The error code thrown by fn, or 'no error'. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    if (!isFacestyleError(e)) throw e; // an uncoded error fails the test with its own message
    return e.code;
  }
}

function smallModel(): Uint8Array {
  const g = new GraphBuilder('small', { seed: 2 });
  const x = g.input('x', [1, 3, 8, 8]);
  const y = g.relu(g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'c' }));
  g.output(g.op1('Relu', [g.op1('Relu', [y])]), 'y');
  return exportOnnxBuffer(g.build(), { dynamicBatch: false });
}

/** Decodes, edits and re-encodes a model. */
function edit(bytes: Uint8Array, fn: (m: ReturnType<typeof decodeModel>) => void): Uint8Array {
  const m = decodeModel(bytes);
  fn(m);
  return onnx.ModelProto.encode(m).finish();
}

describe('bad ONNX input (synthetic)', () => {
  it('empty input is a FORMAT error', () => {
    expect(codeOf(() => loadOnnx(new Uint8Array(0)))).toBe('ERR_FACESTYLE_FORMAT');
  });

  it('text and random bytes are FORMAT errors', () => {
    expect(codeOf(() => loadOnnx(Buffer.from('this is not an onnx model, just some text\n')))).toBe('ERR_FACESTYLE_FORMAT');
    const rng = mulberry32(7);
    const noise = Uint8Array.from({ length: 4096 }, () => Math.floor(rng() * 256));
    expect(codeOf(() => loadOnnx(noise))).toBe('ERR_FACESTYLE_FORMAT');
  });

  it('a missing file is NOT_FOUND and a non-path argument is ARGUMENT', () => {
    expect(codeOf(() => loadOnnx('/nonexistent/model.onnx'))).toBe('ERR_FACESTYLE_NOT_FOUND');
    expect(codeOf(() => loadOnnx(42 as unknown as string))).toBe('ERR_FACESTYLE_ARGUMENT');
  });

  it('initializer data shorter than its shape is a FORMAT error naming it', () => {
    const raw = edit(smallModel(), (m) => {
      const t = m.graph!.initializer!.find((i) => i.name === 'c.weight')!;
      t.rawData = t.rawData!.slice(0, t.rawData!.length - 8);
    });
    expect(() => loadOnnx(raw)).toThrow(/c\.weight.*needs 108 values of FLOAT but the file holds 106/);
    expect(codeOf(() => loadOnnx(raw))).toBe('ERR_FACESTYLE_FORMAT');
    const typed = edit(smallModel(), (m) => {
      const t = m.graph!.initializer!.find((i) => i.name === 'c.bias')!;
      t.rawData = new Uint8Array(0);
      t.floatData = [1, 2, 3];
    });
    expect(codeOf(() => loadOnnx(typed))).toBe('ERR_FACESTYLE_FORMAT');
  });

  it('a node reading a tensor nothing produces is a FORMAT error', () => {
    const bad = edit(smallModel(), (m) => {
      m.graph!.node![m.graph!.node!.length - 1].input = ['does_not_exist'];
    });
    expect(() => loadOnnx(bad)).toThrow(/does_not_exist/);
    expect(codeOf(() => loadOnnx(bad))).toBe('ERR_FACESTYLE_FORMAT');
  });

  it('a graph with no outputs, and a name written twice (or over an input), are FORMAT errors (onnxruntime refuses both)', () => {
    const none = edit(smallModel(), (m) => {
      m.graph!.output = [];
    });
    expect(() => loadOnnx(none)).toThrow(/has no outputs/);
    expect(codeOf(() => loadOnnx(none))).toBe('ERR_FACESTYLE_FORMAT');
    const nodes = decodeModel(smallModel()).graph!.node!;
    const last = nodes[nodes.length - 1].output![0];
    const twice = edit(smallModel(), (m) => {
      m.graph!.node![m.graph!.node!.length - 2].output = [last]; // the last two Relus both write it
    });
    expect(() => loadOnnx(twice)).toThrow(new RegExp(`'${last}' is written more than once`));
    expect(codeOf(() => loadOnnx(twice))).toBe('ERR_FACESTYLE_FORMAT');
    // The first node writes the graph input's name (and its readers read that name): the clash is the
    // model's only defect. The same over an initializer.
    for (const name of ['x', 'c.weight']) {
      const over = edit(smallModel(), (m) => {
        const first = m.graph!.node![0];
        const old = first.output![0];
        first.output = [name];
        for (const n of m.graph!.node!.slice(1)) n.input = n.input!.map((i) => (i === old ? name : i));
      });
      expect(() => loadOnnx(over), name).toThrow(new RegExp(`writes '${name.replace('.', '\\.')}', which is a graph input or initializer`));
      expect(codeOf(() => loadOnnx(over))).toBe('ERR_FACESTYLE_FORMAT');
    }
    expect(codeOf(() => loadOnnx(smallModel()))).toBe('no error');
  });

  it('unsupported ops fail at load time with every op and its count', () => {
    const bytes = edit(smallModel(), (m) => {
      const relus = m.graph!.node!.filter((n) => n.opType === 'Relu');
      expect(relus.length).toBe(3);
      relus[0].opType = 'Erf';
      relus[1].opType = 'Selu';
      relus[2].opType = 'Erf';
    });
    let message = '';
    try {
      loadOnnx(bytes);
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_FACESTYLE_UNSUPPORTED');
      message = (e as Error).message;
    }
    expect(message).toMatch(/Erf x2/);
    expect(message).toMatch(/Selu x1/);
  });

  it('an opset outside 9..17 is UNSUPPORTED', () => {
    const old = edit(smallModel(), (m) => {
      m.opsetImport = [{ domain: '', version: 7 }];
    });
    expect(() => loadOnnx(old)).toThrow(/opset 7/);
    expect(codeOf(() => loadOnnx(old))).toBe('ERR_FACESTYLE_UNSUPPORTED');
  });

  it('wrong input sizes for a fixed-size model are SHAPE errors (at load and at run)', async () => {
    const bytes = smallModel();
    expect(codeOf(() => loadOnnx(bytes, { inputShapes: { x: [1, 3, 16, 16] } }))).toBe('ERR_FACESTYLE_SHAPE');
    expect(codeOf(() => loadOnnx(bytes, { inputShapes: { x: [1, 3, 8] } }))).toBe('ERR_FACESTYLE_SHAPE');
    const session = await compile(loadOnnx(bytes), { threads: 1 });
    try {
      await expect(session.run({ x: Tensor.random([1, 3, 16, 16]) })).rejects.toMatchObject({ code: 'ERR_FACESTYLE_SHAPE' });
    } finally {
      session.dispose();
    }
  });
});

describe('structured fuzz: absurd attribute and shape values', () => {
  /** conv -> maxpool -> resize -> reshape -> slice, with every int attribute / int64 initializer a fuzz target. */
  function richModel(): Uint8Array {
    const g = new GraphBuilder('rich', { seed: 5 });
    const x = g.input('x', [1, 2, 8, 8]);
    const c = g.conv2d(x, { out: 4, kernel: 3, pad: 1, name: 'c' });
    const p = g.op1('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2] });
    const r = g.op1('Resize', [p], { mode: 'nearest', scales: [1, 1, 2, 2] });
    const s = g.op1('Reshape', [r], { shape: [1, 4, 64] });
    g.output(g.op1('Slice', [s], { starts: [1], ends: [40], axes: [2] }), 'y');
    return exportOnnxBuffer(g.build(), { dynamicBatch: false, opset: 13 });
  }

  it('200 models with random attribute / shape-tensor values: each loads and runs or fails with a code', async () => {
    const base = richModel();
    const rng = mulberry32(99);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rng() * a.length)];
    // Mostly plausible values (many still load), some absurd ones.
    const evil = [-(2 ** 40), -3, -1, -1, 0, 0, 1, 1, 1, 2, 2, 3, 4, 7, 1000, 2 ** 31];
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 200; ++i) {
      // Copy: decoded raw data are views into the buffer, so edits must not reach `base`.
      const bytes = edit(Uint8Array.from(base), (m) => {
        for (let k = 0; k < 1 + Math.floor(rng() * 2); ++k) {
          const nodes = m.graph!.node!.filter((n) => (n.attribute ?? []).some((a) => a.ints?.length || a.type === 2));
          const ints = m.graph!.initializer!.filter((t) => t.dataType === 7);
          if (rng() < 0.5 && nodes.length) {
            const a = pick(pick(nodes).attribute!.filter((x) => x.ints?.length || x.type === 2));
            if (a.ints?.length) a.ints[Math.floor(rng() * a.ints.length)] = pick(evil);
            else a.i = pick(evil);
          } else if (ints.length) {
            const t = pick(ints);
            const view = new DataView(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.byteLength);
            view.setBigInt64(8 * Math.floor(rng() * (t.rawData!.length / 8)), BigInt(pick(evil)), true);
          }
        }
      });
      let outcome: string;
      try {
        const graph = loadOnnx(bytes);
        const s = await compile(graph, { threads: 1 });
        try {
          await s.run({ x: Tensor.random([1, 2, 8, 8], i) });
          outcome = 'ran';
        } finally {
          s.dispose();
        }
      } catch (e) {
        expect(isFacestyleError(e), `case ${i}: uncoded error ${(e as Error)?.stack}`).toBe(true);
        outcome = (e as { code: string }).code;
        if (process.env.SHOW) console.log((e as Error).message.slice(0, 200));
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    console.info('structured fuzz outcomes', outcomes);
    expect(outcomes.ran ?? 0).toBeGreaterThan(0);
    expect(200 - (outcomes.ran ?? 0)).toBeGreaterThan(50);
  }, 60_000);
});

describeShared('bad ONNX input (real model files)', () => {
  const modelPath = sharedData('models/detection/yunet_s_320_320.onnx');

  it('truncated copies are FORMAT errors', () => {
    const bytes = readFileSync(modelPath);
    for (const frac of [0.01, 0.1, 0.5, 0.9, 0.999]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * frac));
      expect(codeOf(() => loadOnnx(cut)), `truncated at ${frac}`).toBe('ERR_FACESTYLE_FORMAT');
    }
  });

  it('a corrupted header and a JPEG are FORMAT errors', () => {
    const bytes = Uint8Array.from(readFileSync(modelPath));
    bytes.fill(0xff, 0, 64);
    expect(codeOf(() => loadOnnx(bytes))).toBe('ERR_FACESTYLE_FORMAT');
    expect(codeOf(() => loadOnnx(sharedData('faces/whole/codeformer/00.jpg')))).toBe('ERR_FACESTYLE_FORMAT');
  });

  it('a dynamic model without its input size is a SHAPE error that says what to pass', () => {
    expect(() => loadOnnx(sharedData('models/detection/yunet_n_dynamic.onnx'))).toThrow(/inputShapes/);
    expect(codeOf(() => loadOnnx(sharedData('models/detection/yunet_n_dynamic.onnx')))).toBe('ERR_FACESTYLE_SHAPE');
    expect(codeOf(() => loadOnnx(modelPath, { inputShapes: { input: [1, 3, 640, 640] } }))).toBe('ERR_FACESTYLE_SHAPE');
  });

  it('fuzz: 300 mutated copies load (and a few run) or fail with a coded error', async () => {
    const original = readFileSync(modelPath);
    const rng = mulberry32(20261123);
    const pick = (n: number) => Math.floor(rng() * n);
    const codes: Record<string, number> = {};
    let ran = 0;
    const t0 = Date.now();
    for (let i = 0; i < 300; ++i) {
      let bytes = Uint8Array.from(original);
      const kind = i % 4;
      if (kind === 3) bytes = bytes.subarray(0, pick(bytes.length));
      else {
        // Half the mutations hit the first 16 KiB, where the graph structure (nodes, attributes) is.
        const region = kind === 0 ? bytes.length : Math.min(16384, bytes.length);
        const count = 1 + pick(8);
        for (let k = 0; k < count; ++k) bytes[pick(region)] = pick(256);
      }
      let graph;
      try {
        graph = loadOnnx(bytes);
      } catch (e) {
        expect(isFacestyleError(e), `case ${i}: uncoded error ${(e as Error)?.stack}`).toBe(true);
        const code = (e as { code: string }).code;
        codes[code] = (codes[code] ?? 0) + 1;
        continue;
      }
      codes.loaded = (codes.loaded ?? 0) + 1;
      if (ran < 8) {
        ++ran;
        try {
          const s = await compile(graph, { threads: 1 });
          try {
            const x = graph.inputs.map((id) => graph.values[id]);
            const feeds = Object.fromEntries(x.map((v) => [v.name, Tensor.random(v.shape, i)]));
            const out = await s.run(feeds);
            expect(Object.keys(out).length).toBe(graph.outputs.length);
          } finally {
            s.dispose();
          }
        } catch (e) {
          expect(isFacestyleError(e), `case ${i} at run: uncoded error ${(e as Error)?.stack}`).toBe(true);
        }
      }
    }
    console.info('fuzz outcomes', codes, 'ran', ran);
    // Both paths were exercised: some mutants still load, many are rejected with a code.
    expect(codes.loaded ?? 0).toBeGreaterThan(0);
    expect((codes.ERR_FACESTYLE_FORMAT ?? 0) + (codes.ERR_FACESTYLE_SHAPE ?? 0) + (codes.ERR_FACESTYLE_UNSUPPORTED ?? 0)).toBeGreaterThan(30);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);
});

// Found by fuzzing the importer (each crashed the process, hung it, or gave a silently wrong model before).
describe('bad ONNX input (fuzzing finds)', () => {
  it('a folded Concat or Gather too large for a constant is ERR_FACESTYLE_SHAPE before it is built (V8 ended the process)', () => {
    const concat = onnxModel({
      nodes: [node('ConstantOfShape', ['s'], ['c']), node('Concat', new Array(64).fill('c'), ['k'], { axis: 0 }), node('Add', ['x', 'k'], ['y'])],
      inits: [int64Init('s', [1 << 24])], inputs: [valueInfo('x', [1])], outputs: [valueInfo('y', [])],
    });
    const gather = onnxModel({
      nodes: [node('ConstantOfShape', ['s'], ['c']), node('Gather', ['c', 'i'], ['k'], { axis: 0 }), node('Add', ['x', 'k'], ['y'])],
      inits: [int64Init('s', [1, 1 << 23], [2]), int64Init('i', new Array(200).fill(0))], inputs: [valueInfo('x', [1])], outputs: [valueInfo('y', [])],
    });
    for (const m of [concat, gather]) expect(() => loadOnnx(m)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_SHAPE', message: expect.stringContaining('folding would create a constant') }));
  });

  it('a constant Resize with a huge output is left to run time, not folded at load (36 s and 6 GB before)', () => {
    const m = onnxModel({
      nodes: [node('Resize', ['c', '', 'scales'], ['r'], { mode: 'nearest' }), node('Add', ['x', 'r'], ['y'])],
      inits: [floatInit('c', [1, 2, 3, 4], [1, 1, 2, 2]), floatInit('scales', [1, 1, 20000, 20000])],
      inputs: [valueInfo('x', [1, 1, 40000, 40000])], outputs: [valueInfo('y', [1, 1, 40000, 40000])],
    });
    const g = loadOnnx(m);
    expect(g.nodes.map((n) => n.op)).toContain('Resize');
    // A small one still folds.
    const small = onnxModel({
      nodes: [node('Resize', ['c', '', 'scales'], ['r'], { mode: 'nearest' }), node('Add', ['x', 'r'], ['y'])],
      inits: [floatInit('c', [1, 2, 3, 4], [1, 1, 2, 2]), floatInit('scales', [1, 1, 2, 2])],
      inputs: [valueInfo('x', [1, 1, 4, 4])], outputs: [valueInfo('y', [1, 1, 4, 4])],
    });
    expect(loadOnnx(small).nodes.map((n) => n.op)).not.toContain('Resize');
  });

  it('an attribute stored as another type is ERR_FACESTYLE_FORMAT naming it (an INT alpha made LeakyRelu a Relu)', () => {
    const cases: Array<[ReturnType<typeof node>, string]> = [
      [node('LeakyRelu', ['x'], ['y'], { alpha: 2 }), "'alpha' is INT; expected FLOAT"],
      [node('Softmax', ['x'], ['y'], { axis: { type: 3, s: Buffer.from('1') } }), "'axis' is STRING; expected INT"],
    ];
    for (const [n, message] of cases)
      expect(() => loadOnnx(onnxModel({ nodes: [n], inputs: [valueInfo('x', [1, 4])], outputs: [valueInfo('y', [1, 4])] }))).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining(message) }));
    // The same value stored as a FLOAT loads.
    expect(loadOnnx(onnxModel({ nodes: [node('LeakyRelu', ['x'], ['y'], { alpha: 0.5 })], inputs: [valueInfo('x', [1, 4])], outputs: [valueInfo('y', [1, 4])] })).nodes).toHaveLength(1);
  });

  it('a folded Transpose whose perm is not a permutation is ERR_FACESTYLE_FORMAT (perm [0,0] gave a NaN element)', () => {
    for (const perm of [[5], [0, 0]]) {
      const dims = perm.length === 1 ? [3] : [2, 3];
      const m = onnxModel({
        nodes: [node('Transpose', ['c'], ['t'], { perm }), node('Add', ['x', 't'], ['y'])],
        inits: [floatInit('c', new Array(dims.reduce((a, b) => a * b, 1)).fill(1), dims)], inputs: [valueInfo('x', [1])], outputs: [valueInfo('y', dims)],
      });
      expect(() => loadOnnx(m)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('is not a permutation') }));
    }
  });

  it('nodes sharing one name get unique names n, n_1, n_2, ...', () => {
    const nodes = Array.from({ length: 5 }, (_, i) => node('Relu', [i ? `h${i - 1}` : 'x'], [i === 4 ? 'y' : `h${i}`], {}, 'n'));
    expect(loadOnnx(onnxModel({ nodes, inputs: [valueInfo('x', [1, 4])], outputs: [valueInfo('y', [1, 4])] })).nodes.map((n) => n.name)).toEqual(['n', 'n_1', 'n_2', 'n_3', 'n_4']);
  });

  it.skipIf(process.platform === 'win32')('a model path that is a FIFO or a device is ERR_FACESTYLE_ARGUMENT, not read (a FIFO blocked the process for good)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-fifo-'));
    try {
      const fifo = path.join(dir, 'model.onnx');
      execFileSync('mkfifo', [fifo]);
      for (const file of [fifo, '/dev/zero']) expect(() => loadOnnx(file)).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_ARGUMENT', message: expect.stringContaining('not a regular file') }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checkParity refuses a Split with an omitted output before onnxruntime-node (which segfaults on it) sees it; the native engine runs it', async () => {
    const m = onnxModel({
      nodes: [node('Split', ['x'], ['', 'z'], { axis: 1 }), node('Relu', ['z'], ['y'])],
      inputs: [valueInfo('x', [1, 4, 4, 4])], outputs: [valueInfo('y', [1, 2, 4, 4])],
    });
    await expect(checkParity(m)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_UNSUPPORTED', message: expect.stringContaining("omits one of its outputs ('')") });
    const s = await compile(loadOnnx(m));
    try {
      const x = Tensor.random([1, 4, 4, 4], 3, -1, 1);
      const y = (await s.run({ x })).y;
      expect(Array.from(y.data)).toEqual(Array.from(x.data.slice(32), (v) => Math.max(0, v)));
    } finally {
      s.dispose();
    }
  });

  it('the onnxruntime guard finds a Split with an omitted output inside an If branch too (onnxruntime-node segfaulted on it)', () => {
    const branch = (outs: string[]) => ({ name: 'b', node: [node('Split', ['x'], outs, { axis: 1 })], output: [valueInfo(outs[1], [1, 2])] });
    const withIf = (outs: string[]) =>
      decodeModel(onnxModel({
        nodes: [node('If', ['c'], ['y'], { then_branch: { type: 5, g: branch(outs) }, else_branch: { type: 5, g: branch(['p', 'q']) } })],
        inputs: [valueInfo('x', [1, 4])], outputs: [valueInfo('y', [1, 2])],
      }));
    expect(ortCrashReason(withIf(['', 'a']))).toMatch(/omits one of its outputs/);
    expect(ortCrashReason(withIf(['p0', 'a']))).toBeNull();
  });

  it("checkParity: a model onnxruntime loads but cannot run is ERR_FACESTYLE_FORMAT (a plain Error before)", async () => {
    // A Conv whose kernel_shape disagrees with its weights: the native importer reads the weights' shape.
    const m = onnxModel({
      nodes: [node('Conv', ['x', 'w'], ['y'], { kernel_shape: [5, 5] })],
      inits: [floatInit('w', new Array(2 * 1 * 3 * 3).fill(0.1), [2, 1, 3, 3])],
      inputs: [valueInfo('x', [1, 1, 8, 8])], outputs: [valueInfo('y', [1, 2, 6, 6])],
    });
    await expect(checkParity(m)).rejects.toMatchObject({ code: 'ERR_FACESTYLE_FORMAT', message: expect.stringContaining('onnxruntime-node could not run the model') });
  });
});
