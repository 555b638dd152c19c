// Denormal weights set to zero: flushDenormalWeights (lib/graph/passes/denormal.ts, the native engine's
// inference passes) and withoutDenormalWeights / ortModelSource (lib/onnx/denormal.ts, the models facestyle
// hands onnxruntime-node). Denormal elements become 0, every other element keeps its exact bits, inputs
// are untouched, training weights are left alone, and on PFLD (whose weights are 60% denormal) none are
// left and the landmarks are the same.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../lib/graph/builder.js';
import type { Graph } from '../lib/graph/ir.js';
import { countDenormals, evaluateReference, flushDenormalWeights, FLOAT32_MIN_NORMAL, optimizeForInference } from '../lib/graph/passes/index.js';
import { Tensor, mulberry32 } from '../lib/graph/tensor.js';
import { ortModelSource, withoutDenormalWeights } from '../lib/onnx/denormal.js';
import { exportOnnxBuffer, loadOnnx, modelInfo } from '../lib/onnx/index.js';
import { decodeModel, encodeModel, readTensor } from '../lib/onnx/proto.js';
import { runNative, worstRelative } from './helpers/pass-equivalence.js';
import { describeShared, sharedData } from './helpers/shared.js';

// The smallest normal float32 from its bit pattern (exponent field 1, mantissa 0), not from the code under test.
const minNormal = new DataView(Uint32Array.of(0x00800000).buffer).getFloat32(0, true);
// The largest denormal: all mantissa bits set, exponent field 0.
const maxDenormal = new DataView(Uint32Array.of(0x007fffff).buffer).getFloat32(0, true);

// Denormals counted by bit pattern: exponent field 0 and a nonzero mantissa.
function denormalsByBits(data: Float32Array): number {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let n = 0;
  for (const b of bits) if ((b & 0x7f800000) === 0 && (b & 0x007fffff) !== 0) ++n;
  return n;
}

function weightDenormals(g: Graph): number {
  let n = 0;
  for (const v of g.values) if (v.data && (v.kind === 'param' || v.kind === 'const')) n += denormalsByBits(v.data);
  return n;
}

/** x [1,2,4,4] -> 1x1 conv with the given 6 weights (3 out channels) and bias -> out. */
function conv1x1(weights: number[], bias: number[]): Graph {
  const g = new GraphBuilder('denormal');
  const x = g.input('x', [1, 2, 4, 4]);
  const w = g.param('w', [3, 2, 1, 1], new Tensor([3, 2, 1, 1], Float32Array.from(weights)));
  const b = g.param('b', [3], new Tensor([3], Float32Array.from(bias)));
  g.output(g.op1('Conv2D', [x, w, b], {}, 'conv'), 'out');
  return g.build();
}

describe('flushDenormalWeights', () => {
  it('knows the float32 limits by their bits', () => {
    expect(FLOAT32_MIN_NORMAL).toBe(minNormal);
    expect(maxDenormal).toBeLessThan(minNormal);
    expect(countDenormals(Float32Array.of(0, -0, minNormal, -minNormal, maxDenormal, -maxDenormal, 1e-45, 1))).toBe(3);
  });

  it('zeroes exactly the denormal elements and keeps the bits of the rest', () => {
    const weights = [1e-40, 0.5, -maxDenormal, minNormal, -3e-39, -0.25];
    const before = conv1x1(weights, [1e-39, -0, -2]);
    const beforeW = before.values.find((v) => v.name === 'w')!.data!.slice();
    const after = flushDenormalWeights(before);
    const w = after.values.find((v) => v.name === 'w')!.data!;
    const b = after.values.find((v) => v.name === 'b')!.data!;
    expect(Array.from(w)).toEqual([0, 0.5, 0, minNormal, 0, -0.25]);
    expect(Array.from(b)).toEqual([0, -0, -2]);
    expect(Object.is(b[1], -0)).toBe(true); // zeros keep their sign
    expect(weightDenormals(after)).toBe(0);
    // The input graph still holds its denormals.
    expect(Array.from(before.values.find((v) => v.name === 'w')!.data!)).toEqual(Array.from(beforeW));
    expect(weightDenormals(before)).toBe(4);
    // Same results under the reference interpreter: a denormal weight contributes nothing visible.
    const rng = mulberry32(3);
    const feeds = { x: new Tensor([1, 2, 4, 4], Float32Array.from({ length: 32 }, () => rng() * 2 - 1)) };
    expect(worstRelative(evaluateReference(before, feeds), evaluateReference(after, feeds))).toBeLessThan(1e-30);
  });

  it('shares the arrays of values without denormals and leaves training weights alone', () => {
    const clean = conv1x1([1, 2, 3, 4, 5, 6], [0, 0, 0]);
    const flushed = flushDenormalWeights(clean);
    for (let i = 0; i < clean.values.length; ++i) expect(flushed.values[i].data).toBe(clean.values[i].data);

    // A training graph: w is the target of a parameter update; its denormal must stay.
    const train = conv1x1([1e-40, 1, 1, 1, 1, 1], [0, 0, 0]);
    const w = train.values.find((v) => v.name === 'w')!;
    const out = train.outputs[0];
    const withUpdate: Graph = { ...train, updates: [{ source: out, target: w.id }] };
    const kept = flushDenormalWeights(withUpdate);
    expect(kept.values[w.id].data![0]).toBe(Math.fround(1e-40));
    expect(countDenormals(kept.values[w.id].data!)).toBe(1);
  });

  it('is part of optimizeForInference unless flushDenormals is false', () => {
    const g = conv1x1([1e-40, 0.5, 0.5, 0.5, 0.5, 0.5], [0, 0, 0]);
    expect(weightDenormals(optimizeForInference(g))).toBe(0);
    expect(weightDenormals(optimizeForInference(g, { flushDenormals: false }))).toBe(1);
  });
});

describeShared('flushDenormalWeights on PFLD', () => {
  it('removes all of its denormal weights and keeps its landmarks', async () => {
    const file = sharedData('models/landmarks/pfld.onnx');
    const loaded = await loadOnnx(file, { inputShapes: { input: [1, 3, 112, 112] } });
    const kept = optimizeForInference(loaded, { flushDenormals: false });
    const flushed = optimizeForInference(loaded);
    // Counted independently: PFLD's pruned channels leave hundreds of thousands of denormal weights.
    expect(weightDenormals(loaded)).toBeGreaterThan(100_000);
    expect((await modelInfo(file)).denormalWeights).toBe(weightDenormals(loaded));
    expect(weightDenormals(kept)).toBeGreaterThan(100_000);
    expect(weightDenormals(flushed)).toBe(0);
    const rng = mulberry32(7);
    const feeds = { input: new Tensor([1, 3, 112, 112], Float32Array.from({ length: 3 * 112 * 112 }, () => rng())) };
    const [a, b] = [await runNative(kept, feeds), await runNative(flushed, feeds)];
    expect(worstRelative(a, b)).toBeLessThan(1e-5);
  });
});

describe('withoutDenormalWeights (models for onnxruntime-node)', () => {
  const weights = [1e-40, 0.5, -maxDenormal, minNormal, -3e-39, -0.25];
  const bytes = exportOnnxBuffer(conv1x1(weights, [1e-39, 0.125, -2]), { dynamicBatch: false });

  const initializer = (model: Uint8Array, name: string) => {
    const t = decodeModel(model).graph!.initializer!.find((i) => i.name === name)!;
    return Array.from(readTensor(t, name).data as Float32Array);
  };

  it('zeroes the denormal initializer elements and keeps the rest, without touching its input', async () => {
    const before = Uint8Array.from(bytes);
    const flushed = withoutDenormalWeights(bytes)!;
    expect(flushed).not.toBeNull();
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(before))).toBe(0);
    expect(initializer(bytes, 'w')).toEqual(weights.map(Math.fround));
    expect(initializer(flushed, 'w')).toEqual([0, 0.5, 0, minNormal, 0, -0.25]);
    expect(initializer(flushed, 'b')).toEqual([0, 0.125, -2]);
    // onnxruntime runs both; a denormal weight contributes nothing visible.
    const rng = mulberry32(5);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 32 }, () => rng() * 2 - 1), [1, 2, 4, 4]);
    const outs = [];
    for (const m of [bytes, flushed]) {
      const s = await ort.InferenceSession.create(m, { logSeverityLevel: 3 });
      outs.push(Array.from((await s.run({ x })).out.data as Float32Array));
      await s.release();
    }
    for (let i = 0; i < outs[0].length; ++i) expect(Math.abs(outs[1][i] - outs[0][i])).toBeLessThan(1e-30);
  });

  it('counts them in modelInfo (facestyle info)', async () => {
    expect((await modelInfo(bytes)).denormalWeights).toBe(4); // three weights and one bias
    expect((await modelInfo(withoutDenormalWeights(bytes)!)).denormalWeights).toBe(0);
  });

  it('patches the bytes in place: only the denormal floats change, fields it does not know survive', () => {
    // An unknown top-level field (number 99, varint 7) appended: protobuf decoders skip it, re-encoding would drop it.
    const extra = Uint8Array.of((99 << 3) & 0x7f | 0x80, 99 >> 4, 7);
    const withExtra = new Uint8Array(bytes.length + extra.length);
    withExtra.set(bytes);
    withExtra.set(extra, bytes.length);
    const flushed = withoutDenormalWeights(withExtra)!;
    expect(flushed.length).toBe(withExtra.length);
    expect(Array.from(flushed.subarray(bytes.length))).toEqual(Array.from(extra));
    let changed = 0;
    for (let i = 0; i < withExtra.length; i += 1) if (flushed[i] !== withExtra[i]) ++changed;
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThanOrEqual(4 * 4); // four denormal floats, 4 bytes each
  });

  it('hands a model with external data over untouched (onnxruntime finds the data only from a path)', () => {
    const model = decodeModel(bytes);
    const b = model.graph!.initializer!.find((t) => t.name === 'b')!;
    b.dataLocation = 1;
    b.externalData = [{ key: 'location', value: 'b.bin' }];
    b.rawData = new Uint8Array(0);
    expect(withoutDenormalWeights(encodeModel(model))).toBeNull();
  });

  it('gives null for a model without denormals and for bytes that are no model', () => {
    expect(withoutDenormalWeights(exportOnnxBuffer(conv1x1([1, 2, 3, 4, 5, 6], [0, 1, 2]), { dynamicBatch: false }))).toBeNull();
    expect(withoutDenormalWeights(Uint8Array.from([0xff, 0xff, 0xff, 0x07, 1, 2, 3]))).toBeNull();
  });
});

describeShared('ortModelSource on the shared models', () => {
  it('hands onnxruntime a flushed PFLD and the YuNet file as it is', async () => {
    const pfld = sharedData('models/landmarks/pfld.onnx');
    const { source } = await ortModelSource(pfld);
    expect(source).toBeInstanceOf(Uint8Array);
    const g = await loadOnnx(source as Uint8Array, { inputShapes: { input: [1, 3, 112, 112] } });
    expect(weightDenormals(g)).toBe(0);
    expect(weightDenormals(await loadOnnx(pfld, { inputShapes: { input: [1, 3, 112, 112] } }))).toBeGreaterThan(100_000);
    const yunet = sharedData('models/detection/yunet_s_dynamic.onnx');
    expect((await ortModelSource(yunet)).source).toBe(yunet);
  });
});
