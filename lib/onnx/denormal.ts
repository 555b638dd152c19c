// ONNX models given to onnxruntime-node with their denormal float32 weights set to 0, as the native
// engine's optimizeForInference does (lib/graph/passes/denormal.ts says why: on many x86 cores each FMA
// with a denormal input takes a slow microcode assist). onnxruntime's own answer, the session option
// `set_denormal_as_zero`, left PFLD at 15 ms a run on a 2-core Intel Xeon (26 ms without it); with its
// weights flushed here it takes 1.5 ms. Used for the sessions facestyle creates itself (detectors,
// landmarks, ONNX generators); checkParity keeps the file as it is.
//
// The file's bytes are patched in place, never re-encoded: the protobuf schema here (ONNX 1.10) would
// drop fields it does not know (newer ONNX's metadata or function overloads). Only tensors stored as
// raw_data are flushed (what exporters write; float_data tensors are left as they are), in initializers,
// Constant-style attributes (t, tensors) and subgraphs (If / Loop bodies, functions); a model with any
// external data is handed over by path untouched (onnxruntime resolves external files only from a path).
import { readFile } from 'node:fs/promises';
import { isDenormal } from '../graph/passes/denormal.js';
import { DT, type GraphProto, type ModelProto, type TensorProto, onnx } from './proto.js';

/** Every tensor the model stores: initializers and attribute tensors, in every graph and function. */
function* tensorsOf(model: ModelProto): Generator<TensorProto> {
  function* ofGraph(g: GraphProto | null | undefined): Generator<TensorProto> {
    if (!g) return;
    yield* g.initializer ?? [];
    yield* ofNodes(g.node);
  }
  function* ofNodes(nodes: GraphProto['node']): Generator<TensorProto> {
    for (const node of nodes ?? [])
      for (const a of node.attribute ?? []) {
        if (a.t) yield a.t;
        yield* a.tensors ?? [];
        yield* ofGraph(a.g);
        for (const g of a.graphs ?? []) yield* ofGraph(g);
      }
  }
  yield* ofGraph(model.graph);
  for (const f of model.functions ?? []) yield* ofNodes(f.node);
}

/**
 * A copy of the model's bytes with every denormal element of its float32 raw_data tensors set to +0, or
 * null when there is none to flush, when the model has external data, or when the bytes do not decode
 * (whoever loads them reports that).
 */
export function withoutDenormalWeights(bytes: Uint8Array): Uint8Array | null {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return null;
  }
  const tensors = [...tensorsOf(model)];
  if (tensors.some((t) => t.dataLocation === 1)) return null;
  let out: Uint8Array | null = null;
  for (const t of tensors) {
    const raw = t.rawData;
    if ((t.dataType ?? 0) !== DT.FLOAT || !raw || raw.length < 4 || raw.buffer !== bytes.buffer) continue;
    // raw is a view into `bytes` (protobufjs slices, never copies): patch the same bytes in the copy.
    const at = raw.byteOffset - bytes.byteOffset;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
    for (let i = 0; i + 4 <= raw.length; i += 4)
      if (isDenormal(view.getFloat32(i, true))) {
        out ??= Uint8Array.from(bytes);
        out.fill(0, at + i, at + i + 4);
      }
  }
  return out;
}

/**
 * What to hand InferenceSession.create (`source`): the flushed model's bytes when the file has denormal
 * weights, else its path; and the file's bytes as read (`bytes`, null when unreadable: onnxruntime then
 * reports it), for checks of the model that need not read it again.
 */
export async function ortModelSource(file: string): Promise<{ source: string | Uint8Array; bytes: Uint8Array | null }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch {
    return { source: file, bytes: null };
  }
  return { source: withoutDenormalWeights(bytes) ?? file, bytes };
}
