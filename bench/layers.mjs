// What the benchmark measures besides SGEMM: conv layers and models. Kept apart from run.mjs so the
// lists are easy to read and to change.

// The conv layers of the light generator (lib/nn generatorConfig(): channels 16/32/64/96, models/comic-light.json)
// at a 256x256 input, NCHW, batch 1: the fallback list when bench/run.mjs cannot load lib/nn (it then reads
// the layers from generatorGraph itself). `size` is the layer's input height = width.
// GFLOP/s are always counted as direct convolution (2 * M * OH * OW * C * kh * kw), whatever algorithm runs:
// the 3x3 stride-1 layers with >= 64 input and >= 32 output channels (res, dec2, dec1) run Winograd F(4x4, 3x3)
// (native/cpu/conv_winograd.h), which does 4x fewer multiplies, so their "% of peak" can exceed 100.
export const convLayers = [
  { name: 'g.enc0 3x3 3->16', cin: 3, cout: 16, kernel: 3, stride: 1, pad: 1, size: 256 },
  { name: 'g.enc1 3x3/2 16->32', cin: 16, cout: 32, kernel: 3, stride: 2, pad: 1, size: 256 },
  { name: 'g.enc2 3x3/2 32->64', cin: 32, cout: 64, kernel: 3, stride: 2, pad: 1, size: 128 },
  { name: 'g.enc3 3x3/2 64->96', cin: 64, cout: 96, kernel: 3, stride: 2, pad: 1, size: 64 },
  { name: 'g.res 3x3 96->96 (Winograd)', cin: 96, cout: 96, kernel: 3, stride: 1, pad: 1, size: 32 },
  { name: 'g.dec2 3x3 96->64 (Winograd)', cin: 96, cout: 64, kernel: 3, stride: 1, pad: 1, size: 32 },
  { name: 'g.dec1 3x3 64->32 (Winograd)', cin: 64, cout: 32, kernel: 3, stride: 1, pad: 1, size: 64 },
  { name: 'g.dec0 3x3 32->16', cin: 32, cout: 16, kernel: 3, stride: 1, pad: 1, size: 128 },
  { name: 'g.head0 3x3 16->16', cin: 16, cout: 16, kernel: 3, stride: 1, pad: 1, size: 256 },
  { name: 'g.out 3x3 16->3', cin: 16, cout: 3, kernel: 3, stride: 1, pad: 1, size: 256 },
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
