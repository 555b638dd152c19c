// Conv2D: dX = Conv2DBackpropInput(dY, W), dW = Conv2DBackpropFilter(X, dY), dB = sum of dY.
import { unsupportedError } from '../../errors.js';
import { registerGradient } from './registry.js';

/** A fused activation (set by the inference passes) has no gradient here: differentiate the graph before optimizeForInference. */
export function refuseFusedActivation(attrs: Record<string, unknown>, name: string): void {
  if (attrs.activation) throw unsupportedError(`Node '${name}' carries a fused activation '${attrs.activation}' (made by optimizeForInference, which is for inference only); build gradients on the unoptimised graph`);
}

/** A residual input Z (set by fuseResidualAdd, also inference only) is refused the same way. */
export function refuseResidualInput(inputs: readonly unknown[], name: string): void {
  if (inputs.length > 3 && inputs[3]) throw unsupportedError(`Node '${name}' carries a fused residual input Z (made by optimizeForInference, which is for inference only); build gradients on the unoptimised graph`);
}

registerGradient('Conv2D', ({ b, attrs, inputs, dys: [dy], needs, name }) => {
  const [x, w, bias] = inputs;
  refuseFusedActivation(attrs, name);
  refuseResidualInput(inputs, name);
  if (attrs.pool) throw unsupportedError(`Node '${name}' carries a fused max pool (made by optimizeForInference, which is for inference only); build gradients on the unoptimised graph`);
  if (!dy) return [null, null, null];
  const win = { strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations, group: attrs.group };
  return [
    needs[0] ? b.op1('Conv2DBackpropInput', [dy, w], { ...win, input_shape: [...x!.shape] }, `${name}.grad_x`) : null,
    needs[1] ? b.op1('Conv2DBackpropFilter', [x, dy], { ...win, filter_shape: [...w!.shape] }, `${name}.grad_w`) : null,
    bias && needs[2] ? b.op1('Conv2DBackpropBias', [dy], {}, `${name}.grad_b`) : null,
  ];
});

// ConvTranspose2D is the adjoint of Conv2D with the same weight: dX = Conv2D(dY, W) and
// dW = Conv2DBackpropFilter(X := dY, dY := X). output_padding only adds rows the forward never
// reads back, so the shapes agree (Conv2D of dY floors them away).
registerGradient('ConvTranspose2D', ({ b, attrs, inputs, dys: [dy], needs, name }) => {
  const [x, w, bias] = inputs;
  refuseResidualInput(inputs, name);
  if (!dy) return [null, null, null];
  const win = { strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations, group: attrs.group };
  return [
    needs[0] ? b.op1('Conv2D', [dy, w], win, `${name}.grad_x`) : null,
    needs[1] ? b.op1('Conv2DBackpropFilter', [dy, x], { ...win, filter_shape: [...w!.shape] }, `${name}.grad_w`) : null,
    bias && needs[2] ? b.op1('Conv2DBackpropBias', [dy], {}, `${name}.grad_b`) : null,
  ];
});
