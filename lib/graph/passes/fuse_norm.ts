// Normalisation + activation fusion: a BatchNormalization (one no conv absorbed), InstanceNormalization,
// LayerNormalization or GroupNormalization whose output only an activation reads takes the activation as
// its `activation` attribute (lib/ops/norm.ts) and takes over the activation's output:
//   InstanceNormalization(x, s, b) -> LeakyRelu(alpha)   =>   InstanceNormalization(x, s, b){ activation: 'LeakyRelu', activation_alpha: alpha }
// The kernels apply it while they write the normalised value, saving a full read and write of the tensor.
import type { Graph } from '../ir.js';
import { fuseActivationInto } from './fuse.js';

/** Normalisations that accept a fused activation. */
export const FUSABLE_NORMS = ['BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization'] as const;
const NORMS = new Set<string>(FUSABLE_NORMS);

export function fuseNormActivation(graph: Graph): Graph {
  return fuseActivationInto(graph, NORMS);
}
