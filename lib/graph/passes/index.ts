// Graph passes: pure functions Graph -> Graph (the argument is never modified).
// optimizeForInference() folds Pad / BatchNormalization / per-channel Mul and Add into Conv2D, fuses
// residual / skip Adds into the conv producing one operand (its input Z), the activation that follows
// a Conv2D or a normalisation into it (their `activation` attribute), a 2x2 max pool after a depthwise
// 3x3 conv into it (its `pool` attribute), a 1x1 conv and the depthwise 3x3 conv after it into one
// PointwiseDepthwise node (with the 1x1 projection after them, when one alone reads them), then fuses the remaining runs of elementwise ops into ElementwiseChain nodes,
// and sets denormal weights to zero (flushDenormalWeights).
import * as is from '../../is.js';
import { type Graph, checkGraph } from '../ir.js';
import { fuseElementwiseChains } from './chain.js';
import { foldBatchNormIntoConv, foldBiasAddIntoConv, foldChannelMulIntoConv, foldPadIntoConv } from './fold.js';
import { flushDenormalWeights } from './denormal.js';
import { fuseConvActivation } from './fuse.js';
import { fuseNormActivation } from './fuse_norm.js';
import { fusePoolIntoConv } from './fuse_pool.js';
import { fusePointwiseDepthwise } from './fuse_pwdw.js';
import { fuseResidualAdd } from './fuse_residual.js';
import { mergeSiblingHeads } from './merge_heads.js';

export { foldBatchNormIntoConv, foldBiasAddIntoConv, foldChannelMulIntoConv, foldPadIntoConv } from './fold.js';
export { FUSABLE_ACTIVATIONS, fuseConvActivation } from './fuse.js';
export { FUSABLE_NORMS, fuseNormActivation } from './fuse_norm.js';
export { fusePoolIntoConv } from './fuse_pool.js';
export { fusePointwiseDepthwise } from './fuse_pwdw.js';
export { RESIDUAL_HOSTS, fuseResidualAdd } from './fuse_residual.js';
export { fuseElementwiseChains } from './chain.js';
export { FLOAT32_MIN_NORMAL, countDenormals, flushDenormalWeights } from './denormal.js';
export { kMaxHeadChannels, mergeSiblingHeads } from './merge_heads.js';
export type { ChainFusionStats } from './chain.js';
export { evaluateReference } from './evaluate.js';

export interface OptimizeOptions {
  /** Fold Conv2D + activation and normalisation + activation into one node (their `activation` attribute; default true). */
  fuseActivations?: boolean;
  /** Fold an Add of a conv's output and a same-shaped tensor into the conv (its residual input Z; default true). */
  fuseResidual?: boolean;
  /** Merge small 1x1 convs reading the same tensor (and the depthwise convs after them) into one, then a Split (default true). */
  mergeHeads?: boolean;
  /**
   * Fold a 2x2 / stride-2 MaxPool after a depthwise 3x3 conv into the conv (its `pool` attribute; default true).
   * The CPU runs it in one pass; a CUDA session refuses such a conv, so turn this off for a graph meant for CUDA.
   */
  fusePool?: boolean;
  /**
   * Fuse a 1x1 conv and the depthwise 3x3 conv that reads its output into one PointwiseDepthwise node, with the
   * 1x1 projection that alone reads theirs when there is one (an inverted residual block; default true).
   * The CPU runs it in one pass; a CUDA session refuses the node, so turn this off for a graph meant for CUDA.
   */
  fusePointwiseDepthwise?: boolean;
  /** Fuse runs of elementwise ops into ElementwiseChain nodes (default true). */
  fuseElementwise?: boolean;
  /** Set weights smaller than the smallest normal float32 (denormals) to 0; they are slow on many x86 cores (default true). */
  flushDenormals?: boolean;
}

const OPTIMIZE_OPTION_KEYS = is.optionKeys<OptimizeOptions>()(['fuseActivations', 'fuseResidual', 'mergeHeads', 'fusePool', 'fusePointwiseDepthwise', 'fuseElementwise', 'flushDenormals']);

/** Inference-only rewrites: never use on a training graph whose weights are still being learnt. */
export function optimizeForInference(graph: Graph, options: OptimizeOptions = {}): Graph {
  checkGraph(graph);
  is.knownOptions('optimizeForInference', options, OPTIMIZE_OPTION_KEYS);
  let g = foldPadIntoConv(graph);
  g = foldBatchNormIntoConv(g);
  g = foldChannelMulIntoConv(g);
  g = foldBiasAddIntoConv(g);
  // Before the activations: Conv -> Add -> LeakyRelu becomes one node (Z, then the activation).
  if (options.fuseResidual ?? true) g = fuseResidualAdd(g);
  if (options.fuseActivations ?? true) {
    g = fuseConvActivation(g);
    g = fuseNormActivation(g);
  }
  // After the activations are fused (siblings must agree on theirs).
  if (options.mergeHeads ?? true) g = mergeSiblingHeads(g);
  // After the activations (the pooled kernel applies them in registers) and the head merge.
  if (options.fusePool ?? true) g = fusePoolIntoConv(g);
  // After the pool fusion (the pair keeps the depthwise conv's pool).
  if (options.fusePointwiseDepthwise ?? true) g = fusePointwiseDepthwise(g);
  // Last: the activations above are cheaper inside a conv or norm kernel than in a chain.
  if (options.fuseElementwise ?? true) g = fuseElementwiseChains(g);
  // Last, so that weights the folds above computed are flushed too.
  if (options.flushDenormals ?? true) g = flushDenormalWeights(g);
  return g;
}
