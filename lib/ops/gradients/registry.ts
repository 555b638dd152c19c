// The gradient registry (tfjs-core's gradient registry is the model): for each differentiable op,
// a function that writes the op's input gradients as other ops, given the output gradients.
import type { GraphBuilder, Sym } from '../../graph/builder.js';
import type { Attrs } from '../../graph/ir.js';

export interface GradContext {
  b: GraphBuilder;
  attrs: Attrs;
  /** Forward inputs (null for an omitted optional input). */
  inputs: (Sym | null)[];
  /** Forward outputs. */
  outputs: Sym[];
  /** Gradients of the outputs (null where no gradient flows). */
  dys: (Sym | null)[];
  /** Which inputs need a gradient (the rest may return null to save work). */
  needs: boolean[];
  /** Node name, for naming backward nodes. */
  name: string;
}

/** Returns one gradient per forward input (null: none / not differentiable). */
export type GradientFn = (ctx: GradContext) => (Sym | null)[];

const gradients = new Map<string, GradientFn>();

export function registerGradient(op: string, fn: GradientFn): void {
  gradients.set(op, fn);
}

export const getGradient = (op: string): GradientFn | undefined => gradients.get(op);
export const listGradients = (): string[] => [...gradients.keys()].sort();

/** Sums `dy` down to `shape` (the gradient of a broadcast); dy itself when the shapes match. */
export function sumTo(b: GraphBuilder, dy: Sym, shape: readonly number[], name: string): Sym {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  return b.op1('ReduceSumTo', [dy], { shape: [...shape] }, name);
}
