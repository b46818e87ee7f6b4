import { UNARY_OPS, type UnaryOp } from '../../backend/kernel-names.js';
import { formatShape, InvalidArgumentError, ShapeError } from '../../errors.js';
import { shapeSize, Tensor } from '../../tensor/tensor.js';

/** The numpy broadcast of two shapes; throws a ShapeError naming both when they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[], what = 'broadcast'): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${what}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Element strides of `shape` seen through the broadcast to `outShape` (0 along broadcast axes). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = outShape.length - shape.length + i;
    strides[o] = shape[i] === 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

type BinaryOp = 'add' | 'sub' | 'mul';

/** One contiguous run of the output: strides of 0 or 1 along the innermost axis, one loop per op. */
function run(
  op: BinaryOp,
  o: Float32Array,
  oo: number,
  a: Float32Array,
  ia: number,
  sa: number,
  b: Float32Array,
  ib: number,
  sb: number,
  len: number,
) {
  if (op === 'add') for (let j = 0; j < len; j++) o[oo + j] = a[ia + j * sa] + b[ib + j * sb];
  else if (op === 'sub') for (let j = 0; j < len; j++) o[oo + j] = a[ia + j * sa] - b[ib + j * sb];
  else for (let j = 0; j < len; j++) o[oo + j] = a[ia + j * sa] * b[ib + j * sb];
}

/**
 * Broadcasting add/sub/mul. The output is walked one innermost row at a time; only the row starts need
 * index arithmetic, the rows themselves are tight loops (the bias, gating and coupling products of the
 * model and factorizer code all broadcast this way).
 */
function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = new Tensor(shape);
  const rank = shape.length;
  if (out.size === 0) return out;
  if (rank === 0) {
    run(op, out.data, 0, a.data, 0, 0, b.data, 0, 0, 1);
    return out;
  }
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const inner = shape[rank - 1];
  const rows = out.size / inner;
  const index = new Array<number>(rank - 1).fill(0);
  let ia = 0;
  let ib = 0;
  for (let r = 0; r < rows; r++) {
    run(op, out.data, r * inner, a.data, ia, sa[rank - 1], b.data, ib, sb[rank - 1], inner);
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      ia += sa[d];
      ib += sb[d];
      if (index[d] < shape[d]) break;
      ia -= sa[d] * shape[d];
      ib -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);

/** a·alpha + beta. */
export function scale(a: Tensor, alpha: number, beta = 0): Tensor {
  const out = new Tensor(a.shape);
  for (let i = 0; i < a.size; i++) out.data[i] = a.data[i] * alpha + beta;
  return out;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** erf to ~1e-15 (W. J. Cody's rational approximations, as in many libms): needed for exact GELU. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const t = x * x;
    const num =
      (((0.185777706184603153 * t + 3.1611237438705656) * t + 113.864154151050156) * t +
        377.485237685302021) *
        t +
      3209.37758913846947;
    const den =
      (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t +
      2844.23683343917062;
    return (x * num) / den;
  }
  return x < 0 ? -(1 - erfcPositive(ax)) : 1 - erfcPositive(ax);
}

function erfcPositive(x: number): number {
  if (x < 4) {
    const num =
      (((((((2.15311535474403846e-8 * x + 0.564188496988670089) * x + 8.88314979438837594) * x +
        66.1191906371416295) *
        x +
        298.635138197400131) *
        x +
        881.95222124176909) *
        x +
        1712.04761263407058) *
        x +
        2051.07837782607147) *
        x +
      1230.33935479799725;
    const den =
      (((((((x + 15.7449261107098347) * x + 117.693950891312499) * x + 537.181101862009858) * x +
        1621.38957456669019) *
        x +
        3290.79923573345963) *
        x +
        4362.61909014324716) *
        x +
        3439.36767414372164) *
        x +
      1230.33935480374942;
    return Math.exp(-x * x) * (num / den);
  }
  if (x > 27) return 0;
  const z = 1 / (x * x);
  const num =
    ((((0.0163153871373020978 * z + 0.305326634961232344) * z + 0.360344899949804439) * z +
      0.125781726111229246) *
      z +
      0.0160837851487422766) *
      z +
    6.58749161529837803e-4;
  const den =
    ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 0.527905102951428412) * z +
      0.0605183413124413191) *
      z +
    0.00233520497626869185;
  return (Math.exp(-x * x) / x) * (1 / Math.sqrt(Math.PI) - (z * num) / den);
}

const UNARY: Record<UnaryOp, (x: number) => number> = {
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  exp: Math.exp,
  neg: (x) => -x,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  abs: Math.abs,
};

/** One elementwise function applied to every entry. */
export function unary(x: Tensor, op: UnaryOp): Tensor {
  const fn = UNARY[op];
  if (!fn)
    throw new InvalidArgumentError(`unary: unknown op '${op}', expected one of ${UNARY_OPS.join(', ')}`);
  const out = new Tensor(x.shape);
  for (let i = 0; i < x.size; i++) out.data[i] = fn(x.data[i]);
  return out;
}

/** Rows of the last axis: count and width, for the row-wise kernels. */
export function rowsOf(x: Tensor, what: string): { rows: number; width: number } {
  if (x.rank === 0) throw new ShapeError(`${what}: expected at least one axis, got a scalar`);
  const width = x.shape[x.rank - 1];
  return { rows: width === 0 ? 0 : shapeSize(x.shape) / width, width };
}
