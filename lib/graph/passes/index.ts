// Graph passes: pure functions Graph -> Graph (the argument is never modified).
// optimizeForInference() folds Pad / BatchNormalization / per-channel Mul and Add into Conv2D, then
// fuses the activation that follows a Conv2D into it (Conv2D's `activation` attribute).
import type { Graph } from '../ir.js';
import { foldBatchNormIntoConv, foldBiasAddIntoConv, foldChannelMulIntoConv, foldPadIntoConv } from './fold.js';
import { fuseConvActivation } from './fuse.js';

export { foldBatchNormIntoConv, foldBiasAddIntoConv, foldChannelMulIntoConv, foldPadIntoConv } from './fold.js';
export { FUSABLE_ACTIVATIONS, fuseConvActivation } from './fuse.js';
export { evaluateReference } from './evaluate.js';

export interface OptimizeOptions {
  /** Fold Conv2D + activation into one node (Conv2D's `activation` attribute; default true). */
  fuseActivations?: boolean;
}

/** Inference-only rewrites: never use on a training graph whose weights are still being learnt. */
export function optimizeForInference(graph: Graph, options: OptimizeOptions = {}): Graph {
  let g = foldPadIntoConv(graph);
  g = foldBatchNormIntoConv(g);
  g = foldChannelMulIntoConv(g);
  g = foldBiasAddIntoConv(g);
  if (options.fuseActivations ?? true) g = fuseConvActivation(g);
  return g;
}
