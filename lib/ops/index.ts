// Every op family registers its schemas on import. One file per family, as in native/cpu.
import './elementwise.js';
import './elementwise_chain.js';
import './conv.js';
import './pointwise_depthwise.js';
import './pool.js';
import './resize.js';
import './pad.js';
import './norm.js';
import './shape.js';
import './reduce.js';
import './matmul.js';
import './warp.js';
import './backward.js';
import './optim.js';
import './loss.js';

export { getOp, hasOp, listOps, normalizeAttrs, inferNodeShapes, outputCount, registerOp } from './registry.js';
export type { OpSchema, AttrSpec, AttrType } from './registry.js';
