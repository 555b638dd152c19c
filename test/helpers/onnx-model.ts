// Small ONNX models written node by node (for the importer's bad-input tests): float inputs and outputs,
// int64 or float initializers, attributes given as plain values or as { type, ... } AttributeProto fields.
import { onnx } from '../../lib/onnx/proto.js';

type AttrValue = number | number[] | string | { type: number; [field: string]: unknown };

/** An ONNX node; integer attributes are INT, other numbers FLOAT, arrays INTS, strings STRING. */
export function node(opType: string, input: string[], output: string[], attrs: Record<string, AttrValue> = {}, name = `${opType}_${output[0]}`) {
  const attribute = Object.entries(attrs).map(([k, v]) => {
    if (typeof v === 'object' && !Array.isArray(v)) return { name: k, ...v };
    if (Array.isArray(v)) return { name: k, type: 7, ints: v };
    if (typeof v === 'string') return { name: k, type: 3, s: Buffer.from(v) };
    return Number.isInteger(v) ? { name: k, type: 2, i: v } : { name: k, type: 1, f: v };
  });
  return { opType, input, output, attribute, name };
}

/** A float input or output with fixed dims. */
export const valueInfo = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
export const int64Init = (name: string, values: number[], dims = [values.length]) => ({ name, dataType: 7, dims, int64Data: values });
export const floatInit = (name: string, values: number[], dims = [values.length]) => ({ name, dataType: 1, dims, floatData: values });

export function onnxModel(o: { nodes: ReturnType<typeof node>[]; inputs: ReturnType<typeof valueInfo>[]; outputs: ReturnType<typeof valueInfo>[]; inits?: object[]; opset?: number }): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: o.opset ?? 13 }],
    graph: { name: 'g', node: o.nodes, input: o.inputs, output: o.outputs, initializer: o.inits ?? [] },
  } as never).finish();
}
