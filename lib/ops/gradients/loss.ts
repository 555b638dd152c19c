// Fused losses: gradient for the prediction only (the second input is a target).
import { registerGradient } from './registry.js';

for (const op of ['L1Loss', 'MseLoss', 'ColorLoss'])
  registerGradient(op, ({ b, inputs: [a, t], dys: [dl], name }) => [dl && b.op1(`${op}Grad`, [a!, t!, dl], {}, `${name}.grad`), null]);
registerGradient('LsganLoss', ({ b, attrs, inputs: [a], dys: [dl], name }) => [dl && b.op1('LsganLossGrad', [a!, dl], { target: attrs.target }, `${name}.grad`)]);
registerGradient('BceLogitsLoss', ({ b, attrs, inputs: [a], dys: [dl], name }) => [dl && b.op1('BceLogitsLossGrad', [a!, dl], { target: attrs.target }, `${name}.grad`)]);
registerGradient('HingeLoss', ({ b, attrs, inputs: [a], dys: [dl], name }) => [dl && b.op1('HingeLossGrad', [a!, dl], { sign: attrs.sign }, `${name}.grad`)]);
registerGradient('TotalVariationLoss', ({ b, inputs: [a], dys: [dl], name }) => [dl && b.op1('TotalVariationLossGrad', [a!, dl], {}, `${name}.grad`)]);
