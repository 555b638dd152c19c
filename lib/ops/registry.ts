// The op registry: ONE schema per op (tfjs-core's kernel_names + gradient registry are the model).
// A schema gives the op's attributes with types and defaults, shape inference, and a plain
// TypeScript reference implementation used only as ground truth in tests. Later issues add the
// gradient (as other ops) and the ONNX mapping to the same schema.
import { FacestyleError, shapeError, unsupportedError } from '../errors.js';
import type { AttrValue, Attrs } from '../graph/ir.js';
import type { Shape, Tensor } from '../graph/tensor.js';

export type AttrType = 'int' | 'ints' | 'float' | 'floats' | 'string' | 'bool';

export interface AttrSpec {
  type: AttrType;
  /** Used when the attribute is not given; no default means the attribute is required. */
  default?: AttrValue | readonly number[];
  /** For strings: the allowed values. */
  oneOf?: readonly string[];
  doc?: string;
}

export interface OpSchema {
  name: string;
  doc?: string;
  /** Inputs: `min` required, up to `max` (optional ones may be omitted; -1 id / null shape). */
  inputs: { min: number; max: number; names?: readonly string[] };
  /** Number of outputs; a function when it depends on attributes (Split). */
  outputs: number | ((attrs: Attrs) => number);
  attrs: Record<string, AttrSpec>;
  /** Output shapes from input shapes; throws ShapeError with what it expected and received. */
  inferShapes(inputs: readonly (Shape | null)[], attrs: Attrs): number[][];
  /** Plain TS implementation, the ground truth of the op tests. */
  reference(inputs: readonly (Tensor | null)[], attrs: Attrs): Tensor[];
}

const registry = new Map<string, OpSchema>();

export function registerOp(schema: OpSchema): OpSchema {
  if (registry.has(schema.name)) throw new FacestyleError('ERR_FACESTYLE_INTERNAL', `Op '${schema.name}' is registered twice`);
  registry.set(schema.name, schema);
  return schema;
}

export function getOp(name: string): OpSchema {
  const s = registry.get(name);
  if (!s) throw unsupportedError(`Unknown op '${name}'. Known ops: ${[...registry.keys()].sort().join(', ')}`);
  return s;
}

export const hasOp = (name: string): boolean => registry.has(name);
export const listOps = (): OpSchema[] => [...registry.values()];

export function outputCount(schema: OpSchema, attrs: Attrs): number {
  return typeof schema.outputs === 'function' ? schema.outputs(attrs) : schema.outputs;
}

function checkType(op: string, name: string, spec: AttrSpec, v: AttrValue): void {
  const isNum = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  const ok =
    spec.type === 'int' ? Number.isInteger(v)
    : spec.type === 'float' ? isNum(v)
    : spec.type === 'ints' ? Array.isArray(v) && v.every((x) => Number.isInteger(x))
    : spec.type === 'floats' ? Array.isArray(v) && v.every(isNum)
    : spec.type === 'bool' ? typeof v === 'boolean'
    : typeof v === 'string' && (!spec.oneOf || spec.oneOf.includes(v));
  if (!ok) {
    const expected = spec.type === 'string' && spec.oneOf ? `one of ${spec.oneOf.join('|')}` : spec.type;
    throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `${op}: expected ${expected} for attribute '${name}' but received ${JSON.stringify(v)}`);
  }
}

/** Attributes with defaults filled in and types checked; unknown attributes are errors. */
export function normalizeAttrs(schema: OpSchema, given: Attrs = {}): Attrs {
  const out: Attrs = {};
  for (const key of Object.keys(given)) {
    if (!(key in schema.attrs) && given[key] !== undefined)
      throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `${schema.name}: unknown attribute '${key}' (known: ${Object.keys(schema.attrs).join(', ') || 'none'})`);
  }
  for (const [name, spec] of Object.entries(schema.attrs)) {
    const v = (given[name] ?? spec.default) as AttrValue | undefined;
    if (v === undefined) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `${schema.name}: attribute '${name}' is required`);
    checkType(schema.name, name, spec, v);
    out[name] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

/** Runs shape inference for one node, naming the node in any error. */
export function inferNodeShapes(schema: OpSchema, nodeName: string, inputs: readonly (Shape | null)[], attrs: Attrs): number[][] {
  const given = inputs.length;
  if (given < schema.inputs.min || given > schema.inputs.max)
    throw shapeError(`${schema.name} node '${nodeName}': expected ${schema.inputs.min === schema.inputs.max ? schema.inputs.min : `${schema.inputs.min} to ${schema.inputs.max}`} inputs but received ${given}`);
  for (let i = 0; i < schema.inputs.min; ++i)
    if (inputs[i] === null) throw shapeError(`${schema.name} node '${nodeName}': input ${i} is required`);
  try {
    return schema.inferShapes(inputs, attrs);
  } catch (e) {
    if (e instanceof FacestyleError) throw new FacestyleError(e.code, `${schema.name} node '${nodeName}': ${e.message}`);
    throw e;
  }
}
