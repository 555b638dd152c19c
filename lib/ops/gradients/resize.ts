// Resize: the adjoint scatter with the same taps (ResizeBackward).
import { unsupportedError } from '../../errors.js';
import { registerGradient } from './registry.js';

registerGradient('Resize', ({ b, attrs, inputs: [x], dys: [dy], name }) => {
  if (!dy) return [null];
  if (attrs.mode !== 'linear' && attrs.mode !== 'nearest') throw unsupportedError(`Resize node '${name}': no gradient for mode '${attrs.mode}'`);
  const scales = (attrs.scales as number[] | undefined) ?? [];
  return [
    b.op1('ResizeBackward', [dy], {
      mode: attrs.mode,
      coordinate_transformation_mode: attrs.coordinate_transformation_mode,
      nearest_mode: attrs.nearest_mode,
      scales: [...scales],
      input_shape: [...x!.shape],
    }, `${name}.grad`),
  ];
});
