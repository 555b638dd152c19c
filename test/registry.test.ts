// The op registry and the native kernel table agree, and every op has rows in the op table.
import { describe, expect, it } from 'vitest';
import { capabilities } from '../lib/capabilities.js';
import { listOps } from '../lib/ops/index.js';
import { allCases } from './ops/table.js';

// The op set of the foundation issue (issue 2), plus WarpAffine (faces).
const FOUNDATION_OPS = [
  'Conv2D', 'ConvTranspose2D', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Resize', 'Pad',
  'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'Add', 'Sub', 'Mul',
  'Div', 'Pow', 'Max', 'Min', 'Relu', 'LeakyRelu', 'Tanh', 'Sigmoid', 'Exp', 'Log', 'Sqrt', 'Abs', 'Neg', 'Clip',
  'Concat', 'Slice', 'Split', 'Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'ReduceMean', 'ReduceSum',
  'ReduceMax', 'MatMul', 'Gemm', 'Softmax', 'Identity', 'WarpAffine',
];

describe('op registry', () => {
  const tsOps = new Set(listOps().map((o) => o.name));
  const native = capabilities().ops;
  const nativeNames = new Set(native.map((o) => o.name));

  it('has a schema for every op of the foundation set', () => {
    expect(FOUNDATION_OPS.filter((op) => !tsOps.has(op))).toEqual([]);
  });

  it('names the same ops in TypeScript and in native/include/facestyle/ops.h', () => {
    expect([...tsOps].filter((op) => !nativeNames.has(op)).sort()).toEqual([]);
    expect([...nativeNames].filter((op) => !tsOps.has(op)).sort()).toEqual([]);
  });

  it('has a CPU kernel for every op', () => {
    expect(native.filter((o) => !o.cpu).map((o) => o.name)).toEqual([]);
  });

  it('has op-table rows for every forward op of the foundation set', () => {
    const covered = new Set(allCases.map((c) => c.op));
    expect(FOUNDATION_OPS.filter((op) => !covered.has(op))).toEqual([]);
  });
});
