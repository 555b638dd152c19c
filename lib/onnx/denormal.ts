// ONNX models given to onnxruntime-node with their denormal float32 weights set to 0, as the native
// engine's optimizeForInference does (lib/graph/passes/denormal.ts says why: on many x86 cores each FMA
// with a denormal input takes a slow microcode assist). onnxruntime's own answer, the session option
// `set_denormal_as_zero`, left PFLD at 15 ms a run on a 2-core Intel Xeon (26 ms without it); with its
// weights flushed here it takes 1.5 ms. Used for the sessions facestyle creates itself (detectors,
// landmarks, ONNX generators); checkParity keeps the file as it is.
import { readFile } from 'node:fs/promises';
import { FLOAT32_MIN_NORMAL } from '../graph/passes/denormal.js';
import { DT, type ModelProto, type TensorProto, onnx } from './proto.js';

/** Replaces the data of a FLOAT tensor held in the file (not external) when it has denormals; returns how many it zeroed. */
function flushTensor(t: TensorProto): number {
  if ((t.dataType ?? 0) !== DT.FLOAT || t.dataLocation === 1) return 0;
  const raw = t.rawData && t.rawData.length ? t.rawData : null;
  // A copy (4-byte aligned, and never the decoded buffer the caller owns: new Uint8Array copies, where a
  // Buffer's slice() would not); every platform Node ships on is little-endian.
  const values = raw ? new Float32Array(new Uint8Array(raw).buffer, 0, raw.length >> 2) : Float32Array.from(t.floatData ?? []);
  let n = 0;
  for (let i = 0; i < values.length; ++i) {
    const a = Math.abs(values[i]);
    if (a !== 0 && a < FLOAT32_MIN_NORMAL) {
      values[i] = 0;
      ++n;
    }
  }
  if (n === 0) return 0;
  if (raw) t.rawData = new Uint8Array(values.buffer, 0, raw.length);
  else t.floatData = Array.from(values);
  return n;
}

/**
 * The model re-encoded with every denormal element of its float32 initializers and Constant nodes set
 * to 0, or null when there is none to flush (or the bytes do not decode: whoever loads them reports that).
 */
export function withoutDenormalWeights(bytes: Uint8Array): Uint8Array | null {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return null;
  }
  const graph = model.graph;
  if (!graph) return null;
  let flushed = 0;
  for (const t of graph.initializer ?? []) flushed += flushTensor(t);
  for (const node of graph.node ?? []) for (const a of node.attribute ?? []) if (a.t) flushed += flushTensor(a.t);
  return flushed ? onnx.ModelProto.encode(model).finish() : null;
}

/** What to hand InferenceSession.create: the flushed model's bytes when the file has denormal weights, else its path. */
export async function ortModelSource(file: string): Promise<string | Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch {
    return file; // onnxruntime reports the unreadable file as before
  }
  return withoutDenormalWeights(bytes) ?? file;
}
