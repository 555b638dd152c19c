// What the benchmark measures besides SGEMM: conv layers and models. Kept apart from run.mjs so the
// lists are easy to read and to change.

// The conv layers of the light (mobile) generator at a 256x256 input, NCHW, batch 1. Until lib/nn
// exports the generator, these are the planned layers: a 7x7 stem, two stride-2 downsamples, 3x3 residual
// convs at 1/4 resolution, a depthwise + pointwise pair, and 3x3 convs on the way back up.
// `size` is the layer's input height = width.
export const convLayers = [
  { name: 'stem 7x7 3->32', cin: 3, cout: 32, kernel: 7, stride: 1, pad: 3, size: 256 },
  { name: 'down 3x3/2 32->64', cin: 32, cout: 64, kernel: 3, stride: 2, pad: 1, size: 256 },
  { name: 'down 3x3/2 64->128', cin: 64, cout: 128, kernel: 3, stride: 2, pad: 1, size: 128 },
  { name: 'res 3x3 128->128', cin: 128, cout: 128, kernel: 3, stride: 1, pad: 1, size: 64 },
  { name: 'depthwise 3x3 128', cin: 128, cout: 128, kernel: 3, stride: 1, pad: 1, groups: 128, size: 64 },
  { name: 'pointwise 1x1 128->128', cin: 128, cout: 128, kernel: 1, stride: 1, pad: 0, size: 64 },
  { name: 'up 3x3 128->64', cin: 128, cout: 64, kernel: 3, stride: 1, pad: 1, size: 128 },
  { name: 'up 3x3 64->32', cin: 64, cout: 32, kernel: 3, stride: 1, pad: 1, size: 256 },
];

export function convFlops(l, batch = 1) {
  const out = Math.floor((l.size + 2 * l.pad - l.kernel) / l.stride) + 1;
  return 2 * batch * l.cout * out * out * (l.cin / (l.groups ?? 1)) * l.kernel * l.kernel;
}

// Every model in ../shared/data/models, with the input shapes to run it at (see that folder's README).
// `quick` marks the rows kept by --quick. `layout` says how `size` maps to the input shape.
export const models = [
  { file: 'detection/version-RFB-320.onnx', sizes: [320], shape: () => [1, 3, 240, 320], quick: true },
  { file: 'detection/version-slim-320.onnx', sizes: [320], shape: () => [1, 3, 240, 320], quick: true },
  { file: 'detection/yunet_n_320_320.onnx', sizes: [320], shape: (s) => [1, 3, s, s], quick: true },
  { file: 'detection/yunet_n_640_640.onnx', sizes: [640], shape: (s) => [1, 3, s, s] },
  { file: 'detection/yunet_s_320_320.onnx', sizes: [320], shape: (s) => [1, 3, s, s] },
  { file: 'detection/yunet_s_640_640.onnx', sizes: [640], shape: (s) => [1, 3, s, s] },
  { file: 'detection/yunet_n_dynamic.onnx', sizes: [256, 512], shape: (s) => [1, 3, s, s] },
  { file: 'detection/yunet_s_dynamic.onnx', sizes: [256, 512], shape: (s) => [1, 3, s, s] },
  { file: 'landmarks/pfld.onnx', sizes: [112], shape: (s) => [1, 3, s, s], quick: true },
  { file: 'stylization/animeganv3_tiny_cute.onnx', sizes: [256, 512], shape: (s) => [1, s, s, 3], quick: true, quickSizes: [256] },
];

// The project's own generator (lib/nn) at these sizes, once it exists.
export const generatorSizes = [256, 512];

// Depthwise layers for the fast-path rows: [channels, input size, kernel, stride], MobileNet-style
// blocks as in YuNet and UltraFace (depthwise 3x3 after a pointwise conv).
export const depthwiseLayers = [
  [32, 160, 3, 1],
  [32, 160, 3, 2],
  [64, 80, 3, 1],
  [128, 40, 3, 1],
];
