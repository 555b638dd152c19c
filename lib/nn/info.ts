// modelInfo: parameter count and multiply-accumulates of a graph (convolutions and matrix
// products; elementwise work is not counted, as is usual for MACs).
import type { Graph } from '../graph/ir.js';
import { convOutputShape } from '../ops/conv.js';
import { pointwiseDepthwiseMacs } from '../ops/pointwise_depthwise.js';

export interface ModelInfo {
  params: number;
  /** Multiply-accumulates of one run of the graph (its batch included). */
  macs: number;
  /** MACs per op kind. */
  macsByOp: Record<string, number>;
}

const prod = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

export function modelInfo(graph: Graph): ModelInfo {
  const params = graph.values.filter((v) => v.kind === 'param').reduce((a, v) => a + prod(v.shape), 0);
  const macsByOp: Record<string, number> = {};
  let macs = 0;
  for (const n of graph.nodes) {
    let m = 0;
    if (n.op === 'Conv2D') {
      const w = graph.values[n.inputs[1]].shape; // [M, C/g, kh, kw]
      m = prod(convOutputShape(graph, n)) * w[1] * w[2] * w[3];
    } else if (n.op === 'PointwiseDepthwise') {
      m = pointwiseDepthwiseMacs(graph.values[n.inputs[0]].shape, graph.values[n.inputs[1]].shape, (n.inputs[5] ?? -1) >= 0 ? graph.values[n.inputs[5]].shape : undefined);
    } else if (n.op === 'ConvTranspose2D') {
      const w = graph.values[n.inputs[1]].shape; // [C, M/g, kh, kw]
      m = prod(graph.values[n.inputs[0]].shape) * w[1] * w[2] * w[3];
    } else if (n.op === 'MatMul' || n.op === 'Gemm') {
      const a = graph.values[n.inputs[0]].shape;
      const k = n.op === 'Gemm' && n.attrs.transA ? a[0] : a[a.length - 1];
      m = prod(graph.values[n.outputs[0]].shape) * k;
    }
    if (m) {
      macsByOp[n.op] = (macsByOp[n.op] ?? 0) + m;
      macs += m;
    }
  }
  return { params, macs, macsByOp };
}
