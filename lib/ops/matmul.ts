// MatMul (NumPy matmul: 1-D operands, batch broadcasting) and Gemm (alpha, beta, transA/B, optional C).
import { shapeError } from '../errors.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { registerOp } from './registry.js';
import { broadcastIndex, broadcastShapes, forEachIndex } from './util.js';

interface MatMulDims {
  batch: number[]; // broadcast batch shape
  m: number;
  k: number;
  n: number;
  shape: number[]; // output shape (1-D operands drop their axis)
}

/** NumPy matmul shapes: a 1-D A is [1,K] and a 1-D B is [K,1]; those axes are dropped from the result. */
export function matmulDims(a: Shape, b: Shape): MatMulDims {
  if (a.length < 1 || b.length < 1)
    throw shapeError(`expected operands of rank >= 1 but received ${shapeToString(a)} and ${shapeToString(b)}`);
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const m = a2[a2.length - 2];
  const k = a2[a2.length - 1];
  const kb = b2[b2.length - 2];
  const n = b2[b2.length - 1];
  if (k !== kb) throw shapeError(`expected A's last dimension (${k}) to equal B's contracted dimension but received ${shapeToString(a)} and ${shapeToString(b)}`);
  let batch: number[];
  try {
    batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2));
  } catch {
    throw shapeError(`batch dimensions of ${shapeToString(a)} and ${shapeToString(b)} do not broadcast`);
  }
  const shape = [...batch];
  if (a.length > 1) shape.push(m);
  if (b.length > 1) shape.push(n);
  return { batch, m, k, n, shape };
}

registerOp({
  name: 'MatMul',
  doc: 'NumPy matmul: [..., M, K] x [..., K, N] with batch broadcasting; 1-D operands are promoted and the axis dropped',
  inputs: { min: 2, max: 2, names: ['A', 'B'] },
  outputs: 1,
  attrs: {},
  inferShapes: ([a, b]) => [matmulDims(a as Shape, b as Shape).shape],
  reference([ta, tb]) {
    const A = ta as Tensor;
    const B = tb as Tensor;
    const { batch, m, k, n, shape } = matmulDims(A.shape, B.shape);
    const aBatch = A.rank === 1 ? [] : A.shape.slice(0, -2);
    const bBatch = B.rank === 1 ? [] : B.shape.slice(0, -2);
    const out = new Float32Array(batch.reduce((p, d) => p * d, 1) * m * n);
    forEachIndex(batch, (bi, index) => {
      const ao = broadcastIndex(index, aBatch) * m * k;
      const bo = broadcastIndex(index, bBatch) * k * n;
      for (let i = 0; i < m; ++i)
        for (let j = 0; j < n; ++j) {
          let s = 0;
          for (let p = 0; p < k; ++p) s += A.data[ao + i * k + p] * B.data[bo + p * n + j];
          out[(bi * m + i) * n + j] = s;
        }
    });
    return [new Tensor(shape, out)];
  },
});

function gemmDims(a: Shape, b: Shape, c: Shape | null, transA: boolean, transB: boolean): { m: number; k: number; n: number } {
  if (a.length !== 2 || b.length !== 2) throw shapeError(`expected A and B of rank 2 but received ${shapeToString(a)} and ${shapeToString(b)}`);
  const [m, k] = transA ? [a[1], a[0]] : [a[0], a[1]];
  const [kb, n] = transB ? [b[1], b[0]] : [b[0], b[1]];
  if (k !== kb) throw shapeError(`expected op(A) [${m},${k}] and op(B) [${kb},${n}] to share K but received A ${shapeToString(a)}, B ${shapeToString(b)}`);
  if (c) {
    let ok = c.length <= 2;
    if (ok) {
      try {
        const s = broadcastShapes(c, [m, n]);
        ok = s[0] === m && s[1] === n;
      } catch {
        ok = false;
      }
    }
    if (!ok) throw shapeError(`expected C to broadcast to [${m},${n}] but received ${shapeToString(c)}`);
  }
  return { m, k, n };
}

registerOp({
  name: 'Gemm',
  doc: 'Y = alpha * op(A) * op(B) + beta * C, op = transpose when transA/transB; C broadcasts to [M, N]',
  inputs: { min: 2, max: 3, names: ['A', 'B', 'C'] },
  outputs: 1,
  attrs: {
    alpha: { type: 'float', default: 1 },
    beta: { type: 'float', default: 1 },
    transA: { type: 'int', default: 0 },
    transB: { type: 'int', default: 0 },
  },
  inferShapes([a, b, c], attrs) {
    const { m, n } = gemmDims(a as Shape, b as Shape, c ?? null, attrs.transA !== 0, attrs.transB !== 0);
    return [[m, n]];
  },
  reference([ta, tb, tc], attrs) {
    const A = ta as Tensor;
    const B = tb as Tensor;
    const C = tc ?? null;
    const tA = attrs.transA !== 0;
    const tB = attrs.transB !== 0;
    const alpha = attrs.alpha as number;
    const beta = attrs.beta as number;
    const { m, k, n } = gemmDims(A.shape, B.shape, C ? C.shape : null, tA, tB);
    const out = new Float32Array(m * n);
    for (let i = 0; i < m; ++i)
      for (let j = 0; j < n; ++j) {
        let s = 0;
        for (let p = 0; p < k; ++p) s += (tA ? A.data[p * m + i] : A.data[i * k + p]) * (tB ? B.data[j * k + p] : B.data[p * n + j]);
        const c = C ? C.data[broadcastIndex([i, j], C.shape)] : 0;
        out[i * n + j] = alpha * s + beta * c;
      }
    return [new Tensor([m, n], out)];
  },
});
