// Tensor storage helpers: IEEE half conversion (fp16 export) and TensorProto decoding variants.
import { describe, expect, it } from 'vitest';
import { DT, floatToHalf, halfToFloat, int64TensorProto, readTensor } from '../lib/onnx/proto.js';

describe('IEEE half precision', () => {
  it('known values', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(70000)).toBe(0x7c00); // overflow -> +inf
    expect(floatToHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(floatToHalf(2 ** -26)).toBe(0x0000); // underflow
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
  });

  it('every finite half survives half -> float -> half', () => {
    for (let h = 0; h < 0x10000; ++h) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads
      expect(floatToHalf(halfToFloat(h))).toBe(h);
    }
  });
});

describe('TensorProto decoding', () => {
  it('reads typed fields and raw data alike, and refuses short data', () => {
    expect(readTensor({ dims: [2], dataType: DT.FLOAT, floatData: [1.5, -2] }, 't').data).toEqual(Float32Array.from([1.5, -2]));
    expect(readTensor(int64TensorProto('i', [3], [1, -2, 2 ** 40]), 'i').data).toEqual([1, -2, 2 ** 40]);
    expect(readTensor({ dims: [2], dataType: DT.INT64, int64Data: [7, -1] }, 'i').data).toEqual([7, -1]);
    expect(readTensor({ dims: [2], dataType: DT.FLOAT16, int32Data: [0x3c00, 0xc000] }, 'h').data).toEqual(Float32Array.from([1, -2]));
    expect(readTensor({ dims: [1], dataType: DT.DOUBLE, doubleData: [0.1] }, 'd').data[0]).toBeCloseTo(0.1, 7);
    // Unaligned raw float data (offset 1 in its buffer) still decodes.
    const bytes = new Uint8Array(9);
    new DataView(bytes.buffer).setFloat32(1, 3.25, true);
    new DataView(bytes.buffer).setFloat32(5, -1, true);
    expect(readTensor({ dims: [2], dataType: DT.FLOAT, rawData: bytes.subarray(1) }, 'u').data).toEqual(Float32Array.from([3.25, -1]));
    expect(() => readTensor({ dims: [3], dataType: DT.FLOAT, floatData: [1, 2] }, 'short')).toThrow(/short: shape \[3\] needs 3 values of FLOAT but the file holds 2/);
    expect(() => readTensor({ dims: [2], dataType: DT.STRING }, 's')).toThrow(/STRING/);
    expect(() => readTensor({ dims: [-1], dataType: DT.FLOAT }, 'neg')).toThrow(/invalid dimension/);
  });
});
