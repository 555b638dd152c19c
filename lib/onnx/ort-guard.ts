// Models that onnxruntime-node itself crashes on, refused before it gets them: its crash takes the whole
// Node process down (no error to catch). Found by fuzzing (onnxruntime-node 1.30): a Split whose outputs
// include an omitted one ('') loads, then segfaults in run(). The native engine runs such models.
import { FacestyleError } from '../errors.js';
import { type ModelProto, onnx } from './proto.js';

/** Why onnxruntime-node would crash on `model`, or null. */
export function ortCrashReason(model: ModelProto): string | null {
  for (const node of model.graph?.node ?? [])
    if (node.opType === 'Split' && (node.output ?? []).some((o) => !o))
      return `its Split node '${node.name ?? ''}' omits one of its outputs (''), which crashes onnxruntime-node`;
  return null;
}

/** ERR_FACESTYLE_UNSUPPORTED naming `what` when onnxruntime-node would crash on the model in `bytes` (bytes that do not decode are left to whoever loads them). */
export function checkOrtSafe(bytes: Uint8Array, what: string): void {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return;
  }
  const why = ortCrashReason(model);
  if (why) throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `${what}: ${why}; run it with the native engine (engine 'native', CLI --engine native)`);
}
