import type { InputSpec, OpCase } from '../case.js';

// Rows for the nodes the inference fusion passes write: ElementwiseChain (its reference applies the
// ops one after another), normalisations carrying a fused activation, and PointwiseDepthwise (its
// reference runs the two Conv2D references; the CPU kernel fuses them, conv_pwdw_kernels.h).
const t = (shape: number[], range: [number, number] = [-2, 2]): InputSpec => ({ shape, range });
const k = (shape: number[], range: [number, number] = [-1, 1]): InputSpec => ({ shape, range, constant: true });
const chain = (program: string, operands: number[], params: number[] = new Array(operands.length).fill(0)) => ({ program, operands, params });
const FLOAT_MAX = 3.4028234663852886e38;
const PWDW_CUDA = /runs on the CPU only.*fusePointwiseDepthwise: false/;

export const cases: OpCase[] = [
  // x * sigmoid(x): one input read twice.
  { op: 'ElementwiseChain', label: 'x*sigmoid(x), odd size', inputs: [t([2, 3, 7, 9], [-6, 6])], attrs: chain('Sigmoid Mul', [0, -1, 0, 1]) },
  // residual Add then LeakyRelu, two same-shape tensors, more than one block per row (512)
  { op: 'ElementwiseChain', label: 'Add + LeakyRelu, 1300 per plane', inputs: [t([1, 4, 26, 50]), t([1, 4, 26, 50])], attrs: chain('Add LeakyRelu', [0, 1, 2, -1], [0, 0, 0.2, 0]) },
  // scale-shift with per-channel constants, then Relu
  { op: 'ElementwiseChain', label: 'Mul/Add per channel + Relu', inputs: [t([2, 5, 6, 7]), k([1, 5, 1, 1]), k([5, 1, 1])], attrs: chain('Mul Add Relu', [0, 1, 3, 2, 4, -1]) },
  // Tanh then map [-1,1] -> [0,255]: scalar constants
  { op: 'ElementwiseChain', label: 'Tanh, Add 1, Mul 127.5 (scalars)', inputs: [t([1, 3, 9, 11], [-3, 3]), k([], [1, 1]), k([1], [127.5, 127.5])], attrs: chain('Tanh Add Mul', [0, -1, 3, 1, 4, 2]), atol: 1e-4 },
  { op: 'ElementwiseChain', label: 'Clip then Sub (constant first)', inputs: [t([3, 17]), k([17])], attrs: chain('Clip Sub', [0, -1, 1, 2], [-0.5, 0.7, 0, 0]) },
  // RFB box decoding: Mul(c) -> Exp -> Mul(c2) with a [1,N,2] prior tensor
  { op: 'ElementwiseChain', label: 'Mul Exp Mul with a full-shape constant', inputs: [t([1, 441, 2]), k([], [0.2, 0.2]), k([1, 441, 2], [0.1, 1])], attrs: chain('Mul Exp Mul', [0, 1, 3, -1, 4, 2]) },
  // a broadcast along the middle axis (rows of 5 with a per-row operand), and Div/Max/Min/Abs/Pow/Neg
  { op: 'ElementwiseChain', label: 'broadcast along the middle axis, every binary op', inputs: [t([3, 4, 5]), k([3, 1, 5], [0.5, 2])], attrs: chain('Div Max Min Abs Pow Neg', [0, 1, 2, 0, 3, 1, 4, -1, 5, 1, 6, -1]), rtol: 1e-4, atol: 1e-5 },
  { op: 'ElementwiseChain', label: 'Abs Sqrt Log Exp (unary only)', inputs: [t([64, 33], [0.5, 4])], attrs: chain('Abs Sqrt Log Exp', [0, -1, 1, -1, 2, -1, 3, -1]) },
  // a step whose operands are both one value along the row: computed once, then broadcast
  { op: 'ElementwiseChain', label: 'constant-only step then Add', inputs: [t([2, 3, 4, 4]), k([1, 3, 1, 1], [0.5, 2]), k([1, 3, 1, 1], [0.5, 2])], attrs: chain('Mul Sqrt Add', [1, 2, 3, -1, 0, 4]) },
  { op: 'ElementwiseChain', label: 'large: 3 inputs, 32x64x64', inputs: [t([1, 32, 64, 64]), t([1, 32, 64, 64]), k([1, 32, 1, 1])], attrs: chain('Add Mul Tanh', [0, 1, 3, 2, 4, -1]) },
  { op: 'ElementwiseChain', label: 'Clip with default bounds then Neg', inputs: [t([10])], attrs: chain('Clip Neg', [0, -1, 1, -1], [-FLOAT_MAX, FLOAT_MAX, 0, 0]) },

  // PointwiseDepthwise: X [N,C,H,W], W1 [M,C,1,1], W2 [M,1,3,3], B1 [M] or omitted, B2 [M] or omitted. Planes
  // split across threads by rows (64 wide, 64 rows) and by channels (14x14 with 64 -> 128 channels), small
  // ones on one thread (odd sizes, a pooled odd plane), each in-register activation on either side, and
  // Tanh (the kernel declines it: the two convs in turn). CPU only: a CUDA session refuses the node.
  { op: 'PointwiseDepthwise', label: 'Relu / Relu, 8->16 at 64x64 (by rows)', inputs: [t([1, 8, 64, 64]), k([16, 8, 1, 1]), k([16, 1, 3, 3]), k([16]), k([16])], attrs: { activation: 'Relu', dw_activation: 'Relu' }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'none / LeakyRelu, 64->128 at 14x14 (by channels), no biases', inputs: [t([1, 64, 14, 14]), k([128, 64, 1, 1], [-0.3, 0.3]), k([128, 1, 3, 3])], attrs: { dw_activation: 'LeakyRelu', dw_activation_alpha: 0.1 }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'Clip / none, batch 2, 5->13 at 9x23, pooled, no B1', inputs: [t([2, 5, 9, 23]), k([13, 5, 1, 1]), k([13, 1, 3, 3]), null, k([13])], attrs: { activation: 'Clip', activation_min: -0.3, activation_max: 0.6, pool: 'MaxPool2x2' }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'LeakyRelu / Clip, 150->24 at 10x20 (two slices of C)', inputs: [t([1, 150, 10, 20], [-1, 1]), k([24, 150, 1, 1], [-0.2, 0.2]), k([24, 1, 3, 3]), k([24]), k([24])], attrs: { activation: 'LeakyRelu', activation_alpha: 0.2, dw_activation: 'Clip', dw_activation_min: -1, dw_activation_max: 1 }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'Tanh / Sigmoid (the two convs in turn), no B2', inputs: [t([1, 4, 6, 7]), k([6, 4, 1, 1]), k([6, 1, 3, 3]), k([6])], attrs: { activation: 'Tanh', dw_activation: 'Sigmoid' }, cudaRefuses: PWDW_CUDA },
  // With a projection (W3, B3, Z: an inverted residual block): PFLD's 14x14 block (each thread a band of
  // 7 rows, the 2-column tails on the dot-product path), two slices of the expanded channels, a batch with
  // other output channels and no Z, and the compositions the kernel declines (Tanh after the projection; a
  // pooled pair).
  { op: 'PointwiseDepthwise', label: 'block: Relu / Relu / none, 128->256->128 at 14x14 + Z', inputs: [t([1, 128, 14, 14]), k([256, 128, 1, 1], [-0.1, 0.1]), k([256, 1, 3, 3]), k([256]), k([256]), k([128, 256, 1, 1], [-0.1, 0.1]), k([128]), t([1, 128, 14, 14])], attrs: { activation: 'Relu', dw_activation: 'Relu' }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'block: none / Clip / LeakyRelu, 16->136->16 at 20x28, no B1, B3', inputs: [t([1, 16, 20, 28]), k([136, 16, 1, 1]), k([136, 1, 3, 3]), null, k([136]), k([16, 136, 1, 1], [-0.2, 0.2]), null, t([1, 16, 20, 28])], attrs: { dw_activation: 'Clip', dw_activation_min: -0.5, dw_activation_max: 0.5, project_activation: 'LeakyRelu', project_activation_alpha: 0.1 }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'block: batch 2, 5->13->7 at 9x23, no Z, project Clip', inputs: [t([2, 5, 9, 23]), k([13, 5, 1, 1]), k([13, 1, 3, 3]), k([13]), k([13]), k([7, 13, 1, 1]), k([7])], attrs: { activation: 'LeakyRelu', activation_alpha: 0.2, project_activation: 'Clip', project_activation_min: -0.4, project_activation_max: 0.4 }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'block: Tanh after the projection (the convs in turn)', inputs: [t([1, 4, 6, 7]), k([6, 4, 1, 1]), k([6, 1, 3, 3]), k([6]), k([6]), k([4, 6, 1, 1]), k([4]), t([1, 4, 6, 7])], attrs: { project_activation: 'Tanh' }, cudaRefuses: PWDW_CUDA },
  { op: 'PointwiseDepthwise', label: 'block: pooled pair, then the projection (the convs in turn)', inputs: [t([1, 4, 10, 12]), k([6, 4, 1, 1]), k([6, 1, 3, 3]), k([6]), k([6]), k([5, 6, 1, 1]), k([5])], attrs: { activation: 'Relu', pool: 'MaxPool2x2' }, cudaRefuses: PWDW_CUDA },

  // Normalisations with a fused activation (inputs offset so both signs reach the activation).
  { op: 'InstanceNormalization', label: 'fused LeakyRelu', inputs: [t([2, 3, 5, 7], [-2, 3]), k([3]), k([3])], attrs: { activation: 'LeakyRelu', activation_alpha: 0.2 } },
  { op: 'InstanceNormalization', label: 'fused Relu, 32x16x16', inputs: [t([1, 32, 16, 16], [-2, 3]), k([32]), k([32])], attrs: { activation: 'Relu' } },
  { op: 'InstanceNormalization', label: 'fused Tanh', inputs: [t([1, 4, 6, 6]), k([4], [1, 3]), k([4])], attrs: { activation: 'Tanh' } },
  { op: 'BatchNormalization', label: 'fused Sigmoid', inputs: [t([2, 3, 4, 5]), k([3]), k([3]), k([3]), k([3], [0.1, 2])], attrs: { activation: 'Sigmoid' } },
  { op: 'BatchNormalization', label: 'fused Clip', inputs: [t([2, 3, 4, 5]), k([3]), k([3]), k([3]), k([3], [0.1, 2])], attrs: { activation: 'Clip', activation_min: -0.2, activation_max: 0.5 } },
  { op: 'LayerNormalization', label: 'fused LeakyRelu, axis -1', inputs: [t([2, 3, 8]), k([8]), k([8])], attrs: { activation: 'LeakyRelu', activation_alpha: 0.1 } },
  { op: 'GroupNormalization', label: 'fused Relu', inputs: [t([2, 6, 4, 5]), k([6]), k([6])], attrs: { num_groups: 3, activation: 'Relu' } },
];
