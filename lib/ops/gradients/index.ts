// Gradient functions for every differentiable op, one file per op family, registered on import.
import './conv.js';
import './elementwise.js';
import './resize.js';
import './loss.js';
import './norm.js';
import './shape.js';

export { getGradient, listGradients, registerGradient, sumTo } from './registry.js';
export type { GradContext, GradientFn } from './registry.js';
