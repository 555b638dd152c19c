// Fused losses: gradient for the prediction only (the second input is a target).
import { FacestyleError } from '../../errors.js';
import { registerGradient } from './registry.js';

for (const op of ['L1Loss', 'MseLoss', 'ColorLoss'])
  registerGradient(op, ({ b, inputs: [a, t], dys: [dl], needs, name }) => {
    // The target's gradient is not written: a target that depends on a parameter would get none in silence.
    if (needs[1]) throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `${op} '${name}': its second input (the target) depends on a parameter, and only the first input (the prediction) has a gradient; swap them, or detach the target`);
    return [dl && b.op1(`${op}Grad`, [a!, t!, dl], {}, `${name}.grad`), null];
  });
registerGradient('LsganLoss', ({ b, attrs, inputs: [a], dys: [dl], name }) => [dl && b.op1('LsganLossGrad', [a!, dl], { target: attrs.target }, `${name}.grad`)]);
registerGradient('BceLogitsLoss', ({ b, attrs, inputs: [a], dys: [dl], name }) => [dl && b.op1('BceLogitsLossGrad', [a!, dl], { target: attrs.target }, `${name}.grad`)]);
registerGradient('HingeLoss', ({ b, attrs, inputs: [a], dys: [dl], name }) => [dl && b.op1('HingeLossGrad', [a!, dl], { sign: attrs.sign }, `${name}.grad`)]);
registerGradient('TotalVariationLoss', ({ b, inputs: [a], dys: [dl], name }) => [dl && b.op1('TotalVariationLossGrad', [a!, dl], {}, `${name}.grad`)]);
