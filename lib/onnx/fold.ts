// Constant folding at load time: ONNX nodes whose inputs are all known (initializers, Constant
// nodes, shapes of values whose shape the importer already inferred) are evaluated here in plain
// TypeScript, so shape subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ...) become
// attributes of the runtime ops for the input size the model is loaded at.
// Integer tensors keep exact values in number arrays (int64 values used for shapes fit in 2^53).
import { formatError, shapeError, unsupportedError } from '../errors.js';
import { AT, type ConstTensor, DT, type NodeProto, isFloatType, readTensor, toNum } from './proto.js';

export type AttrReader = {
  int(name: string, dflt?: number): number;
  ints(name: string, dflt?: number[]): number[];
  float(name: string, dflt?: number): number;
  string(name: string, dflt?: string): string;
  tensor(name: string): ConstTensor | undefined;
  has(name: string): boolean;
};

/** An AttributeProto type's name (AT's key), or 'of type N' for one ONNX does not define. */
const attrTypeName = (type: number): string => Object.entries(AT).find(([, v]) => v === type)?.[0] ?? `of type ${type}`;

/** Typed access to a node's attributes. */
export function attrReader(node: NodeProto, where: string): AttrReader {
  const map = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
  const need = <T>(name: string, dflt: T | undefined): T => {
    if (dflt === undefined) throw formatError(`${where}: required attribute '${name}' is missing`);
    return dflt;
  };
  // The attribute, checked to be of the type it is read as: an alpha stored as INT read as a float was 0
  // (a LeakyRelu became a Relu), an axis stored as FLOAT read as an int was axis 0; onnxruntime refuses
  // these ("Mismatched attribute type"). An attribute without a type (very old files) is read as asked.
  const get = (name: string, type: number) => {
    const a = map.get(name);
    if (a && a.type && a.type !== type) throw formatError(`${where}: attribute '${name}' is ${attrTypeName(a.type)}; expected ${attrTypeName(type)}`);
    return a;
  };
  return {
    has: (name) => map.has(name),
    int: (name, dflt) => {
      const a = get(name, AT.INT);
      return a ? toNum(a.i ?? 0) : need(name, dflt);
    },
    ints: (name, dflt) => {
      const a = get(name, AT.INTS);
      return a ? (a.ints ?? []).map(toNum) : need(name, dflt);
    },
    float: (name, dflt) => {
      const a = get(name, AT.FLOAT);
      return a ? (a.f ?? 0) : need(name, dflt);
    },
    string: (name, dflt) => {
      const a = get(name, AT.STRING);
      return a ? Buffer.from(a.s ?? new Uint8Array()).toString('utf8') : need(name, dflt);
    },
    tensor: (name) => {
      const a = get(name, AT.TENSOR);
      return a?.t ? readTensor(a.t, `${where} attribute '${name}'`) : undefined;
    },
  };
}

/** Largest tensor a folded node may produce (shape subgraphs are tiny; this stops absurd files). */
const FOLD_LIMIT = 1 << 24;

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** SHAPE error before a folded result of `shape` is built (building it first could exhaust V8's heap: a Concat of 2^30 elements ended the process). */
function checkFoldSize(shape: readonly number[], where: string): void {
  if (size(shape) > FOLD_LIMIT) throw shapeError(`${where}: folding would create a constant of shape [${shape}] (over ${FOLD_LIMIT} elements)`);
}
const stridesOf = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
};

const isInt = (t: ConstTensor) => !isFloatType(t.dtype);
const make = (dtype: number, shape: number[], values: ArrayLike<number>): ConstTensor => ({
  dtype,
  shape,
  data: isFloatType(dtype) ? Float32Array.from(values) : Array.from(values),
});

export const intTensor = (values: number[], shape = [values.length]): ConstTensor => ({ dtype: DT.INT64, shape, data: [...values] });
export const values = (t: ConstTensor): number[] => Array.from(t.data);

function normAxis(axis: number, rank: number, where: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) throw shapeError(`${where}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function broadcast(a: readonly number[], b: readonly number[], where: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; ++i) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw shapeError(`${where}: shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  if (size(out) > FOLD_LIMIT) throw shapeError(`${where}: folding would create a constant of shape [${out}]`);
  return out;
}

/** Index into a (right-aligned, broadcast) source for each element of `shape`. */
function broadcastIndices(src: readonly number[], shape: readonly number[]): number[] {
  const n = size(shape);
  const out = new Array<number>(n);
  const ss = stridesOf(src);
  const idx = new Array<number>(shape.length).fill(0);
  for (let f = 0; f < n; ++f) {
    let o = 0;
    for (let i = 0; i < src.length; ++i) {
      const ax = shape.length - src.length + i;
      if (src[i] !== 1) o += idx[ax] * ss[i];
    }
    out[f] = o;
    for (let a = shape.length - 1; a >= 0; --a) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

function binary(a: ConstTensor, b: ConstTensor, fn: (x: number, y: number) => number, where: string, outType?: number): ConstTensor {
  const shape = broadcast(a.shape, b.shape, where);
  const ia = broadcastIndices(a.shape, shape);
  const ib = broadcastIndices(b.shape, shape);
  const out = ia.map((i, k) => fn(a.data[i], b.data[ib[k]]));
  return make(outType ?? a.dtype, shape, out);
}

/** Gathers elements of `t` by a flat index list into a new shape. */
const pick = (t: ConstTensor, shape: number[], idx: number[]): ConstTensor => make(t.dtype, shape, idx.map((i) => t.data[i]));

function transpose(t: ConstTensor, perm: number[], where: string): ConstTensor {
  const rank = t.shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
    throw formatError(`${where}: perm [${perm}] is not a permutation of the ${rank} axes of [${t.shape}]`);
  const shape = perm.map((p) => t.shape[p]);
  const st = stridesOf(t.shape);
  const n = size(shape);
  const idx = new Array<number>(shape.length).fill(0);
  const out: number[] = [];
  for (let f = 0; f < n; ++f) {
    let o = 0;
    for (let a = 0; a < shape.length; ++a) o += idx[a] * st[perm[a]];
    out.push(o);
    for (let a = shape.length - 1; a >= 0; --a) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return pick(t, shape, out);
}

/** ONNX Slice clamping for one axis; returns the kept indices. */
export function sliceIndices(dim: number, start: number, end: number, step: number): number[] {
  if (step === 0) throw shapeError('Slice step must not be 0');
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  const out: number[] = [];
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

function slice(t: ConstTensor, starts: number[], ends: number[], axes: number[], steps: number[], where: string): ConstTensor {
  const keep = t.shape.map((d) => Array.from({ length: d }, (_, i) => i));
  axes.forEach((ax, k) => {
    const a = normAxis(ax, t.shape.length, where);
    keep[a] = sliceIndices(t.shape[a], starts[k], ends[k], steps[k] ?? 1);
  });
  const shape = keep.map((k) => k.length);
  const st = stridesOf(t.shape);
  const out: number[] = [];
  const n = size(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let f = 0; f < n; ++f) {
    let o = 0;
    for (let a = 0; a < shape.length; ++a) o += keep[a][idx[a]] * st[a];
    out.push(o);
    for (let a = shape.length - 1; a >= 0; --a) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return pick(t, shape, out);
}

/** Reshape target with ONNX 0 / -1 rules. */
export function resolveReshape(inShape: readonly number[], target: readonly number[], allowzero: number, where: string): number[] {
  const out = target.map((d, i) => (d === 0 && !allowzero ? inShape[i] : d));
  const n = size(inShape);
  const neg = out.filter((d) => d === -1).length;
  if (neg > 1 || out.some((d) => d < -1 || d === undefined)) throw shapeError(`${where}: invalid Reshape target [${target}] for input [${inShape}]`);
  if (neg === 1) {
    const known = size(out.filter((d) => d !== -1));
    if (known === 0 || n % known !== 0) throw shapeError(`${where}: cannot reshape [${inShape}] to [${target}]`);
    out[out.indexOf(-1)] = n / known;
  }
  if (size(out) !== n) throw shapeError(`${where}: cannot reshape [${inShape}] (${n} elements) to [${target}]`);
  return out;
}

function castTo(t: ConstTensor, to: number): ConstTensor {
  if (isFloatType(to)) return make(DT.FLOAT, t.shape, t.data);
  const conv = (v: number) => (to === DT.BOOL ? (v !== 0 ? 1 : 0) : Math.trunc(v));
  return { dtype: to === DT.BOOL ? DT.BOOL : to === DT.INT32 ? DT.INT32 : DT.INT64, shape: [...t.shape], data: Array.from(t.data, conv) };
}

/**
 * Ops evaluated by the folder (on tensors of any ONNX numeric type). Float-only IR ops with
 * constant inputs are folded by the importer with the op registry's reference instead.
 */
export const FOLDABLE = new Set([
  'Constant', 'Shape', 'Size', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Cast', 'Slice', 'Reshape', 'Identity',
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Floor', 'Ceil', 'Neg', 'Abs', 'Sqrt', 'Min', 'Max', 'ConstantOfShape', 'Range',
  'Equal', 'Greater', 'Less', 'Not', 'Where', 'Expand', 'Transpose', 'ReduceProd', 'Flatten', 'Dropout', 'Round',
]);

/**
 * Evaluates one node on constant inputs. `inputs[i]` is undefined for an omitted optional input.
 * Returns its outputs (Dropout returns only its first).
 */
export function foldNode(node: NodeProto, inputs: (ConstTensor | undefined)[], opset: number, where: string): ConstTensor[] {
  const out = foldNodeUnchecked(node, inputs, opset, where);
  for (const t of out)
    if (size(t.shape) > FOLD_LIMIT) throw shapeError(`${where}: folding would create a constant of shape [${t.shape}] (over ${FOLD_LIMIT} elements)`);
  return out;
}

function foldNodeUnchecked(node: NodeProto, inputs: (ConstTensor | undefined)[], opset: number, where: string): ConstTensor[] {
  const op = node.opType ?? '';
  const at = attrReader(node, where);
  const need = (i: number): ConstTensor => {
    const t = inputs[i];
    if (!t) throw formatError(`${where}: input ${i} is missing`);
    return t;
  };
  switch (op) {
    case 'Constant': {
      const t = at.tensor('value');
      if (t) return [t];
      if (at.has('value_float')) return [make(DT.FLOAT, [], [at.float('value_float')])];
      if (at.has('value_floats')) {
        const v = (node.attribute ?? []).find((a) => a.name === 'value_floats')?.floats ?? [];
        return [make(DT.FLOAT, [v.length], v)];
      }
      if (at.has('value_int')) return [intTensor([at.int('value_int')], [])];
      if (at.has('value_ints')) return [intTensor(at.ints('value_ints'))];
      throw unsupportedError(`${where}: Constant without a tensor, float or int value is not supported`);
    }
    case 'Identity':
    case 'Dropout':
      return [need(0)];
    case 'Shape': {
      const s = need(0).shape;
      const rank = s.length;
      let start = at.int('start', 0);
      let end = at.int('end', rank);
      start = Math.min(Math.max(start < 0 ? start + rank : start, 0), rank);
      end = Math.min(Math.max(end < 0 ? end + rank : end, 0), rank);
      return [intTensor(s.slice(start, Math.max(start, end)))];
    }
    case 'Size':
      return [intTensor([size(need(0).shape)], [])];
    case 'Gather': {
      const data = need(0);
      const ind = need(1);
      const axis = normAxis(at.int('axis', 0), data.shape.length, where);
      const dim = data.shape[axis];
      const outShape = [...data.shape.slice(0, axis), ...ind.shape, ...data.shape.slice(axis + 1)];
      checkFoldSize(outShape, where);
      const inner = size(data.shape.slice(axis + 1));
      const outer = size(data.shape.slice(0, axis));
      const out: number[] = [];
      for (let o = 0; o < outer; ++o)
        for (const raw of ind.data) {
          const i = raw < 0 ? raw + dim : raw;
          if (!(i >= 0 && i < dim)) throw shapeError(`${where}: Gather index ${raw} is out of range for dimension ${dim}`);
          for (let k = 0; k < inner; ++k) out.push((o * dim + i) * inner + k);
        }
      return [pick(data, outShape, out)];
    }
    case 'Unsqueeze': {
      const axes = opset >= 13 ? values(need(1)) : at.ints('axes');
      const rank = need(0).shape.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank, where)).sort((a, b) => a - b);
      const shape = [...need(0).shape];
      for (const a of norm) shape.splice(a, 0, 1);
      return [{ ...need(0), shape }];
    }
    case 'Squeeze': {
      const t = need(0);
      const axes = opset >= 13 ? (inputs[1] ? values(inputs[1]) : []) : at.ints('axes', []);
      const norm = axes.map((a) => normAxis(a, t.shape.length, where));
      for (const a of norm) if (t.shape[a] !== 1) throw shapeError(`${where}: cannot squeeze axis ${a} of size ${t.shape[a]}`);
      const shape = t.shape.filter((d, i) => (norm.length ? !norm.includes(i) : d !== 1));
      return [{ ...t, shape }];
    }
    case 'Flatten': {
      const t = need(0);
      const axis = at.int('axis', 1);
      const a = axis < 0 ? axis + t.shape.length : axis;
      return [{ ...t, shape: [size(t.shape.slice(0, a)), size(t.shape.slice(a))] }];
    }
    case 'Concat': {
      const ts = inputs.filter((t): t is ConstTensor => !!t);
      const rank = ts[0].shape.length;
      const axis = normAxis(at.int('axis'), rank, where);
      for (const t of ts)
        if (t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== ts[0].shape[i]))
          throw shapeError(`${where}: Concat inputs [${ts.map((u) => `[${u.shape}]`).join(' ')}] do not match`);
      const shape = [...ts[0].shape];
      shape[axis] = ts.reduce((s, t) => s + t.shape[axis], 0);
      checkFoldSize(shape, where);
      const outer = size(ts[0].shape.slice(0, axis));
      const out: number[] = [];
      for (let o = 0; o < outer; ++o)
        for (const t of ts) {
          const chunk = size(t.shape.slice(axis));
          for (let k = 0; k < chunk; ++k) out.push(t.data[o * chunk + k]);
        }
      const dtype = ts.some((t) => isFloatType(t.dtype)) ? DT.FLOAT : ts[0].dtype;
      return [make(dtype, shape, out)];
    }
    case 'Cast':
      return [castTo(need(0), at.int('to'))];
    case 'Slice': {
      const t = need(0);
      if (opset < 10) {
        const starts = at.ints('starts');
        return [slice(t, starts, at.ints('ends'), at.ints('axes', starts.map((_, i) => i)), [], where)];
      }
      const starts = values(need(1));
      const ends = values(need(2));
      const axes = inputs[3] ? values(inputs[3]) : starts.map((_, i) => i);
      const steps = inputs[4] ? values(inputs[4]) : [];
      return [slice(t, starts, ends, axes, steps, where)];
    }
    case 'Reshape': {
      const t = need(0);
      const target = opset >= 5 ? values(need(1)) : at.ints('shape');
      return [{ ...t, shape: resolveReshape(t.shape, target, at.int('allowzero', 0), where) }];
    }
    case 'Transpose': {
      const t = need(0);
      return [transpose(t, at.ints('perm', t.shape.map((_, i) => t.shape.length - 1 - i)), where)];
    }
    case 'Add':
      return [binary(need(0), need(1), (a, b) => a + b, where)];
    case 'Sub':
      return [binary(need(0), need(1), (a, b) => a - b, where)];
    case 'Mul':
      return [binary(need(0), need(1), (a, b) => a * b, where)];
    case 'Div':
      return [binary(need(0), need(1), isInt(need(0)) ? (a, b) => (b === 0 ? 0 : Math.trunc(a / b)) : (a, b) => a / b, where)];
    case 'Pow':
      return [binary(need(0), need(1), (a, b) => a ** b, where)];
    case 'Min':
    case 'Max': {
      const fn = op === 'Min' ? Math.min : Math.max;
      return [inputs.filter((t): t is ConstTensor => !!t).reduce((acc, t) => binary(acc, t, fn, where))];
    }
    case 'Equal':
      return [binary(need(0), need(1), (a, b) => (a === b ? 1 : 0), where, DT.BOOL)];
    case 'Greater':
      return [binary(need(0), need(1), (a, b) => (a > b ? 1 : 0), where, DT.BOOL)];
    case 'Less':
      return [binary(need(0), need(1), (a, b) => (a < b ? 1 : 0), where, DT.BOOL)];
    case 'Not':
      return [make(DT.BOOL, [...need(0).shape], Array.from(need(0).data, (v) => (v ? 0 : 1)))];
    case 'Where': {
      const c = need(0);
      const a = need(1);
      const b = need(2);
      const shape = broadcast(broadcast(c.shape, a.shape, where), b.shape, where);
      const ic = broadcastIndices(c.shape, shape);
      const ia = broadcastIndices(a.shape, shape);
      const ib = broadcastIndices(b.shape, shape);
      return [make(a.dtype, shape, ic.map((i, k) => (c.data[i] ? a.data[ia[k]] : b.data[ib[k]])))];
    }
    case 'Expand': {
      const t = need(0);
      const shape = broadcast(t.shape, values(need(1)), where);
      if (size(shape) > FOLD_LIMIT) throw shapeError(`${where}: Expand to [${shape}] is too large`);
      return [pick(t, shape, broadcastIndices(t.shape, shape))];
    }
    case 'Floor':
    case 'Ceil':
    case 'Neg':
    case 'Abs':
    case 'Sqrt':
    case 'Round': {
      const fn = { Floor: Math.floor, Ceil: Math.ceil, Neg: (v: number) => -v, Abs: Math.abs, Sqrt: Math.sqrt, Round: roundHalfEven }[op];
      const t = need(0);
      return [make(t.dtype, [...t.shape], Array.from(t.data, fn))];
    }
    case 'ConstantOfShape': {
      const shape = values(need(0));
      if (shape.some((d) => !Number.isInteger(d) || d < 0) || size(shape) > FOLD_LIMIT) throw shapeError(`${where}: invalid ConstantOfShape shape [${shape}]`);
      const v = at.tensor('value') ?? make(DT.FLOAT, [1], [0]);
      return [make(v.dtype, shape, new Array<number>(size(shape)).fill(v.data[0] ?? 0))];
    }
    case 'Range': {
      const [s, l, d] = [need(0).data[0], need(1).data[0], need(2).data[0]];
      const n = Math.max(Math.ceil((l - s) / d), 0);
      if (!Number.isFinite(n) || n > FOLD_LIMIT) throw shapeError(`${where}: invalid Range(${s}, ${l}, ${d})`);
      return [make(need(0).dtype, [n], Array.from({ length: n }, (_, i) => s + i * d))];
    }
    case 'ReduceProd': {
      const t = need(0);
      const keep = at.int('keepdims', 1);
      const axes = at.ints('axes', t.shape.map((_, i) => i)).map((a) => normAxis(a, t.shape.length, where));
      if (axes.length !== t.shape.length) throw unsupportedError(`${where}: constant ReduceProd over some axes is not supported`);
      const p = Array.from(t.data).reduce((a, b) => a * b, 1);
      return [make(t.dtype, keep ? t.shape.map(() => 1) : [], [p])];
    }
    default:
      throw unsupportedError(`${where}: cannot fold ${op}`);
  }
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
