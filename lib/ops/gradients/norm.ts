// InstanceNormalization (one fused backward kernel) and Pad (scatter back to the source elements).
import { unsupportedError } from '../../errors.js';
import { registerGradient } from './registry.js';

registerGradient('InstanceNormalization', ({ b, attrs, inputs: [x, scale], dys: [dy], name }) => {
  if (!dy) return [null, null, null];
  const [dx, ds, db] = b.op('InstanceNormalizationGrad', [dy, x!, scale!], { epsilon: attrs.epsilon }, `${name}.grad`);
  return [dx, ds, db];
});

registerGradient('Pad', ({ b, attrs, inputs: [x], dys: [dy], name }) => {
  if (!dy) return [null];
  const pads = attrs.pads as number[];
  if (pads.some((p) => p < 0)) throw unsupportedError(`Pad node '${name}': no gradient for negative pads (crops)`);
  return [b.op1('PadBackward', [dy], { pads: [...pads], mode: attrs.mode, input_shape: [...x!.shape] }, `${name}.grad`)];
});
