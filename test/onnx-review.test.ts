// Review findings on lib/onnx: fp16 export of weights beyond float16's range, the file named by the
// unsupported-op error of checkParity / modelInfo (`facestyle check` / `info`), and the op list of that
// error (loadOnnx and unsupportedOps) with foldable ops downstream of an unsupported one.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { onnx as OnnxNs } from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { registerCheckCommand } from '../lib/cli/check.js';
import { registerInfoCommand } from '../lib/cli/info.js';
import { GraphBuilder } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { Tensor } from '../lib/graph/tensor.js';
import { exportOnnx, exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx, unsupportedOps } from '../lib/onnx/import.js';
import { modelInfo } from '../lib/onnx/info.js';
import { checkParity } from '../lib/onnx/parity.js';
import { DT, decodeModel, floatTensorProto, onnx } from '../lib/onnx/proto.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'facestyle-onnx-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error fn throws (sync or async), or a failure when it throws none. */
async function errorOf(fn: () => unknown): Promise<{ code?: string; message: string }> {
  try {
    await fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected an error, but none was thrown');
}

/** x [1,3,4,4] -> 1x1 conv 'c' (2 outputs) -> y, with c.weight set to `w` (6 values). */
function convGraph(w: number[]): Graph {
  const g = new GraphBuilder('conv', { seed: 3 });
  g.output(g.conv2d(g.input('x', [1, 3, 4, 4]), { out: 2, kernel: 1, name: 'c' }), 'y');
  const graph = g.build();
  graph.values.find((v) => v.name === 'c.weight')!.data!.set(w);
  return graph;
}

const weightOf = (graph: Graph, name: string) => [...graph.values.find((v) => v.name === name)!.data!];

describe('fp16 export: weights beyond float16 range', () => {
  it('a weight that would be stored as Inf is ERR_FACESTYLE_NUMERIC naming the tensor and its largest magnitude', async () => {
    const graph = convGraph([0.5, -70000, 0.25, 100000, -1, 2]);
    const e = await errorOf(() => exportOnnxBuffer(graph, { weights: 'fp16' }));
    expect(e.code).toBe('ERR_FACESTYLE_NUMERIC');
    expect(e.message).toContain("param 'c.weight' has largest magnitude 100000 (element 3: 100000), beyond float16's range (±65504)");
    // fp32 keeps it as it is.
    expect(weightOf(loadOnnx(exportOnnxBuffer(graph)), 'c.weight')[3]).toBe(100000);
  });

  it('exportOnnx writes nothing when it refuses', async () => {
    const file = path.join(dir, 'big16.onnx');
    const e = await errorOf(() => exportOnnx(convGraph([0, 0, 0, -1e6, 0, 0]), file, { weights: 'fp16' }));
    expect(e.code).toBe('ERR_FACESTYLE_NUMERIC');
    expect(e.message).toContain("'c.weight' has largest magnitude 1000000 (element 3: -1000000)");
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('big16'))).toEqual([]);
  });

  it('values that round to 65504 or underflow to a subnormal or 0 export', () => {
    const graph = convGraph([65519, -65519, 1e-9, -3e-6, 1e-7, 1]);
    const back = weightOf(loadOnnx(exportOnnxBuffer(graph, { weights: 'fp16' })), 'c.weight');
    expect(back[0]).toBe(65504);
    expect(back[1]).toBe(-65504);
    expect(back[2]).toBe(0);
    expect(back[3]).toBe(-50 * 2 ** -24); // a float16 subnormal (steps of 2^-24)
    expect(back[5]).toBe(1);
  });

  it('a constant float16 cannot hold stays float32 (its value unchanged), the weights fp16', () => {
    const g = new GraphBuilder('masked', { seed: 3 });
    const y = g.conv2d(g.input('x', [1, 3, 4, 4]), { out: 2, kernel: 1, name: 'c' });
    g.output(g.add(y, g.constant('big', new Tensor([1], Float32Array.of(1e6)))), 'y');
    const bytes = exportOnnxBuffer(g.build(), { weights: 'fp16' });
    const inits = decodeModel(bytes).graph!.initializer!;
    expect(inits.find((t) => t.name === 'big')?.dataType).toBe(DT.FLOAT);
    expect(inits.find((t) => t.name?.startsWith('c.weight'))?.dataType).toBe(DT.FLOAT16);
    expect(weightOf(loadOnnx(bytes), 'big')).toEqual([1e6]);
  });
});

// --- hand-built ONNX models ---------------------------------------------------------------------

type Attr = OnnxNs.IAttributeProto;
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []): OnnxNs.INodeProto => ({ opType, input, output, attribute, name: `${opType}_${output[0]}` });

function model(nodes: OnnxNs.INodeProto[], outputs: string[], initializer: OnnxNs.ITensorProto[] = []): Uint8Array {
  const vi = (name: string, dims?: number[]) => ({ name, type: { tensorType: { elemType: DT.FLOAT, shape: dims ? { dim: dims.map((d) => ({ dimValue: d })) } : undefined } } });
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'm', node: nodes, initializer, input: [vi('x', [1, 3, 8, 8])], output: outputs.map((n) => vi(n)) },
  }).finish();
}

/** Erf -> Floor, Greater(x, 0) -> Where -> Einsum: Floor, Greater and Where are foldable ops run on run-time tensors. */
const erfThenWhere = model(
  [
    node('Erf', ['x'], ['a']),
    node('Floor', ['a'], ['b']),
    node('Greater', ['x', 'z'], ['c']),
    node('Where', ['c', 'b', 'z'], ['y']),
    node('Einsum', ['y'], ['yy'], [{ name: 'equation', type: 3, s: Buffer.from('ij->ji') }]),
  ],
  ['yy'],
  [floatTensorProto('z', [], Float32Array.of(0))],
);
const ALL = ['Erf', 'Floor', 'Greater', 'Where', 'Einsum'];

describe('unsupported ops: every op the engine cannot run, each once', () => {
  it('loadOnnx lists foldable ops downstream of an unsupported op when they read run-time tensors', async () => {
    const e = await errorOf(() => loadOnnx(erfThenWhere));
    expect(e.code).toBe('ERR_FACESTYLE_UNSUPPORTED');
    expect(e.message).toMatch(/uses ops this engine cannot run: Erf x1, Floor x1, Greater x1, Where x1, Einsum x1$/);
  });

  it('unsupportedOps() gives the same list without importing', () => {
    expect(unsupportedOps(decodeModel(erfThenWhere))).toEqual(ALL);
  });

  it('a shape subgraph after an unsupported op is not listed (it folds once the op is supported)', async () => {
    // Erf -> Shape -> ConstantOfShape -> Mul with Erf's output: only Erf is missing.
    const bytes = model(
      [node('Erf', ['x'], ['a']), node('Shape', ['a'], ['s']), node('ConstantOfShape', ['s'], ['k']), node('Floor', ['k'], ['f']), node('Mul', ['a', 'f'], ['y'])],
      ['y'],
    );
    const e = await errorOf(() => loadOnnx(bytes));
    expect(e.message).toMatch(/cannot run: Erf x1$/);
    expect(unsupportedOps(decodeModel(bytes))).toEqual(['Erf']);
  });

  it('an op in a dead branch is listed by neither (loadOnnx never imports it); an op named like an Object method is unsupported', async () => {
    const dead = model([node('Relu', ['x'], ['y']), node('Erf', ['x'], ['unused'])], ['y']);
    expect(unsupportedOps(decodeModel(dead))).toEqual([]);
    expect(loadOnnx(dead).nodes.map((n) => n.op)).toEqual(['Relu']);
    const odd = model([node('toString', ['x'], ['a']), node('Relu', ['a'], ['y'])], ['y']);
    const e = await errorOf(() => loadOnnx(odd));
    expect(e.code).toBe('ERR_FACESTYLE_UNSUPPORTED');
    expect(e.message).toMatch(/cannot run: toString x1$/);
    expect(unsupportedOps(decodeModel(odd))).toEqual(['toString']);
  });
});

describe('check / info name the model file in the unsupported-op error', () => {
  const file = path.join(dir, 'erf then where.onnx');
  writeFileSync(file, erfThenWhere);
  const expected = `'${file}' uses ops this engine cannot run: Erf x1, Floor x1, Greater x1, Where x1, Einsum x1`;

  async function cli(...args: string[]): Promise<void> {
    const program = new Command().exitOverride();
    registerInfoCommand(program);
    registerCheckCommand(program);
    await program.parseAsync(['node', 'facestyle', ...args]);
  }

  it('checkParity and modelInfo on a path', async () => {
    for (const fn of [() => checkParity(file), () => modelInfo(file), () => modelInfo(file, { size: '8x8' })]) {
      const e = await errorOf(fn);
      expect(e.code).toBe('ERR_FACESTYLE_UNSUPPORTED');
      expect(e.message).toBe(expected);
    }
  });

  it('facestyle check and facestyle info', async () => {
    for (const args of [['check', file], ['info', file], ['info', file, '--size', '8x8']]) {
      const e = await errorOf(() => cli(...args));
      expect(e.code, args.join(' ')).toBe('ERR_FACESTYLE_UNSUPPORTED');
      expect(e.message, args.join(' ')).toBe(expected);
    }
  });

  it('bytes are still a model buffer', async () => {
    expect((await errorOf(() => checkParity(erfThenWhere))).message).toMatch(/^model buffer uses ops/);
  });
});
