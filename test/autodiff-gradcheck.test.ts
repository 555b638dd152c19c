// Finite-difference gradient checks for every differentiable op, in one table. The forward and the
// backward graph are evaluated with the ops' plain TypeScript references (the ground truth the
// native kernels are tested against in test/ops/cases/backward.ts), the numeric gradient is a
// central difference of sum(Y * R) accumulated in float64.
//
// Tolerances: the forward references round to float32 (relative 6e-8), so with eps = 1e-2 the
// rounding error of a central difference is about sqrt(n) * 6e-8 * |Y| / 2e-2 < 1e-4 for these
// sizes, and the truncation error of smooth ops is eps^2 * f''' / 6 < 2e-5. Piecewise-linear ops
// get inputs at least 0.05 away from their kinks, so the difference is exact up to rounding.
// Hence atol = rtol = 1e-3 (about 10x the estimate), the same for every row.
import { describe, expect, it } from 'vitest';
import { gradients } from '../lib/graph/autodiff.js';
import { GraphBuilder, type Sym } from '../lib/graph/builder.js';
import type { Attrs, Graph } from '../lib/graph/ir.js';
import { Tensor, mulberry32 } from '../lib/graph/tensor.js';
import { getOp, listOps } from '../lib/ops/index.js';
import { listGradients } from '../lib/ops/gradients/index.js';
import { forEachIndex } from '../lib/ops/util.js';

interface GradCase {
  op: string;
  label: string;
  /** Input shapes with the uniform range of their values. */
  inputs: { shape: number[]; range?: [number, number]; awayFromZero?: boolean; fn?: (i: number[]) => number }[];
  attrs?: Attrs;
  /** Inputs to differentiate (default all). */
  wrt?: number[];
}

const pos: [number, number] = [0.5, 2];
const cases: GradCase[] = [
  { op: 'Add', label: 'broadcast channel', inputs: [{ shape: [2, 3, 4, 4] }, { shape: [1, 3, 1, 1] }] },
  { op: 'Add', label: 'rank broadcast', inputs: [{ shape: [3, 5] }, { shape: [5] }] },
  { op: 'Sub', label: 'broadcast', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }] },
  { op: 'Mul', label: 'broadcast', inputs: [{ shape: [2, 3, 4] }, { shape: [1, 3, 4] }] },
  { op: 'Div', label: 'broadcast', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1], range: pos }] },
  { op: 'Relu', label: '4d', inputs: [{ shape: [2, 3, 4, 5], awayFromZero: true }] },
  { op: 'LeakyRelu', label: 'alpha 0.2', inputs: [{ shape: [2, 3, 4, 5], awayFromZero: true }], attrs: { alpha: 0.2 } },
  { op: 'Tanh', label: '4d', inputs: [{ shape: [2, 3, 4, 5], range: [-2, 2] }] },
  { op: 'Sigmoid', label: '4d', inputs: [{ shape: [2, 3, 4, 5], range: [-3, 3] }] },
  { op: 'Abs', label: '3d', inputs: [{ shape: [3, 4, 5], awayFromZero: true }] },
  { op: 'Neg', label: '2d', inputs: [{ shape: [4, 5] }] },
  { op: 'Identity', label: '2d', inputs: [{ shape: [4, 5] }] },
  { op: 'Exp', label: '2d', inputs: [{ shape: [4, 5] }] },
  { op: 'Log', label: '2d', inputs: [{ shape: [4, 5], range: pos }] },
  { op: 'Sqrt', label: '2d', inputs: [{ shape: [4, 5], range: pos }] },
  { op: 'Conv2D', label: '3x3 pad 1 bias', inputs: [{ shape: [2, 3, 6, 5] }, { shape: [4, 3, 3, 3] }, { shape: [4] }], attrs: { pads: [1, 1, 1, 1] } },
  { op: 'Conv2D', label: 'stride 2 asymmetric pad', inputs: [{ shape: [1, 2, 7, 6] }, { shape: [3, 2, 3, 3] }], attrs: { strides: [2, 2], pads: [1, 0, 1, 1] } },
  { op: 'Conv2D', label: 'dilation 2', inputs: [{ shape: [1, 2, 7, 7] }, { shape: [2, 2, 3, 3] }], attrs: { dilations: [2, 2], pads: [2, 2, 2, 2] } },
  { op: 'Conv2D', label: 'depthwise group 4', inputs: [{ shape: [2, 4, 5, 5] }, { shape: [4, 1, 3, 3] }, { shape: [4] }], attrs: { group: 4, pads: [1, 1, 1, 1] } },
  { op: 'Conv2D', label: 'group 2, 1x1', inputs: [{ shape: [1, 4, 3, 3] }, { shape: [6, 2, 1, 1] }], attrs: { group: 2 } },
  { op: 'ConvTranspose2D', label: '2x2 stride 2 bias', inputs: [{ shape: [2, 3, 3, 4] }, { shape: [3, 2, 2, 2] }, { shape: [2] }], attrs: { strides: [2, 2] } },
  { op: 'ConvTranspose2D', label: '3x3 stride 2 pad 1 output_padding 1', inputs: [{ shape: [1, 2, 3, 3] }, { shape: [2, 3, 3, 3] }], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] } },
  { op: 'ConvTranspose2D', label: 'depthwise group 2', inputs: [{ shape: [1, 2, 3, 3] }, { shape: [2, 1, 4, 4] }], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 } },
  { op: 'Resize', label: 'linear x2 half_pixel', inputs: [{ shape: [1, 2, 3, 4] }], attrs: { mode: 'linear', scales: [1, 1, 2, 2] } },
  { op: 'Resize', label: 'linear align_corners to 5x7', inputs: [{ shape: [1, 2, 3, 4] }], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners', sizes: [1, 2, 5, 7] } },
  { op: 'Resize', label: 'linear downscale 0.5', inputs: [{ shape: [1, 1, 6, 6] }], attrs: { mode: 'linear', scales: [1, 1, 0.5, 0.5] } },
  { op: 'Resize', label: 'nearest x2 asymmetric', inputs: [{ shape: [1, 2, 3, 3] }], attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor', scales: [1, 1, 2, 2] } },
  { op: 'Pad', label: 'reflect NCHW', inputs: [{ shape: [1, 2, 4, 5] }], attrs: { mode: 'reflect', pads: [0, 0, 2, 1, 0, 0, 1, 3] } },
  { op: 'Pad', label: 'edge', inputs: [{ shape: [2, 3, 3] }], attrs: { mode: 'edge', pads: [0, 1, 2, 0, 2, 1] } },
  { op: 'Pad', label: 'constant', inputs: [{ shape: [2, 3] }], attrs: { mode: 'constant', value: 0.5, pads: [1, 0, 0, 2] } },
  { op: 'Pad', label: 'negative pads crop (constant)', inputs: [{ shape: [1, 2, 5, 6] }], attrs: { mode: 'constant', pads: [0, 0, -1, -2, 0, 0, -2, 0] } },
  { op: 'Pad', label: 'crop one side, reflect the other', inputs: [{ shape: [1, 2, 5, 6] }], attrs: { mode: 'reflect', pads: [0, 0, -2, 1, 0, 0, 1, -1] } },
  { op: 'Pad', label: 'crop then edge', inputs: [{ shape: [2, 4, 3] }], attrs: { mode: 'edge', pads: [0, -1, 2, 0, 1, -1] } },
  { op: 'Reshape', label: 'NCHW to N,C,HW', inputs: [{ shape: [2, 3, 2, 2] }], attrs: { shape: [2, 3, 4] } },
  { op: 'Transpose', label: 'perm 0,2,1', inputs: [{ shape: [2, 3, 4] }], attrs: { perm: [0, 2, 1] } },
  { op: 'Transpose', label: 'default (reversed), rank 3', inputs: [{ shape: [2, 3, 4] }] },
  { op: 'ReduceSum', label: 'all axes, keepdims 0', inputs: [{ shape: [3, 2, 4] }], attrs: { keepdims: 0 } },
  { op: 'ReduceSum', label: 'axes 1,3 keepdims', inputs: [{ shape: [2, 3, 2, 2] }], attrs: { axes: [1, 3] } },
  { op: 'ReduceMean', label: 'axis -1 keepdims 0', inputs: [{ shape: [2, 3, 5] }], attrs: { axes: [-1], keepdims: 0 } },
  { op: 'MatMul', label: '2-D', inputs: [{ shape: [3, 4] }, { shape: [4, 5] }] },
  { op: 'MatMul', label: 'batched, B broadcast over the batch', inputs: [{ shape: [2, 3, 4] }, { shape: [4, 2] }] },
  { op: 'MatMul', label: 'batched Gram (A times its transpose)', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 4, 3] }] },
  { op: 'InstanceNormalization', label: 'NCHW', inputs: [{ shape: [2, 3, 4, 4] }, { shape: [3], range: [0.5, 1.5] }, { shape: [3] }] },
  { op: 'L1Loss', label: 'pred vs target', inputs: [{ shape: [2, 3, 4, 4], range: [0.1, 1] }, { shape: [2, 3, 4, 4], range: [-1, -0.1] }], wrt: [0] },
  { op: 'MseLoss', label: 'pred vs target', inputs: [{ shape: [2, 3, 4, 4] }, { shape: [2, 3, 4, 4] }], wrt: [0] },
  { op: 'ColorLoss', label: 'huber on UV', inputs: [{ shape: [2, 3, 4, 4], range: [0.1, 1] }, { shape: [2, 3, 4, 4], range: [-1, -0.1] }], wrt: [0] },
  { op: 'ColorLoss', label: 'large UV differences', inputs: [{ shape: [1, 3, 3, 3], range: [0.5, 3] }, { shape: [1, 3, 3, 3], range: [-3, -0.5] }], wrt: [0] },
  { op: 'BceLogitsLoss', label: 'real target', inputs: [{ shape: [2, 1, 4, 4], range: [-3, 3] }], attrs: { target: 1 } },
  { op: 'BceLogitsLoss', label: 'fake target', inputs: [{ shape: [2, 1, 4, 4], range: [-3, 3] }], attrs: { target: 0 } },
  // Seeded values: none lies within eps of the hinge at A = 1 (the check would fail if one did).
  { op: 'HingeLoss', label: 'D on real (sign 1)', inputs: [{ shape: [2, 1, 4, 4], range: [-2, 2] }], attrs: { sign: 1 } },
  { op: 'HingeLoss', label: 'G (sign 0)', inputs: [{ shape: [2, 1, 4, 4] }], attrs: { sign: 0 } },
  // Neighbour differences of at least 0.3 in both directions keep |dx|, |dy| away from their kinks.
  { op: 'TotalVariationLoss', label: 'NCHW', inputs: [{ shape: [2, 3, 4, 5], fn: ([n, c, y, x]) => 0.3 * x + 0.7 * y * (-1) ** x + 0.1 * c - 0.2 * n }] },
  { op: 'LsganLoss', label: 'real target', inputs: [{ shape: [2, 1, 4, 4] }], attrs: { target: 1 } },
];

/** Runs a graph with the TS references (the ground truth). */
function interpret(g: Graph, feeds: Record<string, Tensor>): Map<number, Tensor> {
  const vals = new Map<number, Tensor>();
  for (const v of g.values) {
    if (v.kind === 'input') vals.set(v.id, feeds[v.name]);
    else if (v.data) vals.set(v.id, new Tensor(v.shape, v.data));
  }
  for (const n of g.nodes) {
    const outs = getOp(n.op).reference(n.inputs.map((i) => (i < 0 ? null : vals.get(i)!)), n.attrs);
    n.outputs.forEach((o, k) => vals.set(o, outs[k]));
  }
  return vals;
}

function randomInput(rng: () => number, spec: GradCase['inputs'][number]): Tensor {
  if (spec.fn) {
    const t = new Tensor(spec.shape);
    forEachIndex(spec.shape, (flat, idx) => (t.data[flat] = spec.fn!(idx)));
    return t;
  }
  const [lo, hi] = spec.range ?? [-1, 1];
  const n = spec.shape.reduce((a, d) => a * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    const v = lo + (hi - lo) * rng();
    data[i] = spec.awayFromZero ? Math.sign(v || 1) * (0.05 + Math.abs(v)) : v;
  }
  return new Tensor(spec.shape, data);
}

const dot = (a: Tensor, r: Tensor) => a.data.reduce((s, v, i) => s + v * r.data[i], 0);

describe('autodiff: finite-difference gradient check of every differentiable op', () => {
  it('covers every op that has a gradient, and every gradient names a registered op', () => {
    const rows = new Set(cases.map((c) => c.op));
    const registered = new Set(listOps().map((o) => o.name));
    for (const op of listGradients()) {
      expect(registered.has(op), `gradient for unknown op ${op}`).toBe(true);
      expect(rows.has(op), `no gradient-check row for ${op}`).toBe(true);
    }
  });

  for (const c of cases) {
    it(`${c.op}: ${c.label}`, () => {
      const rng = mulberry32(7);
      const xs = c.inputs.map((s) => randomInput(rng, s));
      const b = new GraphBuilder('gradcheck');
      const syms = xs.map((x, i) => b.input(`x${i}`, x.shape));
      const y = b.op1(c.op, syms, c.attrs ?? {});
      const r = randomInput(rng, { shape: y.shape, range: [-1, 1] });
      const seed = b.input('seed', y.shape);
      const wrt = c.wrt ?? c.inputs.map((_, i) => i);
      const grads = gradients(b, y, wrt.map((i) => syms[i]), { seed });
      grads.forEach((g) => b.output(g as Sym));
      const graph = b.build();
      const feeds: Record<string, Tensor> = { seed: r };
      xs.forEach((x, i) => (feeds[`x${i}`] = x));
      const vals = interpret(graph, feeds);
      const schema = getOp(c.op);
      const attrs = graph.nodes[0].attrs;
      const f = (inputs: Tensor[]) => dot(schema.reference(inputs, attrs)[0], r);
      const eps = 1e-2;
      wrt.forEach((inputIndex, k) => {
        const analytic = vals.get(grads[k]!.id)!;
        expect(analytic.shape).toEqual(xs[inputIndex].shape);
        // Every element of small inputs, an even sample of larger ones.
        const n = xs[inputIndex].size;
        const step = Math.max(1, Math.floor(n / 60));
        let checked = 0;
        for (let e = 0; e < n; e += step) {
          const plus = xs.map((x) => new Tensor(x.shape, x.data.slice()));
          const minus = xs.map((x) => new Tensor(x.shape, x.data.slice()));
          plus[inputIndex].data[e] += eps;
          minus[inputIndex].data[e] -= eps;
          // The perturbed values as float32 actually hold them.
          const h = plus[inputIndex].data[e] - minus[inputIndex].data[e];
          const numeric = (f(plus) - f(minus)) / h;
          const a = analytic.data[e];
          expect(Math.abs(a - numeric), `d/dx${inputIndex}[${e}]: analytic ${a} vs numeric ${numeric}`).toBeLessThanOrEqual(1e-3 + 1e-3 * Math.abs(numeric));
          ++checked;
        }
        expect(checked).toBeGreaterThan(0);
      });
    });
  }
});

describe('autodiff refuses nodes the inference passes fused', () => {
  for (const [op, inputs, attrs] of [
    ['Conv2D', [[1, 2, 5, 5], [3, 2, 3, 3]], { pads: [1, 1, 1, 1], activation: 'LeakyRelu', activation_alpha: 0.2 }],
    ['InstanceNormalization', [[1, 2, 4, 4], [2], [2]], { activation: 'Relu' }],
  ] as const) {
    it(`${op} with a fused activation`, () => {
      const b = new GraphBuilder('fused');
      const syms = inputs.map((shape, i) => b.input(`x${i}`, [...shape]));
      const y = b.op1(op, syms, { ...attrs });
      const loss = b.op1('ReduceSum', [y], { keepdims: 0 });
      expect(() => gradients(b, loss, [syms[0]])).toThrow(expect.objectContaining({ code: 'ERR_FACESTYLE_UNSUPPORTED' }));
      // The same node without the activation differentiates.
      const b2 = new GraphBuilder('plain');
      const syms2 = inputs.map((shape, i) => b2.input(`x${i}`, [...shape]));
      const { activation: _a, ...plain } = attrs as Record<string, unknown>;
      const y2 = b2.op1(op, syms2, plain);
      // Weighted by a fixed random R (sum(Y * R)): a plain sum of an instance norm has gradient 0.
      const rng = mulberry32(11);
      const r = randomInput(rng, { shape: [...y2.shape] });
      const loss2 = b2.op1('ReduceSum', [b2.op1('Mul', [y2, b2.constant('r', r)])], { keepdims: 0 });
      const grad = gradients(b2, loss2, [syms2[0]])[0];
      expect(grad).not.toBeNull();
      b2.output(grad as Sym);
      const graph = b2.build();
      // x0 in [-1, 1]; the instance norm's scale in [0.5, 1.5] as in its table row.
      const xs = inputs.map((shape, i) => randomInput(rng, { shape: [...shape], range: op === 'InstanceNormalization' && i === 1 ? [0.5, 1.5] : [-1, 1] }));
      const feeds: Record<string, Tensor> = {};
      xs.forEach((x, i) => (feeds[`x${i}`] = x));
      const analytic = interpret(graph, feeds).get(grad!.id)!;
      expect(analytic.shape).toEqual(xs[0].shape);
      // Central differences of sum(Y * R) over every element of x0, same eps and tolerance as the table
      // above (see the top of the file), with the plain node's own attributes and the TS reference.
      const node = graph.nodes.find((n) => n.op === op)!;
      expect(node.attrs.activation ?? '').toBe('');
      const f = (ins: Tensor[]) => dot(getOp(op).reference(ins, node.attrs)[0], r);
      const eps = 1e-2;
      let nonzero = 0;
      for (let e = 0; e < xs[0].size; ++e) {
        const plus = xs.map((x) => new Tensor(x.shape, x.data.slice()));
        const minus = xs.map((x) => new Tensor(x.shape, x.data.slice()));
        plus[0].data[e] += eps;
        minus[0].data[e] -= eps;
        const numeric = (f(plus) - f(minus)) / (plus[0].data[e] - minus[0].data[e]);
        const a = analytic.data[e];
        expect(Math.abs(a - numeric), `d/dx0[${e}]: analytic ${a} vs numeric ${numeric}`).toBeLessThanOrEqual(1e-3 + 1e-3 * Math.abs(numeric));
        if (Math.abs(numeric) > 1e-2) ++nonzero;
      }
      // Not vacuous: most of the gradient is far from zero.
      expect(nonzero).toBeGreaterThan(xs[0].size / 2);
    });
  }
});
