// ElementwiseChain: several elementwise ops fused into one node by the inference passes
// (lib/graph/passes/chain.ts), so the native kernels read the operands once and write the result once
// instead of writing and re-reading every intermediate. Inference only: it has no gradient.
//
// The program is a list of steps over a value list that starts with the node's inputs; step k appends
// value nIn + k. Attributes (all the same length rule: one entry / two entries per step):
//   program   op names separated by spaces, e.g. 'Sigmoid Mul'
//   operands  two value indices per step: the operands; a unary step's second index is -1
//   params    two floats per step: LeakyRelu's alpha in the first, Clip's min and max; 0 otherwise
// The output is the last step's value. Every input broadcasts (NumPy rules) to the output's shape, so
// the program can be evaluated element by element of the output (what the kernels do).
//   x * sigmoid(x):  inputs [x], program 'Sigmoid Mul', operands [0,-1, 0,1], params [0,0, 0,0]
import { shapeError } from '../errors.js';
import type { Attrs } from '../graph/ir.js';
import { type Shape, Tensor, shapeToString } from '../graph/tensor.js';
import { ELEMENTWISE_BINARY, ELEMENTWISE_UNARY } from './elementwise.js';
import { getOp, normalizeAttrs, registerOp } from './registry.js';
import { broadcastShapes } from './util.js';

/** Limits the kernels are written for (the CUDA kernel passes the program as a launch parameter). */
export const CHAIN_MAX_INPUTS = 8;
export const CHAIN_MAX_STEPS = 32;

const UNARY = new Set<string>(ELEMENTWISE_UNARY);
const BINARY = new Set<string>(ELEMENTWISE_BINARY);

/** Ops a chain may contain. */
export const isChainableOp = (op: string): boolean => UNARY.has(op) || BINARY.has(op);

export interface ChainStep {
  op: string;
  /** Value indices: < nIn an input, nIn + k the result of step k. One entry for a unary op. */
  operands: number[];
  /** The op's own attributes (LeakyRelu alpha, Clip min/max), normalised. */
  attrs: Attrs;
}

/** The step's attributes as the two `params` floats (the ops' defaults where an attribute is missing). */
function paramsOf(step: ChainStep): [number, number] {
  const a = normalizeAttrs(getOp(step.op), step.attrs);
  if (step.op === 'LeakyRelu') return [a.alpha as number, 0];
  if (step.op === 'Clip') return [a.min as number, a.max as number];
  return [0, 0];
}

/** The node attributes of a chain (program, operands, params) from its steps. */
export function encodeChain(steps: readonly ChainStep[]): Attrs {
  return {
    program: steps.map((s) => s.op).join(' '),
    operands: steps.flatMap((s) => (s.operands.length === 2 ? s.operands : [s.operands[0], -1])),
    params: steps.flatMap(paramsOf),
  };
}

/** Decodes and validates a chain's attributes for `nIn` inputs; throws a shape error naming what is wrong. */
export function decodeChain(attrs: Attrs, nIn: number): ChainStep[] {
  const program = String(attrs.program ?? '').trim();
  const names = program ? program.split(/\s+/) : [];
  const operands = (attrs.operands as number[] | undefined) ?? [];
  const params = (attrs.params as number[] | undefined) ?? [];
  if (names.length < 1 || names.length > CHAIN_MAX_STEPS) throw shapeError(`expected 1 to ${CHAIN_MAX_STEPS} steps in program but received ${names.length}`);
  if (operands.length !== 2 * names.length) throw shapeError(`expected ${2 * names.length} operands (two per step) but received ${operands.length}`);
  if (params.length !== 2 * names.length) throw shapeError(`expected ${2 * names.length} params (two per step) but received ${params.length}`);
  return names.map((op, k) => {
    const unary = UNARY.has(op);
    if (!unary && !BINARY.has(op)) throw shapeError(`step ${k}: expected an elementwise op (${[...UNARY, ...BINARY].join(', ')}) but received '${op}'`);
    const [a, b] = [operands[2 * k], operands[2 * k + 1]];
    const valid = (v: number) => Number.isInteger(v) && v >= 0 && v < nIn + k;
    if (!valid(a) || (unary ? b !== -1 : !valid(b)))
      throw shapeError(`step ${k} (${op}): expected operands among the ${nIn} inputs and earlier steps (0..${nIn + k - 1}${unary ? ', then -1' : ''}) but received ${a}, ${b}`);
    const given: Attrs = op === 'LeakyRelu' ? { alpha: params[2 * k] } : op === 'Clip' ? { min: params[2 * k], max: params[2 * k + 1] } : {};
    return { op, operands: unary ? [a] : [a, b], attrs: normalizeAttrs(getOp(op), given) };
  });
}

registerOp({
  name: 'ElementwiseChain',
  doc: 'elementwise ops fused by the inference passes, evaluated in one pass over the output (program, operands, params)',
  inputs: { min: 1, max: CHAIN_MAX_INPUTS, names: ['X0', 'X1', 'X2', 'X3', 'X4', 'X5', 'X6', 'X7'] },
  outputs: 1,
  attrs: {
    program: { type: 'string', doc: "op names separated by spaces, e.g. 'Sigmoid Mul' (required)" },
    operands: { type: 'ints', doc: 'two value indices per step; -1 for a unary step (required)' },
    params: { type: 'floats', doc: 'two floats per step: LeakyRelu alpha, Clip min and max (required)' },
  },
  inferShapes: (inputs, attrs) => {
    if (inputs.some((s) => s === null)) throw shapeError('expected every input to be present');
    const shapes: Shape[] = [...(inputs as Shape[])];
    for (const step of decodeChain(attrs, inputs.length)) shapes.push(step.operands.length === 1 ? [...shapes[step.operands[0]]] : broadcastShapes(shapes[step.operands[0]], shapes[step.operands[1]]));
    const out = shapes[shapes.length - 1];
    // Evaluated per output element: every input must broadcast to the output without enlarging it.
    for (const [i, s] of (inputs as Shape[]).entries())
      if (broadcastShapes(s, out).join() !== out.join()) throw shapeError(`expected input ${i} ${shapeToString(s)} to broadcast to the output shape ${shapeToString(out)}`);
    return [[...out]];
  },
  // The ground truth is the ops themselves, applied in order.
  reference: (inputs, attrs) => {
    const vals = [...inputs] as Tensor[];
    for (const step of decodeChain(attrs, inputs.length)) vals.push(getOp(step.op).reference(step.operands.map((i) => vals[i]), step.attrs)[0]);
    const last = vals[vals.length - 1];
    return [new Tensor(last.shape, last.data)];
  },
});
