// Models that onnxruntime-node itself crashes on, refused before it gets them: its crash takes the whole
// Node process down (no error to catch). Found by fuzzing (onnxruntime-node 1.30): a Split whose outputs
// include an omitted one ('') loads, then segfaults in run(). The native engine runs such models.
import { FacestyleError } from '../errors.js';
import { type ModelProto, onnx } from './proto.js';

type Nodes = NonNullable<NonNullable<ModelProto['graph']>['node']>;

/** Why onnxruntime-node would crash on `model`, or null. Subgraphs (If / Loop bodies) and functions are searched too. */
export function ortCrashReason(model: ModelProto): string | null {
  const search = (nodes: Nodes | null | undefined): string | null => {
    for (const node of nodes ?? []) {
      if (node.opType === 'Split' && (node.output ?? []).some((o) => !o))
        return `its Split node '${node.name ?? ''}' omits one of its outputs (''), which crashes onnxruntime-node`;
      for (const a of node.attribute ?? [])
        for (const g of [a.g, ...(a.graphs ?? [])]) {
          const found = g ? search(g.node) : null;
          if (found) return found;
        }
    }
    return null;
  };
  return search(model.graph?.node) ?? (model.functions ?? []).reduce<string | null>((found, f) => found ?? search(f.node as Nodes), null);
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
