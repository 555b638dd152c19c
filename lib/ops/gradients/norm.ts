// InstanceNormalization (one fused backward kernel) and Pad (scatter back to the source elements).
import { refuseFusedActivation } from './conv.js';
import { registerGradient } from './registry.js';

registerGradient('InstanceNormalization', ({ b, attrs, inputs: [x, scale], dys: [dy], name }) => {
  refuseFusedActivation(attrs, name);
  if (!dy) return [null, null, null];
  const [dx, ds, db] = b.op('InstanceNormalizationGrad', [dy, x!, scale!], { epsilon: attrs.epsilon }, `${name}.grad`);
  return [dx, ds, db];
});

registerGradient('Pad', ({ b, attrs, inputs: [x], dys: [dy], name }) => {
  if (!dy) return [null];
  const pads = attrs.pads as number[];
  // Negative pads crop first, then the positive ones pad the cropped tensor (see lib/ops/pad.ts).
  // So the gradient runs backwards through both: PadBackward of the growing part onto the cropped
  // shape, then zeros where the crop dropped elements (a constant Pad by the cropped amounts).
  const grow = pads.map((p) => Math.max(p, 0));
  const crop = pads.map((p) => Math.max(-p, 0));
  const rank = x!.shape.length;
  const cropped = x!.shape.map((d, i) => d - crop[i] - crop[i + rank]);
  const g = grow.some((p) => p > 0) ? b.op1('PadBackward', [dy], { pads: grow, mode: attrs.mode, input_shape: cropped }, `${name}.grad${crop.some((p) => p > 0) ? '_grow' : ''}`) : dy;
  if (!crop.some((p) => p > 0)) return [g];
  return [b.op1('Pad', [g], { pads: crop, mode: 'constant', value: 0 }, `${name}.grad`)];
});
