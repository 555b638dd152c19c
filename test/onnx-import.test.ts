// ONNX forms the exporter never writes but real models use (old opsets, auto_pad, variadic ops,
// shape subgraphs): small hand-built ONNX models, each checked against onnxruntime-node.
import type { onnx as OnnxNs } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { loadOnnx } from '../lib/onnx/import.js';
import { checkParity } from '../lib/onnx/parity.js';
import { DT, floatTensorProto, int64TensorProto, onnx } from '../lib/onnx/proto.js';
import { Tensor } from '../lib/graph/tensor.js';

type Attr = OnnxNs.IAttributeProto;
const I = (name: string, i: number): Attr => ({ name, type: 2, i });
const F = (name: string, f: number): Attr => ({ name, type: 1, f });
const Is = (name: string, ints: number[]): Attr => ({ name, type: 7, ints });
const S = (name: string, s: string): Attr => ({ name, type: 3, s: Buffer.from(s) });
const node = (opType: string, input: string[], output: string[], attribute: Attr[] = []): OnnxNs.INodeProto => ({ opType, input, output, attribute, name: `${opType}_${output[0]}` });

function model(opset: number, inputs: [string, (number | string)[]][], nodes: OnnxNs.INodeProto[], outputs: string[], initializer: OnnxNs.ITensorProto[] = []): Uint8Array {
  const vi = (name: string, dims?: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType: DT.FLOAT, shape: dims ? { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined } },
  });
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'm', node: nodes, initializer, input: inputs.map(([n, d]) => vi(n, d)), output: outputs.map((n) => vi(n)) },
  }).finish();
}

const weights = (name: string, shape: number[], seed: number) => floatTensorProto(name, shape, Tensor.random(shape, seed).data);

async function expectParity(bytes: Uint8Array, inputShapes: Record<string, number[]> = {}): Promise<void> {
  const r = await checkParity(bytes, { inputShapes, threads: 1 });
  expect(r.ok, r.outputs.map((o) => `${o.name}: maxAbsErr ${o.maxAbsErr} at [${o.worstAt}] ${o.native} vs ${o.reference}`).join('\n')).toBe(true);
}

describe('ONNX import: forms real models use, checked against onnxruntime', () => {
  for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
    it(`Conv auto_pad ${autoPad}, stride 2, odd input`, async () => {
      const bytes = model(11, [['x', [1, 2, 9, 7]]], [node('Conv', ['x', 'w', 'b'], ['y'], [S('auto_pad', autoPad), Is('strides', [2, 2]), Is('kernel_shape', [4, 3])])], ['y'], [weights('w', [3, 2, 4, 3], 1), weights('b', [3], 2)]);
      const g = loadOnnx(bytes);
      const conv = g.nodes.find((n) => n.op === 'Conv2D')!;
      // SAME: out = ceil(in / stride); total pad H = (5-1)*2 + 4 - 9 = 3, W = (4-1)*2 + 3 - 7 = 2.
      const expected = { SAME_UPPER: [1, 1, 2, 1], SAME_LOWER: [2, 1, 1, 1], VALID: [0, 0, 0, 0] }[autoPad];
      expect(conv.attrs.pads).toEqual(expected);
      await expectParity(bytes);
    });
  }

  it('MaxPool auto_pad SAME_UPPER', async () => {
    await expectParity(model(11, [['x', [1, 2, 7, 7]]], [node('MaxPool', ['x'], ['y'], [S('auto_pad', 'SAME_UPPER'), Is('kernel_shape', [3, 3]), Is('strides', [2, 2])])], ['y']));
  });

  it('Softmax before opset 13 normalises the flattened trailing dims', async () => {
    await expectParity(model(11, [['x', [2, 3, 4]]], [node('Softmax', ['x'], ['y'], [I('axis', 1)])], ['y']));
    await expectParity(model(9, [['x', [2, 5]]], [node('Softmax', ['x'], ['y'])], ['y']));
  });

  it('variadic Sum, Max and Min', async () => {
    await expectParity(
      model(11, [['a', [2, 3]], ['b', [1, 3]], ['c', [2, 1]]], [node('Sum', ['a', 'b', 'c'], ['s']), node('Max', ['a', 'b', 'c'], ['mx']), node('Min', ['a', 'b'], ['mn'])], ['s', 'mx', 'mn']),
    );
  });

  it('opset 9 attribute forms: Clip, Slice, Pad, Upsample, Squeeze, Unsqueeze, ReduceMean, Split', async () => {
    const bytes = model(
      9,
      [['x', [1, 2, 4, 6]]],
      [
        node('Clip', ['x'], ['c'], [F('min', -0.5), F('max', 0.25)]),
        node('Slice', ['c'], ['s'], [Is('starts', [1, -5]), Is('ends', [100, -1]), Is('axes', [2, 3])]),
        node('Pad', ['s'], ['p'], [Is('pads', [0, 0, 1, 2, 0, 0, 0, 1]), S('mode', 'edge')]),
        node('Upsample', ['p', 'scales'], ['u'], [S('mode', 'nearest')]),
        node('ReduceMean', ['u'], ['r'], [Is('axes', [1]), I('keepdims', 0)]),
        node('Unsqueeze', ['r'], ['uq'], [Is('axes', [0])]),
        node('Squeeze', ['uq'], ['sq'], [Is('axes', [0])]),
        node('Split', ['x'], ['x0', 'x1'], [I('axis', 3), Is('split', [2, 4])]),
        node('Dropout', ['x1'], ['d']),
      ],
      ['sq', 'x0', 'd'],
      [floatTensorProto('scales', [4], Float32Array.from([1, 1, 2, 2]))],
    );
    await expectParity(bytes);
  });

  it('opset 13 tensor-input forms: Split without sizes, Squeeze/Unsqueeze axes inputs, Clip inputs, Resize with sizes', async () => {
    const bytes = model(
      13,
      [['x', [1, 4, 3, 5]]],
      [
        node('Split', ['x'], ['a', 'b'], [I('axis', 1)]),
        node('Unsqueeze', ['a', 'ax0'], ['ua']),
        node('Squeeze', ['ua', 'ax0'], ['sa']),
        node('Clip', ['sa', 'lo', ''], ['ca']),
        node('Resize', ['b', '', '', 'sizes'], ['rb'], [S('mode', 'linear'), S('coordinate_transformation_mode', 'align_corners')]),
        node('ReduceSum', ['b', 'ax1'], ['rs'], [I('keepdims', 1)]),
      ],
      ['ca', 'rb', 'rs'],
      [int64TensorProto('ax0', [1], [0]), int64TensorProto('ax1', [1], [3]), floatTensorProto('lo', [], Float32Array.from([-0.1])), int64TensorProto('sizes', [4], [1, 2, 7, 9])],
    );
    await expectParity(bytes);
  });

  it('a dynamic shape subgraph (Shape, Gather, Unsqueeze, Concat, Cast, Div, Reshape) folds for each input size', async () => {
    // y = Reshape(x, [N, C, H*W / 2, 2]) with the target computed from Shape(x) at run time in ONNX.
    const nodes = [
      node('Shape', ['x'], ['shp']),
      node('Gather', ['shp', 'i0'], ['n'], [I('axis', 0)]),
      node('Gather', ['shp', 'i1'], ['c'], [I('axis', 0)]),
      node('Gather', ['shp', 'i2'], ['h'], [I('axis', 0)]),
      node('Gather', ['shp', 'i3'], ['w'], [I('axis', 0)]),
      node('Mul', ['h', 'w'], ['hw']),
      node('Cast', ['hw'], ['hwf'], [I('to', DT.FLOAT)]),
      node('Div', ['hwf', 'two'], ['half']),
      node('Cast', ['half'], ['halfi'], [I('to', DT.INT64)]),
      ...['n', 'c', 'halfi'].map((v) => node('Unsqueeze', [v], [`${v}_u`], [Is('axes', [0])])),
      node('Concat', ['n_u', 'c_u', 'halfi_u', 'two_i'], ['target'], [I('axis', 0)]),
      node('Reshape', ['x', 'target'], ['r']),
      node('Relu', ['r'], ['y']),
    ];
    const inits = [0, 1, 2, 3].map((k) => int64TensorProto(`i${k}`, [], [k]));
    inits.push(floatTensorProto('two', [], Float32Array.from([2])), int64TensorProto('two_i', [1], [2]));
    const bytes = model(11, [['x', ['batch', 3, 'height', 'width']]], nodes, ['y'], inits);
    for (const [h, w] of [
      [4, 6],
      [8, 10],
    ]) {
      const g = loadOnnx(bytes, { inputShapes: { x: [1, 3, h, w] } });
      expect(g.nodes.map((n) => n.op)).toEqual(['Reshape', 'Relu']);
      expect(g.nodes[0].attrs.shape).toEqual([1, 3, (h * w) / 2, 2]);
      await expectParity(bytes, { x: [1, 3, h, w] });
    }
  });

  it('ops outside the IR written as IR chains: PRelu, HardSigmoid, HardSwish, Mean, Gather on run-time data', async () => {
    const bytes = model(
      14, // HardSwish exists from opset 14
      [['x', [2, 3, 4, 5]], ['z', [2, 3, 4, 5]]],
      [
        node('PRelu', ['x', 'slope'], ['pr']),
        node('HardSigmoid', ['x'], ['hs'], [F('alpha', 0.3), F('beta', 0.4)]),
        node('HardSwish', ['z'], ['hw']),
        node('Mean', ['x', 'z', 'pr'], ['mean']),
        node('Gather', ['x', 'scalar1'], ['g0'], [I('axis', 1)]),
        node('Gather', ['z', 'list'], ['g1'], [I('axis', -1)]),
      ],
      ['pr', 'hs', 'hw', 'mean', 'g0', 'g1'],
      [weights('slope', [3, 1, 1], 8), int64TensorProto('scalar1', [], [-2]), int64TensorProto('list', [3], [4, 0, 2])],
    );
    const g = loadOnnx(bytes);
    expect(g.values[g.outputs[4]].shape).toEqual([2, 4, 5]);
    expect(g.values[g.outputs[5]].shape).toEqual([2, 3, 4, 3]);
    await expectParity(bytes);
  });

  it('a dead branch with an unsupported op is not imported', async () => {
    const bytes = model(11, [['x', [2, 3]]], [node('Erf', ['x'], ['unused']), node('Relu', ['x'], ['y'])], ['y']);
    expect(loadOnnx(bytes).nodes.map((n) => n.op)).toEqual(['Relu']);
    await expectParity(bytes);
  });

  it('Constant, ConstantOfShape and constant arithmetic fold; an initializer-only output still works', async () => {
    const bytes = model(
      11,
      [['x', [2, 3]]],
      [
        node('Constant', [], ['k'], [{ name: 'value', type: 4, t: floatTensorProto('kv', [3], Float32Array.from([1, 2, 3])) }]),
        node('ConstantOfShape', ['shape23'], ['ones'], [{ name: 'value', type: 4, t: floatTensorProto('v', [1], Float32Array.from([0.5])) }]),
        node('Mul', ['k', 'ones'], ['kk']),
        node('Add', ['x', 'kk'], ['y']),
        node('Exp', ['k'], ['ek']),
      ],
      ['y', 'ek'],
      [int64TensorProto('shape23', [2], [2, 3])],
    );
    const g = loadOnnx(bytes);
    expect(g.nodes.filter((n) => n.op !== 'Identity').map((n) => n.op)).toEqual(['Add']);
    await expectParity(bytes);
  });
});
