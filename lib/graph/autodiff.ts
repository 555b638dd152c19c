// Reverse-mode autodiff over the graph IR. It appends the backward pass to a GraphBuilder as
// ordinary nodes (gradient functions from lib/ops/gradients write explicit backward ops), so a
// step graph = forward + backward + optimizer updates is one graph, run in one native call.
import { argumentError, unsupportedError } from '../errors.js';
import { getGradient } from '../ops/gradients/index.js';
import { Tensor } from './tensor.js';
import type { GraphBuilder, Sym } from './builder.js';

export interface GradientOptions {
  /** Gradient of `output` to start from (default: a constant 1, for a scalar loss). */
  seed?: Sym;
  /** Prefix of the backward node names (default 'grad'). */
  prefix?: string;
}

/**
 * Appends d(output)/d(wrt) to the builder and returns one gradient Sym per `wrt` entry (null when
 * `output` does not depend on it). Contributions from several uses of a value are summed with Add.
 */
export function gradients(b: GraphBuilder, output: Sym, wrt: readonly Sym[], options: GradientOptions = {}): (Sym | null)[] {
  if (typeof (b as GraphBuilder | null)?.op1 !== 'function') throw argumentError(`Expected b to be the GraphBuilder the output was built with but received ${b === null ? 'null' : typeof b}`);
  if (typeof (output as Sym | null)?.id !== 'number') throw argumentError('Expected output to be a Sym of the builder');
  if (!Array.isArray(wrt as unknown)) throw argumentError('Expected wrt to be an array of Syms of the builder');
  return gradientsOfSum(b, [{ output, seed: options.seed }], wrt, options.prefix);
}

/** One term of a weighted sum being differentiated: d(sum of weight * output)/d(wrt). */
export interface GradientTerm {
  output: Sym;
  /** Gradient to start this term from (default: a constant filled with `weight`). */
  seed?: Sym;
  /** Weight of a scalar term (default 1); ignored when `seed` is given. */
  weight?: number;
}

/**
 * Gradients of a weighted sum of outputs (a loss made of several terms) without building the sum:
 * each term's seed is its weight, so zero-weight terms cost nothing and are skipped.
 */
export function gradientsOfSum(b: GraphBuilder, terms: readonly GradientTerm[], wrt: readonly Sym[], prefixOption?: string): (Sym | null)[] {
  const prefix = prefixOption ?? 'grad';
  const live = terms.filter((t) => t.seed || (t.weight ?? 1) !== 0);
  const nodes = [...b.nodeList];
  // Values that depend on some wrt value (forward reachability); only they need gradients.
  const dependsOnWrt = new Set<number>(wrt.map((s) => s.id));
  for (const n of nodes) if (n.inputs.some((i) => dependsOnWrt.has(i))) for (const o of n.outputs) dependsOnWrt.add(o);
  // Values the output depends on (backward reachability).
  const feedsOutput = new Set<number>(live.map((t) => t.output.id));
  for (let k = nodes.length - 1; k >= 0; --k)
    if (nodes[k].outputs.some((o) => feedsOutput.has(o))) for (const i of nodes[k].inputs) if (i >= 0) feedsOutput.add(i);

  const grads = new Map<number, Sym>();
  const accumulate = (id: number, g: Sym) => {
    const prev = grads.get(id);
    grads.set(id, prev ? b.op1('Add', [prev, g], {}, `${prefix}.acc`) : g);
  };
  for (const t of live) {
    const n = t.output.shape.reduce((a, d) => a * d, 1);
    accumulate(t.output.id, t.seed ?? b.constant(`${prefix}.seed`, new Tensor(t.output.shape, new Float32Array(n).fill(t.weight ?? 1))));
  }

  for (let k = nodes.length - 1; k >= 0; --k) {
    const n = nodes[k];
    if (!n.outputs.some((o) => feedsOutput.has(o) && grads.has(o))) continue;
    const needs = n.inputs.map((i) => i >= 0 && dependsOnWrt.has(i));
    if (!needs.some(Boolean)) continue;
    const fn = getGradient(n.op);
    if (!fn) throw unsupportedError(`No gradient for op '${n.op}' (node '${n.name}'); differentiable ops are listed by listGradients()`);
    const dxs = fn({
      b,
      attrs: n.attrs,
      inputs: n.inputs.map((i) => (i >= 0 ? b.sym(i) : null)),
      outputs: n.outputs.map((o) => b.sym(o)),
      dys: n.outputs.map((o) => grads.get(o) ?? null),
      needs,
      name: `${prefix}.${n.name}`,
    });
    n.inputs.forEach((i, j) => {
      const g = dxs[j];
      if (g && needs[j]) accumulate(i, g);
    });
  }
  return wrt.map((s) => grads.get(s.id) ?? null);
}
